#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kubeadm_static_pod
short_description: Stop or start a kubeadm static pod by parking its manifest, and wait until it is really so
version_added: "0.1.0"
description:
  - Stops a static pod of a kubeadm node (etcd, kube-apiserver, ...) by moving its manifest
    C(<manifests_dir>/<name>.yaml) into O(stash_dir), and starts it again by moving it back. The kubelet
    stops and starts the pod when its manifest disappears and appears.
  - Then waits until the component is really stopped (no process of it left in this host's network
    namespace and its port closed) or really started (a process and the port accepting connections).
  - The manifest is in exactly one of the two directories at any time, so running the module again
    after an interruption finishes the job; a manifest found in both directories, or in neither, is an
    error that names both paths.
  - Needs only the Python standard library; processes are found through C(/proc), so no container
    runtime client is needed.
author:
  - kubedr contributors (@kubedr)
options:
  name:
    description:
      - Name of the static pod's manifest without C(.yaml), for example V(etcd) or V(kube-apiserver).
    type: str
    required: true
  state:
    description:
      - V(stopped) parks the manifest in O(stash_dir); V(started) puts it back into O(manifests_dir).
    type: str
    choices: [stopped, started]
    required: true
  manifests_dir:
    description:
      - The kubelet's static pod directory.
    type: path
    default: /etc/kubernetes/manifests
  stash_dir:
    description:
      - Where the manifest is parked while the pod is stopped. Created (mode 0700) when missing. It must
        not be O(manifests_dir) or below it, where the kubelet would start the pod again.
    type: path
    required: true
  executable:
    description:
      - Name of the component's executable (basename of its C(argv[0])) to look for in C(/proc).
      - Default is O(name).
    type: str
  port:
    description:
      - TCP port on V(127.0.0.1) the component listens on, checked closed (stopped) or open (started).
      - Default is kubeadm's port for V(etcd) (2379), V(kube-apiserver) (6443), V(kube-controller-manager)
        (10257) and V(kube-scheduler) (10259); V(0) (and any other name) checks the process only.
    type: int
  wait:
    description:
      - Wait until the component is in the wanted state; when false, only move the manifest.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait before failing.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
    description: Reports whether the manifest would be moved; moves nothing and does not wait.
  diff_mode:
    support: none
    description: No diff is produced.
  idempotent:
    support: full
    description: A manifest already where O(state) wants it is not moved again.
