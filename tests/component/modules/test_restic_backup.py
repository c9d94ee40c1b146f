"""restic_backup and restic_snapshots against real restic repositories on the local path backend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import restic_fixtures
from ansible_collections.kubedr.kubeadm.plugins.modules import (
    restic_backup,
    restic_forget,
    restic_snapshots,
)
from module_results import warnings_of
from restic_fixtures import PASSWORD, make_tree

# shared fixtures, found by pytest as module globals
restic_bin = restic_fixtures.restic_bin
local_repo = restic_fixtures.local_repo
stable_dir = restic_fixtures.stable_dir


def test_backup_check_mode_then_real_then_unchanged(run_module, local_repo, stable_dir):
    src = make_tree(stable_dir / "src")
    args = local_repo.args(paths=[str(src)], tags=["etcd", "kubedr"], host="cp1")

    dry = run_module(restic_backup, dict(args, _ansible_check_mode=True))
    assert dry["changed"] and dry["snapshot_id"] is None and dry["summary"]["dry_run"]
    assert dry["summary"]["files_new"] == 2
    assert any("--dry-run" in c for c in dry["commands"])
    assert local_repo.snapshot_ids() == []

    first = run_module(restic_backup, args)
    assert first["changed"] and not first["partial"]
    assert local_repo.snapshot_ids() == [first["snapshot_id"]]
    summary = first["summary"]
    assert summary["files_new"] == 2 and summary["files_changed"] == 0 and summary["files_unmodified"] == 0
    assert summary["total_bytes_processed"] >= 200_000 and summary["data_added"] > 0
    assert summary["duration"] > 0 and not summary["dry_run"]

    second = run_module(restic_backup, args)
    assert not second["changed"] and second["snapshot_id"] is None
    assert second["summary"]["files_unmodified"] == 2
    assert len(local_repo.snapshot_ids()) == 1

    dry_unchanged = run_module(restic_backup, dict(args, _ansible_check_mode=True))
    assert not dry_unchanged["changed"]

    (src / "member" / "wal" / "0001.wal").write_text("more\n")
    third = run_module(restic_backup, args)
    assert third["changed"] and third["summary"]["files_new"] == 1
    for result in (dry, first, second, third):
        assert PASSWORD not in json.dumps(result)


def test_backup_without_skip_always_writes(run_module, local_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    args = local_repo.args(paths=[str(src)], skip_if_unchanged=False)
    ids = {run_module(restic_backup, args)["snapshot_id"] for _run in range(2)}
    assert len(ids) == 2 and set(local_repo.snapshot_ids()) == ids


def test_excludes_and_exclude_file(run_module, local_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    (src / "skip.tmp").write_text("x")
    (src / "also-skip").write_text("x")
    patterns = tmp_path / "excludes"
    patterns.write_text("also-skip\n")
    result = run_module(restic_backup, local_repo.args(paths=[str(src)], exclude=["*.tmp"],
                                                       exclude_file=[str(patterns)]))
    listing = local_repo.cli("ls", "--json", result["snapshot_id"]).stdout
    names = {json.loads(line).get("name") for line in listing.splitlines()[1:]}
    assert "db" in names and "skip.tmp" not in names and "also-skip" not in names


def test_missing_source_is_a_partial_backup_with_a_warning(run_module, local_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    missing = tmp_path / "vanished"
    result = run_module(restic_backup, local_repo.args(paths=[str(src), str(missing)]))
    assert not result["failed"]
    assert result["changed"] and result["partial"]
    assert local_repo.snapshot_ids() == [result["snapshot_id"]]
    assert any(str(missing) in m for m in result["unreadable"])
    assert any("could not read" in w and str(missing) in w for w in warnings_of(result))


def test_nothing_readable_fails(run_module, local_repo, tmp_path):
    result = run_module(restic_backup, local_repo.args(paths=[str(tmp_path / "nope")]))
    assert result["failed"] and result["rc"] == 1
    assert "nope" in result["msg"] or "do not exist" in result["msg"]


def test_snapshots_filters_and_latest(run_module, local_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    ids = []
    for host, tags in (("cp1", ["etcd"]), ("cp2", ["etcd"]), ("cp1", ["pki"]), ("cp1", ["etcd", "x"])):
        ids.append(run_module(restic_backup, local_repo.args(paths=[str(src)], host=host, tags=tags,
                                                             skip_if_unchanged=False))["snapshot_id"])
    everything = run_module(restic_snapshots, local_repo.args())
    assert [s["id"] for s in everything["snapshots"]] == ids
    assert not everything["changed"]
    first = everything["snapshots"][0]
    assert first["hostname"] == "cp1" and first["tags"] == ["etcd"] and first["paths"] == [str(src)]
    assert first["short_id"] == ids[0][:8] and first["summary"]["files_new"] == 2

    def found(**filters):
        return [s["id"] for s in run_module(restic_snapshots, local_repo.args(**filters))["snapshots"]]

    assert found(host="cp1") == [ids[0], ids[2], ids[3]]
    assert found(tags=["etcd"]) == [ids[0], ids[1], ids[3]]
    assert found(host="cp1", tags=["etcd"], latest=1) == [ids[3]]
    assert found(tags=["etcd", "x"]) == [ids[3]]
    assert found(paths=[str(tmp_path / "other")]) == []
    assert found(latest=2) == ids[2:]


def start_slow_backup(repo, src):
    """A `restic backup` of a big file, killed with SIGKILL once it holds its lock: leaves a stale lock."""
    env = dict(os.environ, RESTIC_REPOSITORY=repo.repository, RESTIC_PASSWORD=repo.password)
    proc = subprocess.Popen([str(repo.restic), "--no-cache", "backup", "-q", str(src)], env=env)
    locks = __import__("pathlib").Path(repo.repository) / "locks"
    deadline = time.monotonic() + 20
    # the local backend writes <id>-tmp-<n> and renames it: wait for the lock file itself
    while not any(len(p.name) == 64 for p in locks.iterdir()):
        assert proc.poll() is None, "backup ended before it was killed"
        assert time.monotonic() < deadline, "no lock appeared"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert any(locks.iterdir())


def test_stale_lock_is_reported_then_removed_only_when_asked(run_module, local_repo, tmp_path):
    big = tmp_path / "big"
    big.mkdir()
    (big / "blob").write_bytes(os.urandom(64 * 1024 * 1024))
    start_slow_backup(local_repo, big)

    forget = local_repo.args(keep_last=5, retry_lock="1s")
    locked = run_module(restic_forget, forget)
    assert locked["failed"] and locked["rc"] == 11
    assert "locked" in locked["msg"] and "unlock_stale" in locked["msg"] and "retry_lock" in locked["msg"]
    assert not any(" unlock" in c for c in locked["commands"]), "stale locks must not be removed silently"
    assert any((tmp_path / "repo" / "locks").iterdir())

    unlocked = run_module(restic_forget, dict(forget, unlock_stale=True))
    assert not unlocked["failed"], unlocked.get("msg")
    assert [c.split()[-1] for c in unlocked["commands"]].count("unlock") == 1
    assert any("stale locks" in w for w in warnings_of(unlocked))
    assert not any((tmp_path / "repo" / "locks").iterdir())


def test_partial_backup_fails_with_partial_ok_false(run_module, local_repo, tmp_path):
    """restic exit 3 (a listed source does not exist: the snapshot is written without it) is a
    failure when partial_ok=false, as etcd_backup asks for its etcd/PKI set."""
    src = make_tree(tmp_path / "src")
    missing = tmp_path / "vanished"
    result = run_module(restic_backup, local_repo.args(paths=[str(src), str(missing)], partial_ok=False))
    assert result["failed"] and result["rc"] == 3 and result["partial"]
    assert str(missing) in result["msg"] and "partial_ok" in result["msg"]
    # the incomplete snapshot is named, so it can be forgotten
    assert result["snapshot_id"] and local_repo.snapshot_ids() == [result["snapshot_id"]]
    assert result["snapshot_id"] in result["msg"]
    assert PASSWORD not in json.dumps(result)
