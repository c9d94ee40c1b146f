#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_local_pv_info
short_description: List local and hostPath PVs with their node, path, claim, pod, StatefulSet and ordinal
version_added: "0.1.0"
description:
  - Reads PersistentVolumes, PersistentVolumeClaims, pods and StatefulSets through the Kubernetes API and
    returns every C(local) and C(hostPath) PV with where its data lives (node and path) and who uses it
    (bound PVC, the pod that mounts it, the StatefulSet and ordinal).
  - The node of a PV is the single node its required node affinity names
    (C(kubernetes.io/hostname In [node]) or C(metadata.name In [node])); for a hostPath PV without node
    affinity, the node of the pod that mounts it.
  - The StatefulSet and ordinal come from the PVC name (C(<claim template>-<statefulset>-<ordinal>), the
    name a StatefulSet gives the claims it makes), so they are known even while the StatefulSet is scaled
    to zero; else from the mounting pod's owner reference and C(apps.kubernetes.io/pod-index) label or name.
  - Runs where the kubeconfig is, normally the controller (C(delegate_to=localhost)); needs the
    C(kubernetes) Python library there.
author:
  - kubedr contributors (@kubedr)
options:
  kubeconfig:
    description:
      - Path of the kubeconfig file. Default is E(K8S_AUTH_KUBECONFIG), else C(~/.kube/config).
    type: path
  context:
    description:
      - Context of the kubeconfig to use. Default is its current context.
    type: str
  namespace:
    description:
      - Only PVs bound to a PVC of this namespace.
    type: str
  label_selector:
    description:
      - Only PVs bound to a PVC whose labels match this selector (applied to the B(PVCs), by the API server),
        for example V(app.kubernetes.io/name=data). A StatefulSet's PVCs carry its selector's labels and
        those of its claim templates.
    type: str
  pv_label_selector:
    description:
      - Only PVs whose own labels match this selector (applied to the B(PVs), by the API server).
    type: str
  storage_class:
    description:
      - Only PVs of this StorageClass.
    type: str
  statefulset:
    description:
      - Only PVs whose claim belongs to the StatefulSet of this name (in O(namespace) when given).
    type: str
  require_node:
    description:
      - Fail when a selected PV has no single node (see the description), naming each such PV. Set it when
        the result drives a backup or restore on the node.
    type: bool
    default: false
  timeout:
    description:
      - Seconds each request to the API server may take (the Kubernetes client's C(_request_timeout)). An API
        server that accepts connections and does not answer within it fails the module naming this option; the
        client retries a timed-out read up to three times first. V(0) means no limit.
    type: int
    default: 60
attributes:
  check_mode:
    support: full
    description: The module only reads; it behaves the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
  idempotent:
    support: full
    description: The module only reads.
requirements:
  - kubernetes >= 24.2.0 (Python library, where the module runs)
notes:
  - Without any of O(namespace), O(label_selector) and O(statefulset), unbound PVs are listed too (with
    RV(volumes[].pvc=null)).
seealso:
  - module: kubedr.kubeadm.restic_backup
  - module: kubedr.kubeadm.restic_restore
"""

EXAMPLES = r"""
- name: The local PVs of StatefulSet db in namespace prod, with their nodes and ordinals
  kubedr.kubeadm.k8s_local_pv_info:
    kubeconfig: /etc/kubedr/admin.conf
    namespace: prod
    statefulset: db
    require_node: true
  delegate_to: localhost
  run_once: true
  register: db_volumes

- name: Every local PV of StorageClass local-storage bound to a claim labelled tier=data
  kubedr.kubeadm.k8s_local_pv_info:
    storage_class: local-storage
    label_selector: tier=data
  delegate_to: localhost
  register: data_volumes
"""

RETURN = r"""
volumes:
  description: The selected local and hostPath PVs, sorted by namespace, StatefulSet, ordinal, PVC, PV name.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: PV name.
      type: str
      sample: local-w1-disk1
    type:
      description: V(local) or V(hostPath).
      type: str
    path:
      description: Path of the data on the node.
      type: str
      sample: /mnt/disks/disk1
    node:
      description: Node that holds the data; null when no single node is known.
      type: str
      sample: w1
    storage_class:
      description: StorageClass of the PV; null when none.
      type: str
    capacity:
      description: Capacity of the PV as the API states it.
      type: str
      sample: 1Gi
    reclaim_policy:
      description: The PV's reclaim policy.
      type: str
    phase:
      description: Phase of the PV (V(Available), V(Bound), V(Released), V(Failed)).
      type: str
    labels:
      description: Labels of the PV.
      type: dict
    namespace:
      description: Namespace of the bound PVC; null when unbound.
      type: str
    pvc:
      description: Name of the bound PVC; null when unbound.
      type: str
      sample: data-db-0
    pvc_labels:
      description: Labels of the bound PVC.
      type: dict
    pvc_phase:
      description: Phase of the bound PVC; null when it does not exist (any more).
      type: str
    pod:
      description: Name of the pod that mounts the PVC; null when none (for example, scaled to zero).
      type: str
    pod_node:
      description: Node that pod runs on.
      type: str
    statefulset:
      description: Name of the StatefulSet the PVC belongs to; null when none.
      type: str
      sample: db
    claim_template:
      description: Name of the StatefulSet's volumeClaimTemplate the PVC was made from.
      type: str
      sample: data
    ordinal:
      description: Ordinal of the StatefulSet pod the PVC belongs to.
      type: int
      sample: 0
statefulsets:
  description: The StatefulSets that own any of the selected volumes.
  returned: success
  type: list
  elements: dict
  contains:
    namespace:
      description: Namespace.
      type: str
    name:
      description: Name.
      type: str
    replicas:
      description: Desired replicas (spec).
      type: int
    ready_replicas:
      description: Ready replicas (status).
      type: int
    current_replicas:
      description: Pods that exist (status).
      type: int
    pod_management_policy:
      description: V(OrderedReady) or V(Parallel).
      type: str
    claim_templates:
      description: Names of its volumeClaimTemplates.
      type: list
      elements: str
"""

import os
import socket
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.kubedr.kubeadm.plugins.module_utils import k8s_local_pv

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.rest import ApiException

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()


def api_client(module):
    kubeconfig = module.params["kubeconfig"] or os.environ.get("K8S_AUTH_KUBECONFIG") or None
    if kubeconfig and not os.path.isfile(kubeconfig):
        module.fail_json(
            msg=f"kubeconfig {kubeconfig} does not exist: give the path of a kubeconfig file "
            "readable where the module runs (normally the controller, delegate_to: localhost)"
        )
    try:
        return k8s_config.new_client_from_config(config_file=kubeconfig, context=module.params["context"])
    except Exception as e:  # the loader raises ConfigException, TypeError or OSError for a bad file
        module.fail_json(
            msg=f"cannot load kubeconfig {kubeconfig or '~/.kube/config'}"
            f"{' context ' + module.params['context'] if module.params['context'] else ''}: {e}",
            exception=traceback.format_exc(),
        )


def timed_out(error):
    """Whether a client error is a timeout (urllib3 wraps a read timeout in MaxRetryError)."""
    seen = set()
    while isinstance(error, BaseException) and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (TimeoutError, socket.timeout)) or "TimeoutError" in type(error).__name__:
            return True
        reason = getattr(error, "reason", None)  # an ssl.SSLError's is a string
        error = reason if isinstance(reason, BaseException) else error.__cause__ or error.__context__
    return False


def read_objects(module, api):
    """PVs, PVCs, pods and StatefulSets as plain dicts shaped as the API returns them."""
    p = module.params
    core, apps = k8s_client.CoreV1Api(api), k8s_client.AppsV1Api(api)
    bound = {"_request_timeout": p["timeout"]} if p["timeout"] else {}
    pv_kwargs = {"label_selector": p["pv_label_selector"]} if p["pv_label_selector"] else {}
    pvc_kwargs = {"label_selector": p["label_selector"]} if p["label_selector"] else {}
    pv_kwargs.update(bound)
    pvc_kwargs.update(bound)
    step = "PersistentVolumes"
    try:
        pvs = core.list_persistent_volume(**pv_kwargs)
        step = "PersistentVolumeClaims"
        if p["namespace"]:
            pvcs = core.list_namespaced_persistent_volume_claim(p["namespace"], **pvc_kwargs)
            step = "pods"
            pods = core.list_namespaced_pod(p["namespace"], **bound)
            step = "StatefulSets"
            statefulsets = apps.list_namespaced_stateful_set(p["namespace"], **bound)
        else:
            pvcs = core.list_persistent_volume_claim_for_all_namespaces(**pvc_kwargs)
            step = "pods"
            pods = core.list_pod_for_all_namespaces(**bound)
            step = "StatefulSets"
            statefulsets = apps.list_stateful_set_for_all_namespaces(**bound)
    except ApiException as e:
        module.fail_json(
            msg=f"listing {step} failed: HTTP {e.status} {e.reason}: {(e.body or '')[:500]}", status=e.status
        )
    except Exception as e:  # connection refused, TLS, timeouts: urllib3 errors
        if timed_out(e):
            module.fail_json(
                msg=f"listing {step}: no answer from the API server within timeout={p['timeout']} seconds"
                f" ({type(e).__name__}: {e}): check that it is up and answering (kubectl get --raw /readyz),"
                " or raise timeout (seconds, 0 for no limit) if it is only slow",
                exception=traceback.format_exc(),
            )
        module.fail_json(
            msg=f"listing {step} failed: cannot reach the API server ({type(e).__name__}: {e})",
            exception=traceback.format_exc(),
        )
    return [api.sanitize_for_serialization(listing)["items"] for listing in (pvs, pvcs, pods, statefulsets)]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kubeconfig=dict(type="path"),
            context=dict(type="str"),
            namespace=dict(type="str"),
            label_selector=dict(type="str"),
            pv_label_selector=dict(type="str"),
            storage_class=dict(type="str"),
            statefulset=dict(type="str"),
            require_node=dict(type="bool", default=False),
            timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)
    p = module.params
    if p["timeout"] < 0:
        module.fail_json(msg=f"timeout must be a number of seconds, 0 for no limit; got {p['timeout']}")
    api = api_client(module)
    pvs, pvcs, pods, statefulsets = read_objects(module, api)
    if p["label_selector"]:
        # the selector filtered the claims: keep only PVs bound to one of them
        kept = {(c["metadata"]["namespace"], c["metadata"]["name"]) for c in pvcs}
        pvs = [
            pv
            for pv in pvs
            if ((pv.get("spec") or {}).get("claimRef") or {}).get("name") is not None
            and (pv["spec"]["claimRef"].get("namespace"), pv["spec"]["claimRef"]["name"]) in kept
        ]
    volumes = k8s_local_pv.describe(pvs, pvcs, pods, statefulsets)
    volumes = k8s_local_pv.select(
        volumes,
        namespace=p["namespace"],
        statefulset=p["statefulset"],
        storage_class=p["storage_class"],
        bound_only=bool(p["namespace"] or p["label_selector"] or p["statefulset"]),
    )
    if p["statefulset"] and not volumes:
        where = f" in namespace {p['namespace']}" if p["namespace"] else ""
        known = sorted(f"{s['metadata']['namespace']}/{s['metadata']['name']}" for s in statefulsets)
        if not any(s["metadata"]["name"] == p["statefulset"] for s in statefulsets):
            module.fail_json(
                msg=f"no StatefulSet {p['statefulset']}{where}; StatefulSets found: {known or 'none'}"
            )
    owners = k8s_local_pv.statefulsets_of(volumes, statefulsets)
    if p["require_node"]:
        issues = k8s_local_pv.problems(volumes)
        if issues:
            module.fail_json(
                msg="; ".join(issues) + ". Give those volumes in the inventory with their node, "
                "or start the pod that uses a hostPath PV",
                volumes=volumes,
            )
    module.exit_json(changed=False, volumes=volumes, statefulsets=owners)


if __name__ == "__main__":
    main()
