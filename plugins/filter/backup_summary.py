# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - plugins put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
name: backup_summary
short_description: The one line backup.yml prints per cluster
version_added: "0.1.0"
description:
  - "C(backup <cluster>: etcd revision=<r> size=<size> duration=<s>s restic=<ids> dir=<host:path>; pvs <n>
    snapshot(s) <ids>), from the etcd_backup role's C(etcd_backup_result) and the pv_backup role's
    C(pv_backup_results)."
  - Snapshot ids are shortened to 8 characters; C(unchanged) stands where restic wrote no snapshot
    (C(--skip-if-unchanged)), the newest one standing. A cluster whose etcd was not backed up says so.
author:
  - kubedr contributors (@kubedr)
positional: etcd, pvs, backup_pvs
options:
  _input:
    description: The cluster's name.
    type: str
    required: true
  etcd:
    description: C(etcd_backup_result), or an empty dict when there is none.
    type: dict
    required: true
  pvs:
    description: C(pv_backup_results), one item per volume with its C(snapshot_id).
    type: list
    elements: dict
    required: true
  backup_pvs:
    description: Whether the PVs were to be backed up (C(false) prints C(left out)).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: One line for the cluster
  ansible.builtin.debug:
    msg: "{{ kubedr_cluster | kubedr.kubeadm.backup_summary(etcd_backup_result | default({}), []) }}"
"""

RETURN = r"""
_value:
  description: The line.
  type: str
"""

from ansible.module_utils.common.text.formatters import bytes_to_human

SHORT_ID = 8


def _short(snapshot_id):
    return snapshot_id[:SHORT_ID] if snapshot_id else "unchanged"


def backup_summary(cluster, etcd, pvs, backup_pvs=True):
    """The summary line of one cluster's backup."""
    if etcd:
        ids = ",".join(_short(i) for i in (etcd.get("restic") or {}).values())
        etcd_part = (f"revision={etcd['revision']} size={bytes_to_human(int(etcd.get('size') or 0))}"
                     f" duration={etcd['duration']}s restic={ids or '-'} dir={etcd.get('dir') or '-'}")
    else:
        etcd_part = "not backed up"
    if pvs:
        pvs_part = f"{len(pvs)} snapshot(s) " + ",".join(_short(p.get("snapshot_id")) for p in pvs)
    else:
        pvs_part = "none" if backup_pvs else "left out"
    return f"backup {cluster}: etcd {etcd_part}; pvs {pvs_part}"


class FilterModule:
    def filters(self):
        return {"backup_summary": backup_summary}
