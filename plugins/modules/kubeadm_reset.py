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
    the ports of O(wait_closed) no longer accept connections, the kubelet is stopped, what is mounted
    beneath O(unmount) is unmounted, and O(paths) move aside as M(kubedr.kubeadm.move_aside) moves
    them (renamed on their own file system, or their entries moved inside when they are mount points).
  - A step that fails (C(systemctl) missing or unable to tell whether the kubelet runs, a stop that
    fails, a mount that will not come off) fails the module before anything after it happens.
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
  command_timeout:
    description:
      - Seconds each command (C(systemctl is-active kubelet), C(systemctl stop kubelet), each C(umount)) may
        run. One still running then is stopped (SIGTERM, then SIGKILL after 10 seconds) and the module fails
        naming it and this option, with nothing done after it. V(0) means no limit.
      - An unmount of a network file system whose server is gone can hang in the kernel beyond SIGKILL; the
        module then gives up on it all the same (a further 10 seconds) and leaves that process behind.
    type: int
    default: 120
  stop_kubelet:
    description:
      - Stop the kubelet unit (C(systemctl stop kubelet)) unless C(systemctl is-active kubelet) says it is
        V(inactive), V(failed) or unknown (a kubelet restarting between two runs is stopped too), and
        check that it stopped. Without C(systemctl) on the host the module fails.
    type: bool
    default: true
  unmount:
    description:
      - Once the kubelet is stopped and before O(paths) move, unmount every file system mounted beneath
        these paths (not the paths themselves), deepest first, as read from C(/proc/self/mountinfo) -
        the pod volumes (secrets, projected tokens, local PVs, CSI mounts) the kubelet mounted under
        V(/var/lib/kubelet). What the volumes hold is left as it is; only the mounts come off.
      - A mount that will not come off (in use) fails the module with nothing moved. With
        O(stop_kubelet=false) the module refuses while the kubelet is active (it would mount them again).
    type: list
    elements: path
    default: []
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
  - systemctl, when O(stop_kubelet=true)
  - umount, when O(unmount) has something mounted beneath it
"""

EXAMPLES = r"""
- name: Stop what runs on cp2 and keep its old control-plane state
  kubedr.kubeadm.kubeadm_reset:
    stamp: rebuild-20261201
    wait_closed: ["127.0.0.1:2379", "198.18.0.12:6443"]
    record: /var/lib/kubedr/control-plane-rebuild/rebuild-20261201/reset

- name: Stop a worker's kubelet, unmount its pod volumes, keep its old state
  kubedr.kubeadm.kubeadm_reset:
    stamp: rebuild-20261201-w1
    paths: [/etc/kubernetes, /var/lib/kubelet]
    unmount: [/var/lib/kubelet]
    wait_closed: []
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
unmounted:
  description:
    - What was unmounted (or would be, in check mode), in order; a point mounted twice is listed twice.
  returned: always
  type: list
  elements: str
  sample: [/var/lib/kubelet/pods/0f3c.../volumes/kubernetes.io~projected/kube-api-access-x2x9q]
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils import bounded_run
from ansible_collections.kubedr.kubeadm.plugins.module_utils.mount_points import mounts_beneath
from ansible_collections.kubedr.kubeadm.plugins.module_utils.move_aside import check_paths, move_all
from ansible_collections.kubedr.kubeadm.plugins.module_utils.static_pods import port_open

# what `systemctl is-active` prints for a unit that does not run; anything else (activating, deactivating,
# reloading) is a kubelet that runs or is about to
NOT_RUNNING = ("inactive", "failed", "unknown")
# after a kubelet-stop that went wrong, what the operator can do
GO_BACK = "to give up instead, start the kubelet again (systemctl start kubelet)"


def address(text):
    host, port = text.rpartition(":")[::2]
    if not host or not port.isdigit():
        raise ValueError(text)
    return host.strip("[]"), int(port)


def run(module, argv, done, hint):
    """(rc, stdout, stderr) of argv, bounded by command_timeout: still running then, the module fails."""
    timeout = module.params["command_timeout"]
    rc, out, err = bounded_run.module_run(module, argv, timeout)
    if rc == bounded_run.RC_TIMEOUT:
        command = " ".join([os.path.basename(argv[0]), *argv[1:]])
        module.fail_json(msg=bounded_run.timed_out(command, timeout, "command_timeout", hint), **done)
    return rc, out, err


def kubelet_runs(module, systemctl, done):
    """Whether the kubelet unit runs (or is about to: a restart between two runs); fails when systemctl
    cannot tell."""
    rc, out, err = run(module, [systemctl, "is-active", "kubelet"], done,
                       "is systemd answering (systemctl status)? Nothing was unmounted or moved after it")
    state = (out.strip().splitlines() or [""])[-1].strip()
    if rc == 0:
        return True
    if state in NOT_RUNNING or rc == 4:  # 4: no such unit
        return False
    if state:
        return True
    module.fail_json(
        msg=f"systemctl is-active kubelet failed (rc {rc}): {err.strip() or '(no output)'}: cannot tell "
        "whether the kubelet runs, and a kubelet left running mounts its volumes again and writes into "
        "what moves aside. Check systemctl status kubelet, stop the kubelet, then rerun",
        **done,
    )


