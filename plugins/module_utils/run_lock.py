# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collection-private run lock: a lock file held with flock(2) by a small detached holder process.

Runs on the managed host: standard library only.

A module process ends with its task, so the flock is handed to a holder process (forked twice, in a
session of its own, so neither the module's exit nor a lost SSH connection ends it). The lock is held
while that holder lives: it ends on release, when killed (a reboot included: the kernel drops the
flock), or by itself after max_age seconds, so a run that never released can block others for
max_age at most. The file's JSON names the holder (run id, owner, host, pid, start time).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time

HOLDER_MARK = "kubedr-run-lock-holder"

# forks the holder (which inherits the locked descriptor) and prints its pid; the holder sleeps
_LAUNCHER = r"""
import os, signal, sys, time
pid = os.fork()
if pid:
    print(pid, flush=True)
    os._exit(0)
os.setsid()
signal.signal(signal.SIGHUP, signal.SIG_IGN)
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
time.sleep(float(sys.argv[1]))
"""


class LockError(Exception):
    """The lock could not be acquired or released; `msg` names the problem and the fix."""

    def __init__(self, msg, holder=None):
        super().__init__(msg)
        self.msg = msg
        self.holder = holder


def _read(fd):
    os.lseek(fd, 0, os.SEEK_SET)
    data = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    try:
        info = json.loads(data.decode() or "null")
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def _write(fd, info):
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    if info is not None:
        os.write(fd, json.dumps(info, sort_keys=True).encode() + b"\n")
    os.fsync(fd)


def _try_flock(fd):
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def holder_alive(pid, path):
    """Whether `pid` is a live holder process of the lock at `path` (not a reused pid)."""
    try:
        with open(f"/proc/{int(pid)}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except (OSError, TypeError, ValueError):
        return False
    return HOLDER_MARK.encode() in argv and os.fsencode(path) in argv


def age(info, now=None):
    return (now if now is not None else time.time()) - float(info.get("started_epoch") or 0)


def describe(info, path, now=None):
    """The holder of a lock in words: run, owner, host, pid, start time and age."""
    return (
        f"run {info.get('run_id')} ({info.get('owner') or 'no owner given'}), holder pid {info.get('pid')}"
        f" on {info.get('host')}, since {info.get('started')} ({int(age(info, now))} s ago;"
        f" it expires {int(info.get('max_age') or 0)} s after its start)"
    )


def _kill_holder(fd, info, path, seconds=10):
    """Kill the holder named in `info` and take the flock; False if another run took it meanwhile."""
    pid = info.get("pid")
    if holder_alive(pid, path):
        os.kill(int(pid), signal.SIGTERM)
    deadline = time.monotonic() + seconds
    while not _try_flock(fd):
        current = _read(fd)
        if current and current.get("run_id") != info.get("run_id"):
            return False
        if time.monotonic() > deadline:
            raise LockError(
                f"the holder of run lock {path} ({describe(info, path)}) did not let go within"
                f" {seconds} s of SIGTERM: kill pid {pid} on {info.get('host')} and run again",
                holder=info,
            )
        time.sleep(0.05)
    return True


def _open(path, create):
    if create:
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    return os.open(path, os.O_RDWR | (os.O_CREAT if create else 0) | os.O_CLOEXEC, 0o600)


def held_message(info, path):
    return (
        f"run lock {path} is held: {describe(info, path)}. Another run is working on this cluster;"
        " wait for it to finish and run again. If that run is gone (its ansible-playbook was killed"
        f" and left the lock behind), clear the lock with kubedr.kubeadm.run_lock path={path}"
        f" state=released force=true, or kill pid {info.get('pid')} on {info.get('host')}"
    )


def acquire(path, run_id, owner="", max_age=7200, check=False):
    """Take the lock for `run_id`: (changed, lock info, previous stale info or None); raises LockError."""
    if check and not os.path.exists(path):
        return True, None, None
    fd = _open(path, create=not check)
    try:
        previous = None
        if not _try_flock(fd):
            info = _read(fd) or {}
            if info.get("run_id") == run_id:
                return False, info, None  # ours already
            if not info or age(info) <= float(info.get("max_age") or max_age):
                raise LockError(held_message(info or {"pid": "unknown"}, path), holder=info)
            # live but older than its max_age (a clock jump, a stopped holder): stale
            if check:
                return True, None, info
            if not _kill_holder(fd, info, path):
                raise LockError(held_message(_read(fd) or {}, path), holder=_read(fd))
            previous = info
        else:
            previous = _read(fd)  # the flock was free: whatever the file names is gone
        if check:
            return True, None, previous
        now = time.time()
        launcher = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(int(max_age)), HOLDER_MARK, path],
            pass_fds=(fd,),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
            timeout=30,
        )
        if launcher.returncode != 0:
            raise LockError(
                f"could not start the holder process of run lock {path}:"
                f" {launcher.stderr.decode(errors='replace').strip()}; check that {sys.executable}"
                " can run on this host"
            )
        info = {
            "run_id": run_id,
            "owner": owner,
            "host": socket.gethostname(),
            "pid": int(launcher.stdout.split()[0]),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "started_epoch": now,
            "max_age": int(max_age),
        }
        _write(fd, info)
        return True, info, previous
    finally:
        os.close(fd)  # the holder keeps the flock


def release(path, run_id, force=False, check=False):
    """Release the lock of `run_id` (any run's with force): (changed, previous info or None)."""
    if not os.path.exists(path):
        return False, None
    fd = _open(path, create=False)
    try:
        info = _read(fd)
        if _try_flock(fd):  # nobody holds it: nothing to release, a stale record at most
            if info and not check:
                _write(fd, None)
            return False, info
        info = info or {}
        if info.get("run_id") != run_id and not force:
            raise LockError(
                f"run lock {path} is not held by run {run_id} but by {describe(info, path)};"
                " left in place. To clear it anyway (that run is gone), use state=released"
                " force=true",
                holder=info,
            )
        if check:
            return True, info
        if _kill_holder(fd, info, path):
            _write(fd, None)
        return True, info
    finally:
        os.close(fd)
