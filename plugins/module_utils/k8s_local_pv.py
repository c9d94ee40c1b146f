# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Node-bound PersistentVolumes and who uses them: pure functions over API objects (dicts shaped as the
Kubernetes API returns them, camelCase keys), so the matching is tested without a cluster."""

from __future__ import annotations

import re

# Node labels a local PV's node affinity names its node by; kubeadm nodes carry the Node name in
# kubernetes.io/hostname (the kubelet's --hostname-override, else the host name).
HOSTNAME_KEYS = ("kubernetes.io/hostname",)
# A StatefulSet's pods carry their ordinal in this label since Kubernetes 1.28.
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
_ORDINAL = re.compile(r"^(?P<prefix>.+)-(?P<ordinal>0|[1-9][0-9]*)$")


def _meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def volume_source(pv: dict) -> tuple[str, str] | None:
    """('local', path) or ('hostPath', path) for a node-bound PV; None for any other kind."""
    spec = pv.get("spec") or {}
    for kind in ("local", "hostPath"):
        source = spec.get(kind)
        if source and source.get("path"):
            return kind, source["path"]
    return None


def affinity_node(pv: dict) -> str | None:
    """The single node a PV's required node affinity pins it to, or None when it names no single node.

    Reads `kubernetes.io/hostname In [node]` match expressions and `metadata.name In [node]` match
    fields; a PV whose terms allow several nodes (or none) has no single node.
    """
    required = ((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}
    found = set()
    for term in required.get("nodeSelectorTerms") or []:
        requirements = [(e, True) for e in term.get("matchExpressions") or []]
        requirements += [(e, False) for e in term.get("matchFields") or []]
        for expression, is_label in requirements:
            key_ok = (
                expression.get("key") in HOSTNAME_KEYS
                if is_label
                else expression.get("key") == "metadata.name"
            )
            if key_ok and expression.get("operator") == "In":
                found.update(expression.get("values") or [])
    return found.pop() if len(found) == 1 else None


def parse_ordinal(pod_name: str, statefulset: str) -> int | None:
    """The ordinal of pod `<statefulset>-<N>`; None when the name is not of that form."""
    match = _ORDINAL.match(pod_name or "")
    if not match or match.group("prefix") != statefulset:
        return None
    return int(match.group("ordinal"))


def claim_ordinal(claim: str, template: str, statefulset: str) -> int | None:
    """The ordinal of PVC `<template>-<statefulset>-<N>`, the name a StatefulSet gives its claims."""
    prefix = f"{template}-"
    if not claim.startswith(prefix):
        return None
    return parse_ordinal(claim[len(prefix) :], statefulset)


def pod_statefulset(pod: dict) -> str | None:
    """Name of the StatefulSet that controls the pod, from its owner references."""
    for ref in _meta(pod).get("ownerReferences") or []:
        if ref.get("kind") == "StatefulSet" and ref.get("controller", True):
            return ref.get("name")
    return None


def pod_ordinal(pod: dict, statefulset: str) -> int | None:
    """The pod's ordinal: its pod-index label when present and numeric, else parsed from its name."""
    index = (_meta(pod).get("labels") or {}).get(POD_INDEX_LABEL)
    if index is not None and str(index).isdigit():
        return int(index)
    return parse_ordinal(_meta(pod).get("name", ""), statefulset)


def pod_claims(pod: dict) -> list[str]:
    """Names of the PVCs a pod mounts."""
    return [
        v["persistentVolumeClaim"]["claimName"]
        for v in (pod.get("spec") or {}).get("volumes") or []
        if (v.get("persistentVolumeClaim") or {}).get("claimName")
    ]


def statefulset_for_claim(
    namespace: str, claim: str, statefulsets: list[dict]
) -> tuple[dict, str, int] | None:
    """(StatefulSet, claim template name, ordinal) when PVC `claim` is one a StatefulSet of the namespace
    made from its volumeClaimTemplates (`<template>-<statefulset>-<N>`), else None."""
    for sts in statefulsets:
        if _meta(sts).get("namespace") != namespace:
            continue
        name = _meta(sts).get("name", "")
        for template in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
            tname = _meta(template).get("name", "")
            ordinal = claim_ordinal(claim, tname, name)
            if ordinal is not None:
                return sts, tname, ordinal
    return None


def statefulset_summary(sts: dict) -> dict:
    spec = sts.get("spec") or {}
    status = sts.get("status") or {}
    return {
        "namespace": _meta(sts).get("namespace"),
        "name": _meta(sts).get("name"),
        "replicas": spec.get("replicas", 1),
        "ready_replicas": status.get("readyReplicas", 0) or 0,
        "current_replicas": status.get("replicas", 0) or 0,
        "pod_management_policy": spec.get("podManagementPolicy", "OrderedReady"),
        "claim_templates": [_meta(t).get("name") for t in spec.get("volumeClaimTemplates") or []],
    }


