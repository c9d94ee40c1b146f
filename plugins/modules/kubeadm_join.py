#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kubeadm_join
short_description: Join this host to a kubeadm cluster, as a worker or a control-plane host
version_added: "0.1.0"
description:
  - Runs C(kubeadm join) with a JoinConfiguration written to a private temporary file (mode 0600)
    that is removed before the module returns, so the token and the certificate key are never on a
    command line nor left on disk.
  - With O(certificate_key) the host joins the control plane (its etcd member included, as kubeadm
    does it); without it, as a worker.
  - Does nothing when the host has joined already - C(/etc/kubernetes/admin.conf) exists for a
    control-plane join, C(/etc/kubernetes/kubelet.conf) for a worker - so a rerun changes nothing.
  - Make the material right before the join with M(kubedr.kubeadm.kubeadm_join_material) on a
    control-plane host, since tokens expire and kubeadm deletes uploaded certificates after two hours.
author:
  - kubedr contributors (@kubedr)
options:
  endpoint:
    description: The API endpoint to discover the cluster through (host:port).
    type: str
    required: true
  token:
    description: The bootstrap token.
    type: str
    required: true
  ca_cert_hash:
    description: The cluster CA's public key hash (C(sha256:...)).
    type: str
    required: true
  certificate_key:
    description:
      - The key the control-plane certificates were uploaded under; given, the host joins the control plane.
    type: str
    default: ""
  advertise_address:
    description: This host's API server address. Required with O(certificate_key).
    type: str
  bind_port:
    description: The port this host's API server listens on.
    type: int
    default: 6443
  node_registration:
    description: kubeadm's C(nodeRegistration) for this host (name, criSocket, kubeletExtraArgs, ...).
    type: dict
    default: {}
  ignore_preflight_errors:
    description: kubeadm preflight checks whose errors to ignore (C(--ignore-preflight-errors)).
    type: list
    elements: str
    default: []
  etcd_data_dir:
    description:
      - The etcd data directory of a control-plane join. When it holds nothing but the old data
        M(kubedr.kubeadm.kubeadm_reset) or a restore moved aside inside it (a mount point keeps its place, its
        entries move into C(.kubedr-aside-<stamp>) or C(.kubedr-moved-<stamp>)), kubeadm's check that it is
        empty (C(DirAvailable--var-lib-etcd)) is skipped; with anything else in it kubeadm refuses the join,
        as it would without kubedr.
    type: path
    default: /var/lib/etcd
  api_version:
    description:
      - The kubeadm configuration API version to write, the cluster's own
        (RV(kubedr.kubeadm.kubeadm_join_material#module:api_version)), V(kubeadm.k8s.io/v1beta3) up to
        Kubernetes 1.30, V(kubeadm.k8s.io/v1beta4) from 1.31.
      - O(node_registration) is written in that version's shape (C(kubeletExtraArgs) a map in v1beta3, a
        list of C(name)/C(value) in v1beta4), whichever shape it is given in.
    type: str
    choices: [kubeadm.k8s.io/v1beta3, kubeadm.k8s.io/v1beta4]
    default: kubeadm.k8s.io/v1beta4
  timeout:
    description:
      - Seconds C(kubeadm join) may run. Still running then, it is stopped (SIGTERM, then SIGKILL after 10
        seconds) and the task fails naming this option; the configuration file is removed all the same.
      - Ten minutes covers pulling the control-plane images over a slow link and etcd's learner catching up;
        raise it for more. V(0) means no limit.
    type: int
    default: 600
attributes:
  check_mode:
    support: full
    description: Reports whether the host would join; runs nothing.
  diff_mode:
    support: none
    description: Nothing is edited.
  idempotent:
    support: full
    description: A host that has joined is left as it is.
requirements:
  - kubeadm on the host's PATH
notes:
  - A join that fails (or is stopped at O(timeout)) half way leaves kubeadm's partial state on the host
    (static pod manifests, maybe an etcd learner); move it aside before a new attempt.
"""

EXAMPLES = r"""
- name: Join material for cp2, made on cp1
  kubedr.kubeadm.kubeadm_join_material:
    control_plane: true
  delegate_to: cp1
  register: join
  no_log: true

- name: Join cp2 to the control plane
  kubedr.kubeadm.kubeadm_join:
    endpoint: "{{ join.endpoint }}"
    token: "{{ join.token }}"
    ca_cert_hash: "{{ join.ca_cert_hash }}"
    certificate_key: "{{ join.certificate_key }}"
    advertise_address: "{{ ansible_host }}"
    node_registration:
      name: cp2
"""

RETURN = r"""
control_plane:
  description: Whether the host joined (or had joined) as a control-plane host.
  returned: always
  type: bool
joined_before:
  description: The host had joined already; nothing ran.
  returned: always
  type: bool
ignored_preflight_errors:
  description: The preflight checks kubeadm was told to ignore, O(ignore_preflight_errors) and the etcd data
    directory's when it holds only moved-aside data.
  returned: when kubeadm ran, or would in check mode
  type: list
  elements: str
  sample: [DirAvailable--var-lib-etcd]
stdout:
  description: What kubeadm join printed (secrets masked).
  returned: when kubeadm ran
  type: str
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils import bounded_run
from ansible_collections.kubedr.kubeadm.plugins.module_utils._kubeadm import Kubeadm
from ansible_collections.kubedr.kubeadm.plugins.module_utils.kubeadm_join import (
    API_VERSIONS,
    DEFAULT_API_VERSION,
    JoinMaterialError,
    join_configuration,
    preflight_to_skip,
)

KUBERNETES_DIR = "/etc/kubernetes"


def main():
    module = AnsibleModule(
        argument_spec={
            "endpoint": {"type": "str", "required": True},
            "token": {"type": "str", "required": True, "no_log": True},
            "ca_cert_hash": {"type": "str", "required": True},
            "certificate_key": {"type": "str", "default": "", "no_log": True},
            "advertise_address": {"type": "str"},
            "bind_port": {"type": "int", "default": 6443},
            "node_registration": {"type": "dict", "default": {}},
            "ignore_preflight_errors": {"type": "list", "elements": "str", "default": []},
            "etcd_data_dir": {"type": "path", "default": "/var/lib/etcd"},
            "api_version": {"type": "str", "default": DEFAULT_API_VERSION, "choices": list(API_VERSIONS)},
            "timeout": {"type": "int", "default": 600},
        },
        supports_check_mode=True,
    )
    params = module.params
    bounded_run.require_timeout(module)
    control_plane = bool(params["certificate_key"])
    try:
        config = join_configuration(
            params["endpoint"],
            params["token"],
            params["ca_cert_hash"],
            params["node_registration"],
            params["certificate_key"],
            params["advertise_address"] or "",
            params["bind_port"],
            params["api_version"],
        )
    except JoinMaterialError as error:
        module.fail_json(msg=str(error))
    # kubeadm writes these last: admin.conf once a control-plane join is through, kubelet.conf for any node
    joined = os.path.join(KUBERNETES_DIR, "admin.conf" if control_plane else "kubelet.conf")
    result = {"control_plane": control_plane, "joined_before": os.path.exists(joined)}
    if result["joined_before"]:
        module.exit_json(changed=False, msg=f"{joined} exists: this host has joined", **result)
    kubeadm = Kubeadm(module, params["timeout"], hint=(
        f"is {params['endpoint']} reachable from this host, and can it pull its images? The half-done join"
        " left kubeadm's partial state here: move it aside (kubedr.kubeadm.kubeadm_reset) before the next"
        " attempt"))
    ignored = list(params["ignore_preflight_errors"])
    ignored += [c for c in preflight_to_skip(control_plane, params["etcd_data_dir"]) if c not in ignored]
    result["ignored_preflight_errors"] = ignored
    if module.check_mode:
        module.exit_json(changed=True, **result)

    fd, path = tempfile.mkstemp(prefix="kubedr-join-", suffix=".yaml")  # 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(config)
        preflight = ["--ignore-preflight-errors=" + ",".join(ignored)] if ignored else []
        # the token and the certificate key are in the file, never on the command line or in its output
        out = kubeadm.run("join", "--config", path, *preflight, what=f"kubeadm join ({params['endpoint']})",
                          result=result, show_stdout=True)
    finally:
        os.unlink(path)
    module.exit_json(changed=True, stdout=out, **result)


if __name__ == "__main__":
    main()
