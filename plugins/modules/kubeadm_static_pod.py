#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kubeadm_static_pod
short_description: Stop or start kubeadm static pods by parking their manifests, and wait until they are
version_added: "0.1.0"
description:
  - Stops static pods of a kubeadm node (etcd, kube-apiserver, ...) by moving each manifest
    C(<manifests_dir>/<name>.yaml) into O(stash_dir), and starts them again by moving them back. The kubelet
    stops and starts a pod when its manifest disappears and appears.
  - Then waits until every component named is really stopped (no process of it left in this host's network
    namespace and its port closed) or really started (a process and the port accepting connections).
    Several names are moved together and waited for together, so the kubelet handles them at once.
  - A manifest is in exactly one of the two directories at any time, so running the module again
    after an interruption finishes the job; a manifest found in both directories, or in neither, is an
    error that names both paths, and nothing is moved.
  - Needs only the Python standard library; processes are found through C(/proc), so no container
    runtime client is needed.
author:
  - kubedr contributors (@kubedr)
options:
  name:
    description:
      - Names of the static pods' manifests without C(.yaml), for example V(etcd) or
        V([kube-controller-manager, kube-scheduler]).
    type: list
    elements: str
    required: true
  state:
    description:
      - V(stopped) parks the manifests in O(stash_dir); V(started) puts them back into O(manifests_dir).
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
      - Where the manifests are parked while the pods are stopped. Created (mode 0700) when missing. It must
        not be O(manifests_dir) or below it, where the kubelet would start the pods again.
    type: path
    required: true
  executable:
    description:
      - Name of the component's executable (basename of its C(argv[0])) to look for in C(/proc).
      - Default is the pod's name. Only with a single O(name).
    type: str
  port:
    description:
      - TCP port on V(127.0.0.1) the component listens on, checked closed (stopped) or open (started).
      - Default is kubeadm's port for V(etcd) (2379), V(kube-apiserver) (6443), V(kube-controller-manager)
        (10257) and V(kube-scheduler) (10259); V(0) (and any other name) checks the process only.
        Only with a single O(name).
    type: int
  kill_after:
    description:
      - With O(state=stopped), seconds a component's processes may stay once its port has closed before they
        are sent SIGKILL (the pids just seen in C(/proc), in this network namespace, running its executable).
      - For a component whose last work does not matter, such as an API server stopped for an etcd restore
        that discards whatever it still writes; kube-apiserver keeps running for up to its 30-second grace
        period after it stops listening.
      - Default is to wait for the kubelet (up to O(timeout)).
    type: int
  wait:
    description:
      - Wait until the components are in the wanted state; when false, only move the manifests.
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
    description: Reports whether the manifests would be moved; moves nothing and does not wait.
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
    kill_after: 5
  become: true

- name: Restart the controller-manager and the scheduler together
  kubedr.kubeadm.kubeadm_static_pod:
    name: [kube-controller-manager, kube-scheduler]
    state: "{{ item }}"
    stash_dir: /etc/kubernetes/kubedr-etcd-restore/run1/restart
  loop: [stopped, started]
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
pods:
  description: The static pods after the module ran (in check mode, as they would be), in O(name)'s order.
  returned: success
  type: list
  elements: dict
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
    killed:
      description: Pids sent SIGKILL after O(kill_after).
      type: list
      elements: int
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
import signal
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils._kubectl import wait_for
from ansible_collections.kubedr.kubeadm.plugins.module_utils.static_pods import (
    DEFAULT_PORTS,
    StaticPodError,
    is_settled,
    locate,
    move,
    observe,
)

POLL_INTERVAL = 0.5


def check_dirs(manifests_dir, stash_dir):
    manifests_dir, stash_dir = os.path.realpath(manifests_dir), os.path.realpath(stash_dir)
    if stash_dir == manifests_dir or stash_dir.startswith(manifests_dir + os.sep):
        raise StaticPodError(f"stash_dir {stash_dir} is inside manifests_dir {manifests_dir}: the kubelet"
                             " would run what is parked there; choose a directory outside it")
    if not os.path.isdir(manifests_dir):
        raise StaticPodError(f"manifests_dir {manifests_dir} does not exist: is this a kubeadm node?")


