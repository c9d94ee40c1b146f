#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kubeadm_config_collect
short_description: Stage a control-plane host's PKI, manifests and kubeadm configuration for a backup set
version_added: "0.1.0"
description:
  - Runs on the control-plane host a backup is taken on. Builds O(stage_dir)/config with C(pki/) (a copy of
    O(pki_dir)), C(manifests/) (O(manifests_dir)), C(kubeadm-config.yaml) and C(kubelet-config.yaml), modes
    and owners kept, and swaps it in for the previous copy only when something differs.
  - C(kubeadm-config.yaml) is the ClusterConfiguration of the C(kube-system/kubeadm-config) ConfigMap (what
    kubeadm keeps up to date), else the file O(kubeadm_config_file) kubeadm was given, else it is left out
    with a warning. C(kubelet-config.yaml) is the C(kube-system/kubelet-config) ConfigMap, else this node's
    O(kubelet_config_file).
  - Also lists the cluster's nodes for the backup set's manifest; a failed listing is a warning.
  - Private keys go from disk to disk. The result carries only the ClusterConfiguration document, never the
    rest of a kubeadm file (an InitConfiguration may hold a bootstrap token and a certificate key).
author:
  - kubedr contributors (@kubedr)
options:
  stage_dir:
    description: The staging directory of the backup set; C(config) is built inside it. It must exist.
    type: path
    required: true
  pki_dir:
    description: The kubeadm PKI directory.
    type: path
    default: /etc/kubernetes/pki
  manifests_dir:
    description: The static pod manifests directory.
    type: path
    default: /etc/kubernetes/manifests
  kubeadm_config_file:
    description: The file kubeadm was given, read when the ConfigMap cannot be.
    type: path
    default: /etc/kubernetes/kubeadm-config.yaml
  kubelet_config_file:
    description: This node's kubelet configuration, read when the ConfigMap cannot be.
    type: path
    default: /var/lib/kubelet/config.yaml
extends_documentation_fragment:
  - kubedr.kubeadm.kubectl
attributes:
  check_mode:
    support: full
    description: Builds the copy beside the previous one to tell whether it changed, then removes it.
  diff_mode:
    support: none
    description: The copy holds private keys; no diff is shown.
  idempotent:
    support: full
    description: An unchanged cluster leaves the previous copy in place and reports no change.
requirements:
  - kubectl on the host (an API server that does not answer is a warning, not a failure)
"""

EXAMPLES = r"""
- name: Stage the PKI, manifests and kubeadm configuration beside the snapshot
  kubedr.kubeadm.kubeadm_config_collect:
    stage_dir: /var/lib/kubedr/etcd-backup-staging/prod
  register: staged
  delegate_to: cp2
"""

RETURN = r"""
path:
  description: The staged config directory.
  returned: success
  type: str
  sample: /var/lib/kubedr/etcd-backup-staging/prod/config
config_source:
  description: Where C(kubeadm-config.yaml) came from.
  returned: success
  type: str
  choices: [configmap, file, none]
cluster_configuration:
  description: The ClusterConfiguration document (YAML text), empty when there is none.
  returned: success
  type: str
nodes:
  description: The cluster's nodes, empty when they could not be listed.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The node's name.
      type: str
    control_plane:
      description: Whether it carries the control-plane role label.
      type: bool
    kubelet_version:
      description: The version its kubelet reports.
      type: str
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils import kubeadm_config_set as config_set
from ansible_collections.kubedr.kubeadm.plugins.module_utils._kubectl import (
    kubectl_argument_spec,
    kubectl_from_params,
)


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def build(params, kubectl, new):
    """Fills `new`; returns (config_source, cluster_configuration, warnings)."""
    warnings = []
    os.mkdir(new, 0o700)
    config_set.copy_tree(params["pki_dir"], os.path.join(new, "pki"))
    config_set.copy_tree(params["manifests_dir"], os.path.join(new, "manifests"))
    kubeadm_config = os.path.join(new, "kubeadm-config.yaml")
    text, why = kubectl.configmap_key("kube-system", "kubeadm-config", "ClusterConfiguration")
    if text is not None:
        source, document = "configmap", text
        with open(kubeadm_config, "w", encoding="utf-8") as f:
            f.write(text)
    elif os.path.isfile(params["kubeadm_config_file"]):
        source = "file"
        path = params["kubeadm_config_file"]
        document = config_set.cluster_configuration_of_file(_read(path), path)
        shutil.copy2(path, kubeadm_config)
    else:
        source, document = "none", ""
        warnings.append(
            f"neither the kube-system/kubeadm-config ConfigMap ({why}) nor {params['kubeadm_config_file']}"
            " could be read: the set has no kubeadm-config.yaml (the ConfigMap is still inside the etcd"
            " snapshot)")
    kubelet_config = os.path.join(new, "kubelet-config.yaml")
    text, _why = kubectl.configmap_key("kube-system", "kubelet-config", "kubelet")
    if text is not None:
        with open(kubelet_config, "w", encoding="utf-8") as f:
            f.write(text)
    elif os.path.isfile(params["kubelet_config_file"]):
        shutil.copy2(params["kubelet_config_file"], kubelet_config)
    return source, document, warnings


def main():
    module = AnsibleModule(
        argument_spec={
            "stage_dir": {"type": "path", "required": True},
            "pki_dir": {"type": "path", "default": "/etc/kubernetes/pki"},
            "manifests_dir": {"type": "path", "default": "/etc/kubernetes/manifests"},
            "kubeadm_config_file": {"type": "path", "default": "/etc/kubernetes/kubeadm-config.yaml"},
            "kubelet_config_file": {"type": "path", "default": "/var/lib/kubelet/config.yaml"},
            **kubectl_argument_spec(),
        },
        supports_check_mode=True,
    )
    params = module.params
    kubectl = kubectl_from_params(module)
    stage = params["stage_dir"]
    if not os.path.isdir(stage):
        module.fail_json(msg=f"the staging directory {stage} does not exist: create it first (0700, root)")
    for option in ("pki_dir", "manifests_dir"):
        if not os.path.isdir(params[option]):
            module.fail_json(msg=f"{option} {params[option]} is not a directory: is this a kubeadm"
                                 f" control-plane host? Set {option} to where its files are")
    current = os.path.join(stage, "config")
    new = os.path.join(stage, "config.new")
    os.umask(0o077)
    config_set.remove_tree(new)
    try:
        source, document, warnings = build(params, kubectl, new)
    except (OSError, config_set.ConfigSetError) as e:
        config_set.remove_tree(new)
        module.fail_json(msg=f"staging the config set in {new} failed: {e}; the previous copy was left"
                             " as it was")
    changed = not config_set.same_tree(new, current)
    if changed and not module.check_mode:
        config_set.swap_in(new, current)
    else:
        config_set.remove_tree(new)
    items, why = kubectl.items("nodes")
    if items is None:
        warnings.append(f"the manifest records no nodes: {why}")
    for warning in warnings:
        module.warn(warning)
    module.exit_json(changed=changed, path=current, config_source=source, cluster_configuration=document,
                     nodes=[config_set.node_summary(n) for n in items or []])


if __name__ == "__main__":
    main()
