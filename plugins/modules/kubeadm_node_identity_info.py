#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kubeadm_node_identity_info
short_description: Tell whether a kubeadm node's kubelet identity belongs to a cluster, from its files
version_added: "0.1.0"
description:
  - Reads the kubelet's kubeconfig (O(kubeconfig)), the node's CA certificate (O(ca_path)) and the
    kubelet's client certificate (the one the kubeconfig names, usually
    V(/var/lib/kubelet/pki/kubelet-client-current.pem)) and compares them with the cluster's CA
    certificate O(ca_cert), for example the C(ca.crt) of the backup set a control plane was rebuilt from.
  - The verdict is V(match) when the node's CA certificate and the kubeconfig's CA both hold the
    cluster's CA certificate(s), the client certificate was issued by it (issuer name and key
    identifier; the signature too when the host has the C(cryptography) Python package), names
    O(node_name) when given, and has not expired; V(mismatch) when a CA is another one (every kubeadm
    CA is named C(kubernetes), so certificates are compared byte for byte, never by name), the client
    certificate was issued by another CA, names another node or is not valid yet; V(expired) when the
    client certificate expired; V(missing) when one of these files does not exist (a reinstalled node,
    or a join that did not finish).
  - A file that exists but cannot be read, or is not what it should be (a garbled certificate, a
    kubeconfig that names no CA), fails the module naming the file; it is never taken for a lost
    identity. Nothing read from the files is shown (the client certificate file holds the kubelet's key).
  - Python standard library only; no C(openssl) or other tool is run. A kubeconfig is read with PyYAML
    when the host has it, else line by line (what kubeadm and the kubelet write, one cluster and one user).
author:
  - kubedr contributors (@kubedr)
options:
  ca_cert:
    description:
      - The cluster's CA certificate, PEM (a bundle of several is accepted; every one must be on the node).
    type: str
    required: true
  node_name:
    description:
      - The node's name; when given, the client certificate must be C(system:node:<node_name>)'s.
    type: str
    default: ""
  kubeconfig:
    description: The kubelet's kubeconfig.
    type: path
    default: /etc/kubernetes/kubelet.conf
  ca_path:
    description: The node's copy of the cluster CA certificate (the kubelet's C(clientCAFile)).
    type: path
    default: /etc/kubernetes/pki/ca.crt
  client_cert:
    description:
      - The kubelet's client certificate file; by default the one O(kubeconfig) names (or
        V(/var/lib/kubelet/pki/kubelet-client-current.pem) when the kubeconfig is missing).
    type: path
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: Nothing is changed.
  idempotent:
    support: full
    description: The module only reads.
requirements:
  - the C(cryptography) Python package on the host is optional; with it the client certificate's
    signature is checked too
"""

EXAMPLES = r"""
- name: Read the cluster CA the control plane was rebuilt from
  ansible.builtin.slurp:
    src: /etc/kubernetes/pki/ca.crt
  delegate_to: cp1
  run_once: true
  register: cluster_ca

- name: Does this worker still belong to the cluster?
  kubedr.kubeadm.kubeadm_node_identity_info:
    ca_cert: "{{ cluster_ca.content | b64decode }}"
    node_name: "{{ inventory_hostname }}"
  register: node_identity

- name: Rejoin the workers that do not
  ansible.builtin.debug:
    msg: "{{ node_identity.identity.reasons }}"
  when: node_identity.identity.verdict != 'match'
"""

RETURN = r"""
identity:
  description: The verdict and what it rests on.
  returned: success
  type: dict
  contains:
    verdict:
      description: V(match), V(mismatch), V(expired) or V(missing).
      type: str
      sample: match
    reasons:
      description: Why the verdict is not V(match), one line each (empty for V(match)).
      type: list
      elements: str
      sample: ["/etc/kubernetes/pki/ca.crt is not the cluster's CA (sha256 3b1f..., the cluster's 9c2e...)"]
    missing:
      description: The identity files that do not exist.
      type: list
      elements: str
    cluster_ca_sha256:
      description: sha256 of each certificate of O(ca_cert) (DER).
      type: list
      elements: str
    client_certificate:
      description: The client certificate's path, subject, issuer, validity (UTC) and sha256; null when
        missing.
      type: dict
      sample:
        path: /var/lib/kubelet/pki/kubelet-client-current.pem
        subject: O=system:nodes, CN=system:node:w1
        issuer: CN=kubernetes
        not_before: "2026-12-01T10:00:00Z"
        not_after: "2027-12-01T10:00:00Z"
        sha256: 0c4b...
    signature_checked:
      description: Whether the client certificate's signature was checked (needs C(cryptography) on the host).
      type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils.kubeadm_node_identity import (
    IdentityError,
    node_identity,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "ca_cert": {"type": "str", "required": True},
            "node_name": {"type": "str", "default": ""},
            "kubeconfig": {"type": "path", "default": "/etc/kubernetes/kubelet.conf"},
            "ca_path": {"type": "path", "default": "/etc/kubernetes/pki/ca.crt"},
            "client_cert": {"type": "path"},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        identity = node_identity(
            params["ca_cert"].encode(),
            kubeconfig=params["kubeconfig"],
            ca_path=params["ca_path"],
            client_cert=params["client_cert"],
            node_name=params["node_name"],
        )
    except IdentityError as exc:
        if exc.where == "ca_cert":
            module.fail_json(msg=f"{exc}: give the cluster's CA certificate, PEM (its ca.crt)")
        module.fail_json(
            msg=f"{exc}. Nothing was changed on this host, and its kubelet identity is not judged lost "
            "from a file that cannot be read. Look at the file: fix it, or, to have this node join the "
            "cluster again with a new identity, move it aside by hand (a missing file is a lost "
            "identity), then run again"
        )
    module.exit_json(changed=False, identity=identity)


if __name__ == "__main__":
    main()
