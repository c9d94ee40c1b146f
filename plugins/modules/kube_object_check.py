#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kube_object_check
short_description: Check that named Kubernetes objects exist, and that others do not
version_added: "0.1.0"
description:
  - Reads each object through kubectl and fails naming every one that is not as expected, every object
    that could not be read (with kubectl's reason) counted apart; changes nothing.
  - How a restore or a rebuild proves it brought back what the backup held and not what came after it.
author:
  - kubedr contributors (@kubedr)
options:
  present:
    description: Objects that must exist, each V(kind), V(name) and, for a namespaced kind, V(namespace).
    type: list
    elements: dict
    default: []
  absent:
    description: Objects that must not exist, given as in O(present).
    type: list
    elements: dict
    default: []
extends_documentation_fragment:
  - kubedr.kubeadm.kubectl
attributes:
  check_mode:
    support: full
    description: Reads only, in every mode.
  diff_mode:
    support: none
    description: Nothing changes.
  idempotent:
    support: full
    description: Never changes anything.
requirements:
  - kubectl on the host the module runs on
"""

EXAMPLES = r"""
- name: Check the restore brought back the object from before the snapshot, not the one after it
  kubedr.kubeadm.kube_object_check:
    present: [{kind: configmap, namespace: default, name: before-backup}]
    absent: [{kind: configmap, namespace: default, name: after-backup}]
"""

RETURN = r"""
checked:
  description: How many objects were read.
  returned: always
  type: int
  sample: 2
missing:
  description: Objects of O(present) not found, as C(kind namespace/name).
  returned: always
  type: list
  elements: str
  sample: [configmap default/before-backup]
unexpected:
  description: Objects of O(absent) found.
  returned: always
  type: list
  elements: str
unreadable:
  description: Objects kubectl could not read, each with its reason.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils._kubectl import (
    kubectl_argument_spec,
    kubectl_from_params,
    object_ref,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "present": {"type": "list", "elements": "dict", "default": []},
            "absent": {"type": "list", "elements": "dict", "default": []},
            **kubectl_argument_spec(),
        },
        supports_check_mode=True,
    )
    wanted = []
    for expected, entries in ((True, module.params["present"]), (False, module.params["absent"])):
        for entry in entries:
            try:
                wanted.append((expected, object_ref(entry)))
            except ValueError as error:
                module.fail_json(msg=str(error))
    kubectl = kubectl_from_params(module)
    missing, unexpected, unreadable = [], [], []
    for expected, (label, args) in wanted:
        found, why = kubectl.get(*args)
        if why:
            unreadable.append(f"{label}: {why}")
        elif expected and found is None:
            missing.append(label)
        elif not expected and found is not None:
            unexpected.append(label)
    result = {"checked": len(wanted), "missing": missing, "unexpected": unexpected, "unreadable": unreadable}
    problems = ([f"expected, not found: {', '.join(missing)}"] if missing else []) + (
        [f"found, expected gone: {', '.join(unexpected)}"] if unexpected else []) + (
        [f"could not be read: {'; '.join(unreadable)}"] if unreadable else [])
    if problems:
        module.fail_json(msg="Kubernetes objects not as expected: " + "; ".join(problems), changed=False,
                         **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
