#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kubeadm_token_delete
short_description: Delete the bootstrap tokens a run made, by id or by description
version_added: "0.1.0"
description:
  - Runs on a control-plane host whose API server answers. Deletes (C(kubeadm token delete)) the bootstrap
    tokens named by O(token_ids) and those whose description is O(description), as
    M(kubedr.kubeadm.kubeadm_join_material) and the rebuild's C(kubeadm init) mark theirs.
  - Tokens already gone (expired, deleted) are not an error. With neither option given nothing is deleted.
  - Only the tokens' public ids are read back and returned; their secrets never leave kubectl's output.
  - C(kubeadm token delete) is bounded by O(timeout) like each kubectl request.
author:
  - kubedr contributors (@kubedr)
options:
  token_ids:
    description:
      - Ids of tokens to delete (the part before the dot), as
        M(kubedr.kubeadm.kubeadm_join_material) returns them in C(token_id).
    type: list
    elements: str
    default: []
  description:
    description: Also delete every token with this description.
    type: str
    default: ""
extends_documentation_fragment:
  - kubedr.kubeadm.kubectl
attributes:
  check_mode:
    support: full
    description: Lists what it would delete, deletes nothing.
  diff_mode:
    support: none
    description: Nothing is edited.
  idempotent:
    support: full
    description: A second run finds nothing to delete.
requirements:
  - kubeadm on the host's PATH, and kubectl
"""

EXAMPLES = r"""
- name: Delete the join token once the join is done
  kubedr.kubeadm.kubeadm_token_delete:
    token_ids: ["{{ join.token_id }}"]
  delegate_to: cp1
"""

RETURN = r"""
deleted:
  description: The ids of the tokens deleted (or, in check mode, that would be).
  returned: success
  type: list
  elements: str
  sample: [abcdef]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils._kubeadm import Kubeadm
from ansible_collections.kubedr.kubeadm.plugins.module_utils._kubectl import (
    kubectl_argument_spec,
    kubectl_from_params,
)
from ansible_collections.kubedr.kubeadm.plugins.module_utils.kubeadm_join import (
    TOKEN_SECRET_TYPE,
    JoinMaterialError,
    tokens_to_delete,
)


def main():
    module = AnsibleModule(
        argument_spec={
            # token ids are public; the secret half of a token is never passed
            "token_ids": {"type": "list", "elements": "str", "default": [], "no_log": False},
            "description": {"type": "str", "default": ""},
            **kubectl_argument_spec(),
        },
        supports_check_mode=True,
    )
    params = module.params
    if not params["token_ids"] and not params["description"]:
        module.exit_json(changed=False, deleted=[])
    if not os.path.isfile(params["kubeconfig"]):
        module.fail_json(
            msg=f"no kubeconfig at {params['kubeconfig']}: run this on a control-plane host of the cluster"
        )
    kubectl = kubectl_from_params(module)
    hint = "is the API server up? (the tokens expire by their ttl otherwise)"
    kubeadm = Kubeadm(module, params["timeout"], hint=hint)
    # a failure quotes kubectl's stderr only: its stdout would be the token Secrets
    listing, why = kubectl.items("secrets", "-n", "kube-system",
                                 "--field-selector", f"type={TOKEN_SECRET_TYPE}")
    if listing is None:
        module.fail_json(msg=f"listing the bootstrap tokens failed: {why}; {hint}")
    try:
        ids = tokens_to_delete(listing, params["description"], params["token_ids"])
    except JoinMaterialError as error:
        module.fail_json(msg=str(error))
    if ids and not module.check_mode:
        kubeadm.run("token", "delete", "--kubeconfig", params["kubeconfig"], *ids,
                    what=f"kubeadm token delete {' '.join(ids)}")
    module.exit_json(changed=bool(ids), deleted=ids)


if __name__ == "__main__":
    main()
