#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: statefulset_hold
short_description: Hold a StatefulSet at zero replicas while its data is backed up or restored; release it
version_added: "0.1.0"
description:
  - O(state=held) remembers the StatefulSet's replicas in the annotation O(annotation), scales it to zero
    and deletes its pods (an OrderedReady StatefulSet stops scaling down at a pod that is not Ready, the
    usual state of an application whose data needs restoring); with O(wait) it waits until they are gone.
  - An annotation already there (left by an interrupted run, the spec then at zero) is kept, so the
    replicas to come back to are never lost.
  - O(state=released) scales back to the remembered replicas, waits until they are Ready (with O(ordered),
    one ordinal at a time, each Ready before the next, whatever the podManagementPolicy) and removes the
    annotation. A StatefulSet without the annotation is left as it is. A release that times out keeps
    the annotation, so a rerun or an operator knows what to scale to.
  - The roles kubedr.kubeadm.pv_backup, kubedr.kubeadm.pv_restore and kubedr.kubeadm.control_plane_rebuild
    hold and release their StatefulSets through this module.
author:
  - kubedr contributors (@kubedr)
options:
  name:
    description: The StatefulSet.
    type: str
    required: true
  namespace:
    description: Its namespace.
    type: str
    default: default
  state:
    description: V(held) at zero replicas with no pods, or V(released) back to the remembered replicas.
    type: str
    choices: [held, released]
    default: held
  annotation:
    description: The annotation that keeps the replicas to come back to.
    type: str
    default: kubedr.io/replicas-before-scale
  wait:
    description:
      - Wait until the pods are gone (held) or Ready (released). Without it, a pod on a node whose kubelet
        is not back stays Terminating and does not hold up the task.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait, in all (held), or for each step (released).
    type: int
    default: 300
  ordered:
    description: With O(state=released), scale up one ordinal at a time, each Ready before the next.
    type: bool
    default: false
  missing_ok:
    description: A StatefulSet that does not exist is reported (RV(found=false)) instead of failing the task.
    type: bool
    default: false
extends_documentation_fragment:
  - kubedr.kubeadm.kubectl
attributes:
  check_mode:
    support: full
    description: Reads the StatefulSet and its pods and reports what it would change.
  diff_mode:
    support: none
    description: The result says what was remembered, scaled and deleted.
  idempotent:
    support: full
    description: A StatefulSet already held (or released) is left as it is.
requirements:
  - kubectl on the host the module runs on
"""

EXAMPLES = r"""
- name: Hold the StatefulSet while its volumes are restored
  kubedr.kubeadm.statefulset_hold:
    name: data
    namespace: kubedr-lab
    kubeconfig: "{{ lookup('env', 'HOME') }}/.kube/config"
  delegate_to: localhost

- name: Bring it back, one pod at a time
  kubedr.kubeadm.statefulset_hold:
    name: data
    namespace: kubedr-lab
    state: released
    ordered: true
  register: released
  failed_when: false

- name: Report a StatefulSet that did not come back
  ansible.builtin.debug:
    msg: "{{ released.msg }}"
  when: released.failed
"""

RETURN = r"""
found:
  description: Whether the StatefulSet exists (false only with O(missing_ok)).
  returned: success
  type: bool
replicas:
  description: The replicas it is held from (held), or scaled back to (released); null when not known.
  returned: always
  type: int
  sample: 3
pods_deleted:
  description: The pods deleted to hold it (they may still be terminating without O(wait)).
  returned: always
  type: list
  elements: str
  sample: [data-0, data-1, data-2]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils._kubectl import (
    REPLICAS_ANNOTATION,
    kubectl_argument_spec,
    kubectl_from_params,
    statefulset_ready,
    wait_for,
)

# How often a wait reads the cluster again.
POLL_INTERVAL = 2.0


class HoldError(Exception):
    pass


def remembered_replicas(sts, annotation):
    """The replicas the annotation keeps, None without one; a value that is not a count is an error."""
    value = ((sts.get("metadata") or {}).get("annotations") or {}).get(annotation)
    if value is None:
        return None
    try:
        replicas = int(value)
    except ValueError:
        replicas = -1
    if replicas < 0:
        raise HoldError(f"annotation {annotation}={value!r} is not a number of replicas: set it to the"
                        " replicas to come back to (or remove it if the StatefulSet is not held)")
    return replicas


