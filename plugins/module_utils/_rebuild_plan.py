"""The control-plane rebuild's decisions (private to the collection): whether a rebuild may start,
which host runs kubeadm init, who joins after it, which StatefulSets' PVs are restored. Plain data in,
plain data out, so that every rule is unit-tested without a cluster; the control_plane_rebuild_plan
module feeds it what the preflight read and the role's phases act on its answer.

Each function returns the problems it found as sentences that name the fix; the plan refuses when any
is found, and lists them all at once."""

from __future__ import annotations

import json
import os
import re

from ansible_collections.kubedr.kubeadm.plugins.module_utils.rebuild_set import (
    RebuildSetError,
    cluster_configuration_document,
)

MODES = ("full", "replace_member")
# A backup set of the etcd_backup role, relative to its directory.
SET_FILES = {
    "snapshot": "etcd/snapshot.db",
    "manifest": "etcd/manifest.json",
    "cluster_configuration": "config/kubeadm-config.yaml",
}
PKI_DIR = "config/pki"
# What a new control plane needs of the old PKI: the CAs and the service-account key pair. Leaf
# certificates are not restored; kubeadm issues them again for each host's own names.
PKI_FILES = (
    "ca.crt",
    "ca.key",
    "sa.key",
    "sa.pub",
    "front-proxy-ca.crt",
    "front-proxy-ca.key",
    "etcd/ca.crt",
    "etcd/ca.key",
)
KUBELET_CONFIGURATION = "config/kubelet-config.yaml"  # optional: else a worker's /var/lib/kubelet/config.yaml
# The preflight's probe prints name=value lines, and a marker=<run>/<phase> line per finished phase.
PROBE_KEYS = ("kubeadm", "kubelet", "cri", "cri_socket", "admin_conf")
_PROBE_LINE = re.compile(r"^(\w+)=(.*)$", re.MULTILINE)


def set_layout():
    """The backup set's files relative to its directory, for the phases that unpack it."""
    return {
        **SET_FILES,
        "kubelet_configuration": KUBELET_CONFIGURATION,
        "pki_dir": PKI_DIR,
        "pki": list(PKI_FILES),
    }


def expected_confirmation(mode, cluster, replace=""):
    """The sentence an operator types to let the rebuild touch the control plane."""
    return f"rebuild {cluster}" if mode == "full" else f"replace {replace} in {cluster}"


def request_problems(mode, confirm, cluster, replace, hosts):
    """The request itself: a known mode, the confirmation typed, in replace_member mode a host to replace."""
    if mode not in MODES:
        return [f"control_plane_rebuild_mode is {mode!r}: set it to one of {', '.join(MODES)}"]
    problems = []
    if mode == "replace_member" and replace not in hosts:
        problems.append(f"control_plane_rebuild_replace is {replace!r}: set it to one of {', '.join(hosts)}")
    expected = expected_confirmation(mode, cluster, replace)
    if confirm != expected:
        problems.append(f'set control_plane_rebuild_confirm to "{expected}" to let the {mode} go ahead')
    return problems


def parse_probe(stdout, run_id):
    """A host's probe output as {kubeadm, kubelet, cri, cri_socket, markers, joined}: markers are
    the phases of run `run_id` the host finished; joined, that kubeadm joined it in this run (marked, or
    an admin.conf written after this run's reset)."""
    state = {key: "" for key in PROBE_KEYS}
    markers = []
    for key, value in _PROBE_LINE.findall(stdout or ""):
        value = value.strip()
        if key == "marker":
            run, _sep, phase = value.rpartition("/")
            if run == run_id and phase:
                markers.append(phase)
        elif key in state:
            state[key] = value
    admin_conf = state.pop("admin_conf") == "yes"
    state.update(
        cri=state["cri"] == "yes",
        markers=sorted(markers),
        joined="joined" in markers or ("reset" in markers and admin_conf),
    )
    return state


def with_etcdutl(states, found):
    """The probed states with each host's etcdutl as kubedr.kubeadm.etcdutl_binary found it (by host; a
    skipped or unreachable host's result is left out): its version, or why there is none."""
    for host, result in (found or {}).items():
        if (host not in states or not isinstance(result, dict) or result.get("skipped")
                or result.get("unreachable")):
            continue
        if result.get("failed"):
            states[host].update(etcdutl="", etcdutl_problem=result.get("msg") or "etcdutl_binary failed")
        else:
            states[host]["etcdutl"] = (result.get("etcdutl") or {}).get("version") or ""
    return states


