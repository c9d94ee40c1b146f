#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kubeadm_reset
short_description: Stop a kubeadm node's control plane and kubelet and move its state aside, deleting nothing
version_added: "0.1.0"
description:
  - What C(kubeadm reset) does before a node is rebuilt, without its deletions. In order - the static
    pod manifests move aside (the kubelet then stops etcd and the API server), the module waits until
    the ports of O(wait_closed) no longer accept connections, the kubelet is stopped, and O(paths)
    move aside as M(kubedr.kubeadm.move_aside) moves them (renamed on their own file system, or their
    entries moved inside when they are mount points).
  - With O(record), what moved and where is written there (JSON, mode 0600) once all is done, so a
    later run can tell the host was reset and find its old state.
  - A rerun with the same O(stamp) finds nothing left to move and the kubelet stopped, and changes nothing.
author:
  - kubedr contributors (@kubedr)
options:
  stamp:
    description: Suffix of the aside names; give every host of one rebuild the same one.
    type: str
    required: true
  paths:
    description: The node's state to move aside once its control plane and kubelet are stopped.
    type: list
    elements: path
    default: [/etc/kubernetes, /var/lib/etcd, /var/lib/kubelet]
  manifests_dir:
    description: The kubelet's static pod directory, moved aside first.
    type: path
    default: /etc/kubernetes/manifests
  wait_closed:
    description:
      - C(host:port) addresses the static pods served; after their manifests moved the module waits
        until none accepts connections. Give the API server's own address when it does not listen on all.
    type: list
    elements: str
    default: ["127.0.0.1:2379", "127.0.0.1:6443"]
  timeout:
    description: Seconds to wait for O(wait_closed).
    type: int
    default: 300
  stop_kubelet:
    description: Stop the kubelet unit (C(systemctl stop kubelet)) when it is active.
    type: bool
    default: true
  record:
    description:
      - File to write what moved to (JSON) when done; its missing parent directories are made with mode 0700.
    type: path
attributes:
  check_mode:
    support: full
    description: Reports what would move and whether the kubelet would stop; touches nothing.
  diff_mode:
    support: none
    description: Directories are renamed, not edited.
  idempotent:
    support: full
    description: A host reset with the same stamp is left as it is.
requirements:
  - systemctl, when O(stop_kubelet=true) and the kubelet runs as a unit
"""

EXAMPLES = r"""
- name: Stop what runs on cp2 and keep its old control-plane state
  kubedr.kubeadm.kubeadm_reset:
    stamp: rebuild-20261201
    wait_closed: ["127.0.0.1:2379", "198.18.0.12:6443"]
    record: /var/lib/kubedr/control-plane-rebuild/rebuild-20261201/reset
"""

RETURN = r"""
moved:
  description: What moved, the manifests first (as M(kubedr.kubeadm.move_aside) returns it).
  returned: always
  type: list
  elements: dict
kubelet_stopped:
  description: Whether the kubelet was running and was stopped.
  returned: always
  type: bool
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils.move_aside import check_paths, move_all
from ansible_collections.kubedr.kubeadm.plugins.module_utils.static_pods import port_open


def address(text):
    host, port = text.rpartition(":")[::2]
    if not host or not port.isdigit():
        raise ValueError(text)
    return host.strip("[]"), int(port)


def main():
    module = AnsibleModule(
        argument_spec={
            "stamp": {"type": "str", "required": True},
            "paths": {
                "type": "list",
                "elements": "path",
                "default": ["/etc/kubernetes", "/var/lib/etcd", "/var/lib/kubelet"],
            },
            "manifests_dir": {"type": "path", "default": "/etc/kubernetes/manifests"},
            "wait_closed": {
                "type": "list",
                "elements": "str",
                "default": ["127.0.0.1:2379", "127.0.0.1:6443"],
            },
            "timeout": {"type": "int", "default": 300},
            "stop_kubelet": {"type": "bool", "default": True},
            "record": {"type": "path"},
        },
        supports_check_mode=True,
    )
    params = module.params
    stamp = params["stamp"]
    problem = check_paths([params["manifests_dir"], *params["paths"]], stamp)
    try:
        closed = [address(a) for a in params["wait_closed"]]
    except ValueError as bad:
        problem = problem or f"wait_closed: {bad} is not host:port (for example 127.0.0.1:2379)"
    if problem:
        module.fail_json(msg=problem, moved=[], kubelet_stopped=False)

    moved, error = move_all([params["manifests_dir"]], stamp, [], module.check_mode)
    if error:
        module.fail_json(msg=error, moved=moved, kubelet_stopped=False)
    if moved and not module.check_mode:
        deadline = time.monotonic() + params["timeout"]
        while (
            listening := [f"{h}:{p}" for h, p in closed if port_open(p, h)]
        ) and time.monotonic() < deadline:
            time.sleep(0.5)
        if listening:
            module.fail_json(
                msg=f"{', '.join(listening)} still accept connections {params['timeout']} s after the "
                f"static pod manifests moved to {moved[0]['aside']}: is the kubelet running them? "
                "Stop what listens there, then rerun",
                moved=moved,
                kubelet_stopped=False,
            )

    kubelet_stopped = False
    systemctl = module.get_bin_path("systemctl") if params["stop_kubelet"] else None
    if systemctl and module.run_command([systemctl, "is-active", "--quiet", "kubelet"])[0] == 0:
        kubelet_stopped = True
        if not module.check_mode:
            rc, out, err = module.run_command([systemctl, "stop", "kubelet"])
            if rc != 0:
                module.fail_json(
                    msg=f"systemctl stop kubelet failed (rc {rc}): {err.strip() or out.strip()}",
                    moved=moved,
                    kubelet_stopped=False,
                )

    more, error = move_all(params["paths"], stamp, [], module.check_mode)
    moved += more
    if error:
        module.fail_json(msg=error, moved=moved, kubelet_stopped=kubelet_stopped)
    recording = bool(params["record"]) and not os.path.exists(params["record"])
    if recording and not module.check_mode:
        os.makedirs(os.path.dirname(params["record"]), mode=0o700, exist_ok=True)
        with open(os.open(params["record"], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            json.dump(moved, handle)
    module.exit_json(
        changed=bool(moved) or kubelet_stopped or recording, moved=moved, kubelet_stopped=kubelet_stopped
    )


if __name__ == "__main__":
    main()
