# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - plugins put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
name: kubeadm_node_registration
short_description: A kubeadm nodeRegistration in the shape of a configuration API version
version_added: "0.1.0"
description:
  - kubeadm's v1beta4 made C(kubeletExtraArgs) a list of C(name)/C(value) pairs; v1beta3 has a map. Takes
    either shape and returns the one O(api_version) wants, so an inventory written for one Kubernetes
    release serves the other. Everything else is returned as given.
author:
  - kubedr contributors (@kubedr)
positional: api_version
options:
  _input:
    description: The nodeRegistration.
    type: dict
    required: true
  api_version:
    description: The configuration API it is written in (filter P(kubedr.kubeadm.kubeadm_api_version#filter)).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: nodeRegistration for a v1beta3 InitConfiguration
  ansible.builtin.set_fact:
    registration: >-
      {{ {'name': 'cp1', 'kubeletExtraArgs': [{'name': 'node-ip', 'value': '10.0.0.1'}]}
         | kubedr.kubeadm.kubeadm_node_registration('kubeadm.k8s.io/v1beta3') }}
"""

RETURN = r"""
_value:
  description: The nodeRegistration, C(kubeletExtraArgs) in the version's shape.
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.kubedr.kubeadm.plugins.module_utils.kubeadm_join import node_registration_for


def kubeadm_node_registration(registration, api_version):
    """nodeRegistration in the shape of api_version."""
    if not isinstance(registration, dict):
        raise AnsibleFilterError("kubeadm_node_registration expects a nodeRegistration mapping")
    try:
        return node_registration_for(api_version, registration)
    except (KeyError, TypeError, AttributeError) as error:
        raise AnsibleFilterError("nodeRegistration.kubeletExtraArgs must be a mapping or a list of name/value"
                                 f" pairs ({type(error).__name__})") from error


class FilterModule:
    """kubedr.kubeadm filters."""

    def filters(self):
        return {"kubeadm_node_registration": kubeadm_node_registration}