def stop_kubelet(module, done):
    """Stop the kubelet when it runs; returns whether it did (would, in check mode)."""
    systemctl = module.get_bin_path("systemctl")
    if not systemctl:
        module.fail_json(
            msg="systemctl not found on this host: cannot stop the kubelet, and its volumes cannot come off "
            "nor its state move while it runs. Stop the kubelet by the host's own means, then rerun with "
            "stop_kubelet=false",
            **done,
        )
    if not kubelet_runs(module, systemctl, done):
        return False
    if module.check_mode:
        return True
    rc, out, err = run(module, [systemctl, "stop", "kubelet"], done,
                       "the kubelet did not stop (systemctl status kubelet, journalctl -u kubelet); nothing"
                       f" was unmounted or moved after it; {GO_BACK}")
    if rc != 0:
        module.fail_json(
            msg=f"systemctl stop kubelet failed (rc {rc}): {err.strip() or out.strip()}; nothing was "
            "unmounted or moved after it. Find out why (systemctl status kubelet, journalctl -u kubelet), "
            "stop it, rerun",
            **done,
        )
    if kubelet_runs(module, systemctl, done):
        module.fail_json(
            msg="the kubelet still runs after systemctl stop kubelet (is something starting it again?); "
            f"nothing was unmounted or moved after it. Stop it for good, then rerun; {GO_BACK}",
            **done,
        )
    return True


def unmount_beneath(module, bases, done):
    """Unmount what is mounted beneath each base, deepest first; returns what came off (would, in check
    mode). Fails on the first mount that will not come off."""
    unmounted = done["unmounted"]
    umount = None
    for base in bases:
        try:
            targets = mounts_beneath(base)
        except OSError as exc:
            module.fail_json(msg=f"cannot read the mount table (/proc/self/mountinfo): {exc}", **done)
        if module.check_mode:
            unmounted.extend(targets)
            continue
        budget = 2 * len(targets) + 10  # mounts that keep coming back: something mounts them
        while targets:
            target = targets[0]
            budget -= 1
            if budget < 0:
                module.fail_json(
                    msg=f"mounts keep appearing beneath {base} ({target}): is a kubelet or another agent "
                    f"mounting them? Stop it, then rerun; the state was not moved aside. {GO_BACK}",
                    **done,
                )
            umount = umount or module.get_bin_path("umount")
            if not umount:
                module.fail_json(msg=f"umount not found on this host: cannot unmount {target}", **done)
            rc, out, err = run(module, [umount, target], done,
                               f"is {target} a network file system whose server is gone? The state was not"
                               f" moved aside; umount -l {target} (lazy) detaches it by hand; {GO_BACK}")
            if rc != 0:
                module.fail_json(
                    msg=f"could not unmount {target} (umount rc {rc}: {err.strip() or out.strip()}); "
                    f"the state was not moved aside. Something still uses it: fuser -vm {target} (or "
                    f"lsof +f -- {target}) shows what. Stop that (a container the stopped kubelet left "
                    f"running, a shell in it), then rerun; {GO_BACK}",
                    **done,
                )
            unmounted.append(target)
            try:
                targets = mounts_beneath(base)
            except OSError as exc:
                module.fail_json(msg=f"cannot read the mount table (/proc/self/mountinfo): {exc}", **done)
    return unmounted


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
            "command_timeout": {"type": "int", "default": 120},
            "stop_kubelet": {"type": "bool", "default": True},
            "unmount": {"type": "list", "elements": "path", "default": []},
            "record": {"type": "path"},
        },
        supports_check_mode=True,
    )
    params = module.params
    stamp = params["stamp"]
    problem = check_paths([params["manifests_dir"], *params["paths"], *params["unmount"]], stamp)
    problem = problem or bounded_run.check_timeout(params["command_timeout"], "command_timeout")
    try:
        closed = [address(a) for a in params["wait_closed"]]
    except ValueError as bad:
        problem = problem or f"wait_closed: {bad} is not host:port (for example 127.0.0.1:2379)"
    if problem:
        module.fail_json(msg=problem, moved=[], kubelet_stopped=False, unmounted=[])

    moved, error = move_all([params["manifests_dir"]], stamp, [], module.check_mode)
    done = {"moved": moved, "kubelet_stopped": False, "unmounted": []}
    if error:
        module.fail_json(msg=error, **done)
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
                **done,
            )

    if params["stop_kubelet"]:
        done["kubelet_stopped"] = stop_kubelet(module, done)
    elif params["unmount"]:
        systemctl = module.get_bin_path("systemctl")
        if systemctl and kubelet_runs(module, systemctl, done):
            module.fail_json(
                msg="the kubelet is active: it would mount the volumes under "
                f"{', '.join(params['unmount'])} again. Stop it (stop_kubelet=true), then rerun",
                **done,
            )
    unmounted = unmount_beneath(module, params["unmount"], done)

    more, error = move_all(params["paths"], stamp, [], module.check_mode)
    moved += more
    if error:
        module.fail_json(msg=error, **done)
    recording = bool(params["record"]) and not os.path.exists(params["record"])
    if recording and not module.check_mode:
        os.makedirs(os.path.dirname(params["record"]), mode=0o700, exist_ok=True)
        with open(os.open(params["record"], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            json.dump(moved, handle)
    module.exit_json(changed=bool(moved) or done["kubelet_stopped"] or bool(unmounted) or recording, **done)


if __name__ == "__main__":
    main()
