"""restic_forget and restic_check against real restic repositories on the local path backend."""

from __future__ import annotations

from pathlib import Path

import restic_fixtures
from ansible_collections.kubedr.kubeadm.plugins.modules import restic_backup, restic_check, restic_forget
from restic_fixtures import make_tree

# shared fixtures, found by pytest as module globals
restic_bin = restic_fixtures.restic_bin
local_repo = restic_fixtures.local_repo


def snapshots(run_module, repo, src, count, **extra):
    args = repo.args(paths=[str(src)], skip_if_unchanged=False, **extra)
    return [run_module(restic_backup, args)["snapshot_id"] for _run in range(count)]


def test_forget_keep_last_check_mode_real_idempotent(run_module, local_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    ids = snapshots(run_module, local_repo, src, 4, host="cp1")
    other = snapshots(run_module, local_repo, src, 1, host="cp2")
    args = local_repo.args(keep_last=2)

    dry = run_module(restic_forget, dict(args, _ansible_check_mode=True))
    assert dry["changed"] and sorted(dry["removed"]) == sorted(ids[:2])
    assert sorted(dry["kept"]) == sorted(ids[2:] + other)
    assert local_repo.snapshot_ids() == ids + other

    real = run_module(restic_forget, dict(args, prune=True))
    assert real["changed"] and sorted(real["removed"]) == sorted(ids[:2])
    assert local_repo.snapshot_ids() == ids[2:] + other
    assert {g["host"] for g in real["groups"]} == {"cp1", "cp2"}

    again = run_module(restic_forget, args)
    assert not again["changed"] and again["removed"] == []


def test_forget_filters_and_group_by(run_module, local_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    a = snapshots(run_module, local_repo, src, 2, host="cp1", tags=["etcd"])
    b = snapshots(run_module, local_repo, src, 2, host="cp2", tags=["etcd"])
    c = snapshots(run_module, local_repo, src, 1, host="cp1", tags=["pki"])
    result = run_module(restic_forget, local_repo.args(keep_last=1, tags=["etcd"], group_by=""))
    assert sorted(result["removed"]) == sorted(a + b[:1])
    assert local_repo.snapshot_ids() == b[1:] + c


def test_forget_needs_a_policy(run_module, local_repo):
    result = run_module(restic_forget, local_repo.args())
    assert result["failed"] and "retention policy" in result["msg"]


def test_check_ok_then_corrupt_pack_fails_clearly(run_module, local_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    snapshots(run_module, local_repo, src, 1)
    ok = run_module(restic_check, local_repo.args(read_data_subset="100%"))
    assert not ok["failed"] and not ok["changed"]
    assert ok["check"]["num_errors"] == 0
    assert any("--read-data-subset 100%" in c for c in ok["commands"])
    assert not run_module(restic_check, local_repo.args(read_data_subset="1/5"))["failed"]

    # flip bytes in the middle of the biggest pack (the one holding the 200 kB file)
    pack = max((p for p in (Path(local_repo.repository) / "data").rglob("*") if p.is_file()),
               key=lambda p: p.stat().st_size)
    data = bytearray(pack.read_bytes())
    for i in range(1000, 1100):
        data[i] ^= 0xFF
    pack.write_bytes(bytes(data))

    broken = run_module(restic_check, local_repo.args(read_data_subset="100%"))
    assert broken["failed"]
    assert "restic check found" in broken["msg"] and "damaged" in broken["msg"]
    assert pack.name in broken["msg"], broken["msg"]
    assert "repair packs" in broken["msg"]
