"""The PV roles' decisions (_pv_plan), every rule as data, and the action plugins that read the inventory."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ansible_collections.kubedr.kubeadm.plugins.action import pv_backup_plan, pv_restore_plan
from ansible_collections.kubedr.kubeadm.plugins.module_utils import _pv_plan as plan

W1 = {"location": "sftp:kubedr@vault:/srv/w1", "password_file": "/etc/kubedr/restic.pass",
      "restic_path": None}
W2 = {"location": "rest:https://vault:8000/lab", "password_file": "/etc/kubedr/w2.pass",
      "restic_path": "/usr/local/bin/restic"}
RECORDED = {"w1": W1, "w2": W2}
INVENTORY = {"cp1", "w1", "w2"}


def pv(pvc, node, statefulset="data", ordinal=0, pod="data-0", namespace="app"):
    return {"name": f"pv-{pvc}", "path": f"/mnt/disks/{pvc}", "node": node, "namespace": namespace,
            "pvc": pvc, "statefulset": statefulset, "ordinal": ordinal, "pod": pod, "pod_node": node}


DISCOVERED = [pv("data-data-0", "w1"), pv("data-data-1", "w2", ordinal=1, pod="data-1"),
              pv("cache", "w1", statefulset=None, ordinal=None, pod=None),
              {**pv("unbound", "w2"), "pvc": None, "namespace": None}]


def backup(**params):
    return plan.backup_plan({"cluster": "lab", "hook": "none", "kubeconfig": "/k", "discovered": DISCOVERED,
                             **params}, INVENTORY, RECORDED)


def test_backup_groups_bound_volumes_by_statefulset_with_each_nodes_repository():
    got = backup(tags=["nightly"])
    assert got["problems"] == [] and not got["forget"]
    assert [g["name"] for g in got["groups"]] == ["app/statefulset data", "app/pvc cache"]
    data, cache = got["groups"]
    assert [v["pvc"] for v in data["volumes"]] == ["data-data-0", "data-data-1"]
    assert data["pods"] == ["data-0", "data-1"] and cache["pods"] == [] and cache["statefulset"] == ""
    first = data["volumes"][0]
    assert (first["repository"], first["password_file"], first["restic_path"]) == (
        W1["location"], W1["password_file"], None)
    assert data["volumes"][1]["restic_path"] == "/usr/local/bin/restic"
    assert first["restic_host"] == "lab/app/data-data-0" and first["group"] == "app/statefulset data"
    assert first["tags"] == ["cluster:lab", "namespace:app", "pvc:data-data-0", "statefulset:data",
                             "ordinal:0", "nightly"]
    assert cache["volumes"][0]["tags"] == ["cluster:lab", "namespace:app", "pvc:cache", "nightly"]
    assert cache["volumes"][0]["pod"] == ""
    assert [n["node"] for n in got["nodes"]] == ["w1", "w2"]
    assert got["nodes"][1]["repository"] == W2["location"]


def test_the_roles_repository_settings_win_over_what_each_node_recorded():
    got = backup(repository="s3:https://s3.lab/kubedr", password_file="/etc/p", restic_path="/opt/restic")
    assert {(v["repository"], v["password_file"], v["restic_path"]) for v in got["volumes"]} == {
        ("s3:https://s3.lab/kubedr", "/etc/p", "/opt/restic")}


def test_a_node_outside_the_inventory_or_without_a_repository_is_refused_by_name():
    found = [pv("a", "w9"), pv("b", "cp1"), pv("c", "w1")]
    got = plan.backup_plan({"cluster": "lab", "kubeconfig": "/k", "discovered": found}, INVENTORY, RECORDED)
    assert got["problems"] == [
        "app/a is on node w9 (/mnt/disks/a): that node must be in the inventory under its Node name",
        "app/b is on node cp1 (/mnt/disks/b): no repository for it: set the role's repository, or run the "
        "kubedr.kubeadm.restic role on the node first"]
    assert [v["pvc"] for v in got["volumes"]] == ["c"]


@pytest.mark.parametrize(("params", "problem"), [
    ({"cluster": ""}, "the cluster name is required"),
    ({"hook": "snapshot"}, "the hook must be one of none, exec, scale, fsfreeze (got 'snapshot')"),
    ({"hook": "exec"}, "the exec hook needs pv_backup_exec_pre or pv_backup_exec_post"),
    ({"kubeconfig": ""}, "pv_backup_kubeconfig (default: kubedr_kubeconfig) is required for discovery"),
    ({"kubeconfig": "", "hook": "scale", "volumes": [pv("a", "w1")]}, "pv_backup_kubeconfig"),
])
def test_bad_requests_are_refused(params, problem):
    got = backup(**params)
    assert any(p.startswith(problem) for p in got["problems"]), got["problems"]


def test_given_volumes_need_no_kubeconfig_without_a_kubernetes_hook():
    got = backup(kubeconfig="", hook="fsfreeze", volumes=[{"namespace": "app", "pvc": "a", "node": "w1",
                                                           "path": "/mnt/a"}], discovered=None)
    assert got["problems"] == []
    assert got["volumes"][0]["statefulset"] == "" and got["groups"][0]["name"] == "app/pvc a"


@pytest.mark.parametrize(("entry", "says"), [
    ({"namespace": "app", "pvc": "a", "node": "w1"}, "missing path"),
    ({"namespace": "app", "pvc": "a", "node": "w1", "path": "mnt/a"}, "an absolute path"),
    ("app/a", "is not a mapping"),
])
def test_each_given_volume_is_checked_before_anything_else(entry, says):
    got = backup(volumes=[entry])
    assert len(got["problems"]) == 1 and says in got["problems"][0] and got["groups"] == []


def test_a_hook_that_cannot_run_fails_only_its_group():
    scale = backup(hook="scale")
    assert [g["hook_problem"] for g in scale["groups"]] == [
        "", "the scale hook needs a StatefulSet; app/pvc cache belongs to none (use exec or fsfreeze)"]
    down = [pv("data-data-0", "w1", pod=None), pv("data-data-1", "w2", pod="data-1")]
    execute = backup(hook="exec", exec_pre=["sync"], discovered=down)
    assert execute["problems"] == []
    assert execute["groups"][0]["hook_problem"] == (
        "the exec hook needs a running pod for each volume; none for data-data-0")
    assert backup(hook="exec", exec_post=["sync"], discovered=down)["groups"][0]["hook_problem"] == ""


def test_any_retention_rule_means_forget():
    assert backup(keep_daily=7)["forget"] and backup(keep_within="30d")["forget"]


def restore(**params):
    return plan.restore_plan({"cluster": "lab", "namespace": "app", "statefulset": "data",
                              "discovered": DISCOVERED[:2], **params}, INVENTORY, RECORDED)


def test_restore_takes_the_statefulsets_volumes_each_with_the_snapshot_asked_for():
    got = restore(snapshots={"data-data-1": "4f2a"}, snapshot="latest")
    assert got["problems"] == []
    assert [(v["pvc"], v["wanted"], v["repository"], v["restic_host"]) for v in got["volumes"]] == [
        ("data-data-0", "latest", W1["location"], "lab/app/data-data-0"),
        ("data-data-1", "4f2a", W2["location"], "lab/app/data-data-1")]
    assert [v["pvc"] for v in restore(pvcs=["data-data-1"])["volumes"]] == ["data-data-1"]


def test_restore_refuses_unknown_pvcs_and_an_empty_statefulset():
    got = restore(pvcs=["data-data-7"], snapshots={"nope": "x"})
    assert got["problems"] == ["StatefulSet app/data has the volumes data-data-0, data-data-1: data-data-7, "
                               "nope (in pv_restore_pvcs or pv_restore_snapshots) is none of them"]
    assert restore(discovered=[])["problems"] == [
        "StatefulSet app/data has no bound local or hostPath volumes"]
    assert "must be in the inventory" in restore(discovered=[pv("a", "w9")])["problems"][0]


class FakeHostVars(dict):
    """What HostVars offers the plugin: names, and each host's variables."""


