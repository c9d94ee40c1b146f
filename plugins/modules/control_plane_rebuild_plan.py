#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: control_plane_rebuild_plan
short_description: Decide whether a control-plane rebuild may start, and how it goes
version_added: "0.1.0"
description:
  - The decisions of the C(control_plane_rebuild) role, from what its preflight read; changes nothing.
  - Runs on the controller (C(delegate_to=localhost)). Each rule runs on what is given, so the role asks
    three times as it learns more. O(confirm) given, the request is checked (a known mode, the
    confirmation sentence, the host to replace). O(probes) given, also the hosts (kubeadm and kubelet
    of the backed-up release, the runtime socket, etcdutl in full mode), the worker the PVs are restored
    through, and the backup set in O(set_dir) (every file and CA key, the cluster it belongs to, its
    ClusterConfiguration); then it chooses the first host and the joiners. O(pv_snapshots) given, the
    StatefulSets whose PVs are restored.
  - Fails listing every problem found, each with its fix; nothing is touched before.
author:
  - kubedr contributors (@kubedr)
options:
  mode:
    description: V(full) rebuilds the whole control plane; V(replace_member) replaces one lost member.
    type: str
    required: true
  cluster:
    description: The kubedr cluster name (C(kubedr_cluster)).
    type: str
    required: true
  confirm:
    description:
      - The confirmation the operator typed, V(rebuild <cluster>) or V(replace <host> in <cluster>).
      - Given, the request is checked.
    type: str
  hosts:
    description: The control-plane hosts of the cluster (the play's hosts).
    type: list
    elements: str
    default: []
  replace:
    description: With V(replace_member), the host to replace.
    type: str
    default: ""
  first_host:
    description: The host to run C(kubeadm init) on (full) or to join through (replace_member); empty chooses.
    type: str
    default: ""
  run:
    description: The run's name; empty names it after the snapshot (full) or the replaced host.
    type: str
    default: ""
  probes:
    description:
      - Each host's probe result as registered by the preflight (C(stdout) of C(name=value) lines, or
        C(unreachable)), by inventory name.
    type: dict
  etcdutl:
    description:
      - Each host's M(kubedr.kubeadm.etcdutl_binary) result as registered by the preflight, by inventory name;
        in full mode every host that answered needs one (its version, or the reason there is none, goes into
        RV(hosts)).
    type: dict
    default: {}
  set_dir:
    description: Full mode, the backup set's copy on the controller.
    type: path
  set_label:
    description: The set's name in messages.
    type: str
    default: ""
  snapshot:
    description: RV(kubedr.kubeadm.etcd_snapshot_info#module:snapshot) of the set's snapshot, when it exists.
    type: dict
  restore_pvs:
    description: Full mode, whether the StatefulSets' local PV data is restored from restic.
    type: bool
    default: false
  workers:
    description: The cluster's workers (they reconnect or rejoin in full mode, and list the PV snapshots).
    type: list
    elements: str
    default: []
  pv_source:
    description:
      - With O(restore_pvs), the first worker's restic settings, V(name), V(restic_setup) (bool),
        V(has_password) (bool, never the password), V(repository).
    type: dict
    default: {}
  workers_group:
    description: The workers' group, in messages.
    type: str
    default: ""
  pv_snapshots:
    description:
      - The restic snapshots of the cluster's PVs (RV(kubedr.kubeadm.restic_snapshots#module:snapshots)).
    type: list
    elements: dict
  pv_statefulsets:
    description: Only these StatefulSets (V(namespace/name)); empty means every one with snapshots.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: Changes nothing in any mode.
  diff_mode:
    support: none
    description: Nothing changes.
  idempotent:
    support: full
    description: Reads only.
"""

EXAMPLES = r"""
- name: Check the request before anything is read
  kubedr.kubeadm.control_plane_rebuild_plan:
    mode: full
    cluster: lab
    confirm: rebuild lab
    hosts: [cp1, cp2, cp3]
  delegate_to: localhost
  run_once: true

- name: Plan the rebuild from the probes and the backup set
  kubedr.kubeadm.control_plane_rebuild_plan:
    mode: full
    cluster: lab
    confirm: rebuild lab
    hosts: [cp1, cp2, cp3]
    probes: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, 'p'))) }}"
    set_dir: /tmp/kubedr-rebuild-set
    snapshot: "{{ snapshot_info.snapshot }}"
  delegate_to: localhost
  run_once: true
  register: plan
"""

RETURN = r"""
problems:
  description: Every reason the rebuild cannot start (the module fails when there is one).
  returned: always
  type: list
  elements: str
run_id:
  description: The run's name; markers of finished phases live under it on each host.
  returned: when O(probes) is given
  type: str
  sample: full-0123456789abcdef
alive:
  description: The hosts that answered.
  returned: when O(probes) is given
  type: list
  elements: str
left_out:
  description: The hosts that did not answer, left out of the rebuild.
  returned: when O(probes) is given
  type: list
  elements: str
first:
  description: Where C(kubeadm init) runs (full), or the member the replaced host joins through.
  returned: when O(probes) is given
  type: str
joiners:
  description: The hosts that join after the first, one at a time, in this order.
  returned: when O(probes) is given
  type: list
  elements: str
targets:
  description: The hosts that are reset.
  returned: when O(probes) is given
  type: list
  elements: str
