#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kubeadm_join_material
short_description: Make what a kubeadm join needs on a running control-plane host
version_added: "0.1.0"
description:
  - Runs on a control-plane host whose API server answers. Creates a bootstrap token and returns the
    API endpoint, the token and the cluster CA's hash that C(kubeadm join) needs; with
    O(control_plane=true) it also uploads the control-plane certificates under a new certificate key
    and returns that key.
  - kubeadm deletes uploaded certificates after two hours and tokens expire, so make the material
    right before each join.
  - kubeadm reads the cluster's own ClusterConfiguration (the C(kubeadm-config) ConfigMap) from a
    private temporary file that is removed before the module returns.
  - The result holds secrets (token, certificate key); give the task C(no_log) and pass them on only
    in files of mode 0600.
author:
  - kubedr contributors (@kubedr)
options:
  control_plane:
    description:
      - Also upload the control-plane certificates under a new certificate key, for a control-plane join.
    type: bool
    default: false
  advertise_address:
    description:
      - This host's API server address. Default - the C(--advertise-address) of its kube-apiserver
        static pod manifest.
    type: str
  ttl:
    description: How long the bootstrap token lives (kubeadm duration). Give it as short as the join needs.
    type: str
    default: 1h
  description:
    description:
      - The bootstrap token's description, which marks it as the caller's, so that
        M(kubedr.kubeadm.kubeadm_token_delete) can delete every token of a run by it.
    type: str
    default: kubedr.kubeadm kubeadm_join_material
extends_documentation_fragment:
  - kubedr.kubeadm.kubectl
attributes:
  check_mode:
    support: full
    description: Creates and uploads nothing; reports that it would, with empty material.
  diff_mode:
    support: none
    description: Nothing is edited.
  idempotent:
    support: none
    description: Every run makes a new token (and certificate key), as a join needs fresh ones.
notes:
  - The kubeadm commands are bounded by O(timeout) like each kubectl request.
requirements:
  - kubeadm on the host's PATH, and kubectl
"""

EXAMPLES = r"""
- name: Join material for a control-plane host, made on the first one
  kubedr.kubeadm.kubeadm_join_material:
    control_plane: true
  delegate_to: cp1
  register: join
  no_log: true  # the token and the certificate key
"""

RETURN = r"""
endpoint:
  description: The API endpoint the join command names (the cluster's controlPlaneEndpoint).
  returned: success, not in check mode
  type: str
  sample: 198.18.0.16:6443
token:
  description: The new bootstrap token (a secret).
  returned: success, not in check mode
  type: str
token_id:
  description: The token's public id (not a secret), for M(kubedr.kubeadm.kubeadm_token_delete).
  returned: success, not in check mode
  type: str
  sample: abcdef
ca_cert_hash:
  description: The cluster CA's public key hash, for C(caCertHashes).
  returned: success, not in check mode
  type: str
  sample: sha256:0d3f...
certificate_key:
  description:
    - The key the control-plane certificates were uploaded under (a secret).
    - Empty unless O(control_plane=true).
  returned: success, not in check mode
  type: str
api_version:
  description:
    - The kubeadm configuration API of the cluster's ClusterConfiguration (the kubeadm-config ConfigMap), for
      M(kubedr.kubeadm.kubeadm_join)'s O(kubedr.kubeadm.kubeadm_join#module:api_version).
  returned: success, not in check mode
  type: str
  sample: kubeadm.k8s.io/v1beta4
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils._kubeadm import Kubeadm
from ansible_collections.kubedr.kubeadm.plugins.module_utils._kubectl import (
    kubectl_argument_spec,
    kubectl_from_params,
)
from ansible_collections.kubedr.kubeadm.plugins.module_utils.kubeadm_join import (
    JoinMaterialError,
    advertise_address,
    certificate_key,
    cluster_api_version,
    configuration,
    parse_join_command,
    token_id,
)

MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"


def main():
    module = AnsibleModule(
        argument_spec={
            "control_plane": {"type": "bool", "default": False},
            "advertise_address": {"type": "str"},
            "ttl": {"type": "str", "default": "1h"},
            "description": {"type": "str", "default": "kubedr.kubeadm kubeadm_join_material"},
            **kubectl_argument_spec(),
        },
        supports_check_mode=True,
    )
    params = module.params
    kubectl = kubectl_from_params(module)
    kubeadm = Kubeadm(module, params["timeout"], hint=(
        "is this host's API server (and its etcd) answering? kubectl get --raw /readyz tells"))
    if not os.path.isfile(params["kubeconfig"]):
        module.fail_json(msg=f"no kubeconfig at {params['kubeconfig']}: "
                             "run this on a control-plane host of the cluster")
    address = params["advertise_address"]
    if not address:
        try:
            with open(MANIFEST) as manifest:
                address = advertise_address(manifest.read())
        except OSError:
            pass
    if not address:
        module.fail_json(msg=f"no --advertise-address in {MANIFEST}: "
                             "give advertise_address (this host's API address)")
    if module.check_mode:
        module.exit_json(changed=True, endpoint="", token="", token_id="", ca_cert_hash="",
                         certificate_key="", api_version="")

    cluster_configuration, why = kubectl.configmap_key("kube-system", "kubeadm-config",
                                                       "ClusterConfiguration")
    if cluster_configuration is None:
        module.fail_json(msg=f"reading the kubeadm-config ConfigMap failed: {why}; is this host's API server"
                             " (and its etcd) answering? kubectl get --raw /readyz tells")
    key = certificate_key() if params["control_plane"] else ""
    fd, path = tempfile.mkstemp(prefix="kubedr-join-", suffix=".yaml")  # 0600
    try:
        with os.fdopen(fd, "w") as config:
            config.write(configuration(cluster_configuration, address, key, params["ttl"],
                                       params["description"]))
        if key:
            kubeadm.run("init", "phase", "upload-certs", "--upload-certs", "--config", path,
                        "--kubeconfig", params["kubeconfig"])
        # stdout (the join command with its token) is never shown
        printed = kubeadm.run("token", "create", "--print-join-command", "--config", path,
                              "--kubeconfig", params["kubeconfig"])
        material = parse_join_command(printed)
        material["token_id"] = token_id(material["token"])
    except JoinMaterialError as error:
        module.fail_json(msg=str(error))
    finally:
        os.unlink(path)
    module.exit_json(changed=True, certificate_key=key,
                     api_version=cluster_api_version(cluster_configuration), **material)


if __name__ == "__main__":
    main()
