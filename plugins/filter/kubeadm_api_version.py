# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - plugins put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
name: kubeadm_api_version
short_description: The kubeadm configuration API to write for a cluster
version_added: "0.1.0"
description:
  - The C(apiVersion) of the cluster's own ClusterConfiguration when it is V(kubeadm.k8s.io/v1beta3) or
    V(kubeadm.k8s.io/v1beta4); else the one its C(kubernetesVersion)'s kubeadm writes (v1beta3 up to 1.30,
    v1beta4 from 1.31); V(kubeadm.k8s.io/v1beta4) when neither tells.
author:
  - kubedr contributors (@kubedr)
options:
  _input:
    description: The parsed ClusterConfiguration (for example of a backup set).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: The API version of an InitConfiguration beside the backed-up ClusterConfiguration
  ansible.builtin.set_fact:
    init_api_version: "{{ cluster_configuration | kubedr.kubeadm.kubeadm_api_version }}"
"""

RETURN = r"""
_value:
  description: V(kubeadm.k8s.io/v1beta3) or V(kubeadm.k8s.io/v1beta4).
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.kubedr.kubeadm.plugins.module_utils.kubeadm_join import api_version_for


def kubeadm_api_version(cluster_configuration):
    """The kubeadm configuration API to write for the cluster of this ClusterConfiguration."""
    if not isinstance(cluster_configuration, dict):
        raise AnsibleFilterError("kubeadm_api_version expects a parsed ClusterConfiguration (a mapping)")
    return api_version_for(cluster_configuration.get("apiVersion"),
                           cluster_configuration.get("kubernetesVersion"))


class FilterModule:
    """kubedr.kubeadm filters."""

    def filters(self):
        return {"kubeadm_api_version": kubeadm_api_version}
