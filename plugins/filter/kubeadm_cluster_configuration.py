# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - plugins put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
name: kubeadm_cluster_configuration
short_description: The ClusterConfiguration document of a kubeadm YAML file
version_added: "0.1.0"
description:
  - "Returns the one document of C(kind: ClusterConfiguration) out of a kubeadm configuration, which may hold
    several (InitConfiguration, ClusterConfiguration, KubeletConfiguration, ...), as text."
  - Fails when there is none or more than one; the message never quotes the file (an InitConfiguration
    may hold a bootstrap token and a certificate key).
author:
  - kubedr contributors (@kubedr)
positional: what
options:
  _input:
    description: The YAML text.
    type: str
    required: true
  what:
    description: What the text is (a file name), for the error message.
    type: str
    default: the kubeadm configuration
"""

EXAMPLES = r"""
- name: Read a kubeadm file's ClusterConfiguration
  ansible.builtin.set_fact:
    cluster_configuration: >-
      {{ lookup('ansible.builtin.file', path) | kubedr.kubeadm.kubeadm_cluster_configuration(path)
         | ansible.builtin.from_yaml }}
"""

RETURN = r"""
_value:
  description: The ClusterConfiguration document.
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.kubedr.kubeadm.plugins.module_utils.rebuild_set import (
    RebuildSetError,
    cluster_configuration_document,
)


def kubeadm_cluster_configuration(text, what="the kubeadm configuration"):
    """The ClusterConfiguration document of `text`."""
    if not isinstance(text, str):
        raise AnsibleFilterError(
            "kubeadm_cluster_configuration expects the YAML text of a kubeadm configuration"
        )
    try:
        return cluster_configuration_document(text, what)
    except RebuildSetError as error:
        raise AnsibleFilterError(str(error)) from None


class FilterModule:
    """kubedr.kubeadm filters."""

    def filters(self):
        return {"kubeadm_cluster_configuration": kubeadm_cluster_configuration}
