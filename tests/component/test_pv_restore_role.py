"""The pv_restore role's restore phase (tasks/restore.yml) run by ansible-playbook on this machine: real
restic and a real repository, three "nodes" that are local connections, and a fake kubectl that keeps the
StatefulSet's replicas and annotations in a JSON file and logs every call. No cluster: discovery and the
snapshot choice are skipped by giving the plan (`_pv_restore_plan`) directly.

All or nothing: a volume whose stage fails leaves every volume as it was and the StatefulSet at zero; a
swap that fails on one node names what was swapped and what was not and keeps it at zero; a rerun with
the same snapshots completes without restoring a swapped volume again."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import restic_fixtures
import yaml
from playbook_run import ansible_playbook
from restic_fixtures import tree_checksums

REPO = Path(__file__).resolve().parents[2]
ANNOTATION = "kubedr.io/replicas-before-scale"

restic_bin = restic_fixtures.restic_bin
local_repo = restic_fixtures.local_repo

FAKE_KUBECTL = r'''#!PYTHON
"""kubectl for one StatefulSet, its state in STATE, every call logged (one JSON line, global flags left
out) in LOG; its pods are never listed (they are gone at once)."""
import json, sys
args = sys.argv[1:]
for flag in ("--kubeconfig", "--request-timeout", "--context"):
    while flag in args:
        i = args.index(flag)
        del args[i:i + 2]
args = [a for a in args if not a.startswith("--request-timeout=")]
with open("LOG", "a") as log:
    log.write(json.dumps(args) + "\n")
with open("STATE") as f:
    sts = json.load(f)
verb = args[0]
if verb == "get" and args[1] == "pods":
    print(json.dumps({"items": []}))
elif verb == "get":
    print(json.dumps(sts))
elif verb == "annotate":
    change = [a for a in args[1:] if "=" in a or a.endswith("-")][-1]
    annotations = sts["metadata"].setdefault("annotations", {})
    if change.endswith("-") and "=" not in change:
        annotations.pop(change[:-1], None)
    else:
        key, value = change.split("=", 1)
        annotations[key] = value
elif verb == "scale":
    replicas = int([a for a in args if a.startswith("--replicas=")][0].split("=")[1])
    sts["spec"]["replicas"] = replicas
    sts["status"] = {"replicas": replicas, "readyReplicas": replicas}
elif verb == "delete":
    print('pod "db-0" deleted')
with open("STATE", "w") as f:
    json.dump(sts, f)
'''

FAILING_RESTIC = """#!/bin/sh
# restic that refuses to restore on this node (every other command is the real one)
for a in "$@"; do
    if [ "$a" = restore ]; then echo "Fatal: injected restore failure on this node" >&2; exit 1; fi
