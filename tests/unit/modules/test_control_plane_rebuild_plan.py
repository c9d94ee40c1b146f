"""control_plane_rebuild_plan as the preflight calls it: the request alone, then probes and a backup
set on disk, then PV snapshots; one failure lists every problem."""

from __future__ import annotations

from ansible_collections.kubedr.kubeadm.plugins.modules import control_plane_rebuild_plan as module
from rebuild_fixtures import found, probe, snap, write_set

HOSTS = ["cp1", "cp2", "cp3"]


def request(**extra):
    return {"mode": "full", "cluster": "lab", "confirm": "rebuild lab", "hosts": HOSTS,
            "etcdutl": {h: found() for h in HOSTS}, **extra}


def test_the_request_alone(run_module):
    result = run_module(module, request())
    assert not result["failed"] and result["problems"] == []
    assert result["layout"]["snapshot"] == "etcd/snapshot.db"
    assert "first" not in result and "run_id" not in result


def test_a_wrong_confirmation_fails_before_anything_is_read(run_module):
    result = run_module(module, request(confirm="rebuild"))
    assert result["failed"]
    assert result["msg"] == (
        "The rebuild of lab cannot start; nothing was touched. Fix: set "
        'control_plane_rebuild_confirm to "rebuild lab" to let the full go ahead'
    )


def test_a_full_plan(run_module, tmp_path):
    probes = {
        "cp1": {"unreachable": True, "msg": "ssh: connect to host cp1 port 22: No route to host"},
        "cp2": {"stdout": probe(["full-0123456789abcdef/reset"])},
        "cp3": {"stdout": probe()},
    }
    args = request(
        probes=probes,
        set_dir=str(write_set(tmp_path)),
        set_label="S1",
        snapshot={"valid": True, "sha256": "0123456789abcdef" + "0" * 48},
        restore_pvs=True,
        workers=["w1", "w2"],
        pv_source={"name": "w1", "restic_setup": True, "has_password": True},
    )
    result = run_module(module, args)
    assert not result["failed"], result
    assert (result["first"], result["joiners"], result["targets"]) == ("cp2", ["cp3"], ["cp2", "cp3"])
    assert result["alive"] == ["cp2", "cp3"] and result["left_out"] == ["cp1"]
    assert result["run_id"] == "full-0123456789abcdef"
    assert result["hosts"]["cp2"]["markers"] == ["reset"] and result["hosts"]["cp3"]["markers"] == []
    assert result["backup"]["manifest"]["cluster"] == "lab"
    assert result["backup"]["kubernetes_version"] == "v1.36.3"
    assert result["phases"] == {
        "pv_snapshots": ["w1", "w2"], "reset": ["cp2", "cp3"], "remove_member": [], "first": ["cp2"],
        "join": ["cp3"], "pvs_hold": ["cp2"], "workers": ["w1", "w2"], "pvs": ["cp2"], "verify": ["cp2"],
    }


def test_every_problem_at_once(run_module, tmp_path):
    probes = {
        "cp1": {"stdout": probe(kubeadm="v1.35.0")},
        "cp2": {"stdout": probe()},
        "cp3": {"unreachable": True},
    }
    args = request(
        probes=probes,
        etcdutl={"cp1": found(), "cp2": {"failed": True, "msg": "no etcdutl for this host (no ctr)"},
                 "cp3": {"skipped": True}},
        set_dir=str(write_set(tmp_path, cluster="prod", skip=("config/pki/sa.key",))),
        set_label="S1",
        snapshot={"valid": False, "problems": ["sha256 mismatch"]},
        restore_pvs=True,
        pv_source={"name": "w1", "restic_setup": True, "has_password": False},
        workers_group="lab_workers",
        first_host="cp3",
    )
    result = run_module(module, args)
    assert result["failed"]
    assert result["problems"] == [
        "the backup set S1 lacks config/pki/sa.key",
        result["problems"][1],  # of cluster prod, checked in the module_utils tests
        "the snapshot does not verify: sha256 mismatch",
        "cp1: kubeadm is v1.35.0, the cluster runs v1.36.3",
        "cp2: no etcdutl to restore the snapshot with (no etcdutl for this host (no ctr))",
        result["problems"][5],  # no restic_password
        "control_plane_rebuild_first_host cp3 did not answer: name one of cp1, cp2 or leave it empty",
    ]
    assert "is of cluster prod" in result["problems"][1] and "restic_password" in result["problems"][5]
    assert result["msg"].startswith(
        "The rebuild of lab cannot start; nothing was touched. Fix: the backup set S1"
    )


def test_replace_member_reads_no_set(run_module):
    probes = {h: {"stdout": probe()} for h in HOSTS}
    skipped = {h: {"skipped": True} for h in HOSTS}  # the preflight looks for etcdutl in full mode only
    result = run_module(
        module, request(mode="replace_member", confirm="replace cp3 in lab", replace="cp3", probes=probes,
                        etcdutl=skipped)
    )
    assert not result["failed"], result
    assert (result["first"], result["joiners"], result["targets"], result["run_id"]) == (
        "cp1",
        ["cp3"],
        ["cp3"],
        "replace-cp3",
    )
    assert "backup" not in result
    assert result["phases"] == {
        "pv_snapshots": [], "reset": ["cp3"], "remove_member": ["cp1"], "first": [], "join": ["cp3"],
        "pvs_hold": [], "workers": [], "pvs": [], "verify": ["cp1"],
    }


def test_the_pv_plan(run_module):
    snapshots = [snap("1", "t1"), snap("2", "t2", pvc="data-pg-1")]
    result = run_module(module, {"mode": "full", "cluster": "lab", "pv_snapshots": snapshots})
    assert not result["failed"]
    assert result["pv_plan"] == [
        {"namespace": "db", "statefulset": "pg", "pvcs": ["data-pg-0", "data-pg-1"], "latest": "t2"}
    ]
    none = run_module(module, {"mode": "full", "cluster": "lab", "pv_snapshots": []})
    assert none["failed"] and "no PV snapshot of lab (restic tag cluster:lab)" in none["msg"]
    named = run_module(
        module,
        {
            "mode": "full",
            "cluster": "lab",
            "pv_snapshots": snapshots,
            "pv_statefulsets": ["db/pg", "web/cache"],
        },
    )
    assert named["failed"] and "no PV snapshot of web/cache" in named["msg"]
    assert "control_plane_rebuild_restore_pvs=false" in named["msg"]
