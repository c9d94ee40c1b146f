"""restic_snapshot_select (filter): which snapshot pv_restore restores for a PVC, on listings shaped as
restic_snapshots returns them (oldest first). Exact ID or unique prefix only; anything else is refused."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible_collections.kubedr.kubeadm.plugins.filter.restic_snapshot_select import restic_snapshot_select

REPO = Path(__file__).resolve().parents[3]


def snap(snapshot_id, time):
    return {"id": snapshot_id, "short_id": snapshot_id[:8], "time": time, "paths": ["/data"], "tags": ["pv"]}


OLD = snap("ab12cd34" + "0" * 56, "2026-11-29T02:30:00Z")
MID = snap("ab99ef00" + "1" * 56, "2026-11-30T02:30:00Z")
NEW = snap("c0ffee11" + "2" * 56, "2026-12-01T02:30:00Z")
LISTING = [OLD, MID, NEW]
PVC = "kubedr-lab/data-data-0"


def test_latest_is_the_newest():
    assert restic_snapshot_select(LISTING, "latest", PVC) == {"snapshot": NEW, "problem": None}


def test_latest_without_snapshots_is_a_problem_naming_the_pvc():
    result = restic_snapshot_select([], "latest", PVC)
    assert result["snapshot"] is None
    assert PVC in result["problem"] and "no snapshot" in result["problem"]


@pytest.mark.parametrize("wanted", [OLD["id"], OLD["short_id"], "ab12", "ab12cd340"])
def test_full_id_or_unique_prefix(wanted):
    assert restic_snapshot_select(LISTING, wanted, PVC) == {"snapshot": OLD, "problem": None}


def test_empty_id_is_refused_not_the_oldest():
    result = restic_snapshot_select(LISTING, "", PVC)
    assert result["snapshot"] is None
    assert "empty" in result["problem"] and PVC in result["problem"]
    assert all(s["short_id"] in result["problem"] for s in LISTING), "the candidates are named"


def test_ambiguous_prefix_is_refused_with_the_candidates():
    result = restic_snapshot_select(LISTING, "ab", PVC)
    assert result["snapshot"] is None
    problem = result["problem"]
    assert "'ab'" in problem and PVC in problem and "2 snapshots" in problem
    assert OLD["short_id"] in problem and MID["short_id"] in problem and NEW["short_id"] not in problem


@pytest.mark.parametrize("wanted", ["deadbeef", "b12cd34", ".*", "^ab", "AB12CD34"])
def test_unknown_id_is_refused_not_matched_as_a_regex(wanted):
    result = restic_snapshot_select(LISTING, wanted, PVC)
    assert result["snapshot"] is None
    problem = result["problem"]
    assert repr(wanted) in problem and PVC in problem
    assert all(s["short_id"] in problem for s in LISTING), "the candidates are named"


def test_unknown_id_without_any_snapshot():
    result = restic_snapshot_select([], "deadbeef", PVC)
    assert result["snapshot"] is None and "no snapshot at all" in result["problem"]


@pytest.mark.parametrize("wanted", [12345678, 1.5e9, None, True])
def test_an_id_that_is_not_a_string_is_refused(wanted):
    result = restic_snapshot_select(LISTING, wanted, PVC)
    assert result["snapshot"] is None
    assert "quote" in result["problem"] and PVC in result["problem"]


def test_many_candidates_are_capped_newest_first():
    listing = [snap(f"{i:08x}" + "f" * 56, f"2026-11-{i + 1:02d}T02:30:00Z") for i in range(25)]
    problem = restic_snapshot_select(listing, "zz", PVC)["problem"]
    assert listing[-1]["short_id"] in problem and listing[0]["short_id"] not in problem
    assert "and 15 older" in problem


def test_the_filter_resolves_by_fqcn_in_ansible():
    """The role calls it as kubedr.kubeadm.restic_snapshot_select: load it the way ansible does."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    expr = "{{ listing | kubedr.kubeadm.restic_snapshot_select('ab', 'ns/pvc') | to_json }}"
    run = subprocess.run(
        [
            str(REPO / ".venv/bin/ansible"),
            "localhost",
            "-o",
            "-m",
            "ansible.builtin.debug",
            "-a",
            f"msg={expr}",
            "-e",
            json.dumps({"listing": LISTING}),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "matches 2 snapshots" in run.stdout, run.stdout


def run_role_choice(tmp_path, listing_by_pvc, **role_vars):
    """The pv_restore role's snapshots.yml, its restic listing replaced by `listing_by_pvc`, on localhost."""
    tasks = yaml.safe_load((REPO / "roles/pv_restore/tasks/snapshots.yml").read_text())
    tasks = [t for t in tasks if "kubedr.kubeadm.restic_snapshots" not in t]
    (tmp_path / "choose.yml").write_text(yaml.safe_dump(tasks))
    listing = {
        "results": [
            {
                "item": {"namespace": "ns", "pvc": pvc, "node": "w1", "path": "/mnt/disks/d",
                         # what pv_restore_plan asked for (module_utils/_pv_plan.py)
                         "wanted": role_vars.get("pv_restore_snapshots", {}).get(
                             pvc, role_vars.get("pv_restore_snapshot", "latest"))},
                "snapshots": snaps,
            }
            for pvc, snaps in listing_by_pvc.items()
        ]
    }
    play = [
        {
            "name": "choose",
            "hosts": "localhost",
            "gather_facts": False,
            "vars": {
                "__pv_restore_listing": listing,
                "pv_restore_cluster": "lab",
                "pv_restore_snapshot": "latest",
                "pv_restore_snapshots": {},
                "pv_restore_tags": [],
                **role_vars,
            },
            "tasks": [
                {"ansible.builtin.include_tasks": str(tmp_path / "choose.yml")},
                {
                    "ansible.builtin.debug": {
                        "msg": "PLAN {{ _pv_restore_plan | map(attribute='snapshot.id') }}"
                    }
                },
            ],
        }
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    return subprocess.run(
        [str(REPO / ".venv/bin/ansible-playbook"), "-i", "localhost,", str(tmp_path / "play.yml")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_role_restores_the_named_snapshot_and_latest_elsewhere(tmp_path):
    run = run_role_choice(
        tmp_path, {"data-0": LISTING, "data-1": LISTING}, pv_restore_snapshots={"data-0": OLD["short_id"]}
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"PLAN ['{OLD['id']}', '{NEW['id']}']" in run.stdout, run.stdout


def test_role_refuses_empty_and_ambiguous_ids_naming_each_pvc(tmp_path):
    run = run_role_choice(
        tmp_path, {"data-0": LISTING, "data-1": LISTING}, pv_restore_snapshots={"data-0": "", "data-1": "ab"}
    )
    assert run.returncode != 0, run.stdout
    assert "PLAN" not in run.stdout
    assert "PVC ns/data-0: the snapshot ID asked for is empty" in run.stdout, run.stdout
    assert "PVC ns/data-1: snapshot ID prefix 'ab' matches 2 snapshots" in run.stdout, run.stdout
    assert "nothing was changed" in run.stdout
