"""The failures the PV roles meet, on real restic repositories: missing repository, stale and live locks,
unreachable sftp backend. Each fails with a message naming the problem and the fix, and loses nothing.

A live exclusive lock is a `restic check --read-data` stopped with SIGSTOP while it holds its lock (its
process exists, so restic does not call the lock stale); a stale one is the same process killed with
SIGKILL (gone on this host: stale). Every process started here is stopped by its pid.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import restic_fixtures
from ansible_collections.kubedr.kubeadm.plugins.modules import (
    restic_backup,
    restic_restore,
    restic_snapshots,
    restic_unlock,
)
from module_results import warnings_of
from restic_fixtures import make_tree, tree_checksums

restic_bin = restic_fixtures.restic_bin
local_repo = restic_fixtures.local_repo
empty_repo_location = restic_fixtures.empty_repo_location


def snapshot_ids(repo) -> list[str]:
    """The repository's snapshot IDs, read without a lock (the tests hold the repository locked)."""
    return [s["id"] for s in json.loads(repo.cli("snapshots", "--json", "--no-lock").stdout)]


def lock_files(repo) -> list[Path]:
    """Lock files written in full (the local backend writes <id>-tmp-<n> first and renames it)."""
    locks = Path(repo.repository) / "locks"
    return sorted(p for p in locks.iterdir() if re.fullmatch("[0-9a-f]{64}", p.name))


