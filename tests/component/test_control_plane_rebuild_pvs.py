"""control_plane_rebuild's PV phase (tasks/pvs_hold.yml, pvs.yml, pvs_restore_one.yml) run by
ansible-playbook on this machine with a fake kubectl: a StatefulSet an earlier run restored (its marker
pvs.<namespace>.<name>.json) is neither held nor restored again, one whose restore fails is reported by
name with the others restored, and pvs.json is written only once every StatefulSet is restored.

The failing restore is pv_restore refusing at its preflight (no kubeconfig): the StatefulSet's own
restore is the pv_restore role's business (tests/unit/test_pv_restore_role.py); this is about the
rebuild's bookkeeping around it. No cluster, no restic."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from playbook_run import on_localhost

REPO = Path(__file__).resolve().parents[2]

FAKE_KUBECTL = r'''#!PYTHON
import json, sys
args = sys.argv[1:]
with open("LOG", "a") as log:
    log.write(json.dumps(args) + "\n")
items = [{"metadata": {"namespace": ns, "name": name, "annotations": {}}, "spec": {"replicas": 2},
          "status": {"replicas": 2}} for ns, name in (("prod", "done"), ("prod", "db"))]
if "get" in args and "statefulsets" in args:
    print(json.dumps({"items": items}))
elif "get" in args and "statefulset" in args:
    print(json.dumps([s for s in items if s["metadata"]["name"] == args[args.index("statefulset") + 1]][0]))
elif "get" in args and "pods" in args:
    print(json.dumps({"items": []}))
elif "delete" in args:
    print('pod "x" deleted')
'''

PLAN = [{"namespace": "prod", "statefulset": "done", "pvcs": ["data-done-0"], "latest": "aaaa1111"},
        {"namespace": "prod", "statefulset": "db", "pvcs": ["data-db-0"], "latest": "bbbb2222"}]
EARLIER = {"restored": [{"namespace": "prod", "statefulset": "done", "pvc": "data-done-0", "node": "w1",
                         "path": "/srv/pv/done-0", "snapshot": "a" * 64, "snapshot_time": "t",
                         "moved_aside": None, "checksum": "c" * 64}]}


@pytest.fixture
def rebuild(tmp_path):
    log = tmp_path / "kubectl.log"
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(FAKE_KUBECTL.replace("PYTHON", sys.executable).replace("LOG", str(log)))
    kubectl.chmod(0o755)
    run_dir = tmp_path / "state" / "full-test"
    run_dir.mkdir(parents=True)
    (run_dir / "pvs.prod.done.json").write_text(json.dumps(EARLIER))
    playbook = tmp_path / "pvs.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "The rebuild's PV phase",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{"name": "Timings, as the preflight starts them",
                   "ansible.builtin.set_fact": {"_control_plane_rebuild_times": {}}}]
        + [{"name": phase, "ansible.builtin.include_role": {
            "name": "kubedr.kubeadm.control_plane_rebuild", "tasks_from": phase}}
           for phase in ("pvs_hold", "pvs")],
    }]))
    extra = {
        "kubedr_cluster": "lab",
        "kubedr_kubeconfig": "",  # pv_restore refuses at its preflight: the StatefulSet's restore fails
        "_control_plane_rebuild_kubectl_path": str(kubectl),
        "_control_plane_rebuild_state_dir": str(tmp_path / "state"),
        "_control_plane_rebuild_run": "full-test",
        "_control_plane_rebuild_pv_plan": PLAN,
        "_control_plane_rebuild_plan": {"phases": {"pvs_hold": ["localhost"], "pvs": ["localhost"]}},
    }

    def run():
        log.write_text("")
        proc = on_localhost(playbook, "-e", json.dumps(extra))
        proc.calls = [json.loads(line) for line in log.read_text().splitlines()]
        proc.out = " ".join((proc.stdout + proc.stderr).split())
        return proc

    return type("Rebuild", (), {"run": staticmethod(run), "run_dir": run_dir})


def test_a_restored_statefulset_is_left_alone_and_a_failed_one_is_named(rebuild):
    run = rebuild.run()
    assert run.returncode != 0, run.out[-4000:]
    held = {c[c.index("statefulset") + 1] for c in run.calls if "annotate" in c or "scale" in c}
    assert held == {"db"}, run.calls  # prod/done runs on its restored data: not held again
    assert "The local PVs of 1 StatefulSet(s) were not restored, each left at 0 replicas: [prod/db]" in (
        run.out)
    assert "pv_restore_kubeconfig" in run.out, "pv_restore's own message"
    assert "Restored and scaled back up: prod/done." in run.out
    assert "this run (full-test) resumes" in run.out
    assert not (rebuild.run_dir / "pvs.json").exists(), "pvs.json marks every StatefulSet restored"
    assert not (rebuild.run_dir / "pvs.prod.db.json").exists()


def test_pvs_json_once_every_statefulset_is_restored(rebuild):
    (rebuild.run_dir / "pvs.prod.db.json").write_text(json.dumps({"restored": [
        dict(EARLIER["restored"][0], statefulset="db", pvc="data-db-0")]}))
    run = rebuild.run()
    assert run.returncode == 0, run.out[-4000:]
    assert not [c for c in run.calls if "annotate" in c or "scale" in c], "a restored StatefulSet was held"
    restored = json.loads((rebuild.run_dir / "pvs.json").read_text())
    pairs = [(r["statefulset"], r["pvc"]) for r in restored["restored"]]
    assert pairs == [("done", "data-done-0"), ("db", "data-db-0")]
    assert restored["absent"] == []