phases:
  description:
    - The hosts each phase of the role runs on, by phase (C(pv_snapshots), C(reset), C(remove_member),
      C(first), C(join), C(pvs_hold), C(workers), C(pvs), C(verify)); a phase skips any other host.
  returned: when O(probes) is given
  type: dict
  sample: {first: [cp1], join: [cp2, cp3], remove_member: []}
hosts:
  description:
    - What each host that answered has, C(kubeadm), C(kubelet), C(etcdutl) (versions, empty when absent),
      C(cri) (bool), C(cri_socket), C(markers) (the phases of this run it finished), C(joined) (bool,
      kubeadm joined it in this run, marked or not).
  returned: when O(probes) is given
  type: dict
layout:
  description:
    - A backup set's files relative to its directory, C(snapshot), C(manifest), C(cluster_configuration),
      C(kubelet_configuration) (optional in a set), C(pki_dir), and C(pki), the CA and service-account files
      a new control plane needs (leaf certificates are issued again).
  returned: always
  type: dict
backup:
  description:
    - Full mode, what the set holds, C(manifest) (etcd/manifest.json), C(cluster_configuration) (its
      ClusterConfiguration document only), C(kubernetes_version).
  returned: when O(set_dir) is given
  type: dict
pv_plan:
  description: The StatefulSets whose PVs are restored, each C(namespace), C(statefulset), C(pvcs), C(latest).
  returned: when O(pv_snapshots) is given
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils import _rebuild_plan as plan


def probe_states(probes, run_id):
    """(states of the hosts that answered, hosts that did not)."""
    states, left_out = {}, []
    for host, result in probes.items():
        if not isinstance(result, dict) or result.get("unreachable") or "stdout" not in result:
            left_out.append(host)
        else:
            states[host] = plan.parse_probe(result["stdout"], run_id)
    return states, left_out


def decide(params):
    """The plan and its problems from the module's parameters; a dict with `problems` always."""
    mode, cluster = params["mode"], params["cluster"]
    out = {"problems": [], "layout": plan.set_layout()}
    problems = out["problems"]
    if params["confirm"] is not None:
        problems += plan.request_problems(
            mode, params["confirm"], cluster, params["replace"], params["hosts"]
        )
    if params["set_dir"]:
        backup, found = plan.read_set(params["set_dir"], params["set_label"] or params["set_dir"], cluster)
        out["backup"] = backup
        problems += found + plan.snapshot_problems(params["snapshot"])
    if params["probes"] is not None:
        sha256 = (params["snapshot"] or {}).get("sha256", "")
        out["run_id"] = plan.run_id(params["run"], mode, sha256, params["replace"])
        states, left_out = probe_states(params["probes"], out["run_id"])
        plan.with_etcdutl(states, params["etcdutl"])
        version = out.get("backup", {}).get("kubernetes_version", "")
        problems += plan.host_problems(states, version, mode)
        restore_pvs = mode == "full" and params["restore_pvs"]
        if restore_pvs:
            problems += plan.pv_source_problems(params["workers_group"], params["pv_source"])
        alive = [h for h in params["hosts"] if h in states] or list(states)
        first, joiners, targets, chosen = plan.choose_hosts(
            mode, params["hosts"], alive, params["replace"], params["first_host"]
        )
        problems += chosen
        out.update(
            alive=alive, left_out=left_out, first=first, joiners=joiners, targets=targets, hosts=states,
            phases=plan.phases(mode, restore_pvs, first, joiners, targets, params["workers"]),
        )
    if params["pv_snapshots"] is not None:
        out["pv_plan"], missing = plan.pv_plan(params["pv_snapshots"], params["pv_statefulsets"])
        fix = (
            "run playbooks/backup.yml with the PV backup, name other StatefulSets in "
            "control_plane_rebuild_restore_pvs_statefulsets, or set control_plane_rebuild_restore_pvs=false "
            "to keep the data on the workers' disks"
        )
        if not out["pv_plan"] and not params["pv_statefulsets"]:
            problems.append(
                f"no PV snapshot of {cluster} (restic tag cluster:{cluster}) in the workers' "
                f"repositories: {fix}"
            )
        elif missing:
            problems.append(
                f"no PV snapshot of {', '.join(missing)} (restic tags cluster:{cluster}, namespace:, "
                f"statefulset:): {fix}"
            )
    return out


def main():
    module = AnsibleModule(
        argument_spec={
            "mode": {"type": "str", "required": True},
            "cluster": {"type": "str", "required": True},
            "confirm": {"type": "str"},
            "hosts": {"type": "list", "elements": "str", "default": []},
            "replace": {"type": "str", "default": ""},
            "first_host": {"type": "str", "default": ""},
            "run": {"type": "str", "default": ""},
            "probes": {"type": "dict"},
            "etcdutl": {"type": "dict", "default": {}},
            "set_dir": {"type": "path"},
            "set_label": {"type": "str", "default": ""},
            "snapshot": {"type": "dict"},
            "restore_pvs": {"type": "bool", "default": False},
            "workers": {"type": "list", "elements": "str", "default": []},
            "pv_source": {"type": "dict", "default": {}},
            "workers_group": {"type": "str", "default": ""},
            "pv_snapshots": {"type": "list", "elements": "dict"},
            "pv_statefulsets": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    out = decide(module.params)
    if out["problems"]:
        what = "rebuild" if module.params["mode"] == "full" else "member replacement"
        module.fail_json(
            msg=f"The {what} of {module.params['cluster']} cannot start; nothing was touched. Fix: "
            + "; ".join(out["problems"]),
            **out,
        )
    module.exit_json(changed=False, **out)


if __name__ == "__main__":
    main()
