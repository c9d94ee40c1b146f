#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pv_backup_plan
short_description: Decide what the pv_backup role backs up, grouped how, into which repository
version_added: "0.1.0"
description:
  - The pv_backup role's decisions in one task, on the controller; it reads the inventory and changes nothing.
  - Checks the request (cluster name, hook, the hook's commands, a kubeconfig where discovery or a hook needs
    one, each volume given in O(volumes)) and fails with every problem at once, before any hook runs.
  - Takes the volumes given, else the bound ones of O(discovered), gives each its node's repository
    (O(repository), O(password_file), O(restic_path), each falling back to the C(restic_repository_info) the
    kubedr.kubeadm.restic role recorded on that node), its restic host C(<cluster>/<namespace>/<pvc>) and
    tags, and groups them by StatefulSet (a PVC of no StatefulSet is a group of its own).
  - A group whose hook cannot run (the scale hook without a StatefulSet, the exec hook without a pod) gets a
    RV(groups[].hook_problem) instead of failing the plan; the role fails that group and goes on with the
    others.
  - Implemented by the action plugin of the same name; the module itself runs nothing.
author:
  - kubedr contributors (@kubedr)
extends_documentation_fragment:
  - kubedr.kubeadm.pv_plan
options:
  cluster:
    description: The kubedr cluster's name, first part of each restic host.
    type: str
    default: ""
  hook:
    description: The consistency hook, one of C(none), C(exec), C(scale), C(fsfreeze).
    type: str
    default: none
  exec_pre:
    description: The exec hook's command before the backup.
    type: list
    elements: str
    default: []
  exec_post:
    description: The exec hook's command after the backup.
    type: list
    elements: str
    default: []
  kubeconfig:
    description: The controller's kubeconfig; needed for discovery and the exec and scale hooks.
    type: str
    default: ""
  volumes:
    description:
      - Volumes given in the inventory instead of discovered, each with C(namespace), C(pvc), C(node) (its
        inventory name, which must be its Node name), an absolute C(path), and optionally C(statefulset),
        C(ordinal) and C(pod).
    type: list
    elements: raw
    default: []
  discovered:
    description: RV(kubedr.kubeadm.k8s_local_pv_info#module:volumes), used when O(volumes) is empty.
    type: list
    elements: dict
  tags:
    description: Extra tags on every snapshot.
    type: list
    elements: str
    default: []
  keep_last:
    description: Retention rule; any rule set makes RV(forget) true.
    type: int
    default: 0
  keep_hourly:
    description: Retention rule.
    type: int
    default: 0
  keep_daily:
    description: Retention rule.
    type: int
    default: 0
  keep_weekly:
    description: Retention rule.
    type: int
    default: 0
  keep_monthly:
    description: Retention rule.
    type: int
    default: 0
  keep_within:
    description: Retention rule (a restic duration).
    type: str
    default: ""
seealso:
  - module: kubedr.kubeadm.k8s_local_pv_info
  - module: kubedr.kubeadm.restic_backup
"""

EXAMPLES = r"""
- name: Plan the PV backup
  kubedr.kubeadm.pv_backup_plan:
    cluster: prod
    hook: scale
    kubeconfig: /etc/kubedr/prod.conf
    discovered: "{{ found.volumes }}"
  register: plan
"""

RETURN = r"""
volumes:
  description:
    - Every volume to back up, as given or discovered, with C(repository), C(password_file), C(restic_path)
      (null for the default), C(restic_host) and C(tags) added, and C(statefulset) and C(pod) empty when none.
  returned: always
  type: list
  elements: dict
groups:
  description: The volumes by StatefulSet (or lone PVC), in the order first seen.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: C(<namespace>/statefulset <name>) or C(<namespace>/pvc <name>).
      type: str
    namespace:
      description: The group's namespace.
      type: str
    statefulset:
      description: The StatefulSet; empty for a lone PVC.
      type: str
    pods:
      description: The pods mounting the group's volumes.
      type: list
      elements: str
    hook_problem:
      description: Why the hook cannot run for this group; empty when it can.
      type: str
    volumes:
      description: The group's entries of RV(volumes).
      type: list
      elements: dict
nodes:
  description: Each node holding a volume, once, with its C(repository), C(password_file) and C(restic_path).
  returned: always
  type: list
  elements: dict
forget:
  description: Whether any retention rule is set.
  returned: always
  type: bool
problems:
  description: What is wrong with the request; the task fails when any.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils._pv_plan import BACKUP_ARGUMENT_SPEC


def main():
    module = AnsibleModule(argument_spec=BACKUP_ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="pv_backup_plan runs as an action plugin (plugins/action/pv_backup_plan.py);"
                         " call it as a task, not as a module on its own")


if __name__ == "__main__":
    main()
