"""Inputs of the rebuild plan as the preflight gathers them: probes, a backup set on disk, PV snapshots."""

from __future__ import annotations

import json

from ansible_collections.kubedr.kubeadm.plugins.module_utils import _rebuild_plan as plan


def probe(markers=(), admin_conf="no", **tools):
    values = {
        "kubeadm": "v1.36.3",
        "kubelet": "v1.36.3",
        "cri": "yes",
        "cri_socket": "/run/containerd/containerd.sock",
        **tools,
    }
    lines = [f"{key}={value}" for key, value in values.items()] + [f"admin_conf={admin_conf}"]
    return "\n".join(lines + [f"marker={m}" for m in markers]) + "\n"


def found(version="3.6.5"):
    """etcdutl_binary's result for a host, as the preflight registers it."""
    return {"changed": False, "etcdutl": {"path": "/var/lib/kubedr/tools/etcdutl-0123", "version": version,
                                          "source": "image"}}


def write_set(root, cluster="lab", skip=(), configuration=None):
    for relative in [*plan.SET_FILES.values(), *(f"{plan.PKI_DIR}/{name}" for name in plan.PKI_FILES)]:
        if relative in skip:
            continue
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    if plan.SET_FILES["manifest"] not in skip:
        (root / plan.SET_FILES["manifest"]).write_text(
            json.dumps({"cluster": cluster, "etcd_cluster_id": "9863", "snapshot": {"revision": 653}})
        )
    if plan.SET_FILES["cluster_configuration"] not in skip:
        (root / plan.SET_FILES["cluster_configuration"]).write_text(
            configuration
            or (
                "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n"
                "bootstrapTokens:\n- token: abcdef.0123456789abcdef\n---\n"
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.36.3\n"
            )
        )
    return root


def snap(ident, time, namespace="db", statefulset="pg", pvc="data-pg-0", cluster="lab"):
    tags = [f"cluster:{cluster}", f"namespace:{namespace}", f"statefulset:{statefulset}", f"pvc:{pvc}"]
    return {"id": ident, "time": time, "tags": tags}
