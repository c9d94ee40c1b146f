# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline etcd restore helpers (collection-private, for etcd_restore): inputs, tools, data dir swap."""

from __future__ import annotations

import errno
import fcntl
import glob
import hashlib
import json
import os
from urllib.parse import urlsplit

from ansible_collections.kubedr.kubeadm.plugins.module_utils import _fs

MARKER = ".kubedr-restore.json"
RUNNING_HINT = ("stop it first (on a kubeadm control plane move /etc/kubernetes/manifests/etcd.yaml out of"
                " the manifests directory and wait for the etcd container to exit)")


class RestoreError(Exception):
    """Anything that stops a restore; the message says what to fix."""


# --- inputs ----------------------------------------------------------------------------------------

def _check_peer_url(url, where):
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise RestoreError(f"{where}: {url!r} is not a peer URL like https://10.0.0.11:2380")


def parse_initial_cluster(text):
    """`name=url,name=url` as etcd's --initial-cluster takes it -> {name: [urls]} (a name may repeat)."""
    members, owner = {}, {}
    for entry in (e.strip() for e in (text or "").split(",")):
        if not entry:
            continue
        name, sep, url = entry.partition("=")
        name, url = name.strip(), url.strip()
        if not sep or not name or not url:
            raise RestoreError(f"initial_cluster: {entry!r} is not name=peer-url")
        _check_peer_url(url, "initial_cluster")
        if owner.setdefault(url, name) != name:
            raise RestoreError(f"initial_cluster: peer URL {url} is given to both {owner[url]} and {name}")
        members.setdefault(name, [])
        if url not in members[name]:
            members[name].append(url)
    if not members:
        raise RestoreError("initial_cluster is empty: give every member as name=peer-url, comma separated")
    return members


def check_inputs(params):
    """Cross-field validation before anything is touched; returns the member's peer URLs."""
    members = parse_initial_cluster(params["initial_cluster"])
    name = params["name"]
    if name not in members:
        raise RestoreError(f"name {name!r} does not appear in initial_cluster"
                           f" (members: {', '.join(members)})")
    urls = params.get("initial_advertise_peer_urls") or members[name]
    for url in urls:
        _check_peer_url(url, "initial_advertise_peer_urls")
    if sorted(urls) != sorted(members[name]):
        raise RestoreError(f"initial_advertise_peer_urls {', '.join(urls)} differ from {name}'s entry in"
                           f" initial_cluster ({', '.join(members[name])}); etcd refuses to start like that")
    bump = params.get("bump_revision") or 0
    if bump < 0:
        raise RestoreError(f"bump_revision must not be negative, got {bump}")
    if bump and not params.get("mark_compacted"):
        raise RestoreError("bump_revision needs mark_compacted=true (etcdutl requires both together, so that"
                           " watchers of old revisions are told to re-list)")
    if params.get("mark_compacted") and not bump:
        raise RestoreError("mark_compacted=true needs a positive bump_revision (etcdutl allows it only then)")
    snapshot = params["snapshot"]
    if not os.path.isfile(snapshot):
        raise RestoreError(f"snapshot {snapshot} does not exist or is not a file")
    if not os.access(snapshot, os.R_OK):
        raise RestoreError(f"snapshot {snapshot} is not readable")
    data_dir = params["data_dir"]
    if os.path.lexists(data_dir) and not os.path.isdir(data_dir):
        raise RestoreError(f"data_dir {data_dir} exists and is not a directory")
    if not os.path.isdir(os.path.dirname(data_dir) or "/"):
        raise RestoreError(f"the parent directory of data_dir {data_dir} does not exist")
    return list(urls)


