#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: move_aside
short_description: Move directories out of the way instead of deleting them
version_added: "0.1.0"
description:
  - What DR roles do with the remnants of a broken node (old static pod manifests, kubeconfigs,
    etcd data, kubelet state) before they rebuild it. It keeps a copy by renaming, never by deleting.
  - A path that is a directory of its own is renamed to V(<parent>/.<name>.kubedr-aside-<stamp>).
    A path that is a mount point (a data disk, or a bind mount) cannot be renamed, so its entries
    move into V(<path>/.kubedr-aside-<stamp>/) instead. Either way the move is a rename on one file
    system, instant, and nothing is copied or lost.
  - Missing and empty paths are left alone, so a rerun after an interruption reports no change.
    Earlier aside directories (names starting with V(.kubedr-aside-)) are never moved again.
author:
  - kubedr contributors (@kubedr)
options:
  paths:
    description:
      - Absolute paths to move aside, for example V(/etc/kubernetes/manifests) or V(/var/lib/etcd).
    type: list
    elements: path
    required: true
  stamp:
    description:
      - Suffix of the aside names. Give the same one to every task of one run (for example the
        run's start time) so that everything one run moved sits under one name.
      - Defaults to the current UTC time, V(YYYYmmddTHHMMSSZ).
    type: str
  keep:
    description:
      - Names of entries to leave in place when a path's entries are moved (mount points and the
        entries of O(paths) that are directories alike), for example V(pki) to keep
        V(/etc/kubernetes/pki) while everything else in V(/etc/kubernetes) moves.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: Reports what would move, and where, without moving anything.
  diff_mode:
    support: none
    description: Directories are renamed, not edited.
  idempotent:
    support: full
    description: Empty and missing paths, and what was already moved, are left alone.
"""

EXAMPLES = r"""
- name: Keep the old control-plane state of a node that is about to be rebuilt
  kubedr.kubeadm.move_aside:
    paths:
      - /etc/kubernetes
      - /var/lib/etcd
      - /var/lib/kubelet
    stamp: "{{ rebuild_started }}"
  register: aside
"""

RETURN = r"""
moved:
  description: What moved, one entry per path that had something in it.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The path that was moved aside (or emptied, when it is a mount point).
      type: str
    aside:
      description: Where its content is now.
      type: str
    entries:
      description: Names that moved (the path's own name when it was renamed as a whole).
      type: list
      elements: str
  sample:
    - path: /var/lib/etcd
      aside: /var/lib/etcd/.kubedr-aside-20261123T150102Z
      entries: [member]
stamp:
  description: The suffix used.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils import _fs
from ansible_collections.kubedr.kubeadm.plugins.module_utils.move_aside import (
    check_paths,
    move_all,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "paths": {"type": "list", "elements": "path", "required": True},
            "stamp": {"type": "str"},
            "keep": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    stamp = module.params["stamp"] or _fs.utc_stamp()
    problem = check_paths(module.params["paths"], stamp)
    if problem:
        module.fail_json(msg=problem, moved=[], stamp=stamp)
    moved, error = move_all(module.params["paths"], stamp, module.params["keep"], module.check_mode)
    if error:
        module.fail_json(msg=error, moved=moved, stamp=stamp)
    module.exit_json(changed=bool(moved), moved=moved, stamp=stamp)


if __name__ == "__main__":
    main()
