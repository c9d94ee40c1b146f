#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kube_ready
short_description: Wait until an API server, the Nodes or the control-plane static pods are ready
version_added: "0.1.0"
description:
  - Reads the cluster through kubectl every 2 seconds until what O(what) names is ready, or fails after
    O(wait_timeout) seconds naming what was not.
  - V(api) is C(/readyz) of the API server (O(server), else the kubeconfig's), read as the kubeconfig's user
    (whether anonymous users may read it is the cluster's choice).
  - V(nodes) is every Node (or the O(nodes) named) with condition C(Ready=True); a cluster without any
    Node is not ready.
  - V(control_plane_pods) is C(etcd), C(kube-apiserver), C(kube-controller-manager) and C(kube-scheduler)
    Running and Ready on each of O(nodes) (a Ready Node can still be starting them).
  - The checks are the predicates of the collection's C(_kubectl) helper, the one wait loop of its
    Kubernetes modules.
author:
  - kubedr contributors (@kubedr)
options:
  what:
    description: What to wait for.
    type: str
    choices: [api, nodes, control_plane_pods]
    required: true
  nodes:
    description:
      - The Node names to wait for. Required for V(control_plane_pods); for V(nodes), empty means every Node.
    type: list
    elements: str
    default: []
  server:
    description: With V(api), the API server to ask (C(--server)), for example V(https://10.0.0.11:6443).
    type: str
  wait_timeout:
    description: Seconds to wait in all.
    type: int
    default: 300
extends_documentation_fragment:
  - kubedr.kubeadm.kubectl
attributes:
  check_mode:
    support: full
    description:
      - Looks once and does not fail (RV(ready) tells), as what it waits for is usually what the run, had it
        not been in check mode, would have started.
  diff_mode:
    support: none
    description: Nothing changes.
  idempotent:
    support: full
    description: Never changes anything.
requirements:
  - kubectl on the host the module runs on
"""

EXAMPLES = r"""
- name: Wait until the first API server answers
  kubedr.kubeadm.kube_ready:
    what: api
    server: "https://{{ ansible_host }}:6443"
    wait_timeout: 600

- name: Wait until every Node is Ready
  kubedr.kubeadm.kube_ready:
    what: nodes

- name: Wait until the control-plane hosts run their static pods
  kubedr.kubeadm.kube_ready:
    what: control_plane_pods
    nodes: [cp1, cp2, cp3]
"""

RETURN = r"""
ready:
  description: Whether it was ready (false only in check mode; otherwise the task fails).
  returned: always
  type: bool
detail:
  description: What the last check saw.
  returned: always
  type: str
  sample: "3 of 3 Nodes Ready"
names:
  description: With O(what=nodes), the names of the Nodes the last check listed, sorted.
  returned: always
  type: list
  elements: str
  sample: [cp1, cp2, cp3, w1, w2]
waited:
  description: Seconds waited.
  returned: always
  type: float
  sample: 12.4
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils._kubectl import (
    control_plane_pods_ready,
    kubectl_argument_spec,
    kubectl_from_params,
    nodes_ready,
    wait_for,
)

POLL_INTERVAL = 2.0


def checker(module, kubectl, seen):
    """The check of O(what): a callable returning (ready, detail); `seen` gets the names last listed."""
    params = module.params
    names = params["nodes"]
    what = params["what"]
    if what == "api":
        server = ["--server", params["server"]] if params["server"] else []

        def check():
            ok, out = kubectl.run(*server, "get", "--raw", "/readyz")
            return ok, "the API server is ready" if ok else out
        return check

    def listed(kind, *args, predicate):
        def check():
            items, why = kubectl.items(kind, *args)
            if items is None:
                return False, why
            seen[:] = sorted((item.get("metadata") or {}).get("name", "") for item in items)
            return predicate(items)
        return check

    if what == "nodes":
        return listed("nodes", predicate=lambda items: nodes_ready(items, names))
    return listed("pods", "-n", "kube-system", "-l", "tier=control-plane",
                  predicate=lambda items: control_plane_pods_ready(items, names))


def main():
    module = AnsibleModule(
        argument_spec={
            "what": {"type": "str", "choices": ["api", "nodes", "control_plane_pods"], "required": True},
            "nodes": {"type": "list", "elements": "str", "default": []},
            "server": {"type": "str"},
            "wait_timeout": {"type": "int", "default": 300},
            **kubectl_argument_spec(),
        },
        supports_check_mode=True,
    )
    if module.params["what"] == "control_plane_pods" and not module.params["nodes"]:
        module.fail_json(msg="what=control_plane_pods needs the control-plane Node names in nodes")
    kubectl = kubectl_from_params(module)
    seen = []
    start = time.monotonic()
    wait_timeout = 0 if module.check_mode else module.params["wait_timeout"]
    ready, detail = wait_for(checker(module, kubectl, seen), wait_timeout, POLL_INTERVAL)
    result = {"ready": ready, "detail": detail, "waited": round(time.monotonic() - start, 1),
              "names": seen if module.params["what"] == "nodes" else []}
    if not ready and not module.check_mode:
        module.fail_json(msg=f"{module.params['what']} not ready after {module.params['wait_timeout']} s:"
                             f" {detail}", **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
