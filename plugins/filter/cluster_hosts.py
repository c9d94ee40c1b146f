# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - plugins put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
name: cluster_hosts
short_description: The hosts of a list that belong to one kubedr cluster
version_added: "0.1.0"
description:
  - Keeps, in their order, the hosts of the input whose inventory variable C(kubedr_cluster) equals
    O(cluster). Hosts without C(kubedr_cluster) belong to no cluster and are dropped.
  - The playbooks run every cluster of an inventory in one play and let the first host of each cluster
    that is still in the play do that cluster's work; this filter is how they find a cluster's hosts.
author:
  - kubedr contributors (@kubedr)
positional: hostvars, cluster
options:
  _input:
    description: Inventory host names, for example C(ansible_play_hosts).
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars).
    type: dict
    required: true
  cluster:
    description: The cluster's name, as C(kubedr_cluster) gives it.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Only the first host of each cluster does the cluster's work
  ansible.builtin.debug:
    msg: "{{ kubedr_cluster }} is backed up from {{ inventory_hostname }}"
  when: >-
    inventory_hostname == (ansible_play_hosts
    | kubedr.kubeadm.cluster_hosts(hostvars, kubedr_cluster) | first)
"""

RETURN = r"""
_value:
  description: The hosts of the input that belong to O(cluster), in input order.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError


def cluster_hosts(hosts, hostvars, cluster):
    if not isinstance(cluster, str) or not cluster:
        raise AnsibleFilterError(f"cluster_hosts: the cluster must be a non-empty name, got {cluster!r}")
    return [host for host in hosts if host in hostvars and hostvars[host].get("kubedr_cluster") == cluster]


class FilterModule:
    """kubedr.kubeadm filters."""

    def filters(self):
        return {"cluster_hosts": cluster_hosts}
