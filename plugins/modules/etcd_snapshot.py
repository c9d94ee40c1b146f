#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: etcd_snapshot
short_description: Save a verified snapshot of an etcd member of a kubeadm cluster
version_added: "0.1.0"
description:
  - Streams the backend database of one etcd member (the same snapshot C(etcdctl snapshot save) takes)
    into O(dest) on the managed host, over mutual TLS with kubeadm's certificates.
  - The stream goes to C(<dest>.part) first. The sha256 that etcd appends to the stream is checked,
    the file and its directory are fsynced and only then is it renamed to O(dest), so O(dest) is
    always either the previous snapshot or a complete new one. The C(.part) file is removed on any
    error, including an interrupt or C(SIGTERM).
  - Writes C(<dest>.json) beside the snapshot with what a restore needs to know (cluster and member,
    revision, raft index, etcd version, size, sha256, time, endpoint and transport).
  - Uses gRPC when the C(grpcio) Python library is available on the managed host and etcd's JSON
    gateway otherwise (see O(prefer)); the gateway path needs only the Python standard library.
author:
  - kubedr contributors (@kubedr)
options:
  dest:
    description:
      - Path of the snapshot file to write. Its directory must exist.
      - C(<dest>.json) (metadata) and, while streaming, C(<dest>.part) are written beside it.
    type: path
    required: true
  prefer:
    description:
      - How to stream the snapshot.
      - V(auto) uses gRPC when C(grpcio) can be imported on the managed host, else the JSON gateway.
      - V(grpc) fails when C(grpcio) is missing; V(gateway) never needs it (base64 in JSON, slower).
    type: str
    choices: [auto, grpc, gateway]
    default: auto
  mode:
    description:
      - Permissions of the snapshot and its metadata file, as an octal string such as V('0600').
      - A snapshot holds every Secret of the cluster, so keep it private.
    type: raw
    default: '0600'
  force:
    description:
      - Take a new snapshot even when O(dest) already holds a snapshot of the same cluster at the
        current revision.
      - Also replace a snapshot of another etcd cluster at O(dest), which is refused otherwise.
    type: bool
    default: false
  lineage:
    description:
      - Earlier etcd cluster ids of the same kubedr cluster (each restore or rebuild starts a new one), as
        M(kubedr.kubeadm.etcd_lineage) records them. A snapshot of one of them at O(dest) is this cluster's
        and is replaced without O(force).
      - Recorded in the metadata, so that a restore recognises the snapshot after later restores and rebuilds.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - kubedr.kubeadm.etcd_connection
attributes:
  check_mode:
    support: full
    description: Connects to etcd and reports whether a snapshot would be taken; writes nothing.
  diff_mode:
    support: none
    description: A snapshot is binary; there is nothing useful to diff.
  idempotent:
    support: full
    description: >-
      Nothing is written when O(dest) and its metadata already hold a snapshot of the same cluster at
      the revision etcd reports now, with the recorded size and sha256.
notes:
  - O(timeout) is an idle timeout for the stream (seconds without data), not a limit on its total
    duration, so large databases are not cut short.
  - The revision recorded is the one the member reported just before the stream started; writes
    that land while the stream is being set up make the next run take a new snapshot.
  - Before streaming, the free space in the directory of O(dest) is compared with the database size
    the member reports.
seealso:
  - module: kubedr.kubeadm.etcd_snapshot_info
  - module: kubedr.kubeadm.etcd_cluster_info
  - name: etcd disaster recovery
    description: Upstream guide to snapshots and restores.
    link: https://etcd.io/docs/v3.5/op-guide/recovery/
"""

EXAMPLES = r"""
- name: Snapshot the stacked etcd of this control plane node (kubeadm defaults)
  kubedr.kubeadm.etcd_snapshot:
    dest: /var/backups/etcd/snapshot.db
  register: snap

- name: Snapshot the member etcd_cluster_info picked, through the gateway, with an admin client cert
  kubedr.kubeadm.etcd_snapshot:
    dest: "/var/backups/etcd/{{ inventory_hostname }}-{{ ansible_facts['date_time']['epoch'] }}.db"
    endpoint: "{{ etcd.cluster.backup_source.endpoint }}"
    client_cert: /etc/kubernetes/pki/apiserver-etcd-client.crt
    client_key: /etc/kubernetes/pki/apiserver-etcd-client.key
    prefer: gateway
    timeout: 30

