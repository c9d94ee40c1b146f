"""run_lock: one backup run per cluster, held by a real holder process on the lock's host."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from ansible_collections.kubedr.kubeadm.plugins.modules import run_lock
from module_results import warnings_of


def holder_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"kubedr-run-lock-holder" in f.read()
    except OSError:
        return False


def exited(pid: int) -> bool:
    """Gone or a zombie (its files, the flock included, are closed only just before that)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def wait_gone(pid: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not exited(pid):
        assert time.monotonic() < deadline, f"holder {pid} still alive"
        time.sleep(0.05)


@pytest.fixture
def lock_path(tmp_path):
    path = tmp_path / "stage" / "c1.lock"
    yield path
    try:
        pid = json.loads(path.read_text() or "{}").get("pid")
    except OSError:
        pid = None
    if pid and holder_alive(pid):
        os.kill(pid, signal.SIGKILL)


def args(path, run_id, **extra):
    return dict(path=str(path), run_id=run_id, owner=f"test {run_id}", **extra)


def test_second_acquisition_fails_naming_the_holder(run_module, lock_path):
    first = run_module(run_lock, args(lock_path, "run-a"))
    assert first["changed"] and first["lock"]["run_id"] == "run-a"
    pid = first["lock"]["pid"]
    assert holder_alive(pid) and oct(lock_path.stat().st_mode)[-3:] == "600"
    assert oct(lock_path.parent.stat().st_mode)[-3:] == "700"

    again = run_module(run_lock, args(lock_path, "run-a"))
    assert not again["failed"] and not again["changed"] and again["lock"]["pid"] == pid

    second = run_module(run_lock, args(lock_path, "run-b"))
    assert second["failed"]
    msg = second["msg"]
    assert "run-a" in msg and str(pid) in msg and os.uname().nodename in msg
    assert first["lock"]["started"] in msg
    assert "state=released force=true" in msg and str(lock_path) in msg
    assert second["holder"]["run_id"] == "run-a"
    assert holder_alive(pid)


def test_release_then_another_run_acquires(run_module, lock_path):
    pid = run_module(run_lock, args(lock_path, "run-a"))["lock"]["pid"]

    wrong = run_module(run_lock, args(lock_path, "run-b", state="released"))
    assert wrong["failed"] and "run-a" in wrong["msg"] and "force=true" in wrong["msg"]
    assert holder_alive(pid)

    released = run_module(run_lock, args(lock_path, "run-a", state="released"))
    assert released["changed"] and not released["failed"]
    wait_gone(pid)
    again = run_module(run_lock, args(lock_path, "run-a", state="released"))
    assert not again["changed"] and not again["failed"]

    other = run_module(run_lock, args(lock_path, "run-b"))
    assert other["changed"] and other["lock"]["run_id"] == "run-b" and other["previous"] is None


def test_dead_holder_is_stale_and_taken_over(run_module, lock_path):
    pid = run_module(run_lock, args(lock_path, "run-a"))["lock"]["pid"]
    os.kill(pid, signal.SIGKILL)  # the host rebooted, or someone killed it
    wait_gone(pid)
    taken = run_module(run_lock, args(lock_path, "run-b"))
    assert taken["changed"] and taken["lock"]["run_id"] == "run-b"
    assert taken["previous"]["run_id"] == "run-a"
    assert any("stale" in w and "run-a" in w for w in warnings_of(taken))


def test_lock_expires_after_max_age(run_module, lock_path):
    pid = run_module(run_lock, args(lock_path, "run-a", max_age=1))["lock"]["pid"]
    wait_gone(pid, 5)  # the holder itself exits at max_age
    assert run_module(run_lock, args(lock_path, "run-b"))["changed"]


def test_too_old_live_holder_is_stale(run_module, lock_path):
    first = run_module(run_lock, args(lock_path, "run-a"))
    info = json.loads(lock_path.read_text())
    info["started_epoch"] -= 10_000  # older than max_age (a clock jump, a suspended host)
    lock_path.write_text(json.dumps(info))
    taken = run_module(run_lock, args(lock_path, "run-b", max_age=3600))
    assert taken["changed"] and taken["previous"]["run_id"] == "run-a"
    wait_gone(first["lock"]["pid"])


def test_force_release_clears_another_runs_lock(run_module, lock_path):
    pid = run_module(run_lock, args(lock_path, "run-a"))["lock"]["pid"]
    forced = run_module(run_lock, args(lock_path, "admin", state="released", force=True))
    assert forced["changed"] and forced["previous"]["run_id"] == "run-a"
    wait_gone(pid)


def test_check_mode_takes_nothing(run_module, lock_path):
    dry = run_module(run_lock, args(lock_path, "run-a", _ansible_check_mode=True))
    assert dry["changed"] and not lock_path.exists()
    pid = run_module(run_lock, args(lock_path, "run-a"))["lock"]["pid"]
    held = run_module(run_lock, args(lock_path, "run-b", _ansible_check_mode=True))
    assert held["failed"] and "run-a" in held["msg"]
    assert holder_alive(pid)
