# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collection-private: the decisions of etcd_backup_stage (the set's name, the cluster manifest) and its
argument spec, shared by the action plugin and the module's documentation twin. Pure functions."""

from __future__ import annotations

import time

try:
    import yaml
except ImportError:  # a managed host may lack it: there the module only reads ARGUMENT_SPEC; cluster_manifest
    yaml = None  # runs in the action plugin, on the controller, which has it (ansible-core needs it)

ARGUMENT_SPEC = {
    "stage_dir": {"type": "path", "required": True},
    "cluster": {"type": "str", "required": True},
    "source_host": {"type": "str", "required": True},
    "source_member": {"type": "dict", "required": True},
    "cluster_info": {"type": "dict", "required": True},
    "prefer": {"type": "str", "choices": ["auto", "grpc", "gateway"], "default": "auto"},
    "timeout": {"type": "int", "default": 30},
    "trial_restore": {"type": "bool", "default": True},
    "etcdutl_path": {"type": "path"},
    "pki_dir": {"type": "path"},
    "manifests_dir": {"type": "path"},
    "kubeadm_config_file": {"type": "path"},
    "kubeconfig": {"type": "path"},
    "kubectl_path": {"type": "str"},
    "pack": {"type": "bool", "default": False},
}
# passed on to kubeadm_config_collect when given (its own defaults otherwise)
COLLECT = ("pki_dir", "manifests_dir", "kubeadm_config_file", "kubeconfig", "kubectl_path")

MANIFEST_KIND = "kubedr.kubeadm/etcd-backup"


def set_name(snapshot, now=None):
    """<UTC time of the snapshot, compact>Z-r<revision>, e.g. 20261203T130240Z-r6000004562."""
    created = snapshot.get("created") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    return created.replace("-", "").replace(":", "") + f"-r{snapshot['revision']}"


def cluster_manifest(cluster, set_id, source_host, member, info, snapshot, staged):
    """The manifest beside the snapshot: what a restore or rebuild needs to know. No secrets."""
    try:
        cc = yaml.safe_load(staged.get("cluster_configuration") or "") or {}
    except yaml.YAMLError:
        cc = {}
    if not isinstance(cc, dict):
        cc = {}
    members = info.get("members") or []
    leader = info.get("leader") or None
    return {
        "format": 1,
        "kind": MANIFEST_KIND,
        "set": set_id,
        "cluster": cluster,
        "etcd_cluster_id": info.get("cluster_id"),
        "etcd_lineage": snapshot.get("lineage") or [info.get("cluster_id")],
        "created": snapshot.get("created"),
        "snapshot": {
            "file": "snapshot.db",
            "revision": snapshot.get("revision"),
            **{k: snapshot.get(k) for k in ("raft_index", "size", "sha256", "hash_kv", "etcd_version",
                                            "storage_version", "transport")},
        },
        "source": {
            "host": source_host,
            "member": member.get("name"),
            "member_id": member.get("id"),
            "endpoint": member.get("endpoint"),
            "was_leader": bool(member.get("is_leader")),
        },
        "quorum": info.get("quorum"),
        "leader": leader.get("name") if isinstance(leader, dict) else None,
        "members": [{
            "name": m.get("name"), "id": m.get("id"), "peer_urls": m.get("peer_urls"),
            "client_urls": m.get("client_urls"), "is_learner": m.get("is_learner"),
            "healthy": m.get("healthy"),
            "is_leader": bool(m.get("is_leader")), "version": m.get("version"),
        } for m in members],
        "etcd_versions": sorted({m["version"] for m in members if m.get("version")}),
        "nodes": staged.get("nodes") or [],
        "kubernetes_version": cc.get("kubernetesVersion"),
        "control_plane_endpoint": cc.get("controlPlaneEndpoint"),
        "cluster_name": cc.get("clusterName"),
        "cluster_configuration": staged.get("config_source") or "none",
    }
