#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pv_restore_plan
short_description: Decide which volumes the pv_restore role restores, from which repository
version_added: "0.1.0"
description:
  - The pv_restore role's decisions in one task, on the controller; it reads the inventory and changes
    nothing.
  - Takes the StatefulSet's bound volumes from O(discovered), narrowed to O(pvcs) when given, gives each its
    node's repository (O(repository), O(password_file), O(restic_path), each falling back to the
    C(restic_repository_info) the kubedr.kubeadm.restic role recorded on that node), its restic host
    C(<cluster>/<namespace>/<pvc>) and the snapshot asked for (O(snapshots) by PVC, else O(snapshot)).
  - Fails with every problem at once, before the StatefulSet is touched. No volume, a PVC in O(pvcs) or
    O(snapshots) that is none of the StatefulSet's, a node not in the inventory under its Node name, or a
    node with no repository.
  - Implemented by the action plugin of the same name; the module itself runs nothing.
author:
  - kubedr contributors (@kubedr)
extends_documentation_fragment:
  - kubedr.kubeadm.pv_plan
options:
  cluster:
    description: The kubedr cluster's name, first part of each restic host.
    type: str
    required: true
  namespace:
    description: The StatefulSet's namespace.
    type: str
    required: true
  statefulset:
    description: The StatefulSet.
    type: str
    required: true
  pvcs:
    description: Restore only these PVCs; empty restores all of the StatefulSet's.
    type: list
    elements: str
    default: []
  snapshots:
    description: Snapshot per PVC name (an ID, a unique prefix, or C(latest)), overriding O(snapshot).
    type: dict
    default: {}
  snapshot:
    description: Snapshot of every other volume.
    type: str
    default: latest
  discovered:
    description: RV(kubedr.kubeadm.k8s_local_pv_info#module:volumes) for the StatefulSet.
    type: list
    elements: dict
    required: true
seealso:
  - module: kubedr.kubeadm.k8s_local_pv_info
  - module: kubedr.kubeadm.restic_restore
"""

EXAMPLES = r"""
- name: Plan the restore of StatefulSet db/pg
  kubedr.kubeadm.pv_restore_plan:
    cluster: prod
    namespace: db
    statefulset: pg
    snapshots: {data-pg-0: 4f2a9c1e}
    discovered: "{{ found.volumes }}"
  register: plan
"""

RETURN = r"""
volumes:
  description:
    - The volumes to restore, as discovered, with C(repository), C(password_file), C(restic_path) (null for
      the default), C(restic_host) and C(wanted) (the snapshot asked for) added.
  returned: always
  type: list
  elements: dict
problems:
  description: What is wrong with the request; the task fails when any.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils._pv_plan import RESTORE_ARGUMENT_SPEC


def main():
    module = AnsibleModule(argument_spec=RESTORE_ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="pv_restore_plan runs as an action plugin (plugins/action/pv_restore_plan.py);"
                         " call it as a task, not as a module on its own")


if __name__ == "__main__":
    main()