- name: Show what was saved
  ansible.builtin.debug:
    msg: "revision {{ snap.snapshot.revision }}, {{ snap.snapshot.size }} bytes, changed: {{ snap.changed }}"
"""

RETURN = r"""
snapshot:
  description:
    - The snapshot at O(dest), as recorded in C(<dest>.json). IDs are lowercase hex, as etcdctl prints them.
    - In check mode, when a snapshot would be taken, only RV(snapshot.path), the cluster and member, the
      revision and what the member reports are filled in.
  returned: success
  type: dict
  contains:
    path:
      description: The snapshot file.
      type: str
      sample: /var/backups/etcd/snapshot.db
    metadata_path:
      description: The metadata JSON beside it.
      type: str
      sample: /var/backups/etcd/snapshot.db.json
    cluster_id:
      description: ID of the etcd cluster.
      type: str
      sample: cdf818194e3a8c32
    member_id:
      description: ID of the member the snapshot was streamed from.
      type: str
      sample: 8e9e05c52164694d
    lineage:
      description: Every etcd cluster id of this kubedr cluster known when it was taken, its own last.
      type: list
      elements: str
      sample: [5a3c0d8b2c1e7f60, cdf818194e3a8c32]
    member_name:
      description: Name of that member (empty when the member list could not be read).
      type: str
      sample: cp1
    revision:
      description: Store revision the member reported just before streaming.
      type: int
      sample: 48213
    raft_index:
      description: Raft committed index the member reported just before streaming.
      type: int
    etcd_version:
      description: Server version of the member.
      type: str
      sample: 3.5.21
    storage_version:
      description: Storage version the stream announced (etcd 3.6 and later), else null.
      type: str
      sample: 3.6.0
    db_size:
      description: Size of the member's backend database in bytes, as it reported before streaming.
      type: int
    size:
      description: Size of the snapshot file in bytes (database plus the 32-byte sha256 trailer).
      type: int
    hash_kv:
      description:
        - etcd's hash of the key space at RV(snapshot.revision), computed while the snapshot streams. Two
          snapshots of one cluster at one revision with the same hash hold the same keys. Null when the
          member could not compute it.
      type: int
      sample: 3178470151
    sha256:
      description: sha256 of the whole snapshot file, as C(sha256sum) prints it.
      type: str
    created:
      description: When the snapshot was written (UTC, ISO 8601).
      type: str
      sample: "2026-05-01T10:00:00Z"
    endpoint:
      description: Client URL the snapshot was streamed from.
      type: str
      sample: https://127.0.0.1:2379
    transport:
      description: V(grpc) or V(gateway).
      type: str
      sample: grpc
actions:
  description: What the module did (or, in check mode, would do), in order.
  returned: always
  type: list
  elements: str
  sample:
    - streamed 20512800 bytes of revision 48213 from cp1 via grpc in 0.4s
    - verified the sha256 trailer and moved the snapshot to /var/backups/etcd/snapshot.db
    - wrote /var/backups/etcd/snapshot.db.json
"""

import errno
import os
import signal
import threading
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.kubedr.kubeadm.plugins.module_utils import etcd_grpc, etcd_lineage
from ansible_collections.kubedr.kubeadm.plugins.module_utils import etcd_snapshot_file as snapfile
from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_client import (
    EtcdError,
    format_id,
    snapshot_transport,
)
from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_common import (
    etcd_argument_spec,
    etcd_client,
)


class Interrupted(BaseException):
    """SIGTERM during the stream: unwinds through every finally like KeyboardInterrupt does."""


def _raise_interrupted(signum, frame):
    raise Interrupted(f"interrupted by signal {signum}")


def parse_mode(value):
    """An int file mode from the option (octal string like '0600', or an int as YAML gives it)."""
    if isinstance(value, int) and not isinstance(value, bool):
        mode = value
    else:
        try:
            mode = int(str(value), 8)
        except ValueError:
            raise ValueError(f"mode must be an octal string such as '0600', got {value!r}") from None
    if not 0 <= mode <= 0o7777:
        raise ValueError(f"mode {value!r} is out of range")
    return mode


def check_dest(dest):
    """Fail early (before any connection) on a destination that cannot work."""
    directory = os.path.dirname(dest) or "."
    if not os.path.isdir(directory):
        return f"destination directory {directory} does not exist: create it first"
    if os.path.isdir(dest):
        return f"dest {dest} is a directory: give the path of the snapshot file"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"destination directory {directory} is not writable"
    return None


def key_space_hash(client, revision):
    """etcd's hash of the key space at `revision`; None when the member cannot tell."""
    try:
        return client.hashkv(revision)["hash"]
    except EtcdError:
        return None


