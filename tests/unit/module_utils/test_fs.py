"""_fs: the one copy of stamps, free names and the swap of a staged copy with the old data moved aside, as
etcd_restore and restic_restore use it; a swap failing at any rename is undone."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import fake_selinux
import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils import _fs
from ansible_collections.kubedr.kubeadm.plugins.module_utils.bounded_run import RC_TIMEOUT


def tree(path):
    """{relative path: sha256 or 'dir'} of everything under path."""
    out = {}
    for root, dirs, files in os.walk(path):
        for name in dirs:
            out[os.path.relpath(os.path.join(root, name), path)] = "dir"
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                out[os.path.relpath(os.path.join(root, name), path)] = hashlib.sha256(f.read()).hexdigest()
    return out


def entries(path):
    return sorted(os.listdir(path))


def test_stamp_and_free_names(tmp_path):
    assert _fs.utc_stamp(0) == "19700101T000000Z"
    base = tmp_path / "etcd.moved-T"
    assert _fs.free_name(str(base)) == str(base)
    base.mkdir()
    (tmp_path / "etcd.moved-T.1").write_text("")
    assert _fs.free_name(str(base)) == f"{base}.2"


def test_mount_point():
    assert _fs.mount_point("/proc") is True
    assert _fs.mount_point("/proc/self/status") is False  # a file on a mount is no mount point


def test_mount_point_of_plain_and_missing(tmp_path):
    assert _fs.mount_point(str(tmp_path)) is False
    assert _fs.mount_point(str(tmp_path / "missing")) is False


def test_has_data(tmp_path):
    target = tmp_path / "pv"
    assert not _fs.has_data(str(target), False)
    target.mkdir()
    assert not _fs.has_data(str(target), False)
    (target / ".kubedr-moved-old").mkdir()
    assert _fs.has_data(str(target), False), "beside a plain dir every entry is data"
    assert not _fs.has_data(str(target), True), "inside a mount point, kubedr's own entries are not"
    (target / "x").write_text("")
    assert _fs.has_data(str(target), True)


def test_plain_swap_moves_the_old_aside(tmp_path):
    target, scratch = tmp_path / "data", tmp_path / "data.restore-X"
    target.mkdir()
    (target / "old").write_text("old\n")
    scratch.mkdir()
    (scratch / "new").write_text("new\n")
    moved = _fs.swap(str(target), str(scratch), False, "X")
    assert moved == f"{target}.moved-X"
    assert entries(tmp_path) == ["data", "data.moved-X"]
    assert entries(target) == ["new"] and entries(moved) == ["old"]


def test_plain_swap_into_an_empty_or_missing_target_keeps_nothing(tmp_path):
    for make in (True, False):
        target, scratch = tmp_path / f"d{make}", tmp_path / f"d{make}.restore-X"
        if make:
            target.mkdir()
        scratch.mkdir()
        (scratch / "new").write_text("new\n")
        assert _fs.swap(str(target), str(scratch), False, "X") is None
        assert entries(target) == ["new"]
    assert entries(tmp_path) == ["dFalse", "dTrue"]


def test_mount_swap_keeps_earlier_moved_data_in_place(tmp_path):
    target = tmp_path / "pv"
    (target / ".kubedr-moved-earlier").mkdir(parents=True)
    (target / "old").write_text("old\n")
    scratch = target / ".kubedr-restore-X"
    scratch.mkdir()
    (scratch / "new").write_text("new\n")
    moved = _fs.swap(str(target), str(scratch), True, "X")
    assert moved == str(target / ".kubedr-moved-X")
    assert entries(target) == [".kubedr-moved-X", ".kubedr-moved-earlier", "new"]
    assert entries(moved) == ["old"]


def test_a_chosen_aside_name_is_used(tmp_path):
    target, scratch = tmp_path / "data", tmp_path / "data.restore-X"
    target.mkdir()
    (target / "old").write_text("")
    scratch.mkdir()
    chosen = _fs.aside_path(str(target), False, "X")
    assert _fs.swap(str(target), str(scratch), False, moved=chosen) == chosen


def failing_rename_after(monkeypatch, calls_ok):
    real, count = os.rename, {"n": 0}

    def rename(src, dst):
        count["n"] += 1
        if count["n"] == calls_ok + 1:  # that one only: the undo's renames go through
            raise OSError(28, "No space left on device (injected)")
        return real(src, dst)

    monkeypatch.setattr(_fs.os, "rename", rename)


@pytest.mark.parametrize("calls_ok", [0, 1, 2, 3])
def test_a_mount_point_swap_failing_midway_is_undone(monkeypatch, tmp_path, calls_ok):
    target = tmp_path / "pv"
    (target / "a-old").mkdir(parents=True)
    (target / "b-old").write_text("old\n")
    scratch = target / ".kubedr-restore-X"
    (scratch / "c-new").mkdir(parents=True)
    (scratch / "d-new").write_text("new\n")
    before_target, before_scratch = tree(target), tree(scratch)
    # renames: a-old, b-old into the moved dir, then c-new, d-new up; the one after `calls_ok` fails
    failing_rename_after(monkeypatch, calls_ok)
    with pytest.raises(_fs.SwapError, match="undone: .* holds its old contents"):
        _fs.swap(str(target), str(scratch), True, "X")
    monkeypatch.undo()
    assert tree(target) == before_target and tree(scratch) == before_scratch
    assert not list(target.glob(".kubedr-moved-*"))


def test_a_plain_swap_failing_is_undone(monkeypatch, tmp_path):
    target, scratch = tmp_path / "data", tmp_path / "data.restore-X"
    target.mkdir()
    (target / "old").write_text("old\n")
    scratch.mkdir()
    (scratch / "new").write_text("new\n")
    failing_rename_after(monkeypatch, 1)  # the target moved aside, then the scratch cannot follow
    with pytest.raises(_fs.SwapError, match="undone"):
        _fs.swap(str(target), str(scratch), False, "X")
    monkeypatch.undo()
    assert entries(tmp_path) == ["data", "data.restore-X"]
    assert entries(target) == ["old"] and entries(scratch) == ["new"]


def test_a_plain_swap_into_an_empty_dir_failing_brings_the_dir_back(monkeypatch, tmp_path):
    target, scratch = tmp_path / "data", tmp_path / "data.restore-X"
    target.mkdir(mode=0o750)
    os.chmod(target, 0o750)
    scratch.mkdir()
    failing_rename_after(monkeypatch, 0)
    with pytest.raises(_fs.SwapError, match="undone"):
        _fs.swap(str(target), str(scratch), False, "X")
    monkeypatch.undo()
    assert entries(tmp_path) == ["data", "data.restore-X"]
    assert oct(os.stat(target).st_mode & 0o777) == oct(0o750)


# --- SELinux labels after a swap (SELinux cannot run here: selinuxfs and restorecon are stand-ins) -------

def run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def test_labels_are_left_alone_where_selinux_is_off(tmp_path):
    assert _fs.selinux_enabled(str(tmp_path)) is False  # no enforce file: selinuxfs not mounted

    def which(name):
        raise AssertionError("restorecon looked for with SELinux off")

    assert _fs.restore_labels(str(tmp_path), run, which, selinuxfs=str(tmp_path)) == (None, [])


def test_labels_restored_after_a_swap_then_nothing_to_do(tmp_path, monkeypatch):
    fake = fake_selinux.enable(monkeypatch, tmp_path / "se")
    target = tmp_path / "var-lib-etcd"
    (target / "member" / "snap").mkdir(parents=True)
    (target / "member" / "snap" / "db").write_text("x")
    argv, relabeled = _fs.restore_labels(str(target), run, shutil.which)
    assert argv == [str(tmp_path / "se" / "bin" / "restorecon"), "-R", "-v", str(target)]
    assert relabeled == [str(target), f"{target}/member", f"{target}/member/snap", f"{target}/member/snap/db"]
    assert _fs.restore_labels(str(target), run, shutil.which) == (argv, [])
    assert fake.call_log() == [f"-R -v {target}"] * 2


def test_a_path_with_spaces_is_read_back_whole(tmp_path, monkeypatch):
    fake_selinux.enable(monkeypatch, tmp_path / "se")
    target = tmp_path / "pv data"
    target.mkdir()
    assert _fs.restore_labels(str(target), run, shutil.which)[1] == [str(target)]


def test_no_restorecon_names_the_package_and_the_command(tmp_path, monkeypatch):
    fake_selinux.enable(monkeypatch, tmp_path / "se")
    with pytest.raises(_fs.LabelError, match=r"SELinux is enabled but there is no restorecon: /srv/pv holds"
                       r" the restored data .* install policycoreutils and run `restorecon -R /srv/pv`"):
        _fs.restore_labels("/srv/pv", run, lambda name: None)


def test_a_failing_or_hanging_restorecon_says_how_to_finish(tmp_path, monkeypatch):
    fake_selinux.enable(monkeypatch, tmp_path / "se",
                        fail="restorecon: lstat(/srv/pv) failed: Permission denied")
    with pytest.raises(_fs.LabelError, match=r"-R -v /srv/pv` failed \(rc 1: restorecon: lstat.*Permission"
                       r" denied\): /srv/pv holds the restored data .* run `restorecon -R /srv/pv` by hand"):
        _fs.restore_labels("/srv/pv", run, shutil.which)
    with pytest.raises(_fs.LabelError, match="did not finish in time and was stopped"):
        _fs.restore_labels("/srv/pv", lambda argv: (RC_TIMEOUT, "", ""), shutil.which)
