# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - plugins put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
name: cluster_group
short_description: The inventory group of a kubedr cluster's hosts, or of every cluster's
version_added: "0.1.0"
description:
  - The one rule that names a cluster's groups (README, "Choosing a cluster"). A cluster's hosts sit in
    C(<cluster>_control_plane) and C(<cluster>_workers), children of C(cluster_<cluster>) and of the
    site-wide C(control_plane) and C(workers); dashes in the cluster's name become underscores, as
    group names need.
  - An empty cluster (no C(-e cluster=...) given) names the site-wide group, so a playbook that acts on
    every cluster by default narrows to one when the operator names it.
author:
  - kubedr contributors (@kubedr)
positional: role
options:
  _input:
    description:
      - The cluster's name (C(kubedr_cluster), or the C(cluster) extra variable); empty for every cluster.
    type: str
    required: true
  role:
    description:
      - V(control_plane) or V(workers); empty for the group of the cluster's hosts (C(cluster_<cluster>),
        C(all) for every cluster).
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: The control-plane group of the cluster named with -e cluster=..., or of every cluster
  ansible.builtin.debug:
    msg: "{{ cluster | default('') | kubedr.kubeadm.cluster_group('control_plane') }}"

- name: The workers of this host's cluster
  ansible.builtin.debug:
    msg: "{{ groups[kubedr_cluster | kubedr.kubeadm.cluster_group('workers')] | default([]) }}"
"""

RETURN = r"""
_value:
  description: The group name, for example C(prod_fra_control_plane), C(cluster_prod_fra) or C(control_plane).
  type: str
"""

from ansible.errors import AnsibleFilterError

ROLES = ("", "control_plane", "workers")


def cluster_group(cluster, role=""):
    if cluster is None:
        cluster = ""
    if not isinstance(cluster, str) or role not in ROLES:
        raise AnsibleFilterError(
            f"cluster_group: a cluster name and a role of {', '.join(repr(r) for r in ROLES)} are needed, "
            f"got {cluster!r} and {role!r}"
        )
    name = cluster.strip().replace("-", "_")
    if not name:
        return role or "all"
    return f"{name}_{role}" if role else f"cluster_{name}"


class FilterModule:
    """kubedr.kubeadm filters."""

    def filters(self):
        return {"cluster_group": cluster_group}
