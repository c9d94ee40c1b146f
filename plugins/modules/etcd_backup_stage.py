#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: etcd_backup_stage
short_description: Stage a verified backup set on the source host in one task (snapshot, PKI, manifest)
version_added: "0.1.0"
description:
  - The source host's part of the etcd_backup role, as one task. In O(stage_dir) on the host it runs against
    (usually C(delegate_to) the source member's host), one after another, the collection's modules
    M(kubedr.kubeadm.etcd_lineage) (the cluster's earlier etcd ids), M(kubedr.kubeadm.etcd_snapshot)
    (C(<stage_dir>/etcd/snapshot.db), replaced only when the member moved on),
    M(kubedr.kubeadm.etcd_snapshot_info) (sha256 trailer, bbolt header, metadata, with O(trial_restore) a
    restore into scratch space), M(kubedr.kubeadm.kubeadm_config_collect) (PKI, static pod manifests, the
    kubeadm ClusterConfiguration and KubeletConfiguration into C(<stage_dir>/config)) and
    M(kubedr.kubeadm.backup_manifest) (C(<stage_dir>/etcd/manifest.json), the cluster manifest).
  - Names the set C(<UTC time of the snapshot>Z-r<revision>) and builds the cluster manifest (format 1,
    no secrets) from the snapshot, O(cluster_info), O(source_member) and what was staged.
  - With O(pack), for a directory target, also packs C(etcd/) and C(config/) into C(<stage_dir>/transfer.tar),
    brings it to a new private (0700) directory on the controller (RV(controller_dir)) and removes it from the
    host. The caller removes RV(controller_dir) (it holds the CA keys), failure included.
  - Under C(become) the tar comes through M(ansible.builtin.slurp), as M(ansible.builtin.fetch) does then,
    base64 in the controller's memory, about 1.4 times the set's size.
  - Implemented by the action plugin of the same name; the module itself runs nothing.
  - A failing step fails the task, naming the step, with that module's message.
author:
  - kubedr contributors (@kubedr)
options:
  stage_dir:
    description: The cluster's staging directory on the host (C(<etcd_backup_staging_dir>/<cluster>)).
    type: path
    required: true
  cluster:
    description: The kubedr cluster's name (C(kubedr_cluster)).
    type: str
    required: true
  source_host:
    description: Inventory name of the host the snapshot is taken on, recorded in the manifest.
    type: str
    required: true
  source_member:
    description: The member snapshotted, as M(kubedr.kubeadm.etcd_cluster_info) lists it.
    type: dict
    required: true
  cluster_info:
    description: RV(kubedr.kubeadm.etcd_cluster_info#module:cluster) from the same run.
    type: dict
    required: true
  prefer:
    description: M(kubedr.kubeadm.etcd_snapshot)'s transport.
    type: str
    choices: [auto, grpc, gateway]
    default: auto
  timeout:
    description: M(kubedr.kubeadm.etcd_snapshot)'s timeout in seconds.
    type: int
    default: 30
  trial_restore:
    description:
      - Restore the snapshot into scratch space as part of the verification, with the etcdutl
        M(kubedr.kubeadm.etcdutl_binary) finds (read out of the node's etcd image on a stock kubeadm node).
    type: bool
    default: true
  etcdutl_path:
    description: An etcdutl the site installed, for O(trial_restore); see M(kubedr.kubeadm.etcdutl_binary).
    type: path
  pki_dir:
    description: The kubeadm PKI directory to stage.
    type: path
  manifests_dir:
    description: The static pod manifests to stage.
    type: path
  kubeadm_config_file:
    description: The kubeadm configuration file used when the kubeadm-config ConfigMap cannot be read.
    type: path
  kubeconfig:
    description: kubeconfig for reading the ConfigMaps and the nodes.
    type: path
  kubectl_path:
    description: kubectl executable.
    type: str
  pack:
    description: Also bring the set to the controller as one tar (RV(archive)).
    type: bool
    default: false
attributes:
  action:
    support: full
    description: All of it runs in the action plugin, each step a module run on the host.
  check_mode:
    support: partial
    description: Reports whether the snapshot would be replaced; verifies, stages and writes nothing.
    details: In check mode only the staging directory, the lineage and the snapshot are looked at.
  diff_mode:
    support: none
    description: No diff is produced.
  idempotent:
    support: full
    description: An unchanged member gives the same staged set and reports no change.
seealso:
  - module: kubedr.kubeadm.etcd_snapshot
  - module: kubedr.kubeadm.kubeadm_config_collect
"""

EXAMPLES = r"""
- name: Stage the set on the source host
  kubedr.kubeadm.etcd_backup_stage:
    stage_dir: /srv/kubedr/etcd-backup-staging/prod
    cluster: prod
    source_host: cp2
    source_member: "{{ info.cluster.backup_source }}"
    cluster_info: "{{ info.cluster }}"
    pack: true
  delegate_to: cp2
  register: staged
"""

RETURN = r"""
set:
  description: The set's name.
  returned: success
  type: str
  sample: 20261203T130240Z-r6000004562
snapshot:
  description: RV(kubedr.kubeadm.etcd_snapshot#module:snapshot).
  returned: success
  type: dict
snapshot_changed:
  description: Whether a new snapshot replaced the staged one.
  returned: success
  type: bool
lineage:
  description: RV(kubedr.kubeadm.etcd_lineage#module:lineage) before this backup.
  returned: success
  type: dict
verify:
  description: RV(kubedr.kubeadm.etcd_snapshot_info#module:snapshot); empty in check mode.
  returned: success
  type: dict
config:
  description: What M(kubedr.kubeadm.kubeadm_config_collect) returned; empty in check mode.
  returned: success
  type: dict
manifest:
  description: The cluster manifest written beside the snapshot; empty in check mode.
  returned: success
  type: dict
archive:
  description: The set's tar on the controller with O(pack); null without it.
  returned: success
  type: str
controller_dir:
  description: The private directory on the controller holding RV(archive); remove it when done.
  returned: success
  type: str
step:
  description: The step that failed.
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils._backup_set import ARGUMENT_SPEC


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="etcd_backup_stage runs as an action plugin (plugins/action/etcd_backup_stage.py);"
                         " call it as a task, not as a module on its own")


if __name__ == "__main__":
    main()