def read_set(set_dir, label, cluster):
    """What the plan needs of a backup set on the controller: {manifest, cluster_configuration,
    kubernetes_version} and its problems (files missing, not this cluster's, an unreadable config). The
    ClusterConfiguration is the only document read of the kubeadm file (others may hold a token)."""
    problems = []
    for relative in [*SET_FILES.values(), *(f"{PKI_DIR}/{name}" for name in PKI_FILES)]:
        if not os.path.isfile(os.path.join(set_dir, relative)):
            problems.append(f"the backup set {label} lacks {relative}")
    manifest, configuration = None, {}
    path = os.path.join(set_dir, SET_FILES["manifest"])
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as handle:
                manifest = json.load(handle)
        except (OSError, ValueError) as error:
            problems.append(f"the backup set {label}'s {SET_FILES['manifest']} cannot be read ({error})")
    if isinstance(manifest, dict) and manifest.get("cluster", "") != cluster:
        problems.append(
            f"the backup set {label} is of cluster {manifest.get('cluster') or '(none named)'} (etcd cluster "
            f"{manifest.get('etcd_cluster_id', '?')}, its etcd/manifest.json), not of {cluster}: give a set "
            f"of {cluster} (control_plane_rebuild_backup_path, control_plane_rebuild_backup_set or "
            "control_plane_rebuild_backup_dir)"
        )
    path = os.path.join(set_dir, SET_FILES["cluster_configuration"])
    if os.path.isfile(path):
        configuration, problem = _cluster_configuration(path, label)
        if problem:
            problems.append(problem)
    return {
        "manifest": manifest if isinstance(manifest, dict) else {},
        "cluster_configuration": configuration,
        "kubernetes_version": str(configuration.get("kubernetesVersion") or ""),
    }, problems


def _cluster_configuration(path, label):
    import yaml  # ansible-core's own dependency: the plan runs on the controller

    what = f"the backup set {label}'s {SET_FILES['cluster_configuration']}"
    try:
        with open(path, encoding="utf-8") as handle:
            document = cluster_configuration_document(handle.read(), what)
        parsed = yaml.safe_load(document)
    except RebuildSetError as error:
        return {}, str(error)
    except (OSError, yaml.YAMLError):
        # the message never quotes the file
        return {}, f"{what} is not readable YAML: give a set taken by playbooks/backup.yml"
    if not isinstance(parsed, dict):
        return {}, f"{what} holds no ClusterConfiguration mapping"
    return parsed, None


def snapshot_problems(snapshot):
    """etcd_snapshot_info's verdict on the set's snapshot (None: the file is missing, listed elsewhere)."""
    if snapshot is None or snapshot.get("valid", True):
        return []
    return ["the snapshot does not verify: " + ", ".join(snapshot.get("problems") or ["(no reason given)"])]


def host_problems(states, kubernetes_version, mode):
    """Each host that answered: kubeadm and kubelet of the cluster's release, the runtime socket, and in
    full mode an etcdutl for the snapshot."""
    if not states:
        return ["no control-plane host answered"]
    problems = []
    want = kubernetes_version
    for host, state in states.items():
        for tool, label in (("kubeadm", "kubeadm"), ("kubelet", "the kubelet")):
            have = state.get(tool, "")
            if not have:
                problems.append(
                    f"{host}: no {tool}" + (f" (install the cluster's release {want})" if want else "")
                )
            elif want and have != want:
                problems.append(f"{host}: {label} is {have}, the cluster runs {want}")
        if not state.get("cri"):
            problems.append(
                f"{host}: the container runtime socket {state.get('cri_socket') or '?'} is missing "
                "(start containerd)"
            )
        if mode == "full" and not state.get("etcdutl"):
            why = state.get("etcdutl_problem")
            problems.append(f"{host}: no etcdutl to restore the snapshot with" + (f" ({why})" if why else ""))
    return problems


