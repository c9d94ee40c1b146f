#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: run_lock
short_description: Take or release a lock that lets one run at a time work on a cluster
version_added: "0.1.0"
description:
  - With O(state=acquired), takes the lock file O(path) for the run O(run_id), or fails at once when
    another run holds it, naming that run, its owner, host, holder pid and start time, and how to clear
    a stale lock.
  - The lock is an C(flock) held by a small holder process the module leaves running on the host, in a
    session of its own (a lost SSH connection does not end it). The lock is free again when the holder
    ends, that is on O(state=released), when it is killed or the host reboots, or after O(max_age) seconds.
    A lock whose holder is gone is stale and taken over with a warning; so is one older than its
    O(max_age).
  - With O(state=released), ends the holder of O(run_id)'s lock; a lock held by another run is left in
    place unless O(force=true).
author:
  - kubedr contributors (@kubedr)
options:
  path:
    description:
      - The lock file; missing parent directories are created with mode 0700, the file with 0600.
    type: path
    required: true
  state:
    description:
      - V(acquired) to take the lock, V(released) to release it.
    type: str
    choices: [acquired, released]
    default: acquired
  run_id:
    description:
      - Identifies the run that holds the lock; taking it again with the same ID changes nothing, and
        only the same ID releases it (without O(force)).
    type: str
    required: true
  owner:
    description:
      - Who runs it, in words (playbook, controller, user), recorded for the message another run gets.
    type: str
    default: ""
  max_age:
    description:
      - Seconds after which the lock ends by itself (its holder exits), so a run that never released it
        blocks others for this long at most. Make it longer than the longest run.
    type: int
    default: 7200
  force:
    description:
      - With O(state=released), release the lock whoever holds it (to clear a lock left by a killed run).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports whether the lock would be taken (and fails when it is held), takes nothing.
  diff_mode:
    support: none
    description: No diff is produced.
  idempotent:
    support: full
    description: Taking or releasing the lock twice with the same O(run_id) changes nothing the second time.
"""

EXAMPLES = r"""
- name: One backup of the cluster at a time
  kubedr.kubeadm.run_lock:
    path: /var/lib/kubedr/etcd-backup/cluster1.lock
    run_id: "{{ run_id }}"
    owner: "playbooks/backup.yml from {{ lookup('ansible.builtin.pipe', 'uname -n') }}"
  become: true

- name: Clear a lock left behind by a killed run
  kubedr.kubeadm.run_lock:
    path: /var/lib/kubedr/etcd-backup/cluster1.lock
    run_id: admin
    state: released
    force: true
  become: true
"""

RETURN = r"""
lock:
  description: The lock as recorded in the file (with O(state=acquired); null in check mode).
  returned: success
  type: dict
  contains:
    run_id:
      description: The run holding the lock.
      type: str
    owner:
      description: Who runs it.
      type: str
    host:
      description: The host the holder runs on.
      type: str
    pid:
      description: The holder process.
      type: int
    started:
      description: When the lock was taken (UTC, ISO 8601).
      type: str
    started_epoch:
      description: The same, in seconds since the epoch.
      type: float
    max_age:
      description: Seconds after C(started) at which the lock ends by itself.
      type: int
previous:
  description: The stale lock taken over (acquired), or the lock released (released); null if none.
  returned: success
  type: dict
holder:
  description: The lock's current holder when the module failed because another run holds it.
  returned: failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils.run_lock import (
    LockError,
    acquire,
    describe,
    release,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            state=dict(type="str", choices=["acquired", "released"], default="acquired"),
            run_id=dict(type="str", required=True),
            owner=dict(type="str", default=""),
            max_age=dict(type="int", default=7200),
            force=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["max_age"] < 1:
        module.fail_json(msg=f"max_age must be at least 1 second, not {p['max_age']}")
    try:
        if p["state"] == "acquired":
            changed, lock, previous = acquire(
                p["path"], p["run_id"], p["owner"], p["max_age"], check=module.check_mode
            )
            if previous:
                module.warn(
                    f"run lock {p['path']} was stale and was taken over: {describe(previous, p['path'])}"
                )
            module.exit_json(changed=changed, lock=lock, previous=previous)
        changed, previous = release(p["path"], p["run_id"], force=p["force"], check=module.check_mode)
        module.exit_json(changed=changed, lock=None, previous=previous)
    except LockError as e:
        module.fail_json(msg=e.msg, holder=e.holder)
    except OSError as e:
        module.fail_json(
            msg=f"run lock {p['path']}: {e}; check that its directory exists or can be created"
            " and is writable by the task's user (run it with become)"
        )


if __name__ == "__main__":
    main()
