# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - plugins put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
name: etcd_quorum_probe_plan
short_description: The etcd client URLs and certificates a full rebuild's quorum check probes
version_added: "0.1.0"
description:
  - Client URLs of the old etcd members, from the backup set's manifest, the etcd.yaml of the reachable
    control-plane hosts (C(--advertise-client-urls), and port 2379 of each C(--initial-cluster) peer) and the
    inventory address of every control-plane host (port 2379, kubeadm's); loopback and wildcard addresses are
    left out (from the controller they are the controller). Operator-given URLs replace them all.
  - The etcd CA and a client certificate pair from the backup set's C(config/pki) (C(etcd/healthcheck-client),
    else C(apiserver-etcd-client)).
  - Never fails the task itself; RV(_value.problem) says why the probe cannot run.
author:
  - kubedr contributors (@kubedr)
positional: etcd_manifests, addresses, urls, pki_dir
options:
  _input:
    description: The backup set's C(etcd/manifest.json), or empty.
    type: dict
    required: true
  etcd_manifests:
    description: A dict of reachable host to its etcd.yaml, as text or as an ansible.builtin.slurp result.
    type: dict
    default: {}
  addresses:
    description: A dict of every control-plane host to its inventory address (empty for the host name).
    type: dict
    default: {}
  urls:
    description: Client URLs to probe instead (control_plane_rebuild_quorum_probe_urls).
    type: list
    elements: str
    default: []
  pki_dir:
    description: The backup set's C(config/pki) directory on the controller.
    type: path
    default: ""
"""

EXAMPLES = r"""
- name: List the client URLs to probe
  ansible.builtin.set_fact:
    plan: >-
      {{ manifest | kubedr.kubeadm.etcd_quorum_probe_plan(etcd_yamls, addresses, [], set_dir ~ '/pki') }}
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    urls:
      description: Client URLs to probe.
      type: list
      elements: str
    labels:
      description: For each URL, where it came from.
      type: dict
    ca_cert:
      description: The etcd CA certificate, or null.
      type: str
    client_cert:
      description: The client certificate, or null.
      type: str
    client_key:
      description: Its key, or null.
      type: str
    problem:
      description: Null, or why the probe cannot run at all.
      type: str
"""

import base64
import binascii

from ansible.errors import AnsibleFilterError
from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_quorum import probe_plan


def _text(value):
    """etcd.yaml as text: given as text, or an ansible.builtin.slurp result (None when it was not read)."""
    if isinstance(value, dict):
        if value.get("failed") or value.get("skipped") or "content" not in value:
            return None
        try:
            return base64.b64decode(value["content"]).decode("utf-8", "replace")
        except (binascii.Error, ValueError, TypeError):
            return None
    return value if isinstance(value, str) else None


def etcd_quorum_probe_plan(manifest, etcd_manifests=None, addresses=None, urls=None, pki_dir=""):
    """What the quorum check probes, with which certificates (see RETURN)."""
    if manifest is not None and not isinstance(manifest, dict):
        raise AnsibleFilterError(
            "etcd_quorum_probe_plan expects the backup set's manifest (a dict, or empty)"
        )
    if not all(isinstance(v, dict) for v in (etcd_manifests, addresses) if v is not None):
        raise AnsibleFilterError("etcd_quorum_probe_plan: etcd_manifests and addresses are {host: ...} dicts")
    if urls is not None and not isinstance(urls, list):
        raise AnsibleFilterError("etcd_quorum_probe_plan: urls is a list of client URLs")
    texts = {host: _text(value) for host, value in (etcd_manifests or {}).items()}
    return probe_plan(
        manifest or {}, texts, dict(addresses or {}), [str(u) for u in urls or []], pki_dir or ""
    )


class FilterModule:
    """kubedr.kubeadm filters."""

    def filters(self):
        return {"etcd_quorum_probe_plan": etcd_quorum_probe_plan}
