# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A kubedr cluster's etcd lineage: every etcd cluster id it has had (each restore and rebuild starts a
new one) and the highest revision its clients can have seen. Shared by the etcd_lineage, etcd_snapshot
and etcd_restore modules; pure functions, tested on plain data."""

from __future__ import annotations

import json
import os

DEFAULT_PATH = "/etc/kubernetes/kubedr-etcd-restore/lineage.json"


class LineageError(Exception):
    pass


def _ids(values):
    seen = []
    for value in values or []:
        value = str(value).strip().lower()
        if value and value not in seen:
            seen.append(value)
    return seen


def normalize(record, cluster=None):
    """A lineage record in its one shape: {"cluster", "cluster_ids", "high_revision"}."""
    record = record or {}
    return {
        "cluster": record.get("cluster") or cluster or "",
        "cluster_ids": _ids(record.get("cluster_ids")),
        "high_revision": int(record.get("high_revision") or 0),
    }


def merge(record, cluster_ids=(), revision=0):
    """`record` with `cluster_ids` added (in order, once each) and its high revision raised to `revision`."""
    merged = normalize(record)
    merged["cluster_ids"] = _ids(merged["cluster_ids"] + list(cluster_ids or []))
    merged["high_revision"] = max(merged["high_revision"], int(revision or 0))
    return merged


def read(path):
    """The record at `path`, or an empty one when there is none yet."""
    try:
        with open(path) as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return normalize({})
    except (OSError, ValueError) as e:
        raise LineageError(f"cannot read the lineage file {path}: {e}; move it aside if it is damaged"
                           " (earlier etcd cluster ids of this cluster are then forgotten)") from e
    if not isinstance(data, dict):
        raise LineageError(f"{path} is not a kubedr lineage file (a JSON object); move it aside")
    return normalize(data)


def dump(record):
    return json.dumps(normalize(record), indent=2, sort_keys=True) + "\n"


def same_cluster(snapshot_id, snapshot_lineage, running_id, known_ids):
    """Whether a snapshot of etcd cluster `snapshot_id` (whose backup knew `snapshot_lineage`) belongs to the
    cluster that runs `running_id` now and had `known_ids` before. Both sides are sets of ids one kubedr
    cluster had; they overlap exactly when the snapshot is of this cluster's past or present."""
    ours = set(_ids([running_id] + list(known_ids or [])))
    theirs = set(_ids([snapshot_id] + list(snapshot_lineage or [])))
    return bool(ours & theirs)


def restore_bump(snapshot_revision, high_revision, margin):
    """The revision bump for a restore: at least `margin`, and enough that the restored cluster starts
    `margin` above the highest revision any client can have seen. With less, a restore of an older
    snapshot (or the same one twice) serves revisions below what kubelets and controllers have cached,
    and their watches wait for changes that never come."""
    margin = int(margin)
    if margin <= 0:
        return 0
    return max(margin, int(high_revision or 0) - int(snapshot_revision or 0) + margin)


def write(path, record, mode=0o600):
    """Write `record` atomically (temporary file, fsync, rename)."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    part = path + ".part"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(dump(record))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(part, path)
