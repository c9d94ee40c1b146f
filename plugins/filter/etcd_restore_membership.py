# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - plugins put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
name: etcd_restore_membership
short_description: Whether an etcd restore covers every member of the cluster's etcd membership
version_added: "0.1.0"
description:
  - A restore that leaves members out (C(--limit), a short host list) leaves them their old data; left-out
    members that make a quorum of the old membership go on serving the old cluster beside the restored one.
  - The membership is the running cluster's member list when etcd answers; otherwise every member named by
    the backup set's manifest (when it is the manifest of the snapshot being restored) and by the
    C(--initial-cluster) of each play host's etcd.yaml.
  - Never fails the task itself; it returns RV(_value.problem) instead.
author:
  - kubedr contributors (@kubedr)
positional: running, etcd_manifests, backup_manifest, snapshot_sha256, backup_label
options:
  _input:
    description: A dict of play host to its etcd member name.
    type: dict
    required: true
  running:
    description: Member names the running etcd cluster lists; empty when etcd did not answer.
    type: list
    elements: str
    default: []
  etcd_manifests:
    description: A dict of play host to its etcd static pod manifest (etcd.yaml) as text.
    type: dict
    default: {}
  backup_manifest:
    description:
      - The backup set's C(etcd/manifest.json) found beside the snapshot (its JSON text, or parsed), or empty.
    type: raw
    default: {}
  snapshot_sha256:
    description: sha256 of the snapshot being restored; a manifest recording another one is not used.
    type: str
    default: ""
  backup_label:
    description: What the backup set is, for the messages.
    type: str
    default: the backup set
"""

EXAMPLES = r"""
- name: Work out which etcd members the restore must cover
  ansible.builtin.set_fact:
    membership: >-
      {{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, 'member_name')))
         | kubedr.kubeadm.etcd_restore_membership(running_names, manifests_by_host, manifest, sha256) }}
"""

RETURN = r"""
_value:
  description: The decision.
  type: dict
  contains:
    basis:
      description:
        - V(running) (the running cluster's member list decides) or V(recorded) (manifest and etcd.yaml).
      type: str
    members:
      description: The etcd members the restore must cover.
      type: list
      elements: str
    missing:
      description: Members the play leaves out (refused unless the override says so).
      type: list
      elements: str
    extra:
      description: Play members the running cluster does not have (always refused).
      type: list
      elements: str
    sources:
      description: For each member, what named it.
      type: dict
    notes:
      description: What was read but not used, and why.
      type: list
      elements: str
    problem:
      description: Null, or the refusal naming the missing members and the fix.
      type: str
    summary:
      description: One line for the success message.
      type: str
"""

import json

from ansible.errors import AnsibleFilterError
from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_membership import restore_membership


def etcd_restore_membership(
    play,
    running=None,
    etcd_manifests=None,
    backup_manifest=None,
    snapshot_sha256="",
    backup_label="the backup set",
):
    """The decision on the restore's membership (see RETURN)."""
    if not isinstance(play, dict) or not play:
        raise AnsibleFilterError("etcd_restore_membership expects {play host: etcd member name}")
    if etcd_manifests is not None and not isinstance(etcd_manifests, dict):
        raise AnsibleFilterError("etcd_restore_membership: etcd_manifests is {play host: etcd.yaml text}")
    notes = []
    if isinstance(backup_manifest, str):
        try:
            backup_manifest = json.loads(backup_manifest) if backup_manifest.strip() else None
        except ValueError as e:
            notes.append(f"the manifest.json beside the snapshot is not JSON ({e}): not used")
            backup_manifest = None
    elif backup_manifest is not None and not isinstance(backup_manifest, dict):
        raise AnsibleFilterError(
            "etcd_restore_membership: backup_manifest is the manifest (its JSON text, or a dict)"
        )
    got = restore_membership(
        play,
        list(running or []),
        dict(etcd_manifests or {}),
        backup_manifest or None,
        snapshot_sha256 or None,
        backup_label or "the backup set",
    )
    got["notes"] = notes + got["notes"]
    return got


class FilterModule:
    """kubedr.kubeadm filters."""

    def filters(self):
        return {"etcd_restore_membership": etcd_restore_membership}
