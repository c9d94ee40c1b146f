#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: restic_unlock
short_description: Remove the stale locks of a restic repository, never a live one
version_added: "0.1.0"
description:
  - Runs C(restic unlock), which removes only stale locks, and reports which it removed. A lock is stale
    when the restic process that took it is gone on the host that took it (restic compares the lock's
    hostname with this host's and looks up its PID here), or when it was not refreshed for 30 minutes
    (a running restic refreshes its locks every 5 minutes and gives up when it cannot).
  - Run it on the host whose restic processes may have died (a node that rebooted mid-backup); only that
    host can tell a dead process of its own from a live one; from any other host, a lock of a dead process
    only becomes stale after 30 minutes.
  - There is deliberately no C(--remove-all) option; removing a live lock would let two processes change
    the repository at once.
author:
  - kubedr contributors (@kubedr)
options: {}
extends_documentation_fragment:
  - kubedr.kubeadm.restic_repository
notes:
  - O(retry_lock) and O(unlock_stale) do not apply; listing the locks and C(restic unlock) take no lock.
attributes:
  check_mode:
    support: partial
    description: Can run in check_mode and return changed status prediction without modifying target.
    details: In check mode the locks are listed and none is removed (restic cannot tell which are stale
      without removing them); C(changed) is then false.
  diff_mode:
    support: none
    description: No diff.
  idempotent:
    support: full
    description: A second run finds no stale lock to remove.
"""

EXAMPLES = r"""
- name: Remove stale locks left by restic processes that died on this node
  kubedr.kubeadm.restic_unlock:
    repository: sftp:root@backup.example.com:/srv/restic/cluster1
    password_file: /etc/kubedr/restic/password
"""

RETURN = r"""
removed:
  description: IDs of the stale locks removed.
  returned: success
  type: list
  elements: str
remaining:
  description: IDs of the locks left in place (held by live processes, or every lock in check mode).
  returned: success
  type: list
  elements: str
commands:
  description: restic command lines run (the repository and password are passed in the environment).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils.restic import ResticError
from ansible_collections.kubedr.kubeadm.plugins.module_utils.restic_common import (
    restic_argument_spec,
    restic_module_kwargs,
    restic_runner,
)


def main():
    module = AnsibleModule(
        argument_spec=restic_argument_spec(), supports_check_mode=True, **restic_module_kwargs()
    )
    restic = restic_runner(module)
    try:
        before = restic.locks()
        if module.check_mode or not before:
            module.exit_json(changed=False, removed=[], remaining=sorted(before), commands=restic.commands)
        restic.run(["unlock"], locking=False, parse=None)
        after = restic.locks()
    except ResticError as e:
        module.fail_json(commands=restic.commands, **e.fail_kwargs())
    removed = sorted(before - after)
    if removed:
        module.warn(
            f"removed {len(removed)} stale lock(s) from restic repository {restic.location}, left by"
            " restic processes that are gone (killed, or their host went down): "
            + ", ".join(lock[:8] for lock in removed)
        )
    module.exit_json(
        changed=bool(removed), removed=removed, remaining=sorted(after), commands=restic.commands
    )


if __name__ == "__main__":
    main()