def run_action(action_class, args, hostvars):
    task = SimpleNamespace(args=args, check_mode=False, async_val=0, action="kubedr.kubeadm.x")
    connection = SimpleNamespace(_shell=SimpleNamespace(tmpdir="/nonexistent"))
    action = action_class(task, connection, None, None, None, None)
    return action.run(task_vars={"hostvars": FakeHostVars(hostvars)})


def test_the_backup_action_reads_each_nodes_recorded_repository_from_the_inventory():
    hostvars = {"cp1": {}, "w1": {"restic_repository_info": W1}, "w2": {}}
    args = {"cluster": "lab", "kubeconfig": "/k", "discovered": DISCOVERED[:2]}
    got = run_action(pv_backup_plan.ActionModule, args, hostvars)
    assert got["failed"] is True and got["changed"] is False
    assert got["msg"].startswith("app/data-data-1 is on node w2")
    assert got["msg"].endswith("; nothing was touched")
    assert [v["repository"] for v in got["volumes"]] == [W1["location"]]


def test_the_restore_action_plans_without_failing_when_all_is_well():
    hostvars = {"w1": {"restic_repository_info": W1}, "w2": {"restic_repository_info": W2}}
    args = {"cluster": "lab", "namespace": "app", "statefulset": "data", "discovered": DISCOVERED[:2]}
    got = run_action(pv_restore_plan.ActionModule, args, hostvars)
    assert not got.get("failed") and [v["wanted"] for v in got["volumes"]] == ["latest", "latest"]