def wait_until(state, pods, timeout, kill_after=None):
    """Wait until every pod (dicts with executable and port) is in `state`; each pod gets `pids`,
    `port_open`, `killed` and `waited`. With kill_after (state stopped), processes still there that long
    after their port closed are sent SIGKILL. True when all settled within timeout."""
    started = time.monotonic()
    closed_at = {}
    pending = list(pods)

    def check():
        for pod in list(pending):
            pod.update(observe(pod["executable"], pod["port"]), waited=round(time.monotonic() - started, 1))
            if is_settled(state, pod):
                pending.remove(pod)
            elif state == "stopped" and kill_after is not None and not pod["port_open"]:
                since = closed_at.setdefault(pod["name"], time.monotonic())
                if time.monotonic() - since >= kill_after:
                    for pid in pod["pids"]:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            continue
                        pod["killed"].append(pid)
        return not pending, None

    return wait_for(check, timeout, POLL_INTERVAL)[0]


def failure(state, pod):
    if state == "stopped":
        why = (f"processes {pod['pids']} still run" if pod["pids"] else f"port {pod['port']} still accepts"
               " connections")
        hint = "is it running outside the kubelet (a systemd unit)? stop it there"
    else:
        why = "no process runs" if not pod["pids"] else f"port {pod['port']} does not accept connections"
        hint = (f"is the kubelet running (systemctl status kubelet)? look at the {pod['name']} container's"
                " log; raise timeout for a slow start")
    return f"{pod['name']} not {state} after {pod['waited']}s: {why}; {hint}"


def run(module):
    p = module.params
    names, state = p["name"], p["state"]
    if not names:
        module.fail_json(msg="name is empty: give the static pods to stop or start")
    if len(names) > 1 and (p["executable"] or p["port"] is not None):
        module.fail_json(msg="executable and port apply to one static pod: give a single name with them")
    try:
        check_dirs(p["manifests_dir"], p["stash_dir"])
    except StaticPodError as e:
        module.fail_json(msg=str(e))
    want = "stash" if state == "stopped" else "manifests"
    moves, pods = [], []
    for name in names:
        where, active, parked = locate(p["manifests_dir"], p["stash_dir"], name)
        if where == "both":
            module.fail_json(msg=f"{name}'s manifest is both in {active} and in {parked}: compare them, keep"
                                 " the one the pod should run with and move the other away, then run again")
        if where == "none":
            module.fail_json(msg=f"no manifest for {name}: neither {active} nor {parked} exists")
        src, dest = (active, parked) if want == "stash" else (parked, active)
        if where != want:
            moves.append((src, dest))
        port = p["port"] if p["port"] is not None else DEFAULT_PORTS.get(name, 0)
        pods.append({"name": name, "manifest": dest, "location": want, "port": port, "pids": [],
                     "port_open": None, "killed": [], "waited": 0.0, "executable": p["executable"] or name})

    actions = []
    for src, dest in moves:
        actions.append(f"moved {src} to {dest}")
        if not module.check_mode:
            try:
                os.makedirs(p["stash_dir"], mode=0o700, exist_ok=True)
                move(src, dest)
            except OSError as e:
                module.fail_json(msg=f"could not move {src} to {dest}: {e}", actions=actions)
    changed = bool(moves)
    if p["wait"] and not module.check_mode:
        ok = wait_until(state, pods, p["timeout"], p["kill_after"])
        for pod in pods:
            if pod["killed"]:
                actions.append(f"{pod['name']}: sent SIGKILL to {pod['killed']}, {p['kill_after']}s after its"
                               " port closed")
        if not ok:
            stuck = [pod for pod in pods if not is_settled(state, pod)]
            module.fail_json(msg="; ".join(failure(state, pod) for pod in stuck),
                             pods=public(pods), actions=actions, changed=changed)
        actions.extend(f"{pod['name']} {state} after {pod['waited']}s" for pod in pods)
    return changed, public(pods), actions


def public(pods):
    return [{k: v for k, v in pod.items() if k != "executable"} for pod in pods]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="list", elements="str", required=True),
            state=dict(type="str", required=True, choices=["stopped", "started"]),
            manifests_dir=dict(type="path", default="/etc/kubernetes/manifests"),
            stash_dir=dict(type="path", required=True),
            executable=dict(type="str"),
            port=dict(type="int"),
            kill_after=dict(type="int"),
            wait=dict(type="bool", default=True),
            timeout=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    for name in module.params["name"]:
        if "/" in name or name in ("", ".", ".."):
            module.fail_json(msg=f"name {name!r} must be a manifest name such as etcd, not a path")
    changed, pods, actions = run(module)
    module.exit_json(changed=changed, pods=pods, actions=actions)


if __name__ == "__main__":
    main()