done
exec REAL "$@"
"""

# a module whose arguments ask for mode=swap fails on this node (the module file names its arguments)
FAILING_SWAP_PYTHON = """#!/bin/sh
if grep -q '"mode": "swap"' "$1" 2>/dev/null; then echo "injected: no swap on this node" >&2; exit 1; fi
exec PYTHON "$@"
"""

NODES = ["node1", "node2", "node1"]  # data-db-1 on node2, the node that fails


@pytest.fixture
def lab(tmp_path, local_repo):
    """Three volumes with a snapshot each and other data on them now, and what to run the role with."""
    volumes, plan = [], []
    password_file = tmp_path / "password"
    password_file.write_text(local_repo.password + "\n")
    for ordinal in range(len(NODES)):
        src = tmp_path / "backed-up" / f"db-{ordinal}"
        (src / "sub").mkdir(parents=True)
        (src / "payload").write_text(f"payload of db-{ordinal}\n")
        (src / "sub" / "more").write_bytes(os.urandom(4096))
        local_repo.cli("backup", str(src), "--host", f"lab/prod/data-db-{ordinal}")
        target = tmp_path / "pv" / f"db-{ordinal}"
        target.mkdir(parents=True)
        (target / "payload").write_text(f"written after the backup by db-{ordinal}\n")
        volumes.append({"src": src, "target": target, "before": tree_checksums(target)})
    snapshots = {s["hostname"]: s for s in json.loads(local_repo.cli("snapshots", "--json").stdout)}
    for ordinal, node in enumerate(NODES):
        snap = snapshots[f"lab/prod/data-db-{ordinal}"]
        plan.append({"pvc": f"data-db-{ordinal}", "namespace": "prod", "node": node,
                     "path": str(volumes[ordinal]["target"]), "repository": local_repo.repository,
                     "password_file": str(password_file), "restic_path": str(local_repo.restic),
                     "snapshot": {"id": snap["id"], "short_id": snap["short_id"], "paths": snap["paths"],
                                  "time": snap["time"]}})

    state, log = tmp_path / "sts.json", tmp_path / "kubectl.log"
    state.write_text(json.dumps({"metadata": {"name": "db", "namespace": "prod", "annotations": {}},
                                 "spec": {"replicas": 3}, "status": {"replicas": 3, "readyReplicas": 3}}))
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(FAKE_KUBECTL.replace("PYTHON", sys.executable).replace("STATE", str(state))
                       .replace("LOG", str(log)))
    failing_restic = tmp_path / "failing-restic"
    failing_restic.write_text(FAILING_RESTIC.replace("REAL", str(local_repo.restic)))
    failing_python = tmp_path / "failing-swap-python"
    failing_python.write_text(FAILING_SWAP_PYTHON.replace("PYTHON", sys.executable))
    for script in (kubectl, failing_restic, failing_python):
        script.chmod(0o755)

    playbook = tmp_path / "restore.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "pv_restore's restore phase",
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {
            "pv_restore_kubectl": str(kubectl),
            "pv_restore_kubeconfig": "/dev/null",
            "pv_restore_namespace": "prod",
            "pv_restore_statefulset": "db",
            "pv_restore_repository_env": {"RESTIC_CACHE_DIR": str(tmp_path / "cache")},
            "pv_restore_wait_timeout": 5,
        },
        "tasks": [{"name": "Restore", "ansible.builtin.include_role": {
            "name": "kubedr.kubeadm.pv_restore", "tasks_from": "restore"}}],
    }]))

    def run(*extra, node2=None, check=False):
        hostvars = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        node2_vars = dict(hostvars)
        if node2 == "swap":
            node2_vars["ansible_python_interpreter"] = str(failing_python)
        inventory = tmp_path / "inventory.yml"
        inventory.write_text(yaml.safe_dump({"all": {"hosts": {
            "localhost": hostvars, "node1": hostvars, "node2": node2_vars}}}))
        # node2's restic fails its stage: the plan names each volume's restic, as pv_restore_plan does
        planned = tmp_path / "plan.json"
        planned.write_text(json.dumps({"_pv_restore_plan": [
            dict(v, restic_path=str(failing_restic)) if node2 == "stage" and v["node"] == "node2" else v
            for v in plan]}))
        log.write_text("")
        # the failing-swap interpreter reads the module file it is given: no pipelining
        proc = ansible_playbook("-i", inventory, playbook, "-e", f"@{planned}", *extra,
                                *(["--check"] if check else []),
                                env={"ANSIBLE_PIPELINING": "0"}, timeout=600)
        proc.calls = [json.loads(line) for line in log.read_text().splitlines()]
        proc.sts = json.loads(state.read_text())
        proc.output = proc.stdout + proc.stderr
        assert local_repo.password not in proc.output
        return proc

    def leftovers():
        """Everything beside or inside the volumes but the volumes and their restore markers."""
        return sorted(str(p.relative_to(tmp_path / "pv")) for p in (tmp_path / "pv").iterdir()
                      if p.name not in {f"db-{i}" for i in range(3)}
                      and not p.name.endswith(".kubedr-restore.json")) + sorted(
            f"{v['target'].name}/{p.name}" for v in volumes for p in v["target"].iterdir()
            if p.name.startswith(".kubedr-"))

    return type("Lab", (), {"volumes": volumes, "plan": plan, "run": staticmethod(run),
                            "leftovers": staticmethod(leftovers)})


def restored(volume):
    return tree_checksums(volume["target"]) == tree_checksums(volume["src"])


def scaled_up(calls):
    return [c for c in calls
            if "scale" in c and any(a.startswith("--replicas=") and a != "--replicas=0" for a in c)]


def test_every_volume_restored_then_scaled_up_and_a_rerun_restores_nothing(lab):
    run = lab.run()
    assert run.returncode == 0, run.output[-6000:]
    assert all(restored(v) for v in lab.volumes)
    moved = [p for p in lab.leftovers() if ".moved-" in p]
    assert len(moved) == 3 and not [p for p in lab.leftovers() if p not in moved], lab.leftovers()
    assert run.sts["spec"]["replicas"] == 3 and ANNOTATION not in run.sts["metadata"]["annotations"]
    assert len(scaled_up(run.calls)) == 3

    again = lab.run()
    assert again.returncode == 0, again.output[-6000:]
    assert [p for p in lab.leftovers() if ".moved-" in p] == moved, "a volume was restored again"
    assert all(restored(v) for v in lab.volumes)


def test_check_mode_changes_nothing(lab):
    run = lab.run(check=True)
    assert run.returncode == 0, run.output[-6000:]
    assert all(tree_checksums(v["target"]) == v["before"] for v in lab.volumes) and lab.leftovers() == []
    assert {c[0] for c in run.calls} == {"get"}, run.calls


def test_a_failed_stage_swaps_nothing_and_keeps_the_statefulset_at_zero(lab):
    run = lab.run(node2="stage")
    assert run.returncode != 0
    out = " ".join(run.output.split())
    assert "failed before any volume was swapped" in out, out[-6000:]
    assert f"PVC data-db-1 (node2:{lab.plan[1]['path']})" in out and "injected restore failure" in out
    assert "Nothing was swapped" in out and "The staged copies were removed." in out
    assert "left at 0 replicas (3 before, kept in annotation kubedr.io/replicas-before-scale)" in out
    assert all(tree_checksums(v["target"]) == v["before"] for v in lab.volumes), "a volume was touched"
    assert lab.leftovers() == [], "staged copies or records left"
    assert run.sts["spec"]["replicas"] == 0 and run.sts["metadata"]["annotations"][ANNOTATION] == "3"
    assert scaled_up(run.calls) == []

    retry = lab.run()
    assert retry.returncode == 0, retry.output[-6000:]
    assert all(restored(v) for v in lab.volumes)
    assert retry.sts["spec"]["replicas"] == 3 and ANNOTATION not in retry.sts["metadata"]["annotations"]


def test_a_failed_swap_names_what_was_swapped_and_a_rerun_finishes_it(lab):
    run = lab.run(node2="swap")
    assert run.returncode != 0
    out = " ".join(run.output.split())
    assert "failed while swapping the staged copies in" in out, out[-6000:]
    assert f"PVC data-db-1 (node2:{lab.plan[1]['path']})" in out
    assert "Swapped (they hold their snapshot): PVC data-db-0" in out and "PVC data-db-2" in out
    assert "Not swapped (they hold their old data, their staged copies are kept beside them): data-db-1." in (
        out)
    assert "two points in time" in out and "left at 0 replicas" in out
    assert restored(lab.volumes[0]) and restored(lab.volumes[2])
    assert tree_checksums(lab.volumes[1]["target"]) == lab.volumes[1]["before"]
    assert [p for p in lab.leftovers() if "db-1.restore-" in p or "db-1.kubedr-staged" in p], lab.leftovers()
    assert run.sts["spec"]["replicas"] == 0 and scaled_up(run.calls) == []
    moved = sorted(p for p in lab.leftovers() if ".moved-" in p)
    assert len(moved) == 2

    retry = lab.run()
    assert retry.returncode == 0, retry.output[-6000:]
    assert all(restored(v) for v in lab.volumes)
    assert len([p for p in lab.leftovers() if ".moved-" in p]) == 3, "data-db-0 or -2 was restored again"
    assert set(moved) <= set(lab.leftovers())
    assert [p for p in lab.leftovers() if ".moved-" not in p] == [], "staged copy left after the retry"
    assert retry.sts["spec"]["replicas"] == 3