def describe(pvs: list[dict], pvcs: list[dict], pods: list[dict], statefulsets: list[dict]) -> list[dict]:
    """One record per local or hostPath PV: where its data is and who uses it, sorted by namespace,
    StatefulSet, ordinal, PVC and PV name. PVs of any other kind are left out."""
    claims = {(_meta(c).get("namespace"), _meta(c).get("name")): c for c in pvcs}
    users: dict[tuple, dict] = {}
    for pod in pods:
        if _meta(pod).get("deletionTimestamp"):
            continue  # a terminating pod no longer owns the claim for our purposes
        for claim in pod_claims(pod):
            users.setdefault((_meta(pod).get("namespace"), claim), pod)
    volumes = []
    for pv in pvs:
        source = volume_source(pv)
        if source is None:
            continue
        kind, path = source
        spec = pv.get("spec") or {}
        ref = spec.get("claimRef") or {}
        namespace, claim_name = ref.get("namespace"), ref.get("name")
        claim = claims.get((namespace, claim_name))
        # a claimRef names the claim the PV is (being) bound to; it is ours only if that claim points back
        if claim is not None and (claim.get("spec") or {}).get("volumeName") not in (
            None,
            "",
            _meta(pv).get("name"),
        ):
            claim = None
        pod = users.get((namespace, claim_name)) if claim_name else None
        record = {
            "name": _meta(pv).get("name"),
            "type": kind,
            "path": path,
            "node": affinity_node(pv),
            "storage_class": spec.get("storageClassName") or None,
            "capacity": (spec.get("capacity") or {}).get("storage"),
            "reclaim_policy": spec.get("persistentVolumeReclaimPolicy"),
            "phase": (pv.get("status") or {}).get("phase"),
            "labels": _meta(pv).get("labels") or {},
            "namespace": namespace if claim_name else None,
            "pvc": claim_name or None,
            "pvc_labels": (_meta(claim).get("labels") or {}) if claim else {},
            "pvc_phase": (claim.get("status") or {}).get("phase") if claim else None,
            "pod": _meta(pod).get("name") if pod else None,
            "pod_node": (pod.get("spec") or {}).get("nodeName") if pod else None,
            "statefulset": None,
            "claim_template": None,
            "ordinal": None,
        }
        if record["node"] is None and kind == "hostPath":
            record["node"] = record["pod_node"]  # a hostPath PV lives wherever its pod runs
        owner = pod_statefulset(pod) if pod else None
        match = statefulset_for_claim(namespace, claim_name, statefulsets) if claim_name else None
        if match is not None and owner in (None, _meta(match[0]).get("name")):
            record.update(statefulset=_meta(match[0]).get("name"), claim_template=match[1], ordinal=match[2])
        elif owner:
            record.update(statefulset=owner, ordinal=pod_ordinal(pod, owner))
        volumes.append(record)
    return sorted(volumes, key=_sort_key)


def _sort_key(v: dict) -> tuple:
    return (
        v["namespace"] or "",
        v["statefulset"] or "",
        -1 if v["ordinal"] is None else v["ordinal"],
        v["pvc"] or "",
        v["name"] or "",
    )


def select(
    volumes: list[dict],
    namespace: str | None = None,
    statefulset: str | None = None,
    storage_class: str | None = None,
    bound_only: bool = False,
) -> list[dict]:
    """The volumes that pass every filter given; a namespace or StatefulSet filter implies bound volumes."""
    chosen = []
    for v in volumes:
        if namespace and v["namespace"] != namespace:
            continue
        if statefulset and v["statefulset"] != statefulset:
            continue
        if storage_class and v["storage_class"] != storage_class:
            continue
        if bound_only and not v["pvc"]:
            continue
        chosen.append(v)
    return chosen


def statefulsets_of(volumes: list[dict], statefulsets: list[dict]) -> list[dict]:
    """Summaries of the StatefulSets that own any of the volumes, sorted by namespace and name."""
    wanted = {(v["namespace"], v["statefulset"]) for v in volumes if v["statefulset"]}
    found = [
        statefulset_summary(s)
        for s in statefulsets
        if (_meta(s).get("namespace"), _meta(s).get("name")) in wanted
    ]
    return sorted(found, key=lambda s: (s["namespace"] or "", s["name"] or ""))


def problems(volumes: list[dict]) -> list[str]:
    """Why a volume cannot be backed up or restored by node and path: no single node known."""
    return [
        f"PV {v['name']} ({v['type']} {v['path']}) has no single node: "
        + (
            "its node affinity names none or several nodes"
            if v["type"] == "local"
            else "no node affinity and no running pod uses it"
        )
        for v in volumes
        if not v["node"]
    ]
