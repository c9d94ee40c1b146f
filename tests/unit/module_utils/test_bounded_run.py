"""bounded_run: a command (and what it started) is stopped at its timeout, SIGTERM then SIGKILL, and a
process that escapes both cannot hang the caller."""

from __future__ import annotations

import os
import signal
import time

import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils import bounded_run


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone for our purpose
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pid, within=5.0):
    deadline = time.monotonic() + within
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def test_a_command_that_finishes_gives_its_rc_and_output():
    rc, out, err = bounded_run.run(["sh", "-c", "echo out; echo err >&2; exit 3"], 30)
    assert (rc, out, err) == (3, "out\n", "err\n")


def test_no_limit_with_zero_or_none():
    assert bounded_run.run(["sh", "-c", "sleep 0.2; echo done"], 0)[:2] == (0, "done\n")
    assert bounded_run.run(["true"], None)[0] == 0


def test_a_hanging_command_and_its_children_are_stopped_at_the_timeout(tmp_path):
    pids = tmp_path / "pids"
    script = f"echo started; sleep 60 & echo $! > {pids}; echo $$ >> {pids}; wait"
    start = time.monotonic()
    rc, out, err = bounded_run.run(["sh", "-c", script], 1)
    elapsed = time.monotonic() - start
    assert rc == bounded_run.RC_TIMEOUT and out == "started\n", (rc, out, err)
    assert elapsed < 5, elapsed  # SIGTERM ended it: no grace period spent
    assert all(wait_gone(int(p)) for p in pids.read_text().split()), "a child outlived the timeout"


def test_a_command_that_ignores_sigterm_is_killed_after_the_grace_period():
    start = time.monotonic()
    rc, out, _err = bounded_run.run(["sh", "-c", "trap '' TERM; echo up; sleep 60"], 1, grace=1)
    elapsed = time.monotonic() - start
    assert rc == bounded_run.RC_TIMEOUT and out == "up\n"
    assert 2 <= elapsed < 6, elapsed


def test_a_process_out_of_reach_does_not_hang_the_caller(tmp_path):
    """A grandchild in a session of its own holds the output pipe open: no signal to the command's group
    reaches it, and reading to the end of the output would wait for it. The run gives up after the grace
    periods instead."""
    pidfile = tmp_path / "escaped"
    script = f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 60' & sleep 60"
    start = time.monotonic()
    try:
        rc, _out, _err = bounded_run.run(["sh", "-c", script], 1, grace=1)
        elapsed = time.monotonic() - start
    finally:
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), signal.SIGKILL)  # the sleep this test started
    assert rc == bounded_run.RC_TIMEOUT
    assert elapsed < 8, elapsed


def test_a_missing_command_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        bounded_run.run([str(tmp_path / "absent")], 5)


def test_messages():
    msg = bounded_run.timed_out("kubeadm join", 600, hint="is the API endpoint reachable?")
    assert msg.startswith("kubeadm join did not finish within timeout=600 seconds and was stopped")
    assert "is the API endpoint reachable?" in msg and "raise timeout" in msg
    assert "raise command_timeout" in bounded_run.timed_out("umount /x", 5, "command_timeout")
    assert bounded_run.check_timeout(0) is None and bounded_run.check_timeout(10) is None
    assert "timeout must be a number of seconds" in bounded_run.check_timeout(-1)
