#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: restic_snapshots
short_description: List the snapshots of a restic repository
version_added: "0.1.0"
description:
  - Lists snapshots with C(restic snapshots), optionally filtered by host, tags and paths, oldest first.
  - Changes nothing; like every restic read it takes a shared lock, so it waits up to O(retry_lock) while
    another process holds the repository exclusively (a prune, check or forget).
author:
  - kubedr contributors (@kubedr)
options:
  host:
    description:
      - Only snapshots of this host (C(--host)).
    type: str
  tags:
    description:
      - Only snapshots that carry all of these tags (C(--tag a,b)).
    type: list
    elements: str
    default: []
  paths:
    description:
      - Only snapshots that contain all of these paths (C(--path)), as they were given to the backup.
    type: list
    elements: path
    default: []
  latest:
    description:
      - Only the O(latest) most recent of the matching snapshots. V(0) returns them all.
    type: int
    default: 0
extends_documentation_fragment:
  - kubedr.kubeadm.restic_repository
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
"""

EXAMPLES = r"""
- name: The newest etcd snapshot of this host
  kubedr.kubeadm.restic_snapshots:
    repository: /srv/backup/restic
    password_file: /etc/kubedr/restic.pass
    host: "{{ inventory_hostname }}"
    tags: [etcd]
    latest: 1
  register: found

- name: Refuse to go on without a snapshot
  ansible.builtin.assert:
    that: found.snapshots | length == 1
"""

RETURN = r"""
snapshots:
  description: The matching snapshots, oldest first.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: Snapshot ID.
      type: str
    short_id:
      description: First 8 characters of the ID.
      type: str
    time:
      description: When the backup started (RFC 3339).
      type: str
    hostname:
      description: Host name recorded in the snapshot.
      type: str
    username:
      description: User that ran the backup.
      type: str
    paths:
      description: Paths backed up.
      type: list
      elements: str
    tags:
      description: Tags.
      type: list
      elements: str
    parent:
      description: ID of the parent snapshot; null for the first.
      type: str
    tree:
      description: ID of the root tree.
      type: str
    program_version:
      description: restic version that wrote the snapshot.
      type: str
    summary:
      description: Backup summary recorded by restic 0.17 and later; null for older snapshots.
      type: dict
commands:
  description: restic command lines run (the repository and password are passed in the environment).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils.restic import ResticError, snapshot_summary
from ansible_collections.kubedr.kubeadm.plugins.module_utils.restic_common import (
    restic_argument_spec,
    restic_module_kwargs,
    restic_runner,
)


def main():
    argument_spec = restic_argument_spec()
    argument_spec.update(
        host=dict(type="str"),
        tags=dict(type="list", elements="str", default=[]),
        paths=dict(type="list", elements="path", default=[]),
        latest=dict(type="int", default=0),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **restic_module_kwargs())
    p = module.params
    if p["latest"] < 0:
        module.fail_json(msg=f"latest must be 0 (all) or a positive number, got {p['latest']}")
    restic = restic_runner(module)
    try:
        snapshots = restic.snapshots(host=p["host"], tags=p["tags"], paths=p["paths"])
    except ResticError as e:
        module.fail_json(commands=restic.commands, **e.fail_kwargs())
    if p["latest"]:
        snapshots = snapshots[-p["latest"]:]
    for warning in restic.warnings:
        module.warn(warning)
    module.exit_json(changed=False, snapshots=[snapshot_summary(s) for s in snapshots],
                     commands=restic.commands)


if __name__ == "__main__":
    main()
