# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collection-private: freeze a volume's file system for a backup, bounded in time, always thawed.

Runs on the managed host: standard library only.

fsfreeze stops every write to a whole file system, whatever mount of it is named. So a path may be
frozen only when it is the root of a file system of its own: its (topmost) mount in mountinfo has the
root "/" (not a bind mount of a directory, which `mountpoint -q` accepts), and its device is none of
those holding the paths the host and the backup need (/, /var, /tmp, restic's cache, ...).

`Frozen` freezes and thaws in the module's own process, watched by a detached watchdog that thaws at
the timeout, or at once when the module process dies (its pipe closes): a lost SSH connection or a
killed module cannot leave a file system frozen for longer than the timeout.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

# file systems fsfreeze cannot freeze (no freeze_fs, or not block-backed)
UNFREEZABLE = frozenset(
    (
        "tmpfs",
        "ramfs",
        "devtmpfs",
        "proc",
        "sysfs",
        "cgroup",
        "cgroup2",
        "overlay",
        "squashfs",
        "nfs",
        "nfs4",
        "cifs",
        "fuse",
        "devpts",
        "mqueue",
        "bpf",
        "tracefs",
        "debugfs",
        "securityfs",
        "pstore",
    )
)

_OCTAL = re.compile(r"\\([0-7]{3})")

# reads "done" from its stdin, else (EOF: the module died; or the timeout) thaws every path
_WATCHDOG = r"""
import os, select, signal, subprocess, sys
signal.signal(signal.SIGHUP, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
timeout, fsfreeze, paths = float(sys.argv[1]), sys.argv[2], sys.argv[4:]
ready, _, _ = select.select([0], [], [], timeout)
if ready and os.read(0, 16).startswith(b"done"):
    sys.exit(0)
for path in paths:
    subprocess.run([fsfreeze, "--unfreeze", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
"""


class FreezeError(Exception):
    """A path may not be frozen, or freezing/thawing failed; `msg` names the problem and the fix."""

    def __init__(self, msg):
        super().__init__(msg)
        self.msg = msg


class Mount:
    """One line of /proc/<pid>/mountinfo."""

    def __init__(self, mount_id, parent_id, dev, root, mount_point, fstype, source):
        self.mount_id = mount_id
        self.parent_id = parent_id
        self.dev = dev
        self.root = root
        self.mount_point = mount_point
        self.fstype = fstype
        self.source = source


def _unescape(field):
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text):
    """The mounts of mountinfo `text`, in its order (a later mount at the same point is on top)."""
    mounts = []
    for line in (text or "").splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 7:
            continue
        sep = fields.index("-", 6)
        if len(fields) < sep + 3:
            continue
        mounts.append(
            Mount(
                int(fields[0]),
                int(fields[1]),
                fields[2],
                _unescape(fields[3]),
                _unescape(fields[4]),
                fields[sep + 1],
                _unescape(fields[sep + 2]),
            )
        )
    return mounts


def _contains(mount_point, path):
    return mount_point == "/" or path == mount_point or path.startswith(mount_point.rstrip("/") + "/")


def mount_of(mounts, path):
    """The topmost mount holding `path` (absolute, symlinks resolved): the deepest, the latest of those."""
    best = None
    for mount in mounts:
        if _contains(mount.mount_point, path) and (
            best is None or len(mount.mount_point) >= len(best.mount_point)
        ):
            best = mount
    return best


def freeze_plan(mounts, paths, protected):
    """(mount points to freeze, one per file system, in order; problems, one per refused path).

    `paths` and `protected` are absolute with symlinks resolved; a path is refused unless it is the
    root of a file system of its own that holds none of `protected`.
    """
    guarded = {}
    for p in protected:
        mount = mount_of(mounts, p)
        if mount is not None:
            guarded.setdefault(mount.dev, p)
    targets, devices, problems = [], set(), []
    for path in paths:
        mount = mount_of(mounts, path)
        if mount is None or mount.mount_point != path:
            where = (
                f"{mount.mount_point}'s file system ({mount.source}, {mount.fstype})" if mount else "no mount"
            )
            problems.append(
                f"{path} is not a mount point: it is a directory on {where}, and fsfreeze would"
                " freeze that whole file system"
            )
        elif mount.root != "/":
            problems.append(
                f"{path} is a bind mount of {mount.root} on {mount.source} ({mount.fstype}, device"
                f" {mount.dev}), not a file system of its own; fsfreeze would freeze all of"
                f" {mount.source}"
            )
        elif mount.dev in guarded:
            problems.append(
                f"{path} is on the file system that holds {guarded[mount.dev]} ({mount.source},"
                f" device {mount.dev}); freezing it would stop the host or the backup itself"
            )
        elif mount.fstype in UNFREEZABLE or mount.fstype.startswith("fuse."):
            problems.append(f"{path} is a {mount.fstype} file system, which fsfreeze cannot freeze")
        elif mount.dev not in devices:
            devices.add(mount.dev)
            targets.append(path)
    return targets, problems


