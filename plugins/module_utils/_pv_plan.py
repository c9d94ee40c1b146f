# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PV roles' decisions, in one place: which volumes, grouped how, with which repository on which node,
and what is wrong with the request. Pure functions (the action plugins pv_backup_plan and pv_restore_plan
feed them the role's variables and the inventory); tests/unit/module_utils/test_pv_plan.py covers every rule.
"""

from __future__ import annotations

import posixpath

HOOKS = ("none", "exec", "scale", "fsfreeze")
KEEP_RULES = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_within")


def restic_host(cluster: str, volume: dict) -> str:
    """The restic host of a volume's snapshots: one stable identity per PVC, whichever node holds it."""
    return f"{cluster}/{volume['namespace']}/{volume['pvc']}"


def repository_for(node: str, given: dict, recorded: dict | None) -> dict:
    """Repository, password file and restic binary for a node: the role's settings, each falling back to what
    the kubedr.kubeadm.restic role recorded on that node (restic_repository_info). restic_path may be None."""
    recorded = recorded or {}
    return {"repository": given.get("repository") or recorded.get("location") or "",
            "password_file": given.get("password_file") or recorded.get("password_file") or "",
            "restic_path": given.get("restic_path") or recorded.get("restic_path") or None}


def _located(volume: dict, params: dict, inventory: set, recorded: dict, problems: list) -> dict | None:
    """repository_for the volume's node, or None with the reason added to problems: the node is not in the
    inventory, or has no repository."""
    repo = repository_for(volume["node"], params, recorded.get(volume["node"]))
    where = f"{volume['namespace']}/{volume['pvc']} is on node {volume['node']} ({volume['path']})"
    if volume["node"] not in inventory:
        problems.append(f"{where}: that node must be in the inventory under its Node name")
    elif not repo["repository"]:
        problems.append(f"{where}: no repository for it: set the role's repository, or run the "
                        "kubedr.kubeadm.restic role on the node first")
    else:
        return repo
    return None


def _given_problem(index: int, volume) -> str | None:
    if not isinstance(volume, dict):
        return f"volumes entry {index + 1} ({volume!r}) is not a mapping"
    missing = [k for k in ("namespace", "pvc", "node", "path") if not volume.get(k)]
    if missing or not posixpath.isabs(str(volume.get("path", ""))):
        name = f"{volume.get('namespace', '?')}/{volume.get('pvc', '?')}"
        return (f"volumes entry {index + 1} ({name}): each needs namespace, pvc, an absolute path and node, "
                "the node's inventory name (which must be its Kubernetes Node name)"
                f"{'; missing ' + ', '.join(missing) if missing else ''}")
    return None


def backup_plan(params: dict, inventory: set, recorded: dict) -> dict:
    """The pv_backup role's plan.

    params: cluster, hook, exec_pre, exec_post, kubeconfig, volumes (given in the inventory; empty means
    discovered), discovered (k8s_local_pv_info's volumes; None when not run), repository, password_file,
    restic_path, tags (extra snapshot tags), and the keep_* rules. inventory: the inventory's host names.
    recorded: node -> that node's restic_repository_info (or None).

    Returns problems (refusals, before anything is touched), volumes, groups (one per StatefulSet, or per
    lone PVC: name, namespace, statefulset, pods, hook_problem, volumes) and nodes (each node once with its
    repository, for the stale-lock check), and forget (whether a retention rule is set).
    """
    problems = []
    hook = params.get("hook") or "none"
    given = params.get("volumes") or []
    if not params.get("cluster"):
        problems.append("the cluster name is required (pv_backup_cluster, default: kubedr_cluster from the "
                        "inventory)")
    if hook not in HOOKS:
        problems.append(f"the hook must be one of {', '.join(HOOKS)} (got {hook!r})")
    if hook == "exec" and not (params.get("exec_pre") or params.get("exec_post")):
        problems.append("the exec hook needs pv_backup_exec_pre or pv_backup_exec_post (a command as a list)")
    if not params.get("kubeconfig") and (not given or hook in ("exec", "scale")):
        problems.append("pv_backup_kubeconfig (default: kubedr_kubeconfig) is required for discovery and "
                        "for the exec and scale hooks; or give pv_backup_volumes and use hook none or "
                        "fsfreeze")
    given_problems = [p for p in (_given_problem(i, v) for i, v in enumerate(given)) if p]
    problems += given_problems
    if given_problems:
        return {"problems": problems, "volumes": [], "groups": [], "nodes": [], "forget": False}

    selected = given if given else [v for v in params.get("discovered") or [] if v.get("pvc")]
    volumes, nodes, groups = [], {}, {}
    for found in selected:
        volume = {**found, "statefulset": found.get("statefulset") or "", "pod": found.get("pod") or ""}
        repo = _located(volume, params, inventory, recorded, problems)
        if repo is None:
            continue
        tags = [f"cluster:{params.get('cluster')}", f"namespace:{volume['namespace']}",
                f"pvc:{volume['pvc']}"]
        if volume["statefulset"]:
            tags.append(f"statefulset:{volume['statefulset']}")
            if volume.get("ordinal") is not None:
                tags.append(f"ordinal:{volume['ordinal']}")
        volume.update(repo, restic_host=restic_host(params.get("cluster") or "", volume),
                      tags=tags + list(params.get("tags") or []))
        name = volume["namespace"] + "/" + (f"statefulset {volume['statefulset']}" if volume["statefulset"]
                                            else f"pvc {volume['pvc']}")
        volume["group"] = name
        volumes.append(volume)
        nodes.setdefault(volume["node"], {"node": volume["node"], **repo})
        group = groups.setdefault(name, {"name": name, "namespace": volume["namespace"],
                                         "statefulset": volume["statefulset"], "volumes": []})
        group["volumes"].append(volume)
    for group in groups.values():
        group["pods"] = sorted({v["pod"] for v in group["volumes"] if v["pod"]})
        group["hook_problem"] = _hook_problem(hook, params, group)
    return {"problems": problems, "volumes": volumes, "groups": list(groups.values()),
            "nodes": list(nodes.values()), "forget": any(params.get(k) for k in KEEP_RULES)}


def _hook_problem(hook: str, params: dict, group: dict) -> str:
    """Why the hook cannot run for this group ('' when it can): that group fails, the others go on."""
    if hook == "scale" and not group["statefulset"]:
        return f"the scale hook needs a StatefulSet; {group['name']} belongs to none (use exec or fsfreeze)"
    if hook == "exec" and params.get("exec_pre"):
        podless = [v["pvc"] for v in group["volumes"] if not v["pod"]]
        if podless:
            return f"the exec hook needs a running pod for each volume; none for {', '.join(podless)}"
    return ""


def restore_plan(params: dict, inventory: set, recorded: dict) -> dict:
    """The pv_restore role's volumes: the StatefulSet's discovered volumes, narrowed to params['pvcs'] when
    given, each with its repository and restic host and the snapshot asked for (params['snapshots'] by PVC,
    else params['snapshot']). Returns problems and volumes."""
    problems = []
    pvcs = list(params.get("pvcs") or [])
    snapshots = params.get("snapshots") or {}
    statefulset = f"{params.get('namespace')}/{params.get('statefulset')}"
    found = {v["pvc"]: v for v in params["discovered"] if v.get("pvc")}
    if not found:
        problems.append(f"StatefulSet {statefulset} has no bound local or hostPath volumes")
    unknown = sorted({*pvcs, *snapshots} - set(found))
    if found and unknown:
        problems.append(f"StatefulSet {statefulset} has the volumes {', '.join(sorted(found))}: "
                        f"{', '.join(unknown)} (in pv_restore_pvcs or pv_restore_snapshots) is none of them")
    volumes = []
    for pvc, volume in found.items():
        if pvcs and pvc not in pvcs:
            continue
        repo = _located(volume, params, inventory, recorded, problems)
        if repo is None:
            continue
        volumes.append({**volume, **repo, "restic_host": restic_host(params.get("cluster") or "", volume),
                        "wanted": snapshots.get(pvc, params.get("snapshot") or "latest")})
    return {"problems": problems, "volumes": volumes}


REPOSITORY_SPEC = {
    "repository": {"type": "str", "default": ""},
    "password_file": {"type": "str", "default": "", "no_log": False},
    "restic_path": {"type": "str", "default": ""},
}
BACKUP_ARGUMENT_SPEC = {
    "cluster": {"type": "str", "default": ""},
    "hook": {"type": "str", "default": "none"},
    "exec_pre": {"type": "list", "elements": "str", "default": []},
    "exec_post": {"type": "list", "elements": "str", "default": []},
    "kubeconfig": {"type": "str", "default": ""},
    "volumes": {"type": "list", "elements": "raw", "default": []},
    "discovered": {"type": "list", "elements": "dict"},
    "tags": {"type": "list", "elements": "str", "default": []},
    "keep_last": {"type": "int", "default": 0},
    "keep_hourly": {"type": "int", "default": 0},
    "keep_daily": {"type": "int", "default": 0},
    "keep_weekly": {"type": "int", "default": 0},
    "keep_monthly": {"type": "int", "default": 0},
    "keep_within": {"type": "str", "default": ""},
    **REPOSITORY_SPEC,
}
RESTORE_ARGUMENT_SPEC = {
    "cluster": {"type": "str", "required": True},
    "namespace": {"type": "str", "required": True},
    "statefulset": {"type": "str", "required": True},
    "pvcs": {"type": "list", "elements": "str", "default": []},
    "snapshots": {"type": "dict", "default": {}},
    "snapshot": {"type": "str", "default": "latest"},
    "discovered": {"type": "list", "elements": "dict", "required": True},
    **REPOSITORY_SPEC,
}