class ExclusiveHolder:
    """`restic check --read-data` holding the repository's exclusive lock, frozen with SIGSTOP."""

    def __init__(self, repo):
        env = dict(os.environ, RESTIC_REPOSITORY=repo.repository, RESTIC_PASSWORD=repo.password)
        self.repo = repo
        self.before = set(lock_files(repo))
        self.proc = subprocess.Popen(
            [str(repo.restic), "--no-cache", "check", "--read-data"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while set(lock_files(repo)) == self.before:
            assert self.proc.poll() is None, "restic check ended before it could be stopped"
            assert time.monotonic() < deadline, "restic check took no lock"
            time.sleep(0.005)
        self.proc.send_signal(signal.SIGSTOP)
        self.lock = (set(lock_files(repo)) - self.before).pop()

    def kill(self) -> None:
        """SIGKILL: the lock stays behind, stale (its process is gone on this host)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)
        self.proc.wait(120)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.kill()


@pytest.fixture
def filled_repo(local_repo, tmp_path):
    """A repository with a snapshot big enough that `check --read-data` runs for a while."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "blob").write_bytes(os.urandom(48 * 1024 * 1024))
    local_repo.cli("backup", "-q", str(data))
    return local_repo


@pytest.fixture
def holder(filled_repo):
    held = ExclusiveHolder(filled_repo)
    yield held
    held.stop()


def test_live_lock_is_waited_for_then_fails_clearly_and_is_never_removed(
    run_module, filled_repo, holder, tmp_path
):
    src = make_tree(tmp_path / "src")
    args = filled_repo.args(paths=[str(src)], retry_lock="2s", unlock_stale=True)
    started = time.monotonic()
    result = run_module(restic_backup, args)
    assert result["failed"] and result["rc"] == 11
    assert time.monotonic() - started >= 2, "restic did not wait for the lock"
    msg = result["msg"]
    assert "locked by a running restic process" in msg and "retry_lock=2s" in msg, msg
    assert "live" in msg and "left in place" in msg and "locked exclusively by PID" in msg, msg
    assert f"PID {holder.proc.pid}" in msg, msg
    # unlock was tried (stale locks only), found nothing stale, and the backup was not retried
    verbs = [c.split()[-1] for c in result["commands"]]
    assert verbs.count("unlock") == 1 and not any("--remove-all" in c for c in result["commands"])
    assert sum(" backup " in c for c in result["commands"]) == 1
    assert holder.lock in lock_files(filled_repo), "a live lock was removed"
    assert len(snapshot_ids(filled_repo)) == 1
    # once the holder finishes, the same backup goes through
    holder.resume()
    done = run_module(restic_backup, args)
    assert not done["failed"], done["msg"]
    assert len(snapshot_ids(filled_repo)) == 2


def test_live_lock_without_unlock_stale_does_not_touch_locks(run_module, filled_repo, holder, tmp_path):
    src = make_tree(tmp_path / "src")
    result = run_module(restic_backup, filled_repo.args(paths=[str(src)], retry_lock="1s"))
    assert result["failed"] and result["rc"] == 11
    assert "unlock_stale=true" in result["msg"] and "stale locks only" in result["msg"]
    assert not any(c.split()[-1] == "unlock" for c in result["commands"])
    assert holder.lock in lock_files(filled_repo)


def test_stale_exclusive_lock_blocks_backup_until_unlock_stale(run_module, filled_repo, holder, tmp_path):
    holder.kill()
    assert holder.lock in lock_files(filled_repo)
    src = make_tree(tmp_path / "src")
    args = filled_repo.args(paths=[str(src)], retry_lock="1s")
    blocked = run_module(restic_backup, args)
    assert blocked["failed"] and blocked["rc"] == 11 and "unlock_stale=true" in blocked["msg"]
    assert holder.lock in lock_files(filled_repo), "a stale lock was removed without unlock_stale"

    done = run_module(restic_backup, dict(args, unlock_stale=True))
    assert not done["failed"], done["msg"]
    assert done["snapshot_id"] in snapshot_ids(filled_repo)
    assert any("removed 1 stale lock(s)" in w for w in warnings_of(done)), warnings_of(done)
    assert holder.lock not in lock_files(filled_repo)


def test_unlock_removes_a_stale_lock_check_mode_first_then_idempotent(run_module, filled_repo, holder):
    holder.kill()
    lock = holder.lock.name
    dry = run_module(restic_unlock, dict(filled_repo.args(), _ansible_check_mode=True))
    assert not dry["failed"] and not dry["changed"] and dry["remaining"] == [lock] and dry["removed"] == []
    assert holder.lock in lock_files(filled_repo)

    done = run_module(restic_unlock, filled_repo.args())
    assert done["changed"] and done["removed"] == [lock] and done["remaining"] == []
    assert any("removed 1 stale lock(s)" in w and lock[:8] in w for w in warnings_of(done)), warnings_of(done)
    assert lock_files(filled_repo) == []
    assert not any("--remove-all" in c for c in done["commands"])

    again = run_module(restic_unlock, filled_repo.args())
    assert not again["changed"] and again["removed"] == []
    assert [c.split()[-1] for c in again["commands"]] == ["--no-lock"], "unlock ran with no lock to remove"


def test_unlock_leaves_a_live_lock_alone(run_module, filled_repo, holder):
    result = run_module(restic_unlock, filled_repo.args())
    assert not result["failed"] and not result["changed"]
    assert result["removed"] == [] and result["remaining"] == [holder.lock.name]
    assert holder.lock in lock_files(filled_repo)


def test_restore_under_a_live_lock_leaves_the_target_alone(run_module, filled_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    snap = run_module(restic_backup, filled_repo.args(paths=[str(src)]))["snapshot_id"]
    target = tmp_path / "target"
    target.mkdir()
    (target / "current").write_text("data in use\n")
    before = tree_checksums(target)
    held = ExclusiveHolder(filled_repo)
    try:
        args = filled_repo.args(
            snapshot=snap, subpath=str(src), target=str(target), retry_lock="1s", unlock_stale=True
        )
        result = run_module(restic_restore, args)
    finally:
        held.stop()
    assert result["failed"] and result["rc"] == 11 and "live" in result["msg"], result["msg"]
    assert tree_checksums(target) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("target")) == ["target"]


def test_snapshots_wait_for_an_exclusive_lock(run_module, filled_repo, holder):
    result = run_module(restic_snapshots, filled_repo.args(retry_lock="1s", unlock_stale=True))
    assert result["failed"] and result["rc"] == 11 and "live" in result["msg"]
    assert any("--retry-lock 1s" in c for c in result["commands"])


@pytest.mark.parametrize("module", [restic_backup, restic_snapshots], ids=["backup", "snapshots"])
def test_missing_repository_names_the_fix(run_module, empty_repo_location, tmp_path, module):
    extra = {"paths": [str(make_tree(tmp_path / "src"))]} if module is restic_backup else {}
    result = run_module(module, empty_repo_location.args(**extra))
    assert result["failed"] and result["rc"] == 10
    assert "does not exist" in result["msg"] and "restic init" in result["msg"], result["msg"]
    assert not Path(empty_repo_location.repository).exists(), "a repository was created"


@pytest.mark.parametrize("module", [restic_backup, restic_snapshots], ids=["backup", "snapshots"])
def test_unreachable_sftp_host_names_the_problem(run_module, restic_bin, tmp_path, module):
    port = restic_fixtures.free_port()  # nothing listens there: ssh gets "connection refused"
    repo = restic_fixtures.Repo(
        restic_bin, f"sftp://root@127.0.0.1:{port}//srv/restic/nowhere", cache_dir=str(tmp_path / "cache")
    )
    extra = {"paths": [str(make_tree(tmp_path / "src"))]} if module is restic_backup else {}
    result = run_module(module, repo.args(**extra))
    assert result["failed"] and result["rc"] == 1
    msg = result["msg"]
    assert msg.startswith("cannot reach the backend of restic repository"), msg
    # restic's own words are carried; which of them it prints races ssh's exit ("Connection refused",
    # "server unexpectedly closed connection", "file already closed"), so only its Fatal line is pinned.
    assert "Fatal: unable to open repository at sftp://" in msg, msg
    assert "SSH server (sftp)" in msg and "firewall" in msg
