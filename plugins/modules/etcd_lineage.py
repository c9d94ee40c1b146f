#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: etcd_lineage
short_description: Record the etcd cluster ids and the highest revision of one kubedr cluster on a host
version_added: "0.1.0"
description:
  - Every etcd restore and every control-plane rebuild starts an etcd cluster with a new cluster id.
    The lineage file on each control-plane host lists every id the kubedr cluster has had, so that a
    backup taken before a restore or a rebuild is still recognised as this cluster's, while a snapshot
    of another cluster is still refused.
  - It also keeps the highest etcd revision the cluster's clients can have seen. A restore must start
    above it, or kubelets and controllers watch for revisions that never come.
  - Adds O(cluster_ids) and raises the high revision to O(revision); with neither it only reads.
    The file is written atomically, mode 0600, and only when its content changes.
author:
  - kubedr contributors (@kubedr)
options:
  path:
    description: The lineage file.
    type: path
    default: /etc/kubernetes/kubedr-etcd-restore/lineage.json
  cluster:
    description:
      - The kubedr cluster's name (C(kubedr_cluster)). A file of another cluster is refused.
    type: str
    required: true
  cluster_ids:
    description: etcd cluster ids (hex) to add, in order.
    type: list
    elements: str
    default: []
  revision:
    description: A revision clients of the cluster have seen; the high revision is raised to it.
    type: int
    default: 0
attributes:
  check_mode:
    support: full
    description: Reports what it would write.
  diff_mode:
    support: none
    description: The result holds the record before and after.
  idempotent:
    support: full
    description: Writes only what is not already recorded.
"""

EXAMPLES = r"""
- name: Read the cluster's lineage
  kubedr.kubeadm.etcd_lineage:
    cluster: "{{ kubedr_cluster }}"
  register: lineage

- name: Record the restored cluster's new id and revision
  kubedr.kubeadm.etcd_lineage:
    cluster: "{{ kubedr_cluster }}"
    cluster_ids: [8e9e05c52164694d, 5a3c0d8b2c1e7f60]
    revision: 1000001234
"""

RETURN = r"""
lineage:
  description: The record after the change (or as it would be, in check mode).
  returned: success
  type: dict
  sample: {"cluster": "lab", "cluster_ids": ["8e9e05c52164694d", "5a3c0d8b2c1e7f60"],
           "high_revision": 1000001234}
previous:
  description: The record before.
  returned: success
  type: dict
path:
  description: The lineage file.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils import etcd_lineage


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": etcd_lineage.DEFAULT_PATH},
            "cluster": {"type": "str", "required": True},
            "cluster_ids": {"type": "list", "elements": "str", "default": []},
            "revision": {"type": "int", "default": 0},
        },
        supports_check_mode=True,
    )
    path, cluster = module.params["path"], module.params["cluster"]
    try:
        previous = etcd_lineage.read(path)
    except etcd_lineage.LineageError as e:
        module.fail_json(msg=str(e))
    if previous["cluster"] and previous["cluster"] != cluster:
        module.fail_json(msg=f"{path} records the lineage of cluster {previous['cluster']!r}, not"
                             f" {cluster!r}: this host belongs to another cluster (check the inventory),"
                             " or move the file aside")
    lineage = etcd_lineage.merge(dict(previous, cluster=cluster), module.params["cluster_ids"],
                                 module.params["revision"])
    changed = lineage != previous and bool(lineage["cluster_ids"] or lineage["high_revision"])
    if changed and not module.check_mode:
        try:
            etcd_lineage.write(path, lineage)
        except OSError as e:
            module.fail_json(msg=f"cannot write the lineage file {path}: {e}")
    module.exit_json(changed=changed, lineage=lineage, previous=previous, path=path)


if __name__ == "__main__":
    main()