notes:
  - Only static pods on the host network (all of kubeadm's control plane) can be told apart by network
    namespace; for others the process check covers every process of that name on the host.
  - The kubelet must run for V(started) to come true; the module fails after O(timeout) and says so.
seealso:
  - module: kubedr.kubeadm.etcd_restore
"""

EXAMPLES = r"""
- name: Stop the API server (its manifest parked in the restore's directory)
  kubedr.kubeadm.kubeadm_static_pod:
    name: kube-apiserver
    state: stopped
    stash_dir: /etc/kubernetes/kubedr-etcd-restore/run1/manifests
  become: true

- name: Start etcd again and wait until it listens
  kubedr.kubeadm.kubeadm_static_pod:
    name: etcd
    state: started
    stash_dir: /etc/kubernetes/kubedr-etcd-restore/run1/manifests
    timeout: 600
  become: true
"""

RETURN = r"""
pod:
  description: The static pod after the module ran (in check mode, as it would be).
  returned: success
  type: dict
  contains:
    name:
      description: Name of the static pod.
      type: str
      sample: etcd
    manifest:
      description: Where its manifest is now.
      type: str
      sample: /etc/kubernetes/kubedr-etcd-restore/run1/manifests/etcd.yaml
    location:
      description: V(manifests) (the kubelet runs it) or V(stash) (parked).
      type: str
    pids:
      description: Processes of the component seen last, in this host's network namespace.
      type: list
      elements: int
    port:
      description: Port checked; 0 when none.
      type: int
    port_open:
      description: Whether the port accepted connections at the last look; null when not checked.
      type: bool
    waited:
      description: Seconds spent waiting for the wanted state.
      type: float
actions:
  description: What was done.
  returned: success
  type: list
  elements: str
  sample:
    - moved /etc/kubernetes/manifests/etcd.yaml to /etc/kubernetes/kubedr-etcd-restore/r1/manifests/etcd.yaml
    - etcd stopped after 4.2s
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils.static_pods import (
    DEFAULT_PORTS,
    StaticPodError,
    is_settled,
    locate,
    move,
    observe,
)


def check_dirs(manifests_dir, stash_dir):
    manifests_dir, stash_dir = os.path.realpath(manifests_dir), os.path.realpath(stash_dir)
    if stash_dir == manifests_dir or stash_dir.startswith(manifests_dir + os.sep):
        raise StaticPodError(f"stash_dir {stash_dir} is inside manifests_dir {manifests_dir}: the kubelet"
                             " would run what is parked there; choose a directory outside it")
    if not os.path.isdir(manifests_dir):
        raise StaticPodError(f"manifests_dir {manifests_dir} does not exist: is this a kubeadm node?")


def wait_until(state, executable, port, timeout):
    started = time.monotonic()
    while True:
        seen = observe(executable, port)
        waited = round(time.monotonic() - started, 1)
        if is_settled(state, seen):
            return True, seen, waited
        if waited >= timeout:
            return False, seen, waited
        time.sleep(1)


def run(module):
    p = module.params
    name, state = p["name"], p["state"]
    executable = p["executable"] or name
    port = p["port"] if p["port"] is not None else DEFAULT_PORTS.get(name, 0)
    try:
        check_dirs(p["manifests_dir"], p["stash_dir"])
    except StaticPodError as e:
        module.fail_json(msg=str(e))
    where, active, parked = locate(p["manifests_dir"], p["stash_dir"], name)
    if where == "both":
        module.fail_json(msg=f"{name}'s manifest is both in {active} and in {parked}: compare them, keep the"
                             " one the pod should run with and move the other away, then run again")
    if where == "none":
        module.fail_json(msg=f"no manifest for {name}: neither {active} nor {parked} exists")

    actions, changed = [], False
    want = "stash" if state == "stopped" else "manifests"
    src, dest = (active, parked) if want == "stash" else (parked, active)
    if where != want:
        changed = True
        actions.append(f"moved {src} to {dest}")
        if not module.check_mode:
            try:
                os.makedirs(os.path.dirname(parked), mode=0o700, exist_ok=True)
                move(src, dest)
            except OSError as e:
                module.fail_json(msg=f"could not move {src} to {dest}: {e}", actions=actions)
    pod = {"name": name, "manifest": dest, "location": want, "port": port, "pids": [], "port_open": None,
           "waited": 0.0}
    if p["wait"] and not module.check_mode:
        ok, seen, waited = wait_until(state, executable, port, p["timeout"])
        pod.update(seen, waited=waited)
        if not ok:
            if state == "stopped":
                why = (f"processes {seen['pids']} still run" if seen["pids"] else f"port {port} still accepts"
                       " connections")
                hint = "is it running outside the kubelet (a systemd unit)? stop it there"
            else:
                why = "no process runs" if not seen["pids"] else f"port {port} does not accept connections"
                hint = (f"is the kubelet running (systemctl status kubelet)? look at the {name} container's"
                        " log; raise timeout for a slow start")
            module.fail_json(msg=f"{name} not {state} after {waited}s: {why}; {hint}", pod=pod,
                             actions=actions, changed=changed)
        actions.append(f"{name} {state} after {waited}s")
    return changed, pod, actions


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", required=True, choices=["stopped", "started"]),
            manifests_dir=dict(type="path", default="/etc/kubernetes/manifests"),
            stash_dir=dict(type="path", required=True),
            executable=dict(type="str"),
            port=dict(type="int"),
            wait=dict(type="bool", default=True),
            timeout=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    if "/" in module.params["name"] or module.params["name"] in ("", ".", ".."):
        module.fail_json(msg=f"name {module.params['name']!r} must be a manifest name such as etcd,"
                             " not a path")
    changed, pod, actions = run(module)
    module.exit_json(changed=changed, pod=pod, actions=actions)


if __name__ == "__main__":
    main()