def pv_source_problems(workers_group, worker):
    """The worker the PVs are restored through: there is one, and it has restic settings. `worker` is
    {name, restic_setup, has_password, repository} (the password itself is never passed)."""
    fix = "or set control_plane_rebuild_restore_pvs=false to keep the data on the workers' disks"
    if not worker or not worker.get("name"):
        return [
            f"no worker in group {workers_group} to restore the PVs on "
            "(set control_plane_rebuild_restore_pvs=false)"
        ]
    if worker.get("restic_setup", True):
        if not worker.get("has_password"):
            return [
                "control_plane_rebuild_restore_pvs: no restic_password for the workers (give the restic "
                f"settings of playbooks/backup.yml), {fix}"
            ]
    elif not worker.get("repository"):
        return [
            "control_plane_rebuild_restore_pvs with kubedr_pv_restic_setup=false: give pv_restore_repository "
            f"and pv_restore_password_file, {fix}"
        ]
    return []


def choose_hosts(mode, hosts, alive, replace="", first_host=""):
    """(first, joiners, targets, problems): full mode runs kubeadm init on `first_host` or the first
    host that answered and joins the others one at a time; replace_member joins the replaced host through
    a surviving member. Targets are the hosts that are reset."""
    candidates = [h for h in alive if h != replace] if mode == "replace_member" else list(alive)
    problems = []
    if first_host and first_host not in candidates:
        why = (
            "did not answer"
            if first_host in hosts and first_host not in alive
            else "is not a host of this play"
        )
        if mode == "replace_member" and first_host == replace:
            why = "is the member being replaced"
        problems.append(
            f"control_plane_rebuild_first_host {first_host} {why}: name one of "
            f"{', '.join(candidates) or '(none)'} or leave it empty"
        )
    if mode == "replace_member" and replace and replace not in alive:
        problems.append(f"{replace}, the host to replace, did not answer: reinstall it and reach it over SSH")
    first = first_host if first_host in candidates else (candidates[0] if candidates else "")
    if not first and alive:
        problems.append("no surviving control-plane member answered to join the replaced host through")
    if mode == "replace_member":
        return first, [replace], [replace], problems
    return first, [h for h in alive if h != first], list(alive), problems


# The role's phases in the order playbooks/rebuild_control_plane.yml runs them.
PHASES = ("pv_snapshots", "reset", "remove_member", "first", "join", "pvs_hold", "workers", "pvs", "verify")


def phases(mode, restore_pvs, first, joiners, targets, workers):
    """The hosts each phase runs on; a phase skips every other host, so each guards itself from the plan."""
    full = mode == "full"
    pvs = full and restore_pvs
    return {
        "pv_snapshots": list(workers) if pvs else [],
        "reset": list(targets),
        "remove_member": [] if full or not first else [first],
        "first": [first] if full and first else [],
        "join": list(joiners),
        "pvs_hold": [first] if pvs and first else [],
        "workers": list(workers) if full else [],
        "pvs": [first] if pvs and first else [],
        "verify": [first] if first else [],
    }


def run_id(given, mode, snapshot_sha256="", replace=""):
    """Names the run; markers of finished phases live under it, so an interrupted run resumes."""
    if given:
        return given
    return f"full-{snapshot_sha256[:16]}" if mode == "full" else f"replace-{replace}"


def _tags(snapshot):
    return dict(tag.split(":", 1) for tag in snapshot.get("tags") or () if ":" in tag)


def pv_plan(snapshots, wanted=()):
    """(plan, missing): the StatefulSets whose local PVs have snapshots (tags namespace:, statefulset:,
    pvc: of role pv_backup), [{namespace, statefulset, pvcs, latest}] sorted by name, only those of
    `wanted` ("namespace/name") when given, and the wanted ones without snapshots."""
    found = {}
    for snapshot in sorted(snapshots or (), key=lambda s: s.get("time", "")):
        tags = _tags(snapshot)
        if not all(key in tags for key in ("namespace", "statefulset", "pvc")):
            continue
        entry = found.setdefault(
            f"{tags['namespace']}/{tags['statefulset']}",
            {"namespace": tags["namespace"], "statefulset": tags["statefulset"], "pvcs": [], "latest": ""},
        )
        entry["pvcs"] = sorted({*entry["pvcs"], tags["pvc"]})
        entry["latest"] = snapshot.get("time", "")
    keys = list(wanted) or sorted(found)
    plan = [found[key] for key in keys if key in found]
    missing = [key for key in keys if key not in found]
    return plan, missing
