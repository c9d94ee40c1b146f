"""Processes the lab starts inside its hosts, tracked by recorded pid and start time.

A pid alone can be reused after its process exits, so every record also keeps the
process start time from /proc/<pid>/stat: we only ever signal the process we started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def start_time(pid: int) -> int | None:
    """Kernel start time of `pid` in clock ticks, or None when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the command name may contain spaces and parentheses: split after the last ')'
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has exited already
        return None
    return int(fields[19])


def alive(record: dict | None) -> bool:
    return bool(record) and start_time(record["pid"]) == record["start"]


def spawn(argv: list[str], log_path: Path, env: dict | None = None) -> dict:
    """Start a detached process (its own session, outliving this command); return its record."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=env, close_fds=True,
        )
    started = None
    for _ in range(50):
        started = start_time(proc.pid)
        if started is not None:
            break
        time.sleep(0.01)
    if started is None:
        raise RuntimeError(f"{argv[0]} exited at once; see {log_path}")
    return {"pid": proc.pid, "start": started, "argv": argv, "log": str(log_path)}


def stop(record: dict | None, timeout: float = 10.0, sig: int = signal.SIGTERM) -> str:
    """Signal the recorded process and wait; escalate to SIGKILL after `timeout`.

    Returns what happened: "absent", "stopped" or "killed".
    """
    if not alive(record):
        return "absent"
    pid = record["pid"]
    os.kill(pid, sig)
    if _wait_gone(record, timeout):
        return "stopped" if sig != signal.SIGKILL else "killed"
    os.kill(pid, signal.SIGKILL)
    if not _wait_gone(record, 10.0):
        raise RuntimeError(f"pid {pid} ({record['argv'][0]}) survived SIGKILL")
    return "killed"


def _wait_gone(record: dict, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(record["pid"])
        if not alive(record):
            return True
        time.sleep(0.05)
    return False


def _reap(pid: int) -> None:
    # Children of this very process must be reaped or they linger as zombies.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
