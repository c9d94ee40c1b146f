# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - plugins put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
name: etcd_quorum_verdict
short_description: Whether an old etcd member still answers with a leader, from etcd_cluster_info's result
version_added: "0.1.0"
description:
  - V(quorum) when a member answers with a leader (a full rebuild would split the cluster, refused),
    V(unknown) when the probe cannot run or cannot tell (something answered that cannot be judged, or a
    host that answers over SSH does not answer on its etcd client port), V(down) otherwise (nothing
    answers, or members answer without a leader).
  - Connection refused, no answer within the timeout and no route to the host count as down.
  - Never fails the task itself.
author:
  - kubedr contributors (@kubedr)
positional: plan, reachable, final
options:
  _input:
    description:
      - The registered result of kubedr.kubeadm.etcd_cluster_info (registered with C(failed_when=false)),
        or empty.
    type: dict
    required: true
  plan:
    description: The plan of kubedr.kubeadm.etcd_quorum_probe_plan.
    type: dict
    required: true
  reachable:
    description:
      - The control-plane hosts that answered over SSH, as a list of addresses or as a dict of inventory host
        to inventory address (empty for the host name).
    type: raw
    default: []
  final:
    description: False on a first probe, which may ask for a second one (RV(_value.again)).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Decide
  ansible.builtin.set_fact:
    verdict: "{{ probe | kubedr.kubeadm.etcd_quorum_verdict(plan, ['198.18.0.12', '198.18.0.13']) }}"
"""

RETURN = r"""
_value:
  description: The decision.
  type: dict
  contains:
    verdict:
      description: V(quorum), V(unknown) or V(down).
      type: str
    again:
      description: Probe once more (on RV(_value.urls)) before deciding.
      type: bool
    urls:
      description: The client URLs for the next probe.
      type: list
      elements: str
    healthy:
      description: Members that answer with a leader.
      type: list
      elements: str
    down:
      description: URLs where nothing answered, and why.
      type: list
      elements: str
    unclear:
      description: URLs that could not be judged, and why.
      type: list
      elements: str
    no_leader:
      description: Members that answer without a leader.
      type: list
      elements: str
    reason:
      description: What was seen (without the way out).
      type: str
    message:
      description: The refusal naming the member and the way out, or what was seen.
      type: str
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_quorum import quorum_verdict


def etcd_quorum_verdict(result, plan, reachable=None, final=True):
    """The decision on one probe (see RETURN)."""
    if result is not None and not isinstance(result, dict):
        raise AnsibleFilterError("etcd_quorum_verdict expects the registered result of etcd_cluster_info")
    if not isinstance(plan, dict):
        raise AnsibleFilterError("etcd_quorum_verdict expects the plan of etcd_quorum_probe_plan")
    if isinstance(reachable, dict):
        reachable = [address or host for host, address in reachable.items()]
    elif reachable is not None and not isinstance(reachable, list):
        raise AnsibleFilterError("etcd_quorum_verdict: reachable is a list of addresses or {host: address}")
    return quorum_verdict(
        result or None, plan, [str(a) for a in reachable or []], boolean(final, strict=False)
    )


class FilterModule:
    """kubedr.kubeadm filters."""

    def filters(self):
        return {"etcd_quorum_verdict": etcd_quorum_verdict}
