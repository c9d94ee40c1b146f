"""restic_restore against real restic repositories: round trip, move-aside swap, idempotence, mount points."""

from __future__ import annotations

import json
import os
import subprocess

import fake_selinux
import pytest
import restic_fixtures
from ansible_collections.kubedr.kubeadm.plugins.modules import restic_backup, restic_restore
from restic_fixtures import PASSWORD, make_tree, tree_checksums

# shared fixtures, found by pytest as module globals
restic_bin = restic_fixtures.restic_bin
local_repo = restic_fixtures.local_repo


def backed_up(run_module, repo, src, **extra):
    result = run_module(restic_backup, repo.args(paths=[str(src)], skip_if_unchanged=False, **extra))
    assert result["changed"], result
    return result["snapshot_id"]


def test_round_trip_into_missing_target_then_idempotent(run_module, local_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    expected = tree_checksums(src)
    snapshot_id = backed_up(run_module, local_repo, src, tags=["etcd"])
    target = tmp_path / "restored" / "etcd"
    args = local_repo.args(subpath=str(src), target=str(target), tags=["etcd"])

    checked = run_module(restic_restore, dict(args, _ansible_check_mode=True))
    assert checked["changed"] and checked["restore"]["snapshot_id"] == snapshot_id
    assert not target.exists()

    restored = run_module(restic_restore, args)
    assert restored["changed"]
    info = restored["restore"]
    assert info["snapshot_id"] == snapshot_id and info["target"] == str(target)
    assert info["moved_aside"] is None and not info["mount_point"]
    # restic counts every entry it restores: 3 directories, 2 files and 1 symlink
    assert info["files_restored"] == 6 and info["bytes_restored"] > 200_000
    assert tree_checksums(target) == expected
    assert any("--verify" in c for c in restored["commands"])
    # the target itself gets the owner and mode recorded in the snapshot; restic restores the rest
    assert oct(os.stat(target).st_mode & 0o777) == oct(0o700)
    wal = os.stat(target / "member" / "wal")
    assert (wal.st_uid, wal.st_gid, wal.st_mode & 0o777) == (1234, 5678, 0o750)
    marker = json.loads((target.parent / ".etcd.kubedr-restore.json").read_text())
    assert marker["snapshot_id"] == snapshot_id
    assert not list(target.parent.glob("etcd.restore-*")), "scratch directory left behind"
    assert not (target / ".kubedr-restored").exists()

    again = run_module(restic_restore, args)
    assert not again["changed"] and again["restore"]["moved_aside"] is None
    assert not any(" restore " in c for c in again["commands"])
    checked_again = run_module(restic_restore, dict(args, _ansible_check_mode=True))
    assert not checked_again["changed"]
    for result in (checked, restored, again):
        assert PASSWORD not in json.dumps(result)


def test_restore_moves_stale_data_aside_and_never_deletes_it(run_module, local_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    expected = tree_checksums(src)
    backed_up(run_module, local_repo, src)
    target = tmp_path / "data"
    (target / "member").mkdir(parents=True)
    (target / "member" / "stale").write_text("stale data\n")
    (target / "extra").write_text("keep me\n")
    stale = tree_checksums(target)

    result = run_module(restic_restore, local_repo.args(subpath=str(src), target=str(target)))
    assert result["changed"]
    moved = result["restore"]["moved_aside"]
    assert moved and os.path.basename(moved).startswith("data.moved-") and moved.endswith("Z")
    assert tree_checksums(target) == expected, "stale files must not survive in the target"
    assert tree_checksums(tmp_path / os.path.basename(moved)) == stale

    # somebody changes the restored data: the next run restores again and keeps the changed copy
    (target / "member" / "wal" / "0000.wal").write_text("changed after restore\n")
    rerun = run_module(restic_restore, local_repo.args(subpath=str(src), target=str(target)))
    assert rerun["changed"]
    second_moved = rerun["restore"]["moved_aside"]
    assert second_moved and second_moved != moved and os.path.isdir(moved)
    assert (tmp_path / os.path.basename(second_moved) / "member" / "wal" / "0000.wal").read_text() == (
        "changed after restore\n")
    assert tree_checksums(target) == expected


def test_restore_into_empty_target_replaces_it(run_module, local_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    backed_up(run_module, local_repo, src)
    target = tmp_path / "empty"
    target.mkdir()
    result = run_module(restic_restore, local_repo.args(subpath=str(src), target=str(target)))
    assert result["changed"] and result["restore"]["moved_aside"] is None
    assert tree_checksums(target) == tree_checksums(src)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("empty")) == ["empty"]


def test_a_newer_snapshot_is_restored_over_an_older_restore(run_module, local_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    first = backed_up(run_module, local_repo, src)
    target = tmp_path / "t"
    args = local_repo.args(subpath=str(src), target=str(target))
    assert run_module(restic_restore, dict(args, snapshot=first[:8]))["restore"]["snapshot_id"] == first
    (src / "new-file").write_text("new\n")
    second = backed_up(run_module, local_repo, src)
    result = run_module(restic_restore, args)
    assert result["changed"] and result["restore"]["snapshot_id"] == second
    assert (target / "new-file").read_text() == "new\n"
    assert result["restore"]["moved_aside"]


def test_whole_snapshot_include_exclude(run_module, local_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    backed_up(run_module, local_repo, src)
    target = tmp_path / "whole"
    result = run_module(restic_restore, local_repo.args(target=str(target), exclude=["*.wal"]))
    assert result["changed"]
    below = target / str(src).lstrip("/")
    assert (below / "member" / "snap" / "db").is_file()
    assert not (below / "member" / "wal" / "0000.wal").exists()


def test_unknown_snapshot_and_failed_restore_leave_target_alone(run_module, local_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    backed_up(run_module, local_repo, src)
    target = tmp_path / "keep"
    target.mkdir()
    (target / "precious").write_text("x")

    unknown = run_module(restic_restore, local_repo.args(snapshot="deadbeef", target=str(target)))
    assert unknown["failed"] and "deadbeef" in unknown["msg"] and "not found" in unknown["msg"]

    bad_subpath = run_module(restic_restore, local_repo.args(subpath="/no/such/dir", target=str(target)))
    assert bad_subpath["failed"] and "not found" in bad_subpath["msg"]
    assert sorted(p.name for p in target.iterdir()) == ["precious"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("keep")) == ["keep"], "scratch left"

    no_match = run_module(restic_restore, local_repo.args(host="nohost", target=str(target)))
    assert no_match["failed"] and "no snapshot" in no_match["msg"] and "restic_snapshots" in no_match["msg"]


@pytest.fixture
def bind_mounted_pv(tmp_path):
    """tmp_path/pv, a bind mount on the same file system (what kubelet makes of a local PV's directory):
    os.path.ismount does not see it."""
    if os.geteuid() != 0:
        pytest.skip("bind mounts need root")
    (tmp_path / "disk").mkdir()
    target = tmp_path / "pv"
    target.mkdir()
    subprocess.run(["mount", "--bind", str(tmp_path / "disk"), str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


def test_mount_point_target_keeps_old_contents_inside_it(run_module, local_repo, tmp_path, bind_mounted_pv):
    src = make_tree(tmp_path / "src")
    backed_up(run_module, local_repo, src)
    target = bind_mounted_pv
    assert not os.path.ismount(target)
    (target / "old").write_text("old pv data\n")
    target_inode = os.stat(target).st_ino

    result = run_module(restic_restore, local_repo.args(subpath=str(src), target=str(target)))
    assert result["changed"] and result["restore"]["mount_point"]
    assert os.stat(target).st_ino == target_inode, "a mount point must not be renamed"
    moved = result["restore"]["moved_aside"]
    assert os.path.dirname(moved) == str(target) and os.path.basename(moved).startswith(".kubedr-moved-")
    assert (target / os.path.basename(moved) / "old").read_text() == "old pv data\n"
    restored = {k: v for k, v in tree_checksums(target).items() if not k.startswith(".kubedr-moved-")}
    assert restored == tree_checksums(src)
    assert not run_module(restic_restore, local_repo.args(subpath=str(src), target=str(target)))["changed"]


# --- mode=stage / swap / discard: every volume restored into scratch first, swapped only when all were ---


def entries(path):
    return sorted(p.name for p in path.iterdir())


def test_stage_restores_beside_the_target_and_swap_puts_it_in_place(run_module, local_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    expected = tree_checksums(src)
    snapshot_id = backed_up(run_module, local_repo, src)
    target = tmp_path / "vol" / "data"
    target.mkdir(parents=True)
    (target / "old").write_text("old data\n")
    args = local_repo.args(subpath=str(src), target=str(target), snapshot=snapshot_id[:8])

    checked = run_module(restic_restore, dict(args, mode="stage", _ansible_check_mode=True))
    assert checked["changed"] and checked["restore"]["staged"] is None
    assert entries(tmp_path / "vol") == ["data"]

    staged = run_module(restic_restore, dict(args, mode="stage"))
    assert staged["changed"], staged
    info = staged["restore"]
    scratch = info["staged"]
    assert os.path.dirname(scratch) == str(tmp_path / "vol")
    assert os.path.basename(scratch).startswith("data.restore-")
    assert not info["swapped"] and info["moved_aside"] is None and info["snapshot_id"] == snapshot_id
    assert entries(target) == ["old"], "stage must not touch the target"
    assert tree_checksums(tmp_path / "vol" / os.path.basename(scratch)) == expected
    # the staged copy already has the owner and mode the target will get
    assert oct(os.stat(scratch).st_mode & 0o777) == oct(0o700)
    assert (tmp_path / "vol" / ".data.kubedr-staged.json").is_file()
    assert not (tmp_path / "vol" / ".data.kubedr-restore.json").exists()

    # a rerun of the stage (an interrupted run resumed) keeps the staged copy: restic restores nothing
    again = run_module(restic_restore, dict(args, mode="stage"))
    assert not again["changed"] and again["restore"]["staged"] == scratch
    assert not any(" restore " in c for c in again["commands"])

    checked_swap = run_module(restic_restore, dict(args, mode="swap", _ansible_check_mode=True))
    assert checked_swap["changed"] and entries(target) == ["old"] and os.path.isdir(scratch)

    swapped = run_module(restic_restore, dict(args, mode="swap"))
    assert swapped["changed"], swapped
    info = swapped["restore"]
    assert info["swapped"] and info["staged"] is None and info["snapshot_id"] == snapshot_id
    assert info["files_restored"] == 6, "the counts of the restore that staged it"
    assert not swapped["commands"], "a swap runs no restic command"
    assert tree_checksums(target) == expected
    moved = info["moved_aside"]
    assert os.path.basename(moved).startswith("data.moved-")
    assert (tmp_path / "vol" / os.path.basename(moved) / "old").read_text() == "old data\n"
    assert not os.path.exists(scratch) and not (tmp_path / "vol" / ".data.kubedr-staged.json").exists()
    marker = json.loads((tmp_path / "vol" / ".data.kubedr-restore.json").read_text())
    assert marker["snapshot_id"] == snapshot_id

    # done: swap and stage again change nothing, and plain restore agrees
    assert not run_module(restic_restore, dict(args, mode="swap"))["changed"]
    restaged = run_module(restic_restore, dict(args, mode="stage"))
    assert not restaged["changed"] and restaged["restore"]["staged"] is None
    assert not run_module(restic_restore, args)["changed"]
    for result in (checked, staged, again, checked_swap, swapped, restaged):
        assert PASSWORD not in json.dumps(result)


def test_failed_stage_leaves_nothing_and_discard_removes_a_staged_copy(run_module, local_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    backed_up(run_module, local_repo, src)
    target = tmp_path / "keep"
    target.mkdir()
    (target / "precious").write_text("x")

    failed = run_module(restic_restore,
                        local_repo.args(subpath="/no/such/dir", target=str(target), mode="stage"))
    assert failed["failed"] and "not found" in failed["msg"]
    assert entries(tmp_path) == sorted(["cache", "keep", "repo", "src"]), "scratch or record left"

    args = local_repo.args(subpath=str(src), target=str(target))
    scratch = run_module(restic_restore, dict(args, mode="stage"))["restore"]["staged"]
    assert os.path.isdir(scratch)
    checked = run_module(restic_restore, dict(args, mode="discard", _ansible_check_mode=True))
    assert checked["changed"] and os.path.isdir(scratch)
    discarded = run_module(restic_restore, dict(args, mode="discard"))
    assert discarded["changed"] and discarded["restore"]["discarded"] == scratch
    assert not discarded["commands"]
    assert entries(tmp_path) == sorted(["cache", "keep", "repo", "src"])
    assert entries(target) == ["precious"]
    assert not run_module(restic_restore, dict(args, mode="discard"))["changed"]


def test_swap_without_a_staged_copy_fails_and_says_what_to_run(run_module, local_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    backed_up(run_module, local_repo, src)
    target = tmp_path / "t"
    target.mkdir()
    (target / "old").write_text("old\n")
    args = local_repo.args(subpath=str(src), target=str(target), mode="swap")

    failed = run_module(restic_restore, args)
    assert failed["failed"] and "nothing is staged" in failed["msg"] and "mode=stage" in failed["msg"]
    assert entries(target) == ["old"]
    # in check mode the stage before it staged nothing: the swap says it would swap
    assert run_module(restic_restore, dict(args, _ansible_check_mode=True))["changed"]
    assert entries(target) == ["old"]


def test_swap_refuses_a_staged_copy_that_changed_or_is_another_snapshot(run_module, local_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    first = backed_up(run_module, local_repo, src)
    (src / "new-file").write_text("new\n")
    second = backed_up(run_module, local_repo, src)
    target = tmp_path / "t"
    target.mkdir()
    (target / "old").write_text("old\n")
    args = local_repo.args(subpath=str(src), target=str(target))
    scratch = run_module(restic_restore, dict(args, mode="stage", snapshot=first))["restore"]["staged"]

    other = run_module(restic_restore, dict(args, mode="swap", snapshot=second))
    assert other["failed"] and first[:8] in other["msg"] and second in other["msg"], other["msg"]
    assert "mode=stage" in other["msg"] and entries(target) == ["old"]

    with open(os.path.join(scratch, "member", "wal", "0000.wal"), "a") as f:
        f.write("changed while staged\n")
    changed = run_module(restic_restore, dict(args, mode="swap", snapshot=first))
    assert changed["failed"] and "changed since it was staged" in changed["msg"], changed["msg"]
    assert entries(target) == ["old"]

    # staging again replaces the changed copy, then the swap goes through
    restaged = run_module(restic_restore, dict(args, mode="stage", snapshot=first))
    assert restaged["changed"] and not os.path.exists(scratch)
    assert run_module(restic_restore, dict(args, mode="swap", snapshot=first))["changed"]
    assert not (target / "new-file").exists() and (target / "member" / "wal" / "0000.wal").read_text() == (
        "wal data\n")


def test_a_record_pointing_elsewhere_is_never_removed(run_module, local_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    backed_up(run_module, local_repo, src)
    target = tmp_path / "t"
    args = local_repo.args(subpath=str(src), target=str(target))
    run_module(restic_restore, dict(args, mode="stage"))
    record_path = tmp_path / ".t.kubedr-staged.json"
    record = json.loads(record_path.read_text())
    precious = tmp_path / "precious"
    precious.mkdir()
    record["scratch"] = str(precious)
    record_path.write_text(json.dumps(record))

    for mode in ("discard", "swap", "stage"):
        result = run_module(restic_restore, dict(args, mode=mode))
        assert result["failed"] and "not a staged copy" in result["msg"], (mode, result)
        assert precious.is_dir()


def test_mount_point_target_is_staged_inside_it(run_module, local_repo, tmp_path, bind_mounted_pv):
    src = make_tree(tmp_path / "src")
    backed_up(run_module, local_repo, src)
    target = bind_mounted_pv
    (target / "old").write_text("old pv data\n")
    args = local_repo.args(subpath=str(src), target=str(target))

    staged = run_module(restic_restore, dict(args, mode="stage"))
    scratch = staged["restore"]["staged"]
    assert staged["restore"]["mount_point"]
    assert os.path.dirname(scratch) == str(target)
    assert os.path.basename(scratch).startswith(".kubedr-restore-")
    assert (target / "old").read_text() == "old pv data\n"

    swapped = run_module(restic_restore, dict(args, mode="swap"))
    assert swapped["changed"] and not os.path.exists(scratch)
    moved = swapped["restore"]["moved_aside"]
    assert os.path.dirname(moved) == str(target)
    assert (target / os.path.basename(moved) / "old").read_text() == "old pv data\n"
    restored = {k: v for k, v in tree_checksums(target).items() if not k.startswith(".kubedr-moved-")}
    assert restored == tree_checksums(src)
    assert oct(os.stat(target).st_mode & 0o777) == oct(0o700)
    assert not run_module(restic_restore, dict(args, mode="stage"))["changed"]


def test_selinux_labels_restored_after_the_swap_and_on_rerun(run_module, local_repo, tmp_path, monkeypatch):
    """SELinux enabled (stand-ins: it cannot run here): the swapped-in PV data is relabeled, a rerun runs
    restorecon again and changes nothing once every label is right; a failing restorecon fails the task
    naming the fix, the restored data in place."""
    src = make_tree(tmp_path / "src")
    backed_up(run_module, local_repo, src, tags=["pv"])
    fake = fake_selinux.enable(monkeypatch, tmp_path / "se")
    target = tmp_path / "disks" / "disk1"
    args = local_repo.args(subpath=str(src), target=str(target), tags=["pv"])
    restored = run_module(restic_restore, args)
    assert restored["changed"] and restored["restore"]["selinux_relabeled"] > 3, restored
    assert fake.call_log() == [f"-R -v {target}"]
    again = run_module(restic_restore, args)
    assert not again["changed"] and again["restore"]["selinux_relabeled"] == 0, again
    assert len(fake.call_log()) == 2

    fake_selinux.enable(monkeypatch, tmp_path / "broken", fail="restorecon: Operation not permitted")
    other = tmp_path / "disks" / "disk2"
    failed = run_module(restic_restore, dict(args, target=str(other)))
    assert failed["failed"] and "Operation not permitted" in failed["msg"], failed
    assert f"run `restorecon -R {other}` by hand" in failed["msg"]
    assert tree_checksums(other) == tree_checksums(src)
