# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Static pod helpers (collection-private, for kubeadm_static_pod): where a manifest is, moving it, and
whether the component's process runs in this host's network namespace."""

from __future__ import annotations

import errno
import os
import shutil
import socket

# Ports kubeadm's control-plane components listen on (secure ports, all on the host network).
DEFAULT_PORTS = {
    "etcd": 2379,
    "kube-apiserver": 6443,
    "kube-controller-manager": 10257,
    "kube-scheduler": 10259,
}


class StaticPodError(Exception):
    """Anything that stops a static pod move; the message says what to fix."""


def locate(manifests_dir, stash_dir, name):
    """(where, manifest path, stash path): where is one of `manifests`, `stash`, `both`, `none`."""
    filename = f"{name}.yaml"
    active = os.path.join(manifests_dir, filename)
    parked = os.path.join(stash_dir, filename)
    in_active, in_stash = os.path.isfile(active), os.path.isfile(parked)
    where = {(True, True): "both", (True, False): "manifests", (False, True): "stash",
             (False, False): "none"}[(in_active, in_stash)]
    return where, active, parked


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def move(src, dest):
    """Move a manifest: a rename on one file system, else copy + fsync + rename + unlink (the kubelet
    never sees a half-written manifest, and the source goes only once the copy is complete)."""
    try:
        os.rename(src, dest)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        part = dest + ".part"
        shutil.copy2(src, part)
        with open(part, "rb") as fh:
            os.fsync(fh.fileno())
        os.rename(part, dest)
        os.unlink(src)
        _fsync_dir(os.path.dirname(src) or ".")
    _fsync_dir(os.path.dirname(dest) or ".")


def _net_ns(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def _argv0(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv0 = fh.read().split(b"\0", 1)[0].decode("utf-8", "replace")
    except OSError:
        return None
    if argv0:
        return os.path.basename(argv0)
    try:  # kernel threads and zombies have no command line
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return None


def _is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def processes(executable, proc="/proc"):
    """Pids of live processes running `executable` (basename of argv[0]) in this process's network
    namespace. Control-plane static pods use the host network, so this tells one host's etcd from
    another's even where hosts share a pid namespace."""
    own = _net_ns("self")
    found = []
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid == os.getpid() or _argv0(pid) != executable or _is_zombie(pid):
            continue
        if own is None or _net_ns(pid) == own:
            found.append(pid)
    return sorted(found)


def port_open(port, host="127.0.0.1", timeout=1.0):
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def observe(executable, port):
    """What runs now: pids of the component and whether its port accepts connections (None: not checked)."""
    return {"pids": processes(executable), "port_open": port_open(port) if port else None}


def is_settled(state, seen):
    """Whether what `observe` saw is the wanted state: `stopped` = no process and the port closed,
    `started` = a process and the port open."""
    if state == "stopped":
        return not seen["pids"] and not seen["port_open"]
    return bool(seen["pids"]) and seen["port_open"] is not False