class StatefulSetHold:
    def __init__(self, module, kubectl):
        self.module = module
        self.kubectl = kubectl
        params = module.params
        self.name = params["name"]
        self.namespace = params["namespace"]
        self.annotation = params["annotation"]
        self.wait_timeout = params["wait_timeout"]
        self.label = f"StatefulSet {self.namespace}/{self.name}"
        self.changed = False
        self.replicas = None
        self.pods_deleted = []

    def result(self):
        return {"changed": self.changed, "replicas": self.replicas, "pods_deleted": self.pods_deleted}

    def read(self):
        sts, why = self.kubectl.get("statefulset", self.name, "-n", self.namespace)
        if why:
            raise HoldError(f"cannot read {self.label}: {why}")
        return sts

    def call(self, *args):
        """A change through kubectl (skipped in check mode)."""
        self.changed = True
        if self.module.check_mode:
            return
        ok, out = self.kubectl.run(*args, "-n", self.namespace)
        if not ok:
            raise HoldError(f"{self.label}: {out}")

    def scale(self, replicas):
        self.call("scale", "statefulset", self.name, f"--replicas={replicas}")

    def existing_pods(self, names):
        pods, why = self.kubectl.items("pods", "-n", self.namespace)
        if pods is None:
            raise HoldError(f"cannot list the pods of {self.label}: {why}")
        present = {(pod.get("metadata") or {}).get("name") for pod in pods}
        return [name for name in names if name in present]

    def hold(self, sts):
        replicas = remembered_replicas(sts, self.annotation)
        spec = (sts.get("spec") or {}).get("replicas", 1)
        if replicas is None:
            replicas = spec
            self.call("annotate", "statefulset", self.name, "--overwrite", f"{self.annotation}={replicas}")
        self.replicas = replicas
        if spec:
            self.scale(0)
        # every ordinal that can exist: the spec, what the controller still runs, what was remembered
        count = max(spec, (sts.get("status") or {}).get("replicas") or 0, replicas, 1)
        pods = self.existing_pods([f"{self.name}-{i}" for i in range(count)])
        if pods:
            self.call("delete", "pod", "--ignore-not-found", "--wait=false", *pods)
            self.pods_deleted = pods
        if pods and self.module.params["wait"] and not self.module.check_mode:
            gone, left = wait_for(lambda: self.pods_gone(pods), self.wait_timeout, POLL_INTERVAL)
            if not gone:
                raise HoldError(f"{self.label} is at zero replicas but pods {', '.join(left)} were still"
                                f" there after {self.wait_timeout} s (a node whose kubelet is down keeps them"
                                " Terminating): bring the node back, or raise wait_timeout")

    def pods_gone(self, pods):
        left = self.existing_pods(pods)
        return not left, left

    def release(self, sts):
        replicas = remembered_replicas(sts, self.annotation)
        if replicas is None:
            return
        self.replicas = replicas
        spec = (sts.get("spec") or {}).get("replicas", 0)
        steps = list(range(spec + 1, replicas + 1)) if self.module.params["ordered"] else [replicas]
        for step in steps:
            if step != spec:
                self.scale(step)
            self.wait_ready(step, replicas)
        if not steps:  # scaled already (an interrupted release): still Ready before the annotation goes
            self.wait_ready(replicas, replicas)
        self.call("annotate", "statefulset", self.name, f"{self.annotation}-")

    def wait_ready(self, step, replicas):
        if not self.module.params["wait"] or self.module.check_mode:
            return
        ready, detail = wait_for(lambda: self.ready(step), self.wait_timeout, POLL_INTERVAL)
        if not ready:
            raise HoldError(f"{self.label} scaled to {step} of {replicas} replicas, not Ready after"
                            f" {self.wait_timeout} s ({detail}); annotation {self.annotation} still holds"
                            f" {replicas}: look at its pods, then rerun or scale by hand")

    def ready(self, step):
        sts = self.read()
        return (False, "it was deleted") if sts is None else statefulset_ready(sts, step)


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "namespace": {"type": "str", "default": "default"},
            "state": {"type": "str", "choices": ["held", "released"], "default": "held"},
            "annotation": {"type": "str", "default": REPLICAS_ANNOTATION},
            "wait": {"type": "bool", "default": True},
            "wait_timeout": {"type": "int", "default": 300},
            "ordered": {"type": "bool", "default": False},
            "missing_ok": {"type": "bool", "default": False},
            **kubectl_argument_spec(),
        },
        supports_check_mode=True,
    )
    kubectl = kubectl_from_params(module)
    hold = StatefulSetHold(module, kubectl)
    try:
        sts = hold.read()
        if sts is None and not module.params["missing_ok"]:
            raise HoldError(f"{hold.label} does not exist: check name and namespace (missing_ok=true to"
                            " skip one that may be absent)")
        if sts is not None:
            (hold.hold if module.params["state"] == "held" else hold.release)(sts)
    except HoldError as e:
        module.fail_json(msg=str(e), **hold.result())
    module.exit_json(found=sts is not None, **hold.result())


if __name__ == "__main__":
    main()