def sha256_file(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


# --- tools -----------------------------------------------------------------------------------------

def restore_argv(tool_path, snapshot, target, params, peer_urls):
    """`etcdutl|etcdctl snapshot restore` argv (same flags for both) restoring into `target`."""
    argv = [tool_path, "snapshot", "restore", snapshot,
            f"--data-dir={target}",
            f"--name={params['name']}",
            f"--initial-cluster={params['initial_cluster']}",
            f"--initial-cluster-token={params['initial_cluster_token']}",
            f"--initial-advertise-peer-urls={','.join(peer_urls)}"]
    if params.get("bump_revision"):
        argv += [f"--bump-revision={params['bump_revision']}", "--mark-compacted"]
    if params.get("skip_hash_check"):
        argv.append("--skip-hash-check")
    return argv


RESTORE_HINTS = (
    ("expected sha256", "the snapshot is corrupt or truncated (its integrity hash does not match)"),
    ("missing hash", "a member/snap/db file copied from a data dir has no integrity hash: set"
                     " skip_hash_check=true for such a file"),
    ("no such file", "check the snapshot path"),
)


def restore_failure(rc, stdout, stderr):
    """The line of the tool's output that says why the restore failed, with what to do about it."""
    lines = [line.strip() for line in (stderr or stdout or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    reason = (errors or lines or [f"exit code {rc}"])[-1]
    hints = [hint for needle, hint in RESTORE_HINTS if needle in reason.lower()]
    return f"{reason} ({hints[0]})" if hints else reason


def etcdctl_restore_support(help_text):
    """(can restore, can bump revisions) from `etcdctl snapshot restore --help`.

    etcdctl 3.6 dropped `snapshot restore` (its help is then the `snapshot` group's, without --data-dir);
    etcdctl 3.4 restores but has no --bump-revision.
    """
    return "--data-dir" in help_text, "--bump-revision" in help_text


# --- is etcd running on the data dir? ----------------------------------------------------------------

def _locked(path, how):
    """Whether another process holds a lock on `path` (flock or POSIX/OFD fcntl lock)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        if how == "flock":
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        else:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return True
        raise
    finally:
        os.close(fd)


def locked_files(data_dir):
    """Files of the data dir a running etcd holds locks on: bbolt flocks member/snap/db, the WAL
    package locks its segment files with fcntl (OFD) locks. Empty when etcd is not running on it."""
    found = []
    db = os.path.join(data_dir, "member", "snap", "db")
    if os.path.isfile(db) and _locked(db, "flock"):
        found.append(db)
    for wal in sorted(glob.glob(os.path.join(data_dir, "member", "wal", "*.wal")))[-1:]:
        if _locked(wal, "lockf"):
            found.append(wal)
    return found


# --- marker ----------------------------------------------------------------------------------------

def marker_path(data_dir):
    return os.path.join(data_dir, MARKER)


def read_marker(data_dir):
    """The marker of the last restore into data_dir, or None (missing, unreadable or not ours)."""
    try:
        with open(marker_path(data_dir)) as fh:
            marker = json.load(fh)
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


IDENTITY = ("snapshot_sha256", "name", "initial_cluster", "initial_cluster_token",
            "initial_advertise_peer_urls", "bump_revision", "mark_compacted")


def same_restore(marker, wanted, data_dir):
    """Whether data_dir already holds the restore `wanted` describes (and still has etcd data)."""
    return (marker is not None and os.path.isdir(os.path.join(data_dir, "member"))
            and all(marker.get(key) == wanted[key] for key in IDENTITY))


# --- scratch directory and swap ----------------------------------------------------------------------

def plan(data_dir, mount_point, stamp):
    """Where to restore to and where the old data goes (_fs's swap: two renames beside a plain data dir,
    entries moved inside one that is a mount point). etcd ignores (with a warning) entries of its data
    dir other than `member`."""
    data_dir = data_dir.rstrip("/") or "/"
    keep = _fs.has_data(data_dir, mount_point)
    return {"data_dir": data_dir, "mount_point": mount_point, "exists": os.path.isdir(data_dir),
            "scratch": _fs.scratch_path(data_dir, mount_point, stamp),
            "moved_aside": _fs.aside_path(data_dir, mount_point, stamp) if keep else None}


def swap_in(layout):
    """Put the restored scratch dir in place of the data dir; the old data is moved, never deleted, and a
    swap that fails part-way is undone (_fs.SwapError names what is where)."""
    _fs.swap(layout["data_dir"], layout["scratch"], layout["mount_point"], moved=layout["moved_aside"])