def start_key_space_hash(client, revision):
    """key_space_hash() in a daemon thread, so that etcd hashes the key space (a full pass over the
    backend, about as long as a tenth of the stream) while the snapshot streams. Returns a function that
    waits for the hash (None when the member could not tell in time)."""
    result = []
    worker = threading.Thread(target=lambda: result.append(key_space_hash(client, revision)),
                              name="etcd-hashkv", daemon=True)
    worker.start()

    def wait():
        worker.join(client.timeout + 5)  # the call's own socket timeout ends it first; this is a backstop
        return result[0] if result else None

    return wait


def existing_snapshot(client, dest, status):
    """The metadata of the snapshot at `dest` when it is one of this cluster at the current revision, with
    the same key-space hash (a cluster rebuilt with the same peer URLs and token has the same IDs), and
    the file still has the recorded size and sha256; None otherwise."""
    metadata = snapfile.read_metadata(dest)
    if not metadata or not os.path.isfile(dest):
        return None
    if (metadata.get("cluster_id") != format_id(status["cluster_id"])
            or metadata.get("revision") != status["revision"]):
        return None
    if metadata.get("hash_kv") is None or metadata["hash_kv"] != key_space_hash(client, status["revision"]):
        return None
    if os.path.getsize(dest) != metadata.get("size"):
        return None
    if snapfile.file_digest(dest)[1] != metadata.get("sha256"):
        return None
    return metadata


def member_name(client, member_id):
    try:
        members = client.member_list()["members"]
    except EtcdError:
        return ""
    return next((m["name"] for m in members if m["id"] == member_id), "")


def take_snapshot(client, transport, status, name, dest, mode, lineage=()):
    """Stream into <dest>.part, verify, fsync, rename; write <dest>.json. Returns (snapshot, actions)."""
    directory = os.path.dirname(dest) or "."
    part = dest + snapfile.PART_SUFFIX
    meta_part = snapfile.metadata_path(dest) + snapfile.PART_SUFFIX
    need = status["db_size"] + snapfile.TRAILER_SIZE
    if snapfile.free_bytes(directory) < need:
        raise snapfile.SnapshotFileError(snapfile.no_space_message(directory, need))

    previous = None
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):  # only when nobody else handles it
        try:
            previous = signal.signal(signal.SIGTERM, _raise_interrupted)
        except ValueError:  # not the main thread
            previous = None
    wait_hash_kv = start_key_space_hash(client, status["revision"])
    try:
        stream = client.snapshot(transport)
        started = time.monotonic()
        written = snapfile.write_stream(stream, part, mode, need)
        seconds = time.monotonic() - started
        hash_kv = wait_hash_kv()
        if written["problems"]:
            raise snapfile.SnapshotFileError(f"snapshot from {client.endpoint} failed verification: "
                                             + "; ".join(written["problems"]) + "; nothing was written")
        snapshot = {
            "format": snapfile.METADATA_FORMAT,
            "path": dest,
            "cluster_id": format_id(status["cluster_id"]),
            "member_id": format_id(status["member_id"]),
            "member_name": name,
            "revision": status["revision"],
            "hash_kv": hash_kv,
            "raft_index": status["raft_index"],
            "raft_term": status["raft_term"],
            "etcd_version": status["version"],
            "storage_version": stream.version or status.get("storage_version"),
            "db_size": status["db_size"],
            "size": written["size"],
            "sha256": written["sha256"],
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "endpoint": client.endpoint,
            "transport": stream.transport,
            "lineage": etcd_lineage.merge({}, [*lineage, format_id(status["cluster_id"])])["cluster_ids"],
        }
        snapfile.write_file(meta_part, snapfile.metadata_json(snapshot), mode)
        # os.replace, not module.atomic_move: atomic_move gives a new file 0666 & ~umask before any
        # chmod could follow, which would leave every Secret of the cluster readable for a moment.
        # .part is created with `mode` in the same directory, so the rename is atomic on its own.
        os.replace(part, dest)
        os.replace(meta_part, snapfile.metadata_path(dest))
        snapfile.fsync_dir(directory)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise snapfile.SnapshotFileError(snapfile.no_space_message(directory, need)) from e
        raise snapfile.SnapshotFileError(f"cannot write snapshot {dest}: {e}") from e
    finally:
        snapfile.remove_quietly(part)
        snapfile.remove_quietly(meta_part)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    actions = [f"streamed {snapshot['size']} bytes of revision {snapshot['revision']} from"
               f" {name or snapshot['member_id']} via {snapshot['transport']} in {seconds:.1f}s",
               f"verified the sha256 trailer and moved the snapshot to {dest}",
               f"wrote {snapfile.metadata_path(dest)}"]
    return dict(snapshot, metadata_path=snapfile.metadata_path(dest)), actions


