#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kube_node_delete
short_description: Delete the Node objects of hosts that are gone or about to join again
version_added: "0.1.0"
description:
  - Deletes the Nodes named in O(names) and, with O(selector), every Node its labels select, except those
    in O(keep). A Node already gone is no error.
  - Why the rebuild needs it, C(kubeadm join) refuses a name whose old Node is still there and Ready, and a
    restored snapshot holds the old control plane's Nodes, Ready until the new controller-manager notices
    their silence.
  - Only the Node object goes; nothing runs on or is removed from the host itself.
author:
  - kubedr contributors (@kubedr)
options:
  names:
    description: Node names to delete.
    type: list
    elements: str
    default: []
  selector:
    description: A label selector; every Node it selects is deleted too (not those in O(keep)).
    type: str
  keep:
    description: Node names never deleted, whether named or selected.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - kubedr.kubeadm.kubectl
attributes:
  check_mode:
    support: full
    description: Lists what would be deleted (RV(deleted)) and deletes nothing.
  diff_mode:
    support: none
    description: No diff.
  idempotent:
    support: full
    description: A second run finds the Nodes gone and changes nothing.
requirements:
  - kubectl on the host the module runs on
"""

EXAMPLES = r"""
- name: Delete the old control-plane Nodes, but this host's
  kubedr.kubeadm.kube_node_delete:
    selector: node-role.kubernetes.io/control-plane
    keep: [cp1]

- name: Delete a worker's old Node before it joins again
  kubedr.kubeadm.kube_node_delete:
    names: [w1]
"""

RETURN = r"""
deleted:
  description: The Nodes deleted (in check mode, that would be), sorted.
  returned: always
  type: list
  elements: str
  sample: [cp2, cp3]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils._kubectl import (
    kubectl_argument_spec,
    kubectl_from_params,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "names": {"type": "list", "elements": "str", "default": []},
            "selector": {"type": "str"},
            "keep": {"type": "list", "elements": "str", "default": []},
            **kubectl_argument_spec(),
        },
        supports_check_mode=True,
    )
    params = module.params
    kubectl = kubectl_from_params(module)
    existing, why = kubectl.items("nodes")
    if existing is None:
        module.fail_json(msg=f"listing the Nodes failed: {why}")
    names = {(n.get("metadata") or {}).get("name") for n in existing}
    wanted = set(params["names"]) & names
    if params["selector"]:
        selected, why = kubectl.items("nodes", "-l", params["selector"])
        if selected is None:
            module.fail_json(msg=f"listing the Nodes of selector {params['selector']} failed: {why}")
        wanted |= {(n.get("metadata") or {}).get("name") for n in selected}
    doomed = sorted(n for n in wanted - set(params["keep"]) if n)
    if doomed and not module.check_mode:
        ok, out = kubectl.run("delete", "node", *doomed, "--ignore-not-found")
        if not ok:
            module.fail_json(msg=f"deleting Nodes {', '.join(doomed)} failed: {out}", deleted=[])
    module.exit_json(changed=bool(doomed), deleted=doomed)


if __name__ == "__main__":
    main()
