# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - plugins put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
name: backup_set_select
short_description: Choose the backup set a control-plane rebuild takes, out of the names of a backup directory
version_added: "0.1.0"
description:
  - Only names of the form the C(etcd_backup) role gives its sets count, C(<UTC time>Z-r<revision>)
    (for example C(20261201T070437Z-r653)); the newest is the latest time, then the highest revision.
  - Never fails the task itself; it returns RV(_value.problem) instead.
author:
  - kubedr contributors (@kubedr)
positional: wanted, where
options:
  _input:
    description: The names found in the backup directory.
    type: list
    elements: str
    required: true
  wanted:
    description: A set name to take; empty for the newest.
    type: str
    default: ""
  where:
    description: Where the names were found (host:path), for the problem message.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Choose the set
  ansible.builtin.set_fact:
    chosen: >-
      {{ found.files | map(attribute='path') | map('basename')
         | kubedr.kubeadm.backup_set_select('', 'vault:/srv/kubedr/etcd-backup/lab') }}
"""

RETURN = r"""
_value:
  description: The choice.
  type: dict
  contains:
    set:
      description: The chosen set's name, or null when there is a problem.
      type: str
    problem:
      description: Null when a set was chosen; otherwise why not, naming the fix.
      type: str
    ignored:
      description: The names that are not set names (left out).
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.kubedr.kubeadm.plugins.module_utils.rebuild_set import choose_set


def backup_set_select(names, wanted="", where=""):
    """The set to take, or the problem that stops the choice (see RETURN)."""
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise AnsibleFilterError("backup_set_select expects a list of directory names (strings)")
    return choose_set(names, wanted or "", where or "")


class FilterModule:
    """kubedr.kubeadm filters."""

    def filters(self):
        return {"backup_set_select": backup_set_select}