def main():
    argument_spec = etcd_argument_spec()
    argument_spec.update(
        dest=dict(type="path", required=True),
        prefer=dict(type="str", choices=["auto", "grpc", "gateway"], default="auto"),
        mode=dict(type="raw", default="0600"),
        force=dict(type="bool", default=False),
        lineage=dict(type="list", elements="str", default=[]),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    dest = module.params["dest"]
    try:
        mode = parse_mode(module.params["mode"])
    except ValueError as e:
        module.fail_json(msg=str(e))
    problem = check_dest(dest)
    if problem:
        module.fail_json(msg=problem)
    if module.params["prefer"] == "grpc" and not etcd_grpc.HAS_GRPC:
        module.fail_json(msg=missing_required_lib("grpcio", reason="for prefer=grpc"),
                         exception=etcd_grpc.GRPC_IMPORT_ERROR)

    try:
        transport = snapshot_transport(module.params["prefer"])
        client = etcd_client(module.params)
        status = client.status()
        foreign = snapfile.read_metadata(dest) or {}
        if (os.path.exists(dest) and foreign.get("cluster_id") is not None and not module.params["force"]
                and not etcd_lineage.same_cluster(foreign["cluster_id"], foreign.get("lineage"),
                                                  format_id(status["cluster_id"]), module.params["lineage"])):
            module.fail_json(msg=f"{dest} holds a snapshot of another etcd cluster ({foreign['cluster_id']}, "
                                 f"this one is {format_id(status['cluster_id'])}); it was left untouched: "
                                 "give another dest, pass this cluster's lineage (etcd_lineage) if it is"
                                 " this cluster's from before a restore, or force=true to replace it")
        current = None if module.params["force"] else existing_snapshot(client, dest, status)
        if current:
            module.exit_json(changed=False, actions=[],
                             snapshot=dict(current, path=dest, metadata_path=snapfile.metadata_path(dest)))
        name = member_name(client, status["member_id"])
        if module.check_mode:
            snapshot = {
                "path": dest, "metadata_path": snapfile.metadata_path(dest),
                "cluster_id": format_id(status["cluster_id"]), "member_id": format_id(status["member_id"]),
                "member_name": name, "revision": status["revision"], "raft_index": status["raft_index"],
                "etcd_version": status["version"], "db_size": status["db_size"],
                "endpoint": client.endpoint, "transport": transport,
            }
            module.exit_json(changed=True, snapshot=snapshot, actions=[
                f"would stream a snapshot of revision {status['revision']} ({status['db_size']} bytes) from"
                f" {name or snapshot['member_id']} via {transport} to {dest}"])
        snapshot, actions = take_snapshot(client, transport, status, name, dest, mode,
                                          module.params["lineage"])
    except (EtcdError, snapfile.SnapshotFileError) as e:
        module.fail_json(msg=str(e))
    module.exit_json(changed=True, snapshot=snapshot, actions=actions)


if __name__ == "__main__":
    main()
