"""backup_dir_store: a set's tar unpacked beside the others and renamed into place whole, owners and modes
as in the tar, the retention applied; tars that would write outside the set refused."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import time

import pytest
from ansible_collections.kubedr.kubeadm.plugins.modules import backup_dir_store

SETS = ["20261201T000000Z-r100", "20261201T010000Z-r200", "20261201T020000Z-r300"]


def make_tar(path, files=None):
    """A set's tar: etcd/snapshot.db (0600) and config/pki/ca.key (0600), as the source host packs it."""
    files = files or {"etcd/snapshot.db": b"snapshot", "config/pki/ca.key": b"key"}
    with tarfile.open(path, "w") as archive:
        for name in sorted({os.path.dirname(n) for n in files} | {"etcd", "config"}):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o700
            archive.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(data), 0o600, 0, 0
            archive.addfile(info, io.BytesIO(data))
    return path


def args(tmp_path, name, **extra):
    return {"archive": str(tmp_path / "set.tar"), "dest": str(tmp_path / "sets" / "prod"), "name": name,
            "keep_last": 2, **extra}


def test_stored_whole_then_left_alone_and_the_tar_removed(tmp_path, run_module):
    make_tar(tmp_path / "set.tar")
    result = run_module(backup_dir_store, args(tmp_path, SETS[0]))
    path = tmp_path / "sets" / "prod" / SETS[0]
    assert result["changed"] and result["stored"] and result["path"] == str(path)
    assert (path / "etcd" / "snapshot.db").read_bytes() == b"snapshot"
    assert stat.S_IMODE((path / "config" / "pki" / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "sets" / "prod").stat().st_mode) == 0o700
    assert os.listdir(tmp_path / "sets" / "prod") == [SETS[0]], "no .part left"
    assert not (tmp_path / "set.tar").exists()

    make_tar(tmp_path / "set.tar", {"etcd/snapshot.db": b"other"})
    again = run_module(backup_dir_store, args(tmp_path, SETS[0]))
    assert not again["changed"] and not again["stored"]
    assert (path / "etcd" / "snapshot.db").read_bytes() == b"snapshot"
    assert not (tmp_path / "set.tar").exists()


def test_retention_keeps_the_newest_and_the_young(tmp_path, run_module):
    dest = tmp_path / "sets" / "prod"
    for name in SETS:
        (dest / name).mkdir(parents=True)
    (dest / "not-a-set").mkdir()
    old = time.time() - 30 * 86400
    os.utime(dest / SETS[0], (old, old))
    make_tar(tmp_path / "set.tar")
    new = "20261202T000000Z-r400"
    check = run_module(backup_dir_store, args(tmp_path, new, keep_within_days=7, _ansible_check_mode=True))
    assert check["changed"] and check["removed"] == [SETS[0]] and check["kept"] == [new, SETS[2], SETS[1]]
    assert sorted(os.listdir(dest)) == sorted(SETS + ["not-a-set"]), "check mode changed nothing"
    make_tar(tmp_path / "set.tar")
    result = run_module(backup_dir_store, args(tmp_path, new, keep_within_days=7))
    assert result["removed"] == [SETS[0]] and result["kept"] == [new, SETS[2], SETS[1]]
    assert sorted(os.listdir(dest)) == sorted([new, SETS[1], SETS[2], "not-a-set"])
    make_tar(tmp_path / "set.tar")
    plain = run_module(backup_dir_store, args(tmp_path, new))  # keep_last 2, nothing young kept
    assert not plain["stored"] and plain["removed"] == [SETS[1]] and plain["changed"]


@pytest.mark.parametrize("member", ["../escape", "/etc/escape"])
def test_a_tar_reaching_outside_the_set_is_refused_and_nothing_is_left(tmp_path, run_module, member):
    make_tar(tmp_path / "set.tar", {member: b"x"})
    result = run_module(backup_dir_store, args(tmp_path, SETS[0]))
    assert result["failed"] and "outside the set" in result["msg"], result["msg"]
    assert os.listdir(tmp_path / "sets" / "prod") == [] and not (tmp_path / "escape").exists()


def test_bad_names_and_retention_are_refused(tmp_path, run_module):
    make_tar(tmp_path / "set.tar")
    result = run_module(backup_dir_store, args(tmp_path, "latest"))
    assert result["failed"] and "not a set's name" in result["msg"]
    result = run_module(backup_dir_store, args(tmp_path, SETS[0], keep_last=0))
    assert result["failed"] and "keep_last" in result["msg"]
    assert not (tmp_path / "sets").exists()