def protected_paths(*extra):
    """What a freeze must never stop: the host's file systems, the backup's tools, cache and temp files."""
    home = os.path.expanduser("~")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    return [
        "/",
        "/var",
        "/var/log",
        "/var/lib/kubelet",
        "/var/lib/containerd",
        "/var/lib/etcd",
        "/etc",
        "/usr",
        "/tmp",
        home,
        os.path.join(cache, "restic"),
        sys.executable,
        os.path.dirname(os.path.abspath(__file__)),
    ] + [p for p in extra if p]


def plan_for_host(paths, protected, mountinfo="/proc/self/mountinfo"):
    """freeze_plan() for this host's mounts; raises FreezeError naming every refused path and the fix."""
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
        mounts = parse_mountinfo(f.read())
    targets, problems = freeze_plan(
        mounts, [os.path.realpath(p) for p in paths], [os.path.realpath(p) for p in protected if p]
    )
    if problems:
        raise FreezeError(
            "refusing to freeze: " + "; ".join(problems) + ". Only a volume on a disk or"
            " partition of its own (its mount's root is that file system's root) can be frozen:"
            " give the PV a device of its own, or back it up without the fsfreeze hook"
        )
    return targets


class Frozen:
    """Context manager: `paths` (each a file system's root) frozen inside, thawed on the way out.

    A watchdog started before the first freeze thaws them after `timeout` seconds, or at once when this
    process dies; `expired` says whether the timeout passed (the backup then did not see a frozen
    file system to its end).
    """

    def __init__(self, fsfreeze, paths, timeout):
        self.fsfreeze = fsfreeze
        self.paths = list(paths)
        self.timeout = float(timeout)
        self.frozen = []
        self._watchdog = None
        self._deadline = None
        self._expired = None

    @property
    def expired(self):
        """Whether the timeout passed while frozen (as of the thaw, once thawed)."""
        if self._expired is not None:
            return self._expired
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _run(self, verb, path):
        proc = subprocess.run([self.fsfreeze, verb, path], capture_output=True, text=True, check=False)
        return proc.returncode, (proc.stderr or proc.stdout).strip()

    def __enter__(self):
        self._deadline = time.monotonic() + self.timeout
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(self.timeout), self.fsfreeze, "kubedr-fsfreeze-watchdog"]
            + self.paths,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            for path in self.paths:
                rc, err = self._run("--freeze", path)
                if rc != 0:
                    busy = "busy" in err.lower()
                    raise FreezeError(
                        f"fsfreeze --freeze {path} failed (rc {rc}): {err}; "
                        + (
                            "it is already frozen (another backup, or a freeze never thawed):"
                            f" thaw it with fsfreeze --unfreeze {path} once nothing else is"
                            " backing it up"
                            if busy
                            else "its file system may not support freezing: back it up without the"
                            " fsfreeze hook"
                        )
                    )
                self.frozen.append(path)
        except BaseException:
            self._thaw()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        errors = self._thaw()
        if errors and exc_type is None:
            raise FreezeError("; ".join(errors) + ": check the file system with fsfreeze --unfreeze <path>")
        return False

    def _thaw(self):
        if self.frozen:
            self._expired = self.expired
        errors = []
        for path in reversed(self.frozen):
            rc, err = self._run("--unfreeze", path)
            # EINVAL: not frozen any more (the watchdog thawed it at the timeout)
            if rc != 0 and "invalid argument" not in err.lower():
                errors.append(f"fsfreeze --unfreeze {path} failed (rc {rc}): {err}")
        self.frozen = []
        if self._watchdog is not None:
            try:
                self._watchdog.stdin.write(b"done")
                self._watchdog.stdin.close()
            except OSError:
                pass  # it ended already (after the timeout)
            try:
                self._watchdog.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._watchdog.kill()
            self._watchdog = None
        return errors
