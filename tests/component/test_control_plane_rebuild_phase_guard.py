"""Each control_plane_rebuild phase guards itself from the plan (tasks/on_plan.yml): run without a
preflight's plan it fails before doing anything, and a host the plan does not give the phase leaves it.
ansible-playbook on localhost; past the guard, the phases chosen for the second test fail at their first
task here (no backup set, no cluster), so a guard that let them through fails the test."""

from __future__ import annotations

import json

import pytest
import yaml
from playbook_run import on_localhost


def run(tmp_path, phase, plan=None):
    playbook = tmp_path / "phase.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "One phase",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{"name": phase, "ansible.builtin.include_role": {
            "name": "kubedr.kubeadm.control_plane_rebuild", "tasks_from": phase}}],
    }]))
    extra = {"kubedr_cluster": "lab"}
    if plan is not None:
        extra["_control_plane_rebuild_plan"] = plan
    proc = on_localhost(playbook, "-e", json.dumps(extra))
    proc.out = " ".join((proc.stdout + proc.stderr).split())
    return proc


@pytest.mark.parametrize("phase", ["reset", "first", "join", "verify"])
def test_a_phase_without_a_plan_fails_before_anything(tmp_path, phase):
    proc = run(tmp_path, phase)
    assert proc.returncode != 0, proc.out[-3000:]
    assert f"No rebuild plan for lab: phase {phase} runs after the preflight" in proc.out
    assert "changed=0" in proc.out


# not reset: past a broken guard it would move this machine's kubelet state aside; these fail at once
@pytest.mark.parametrize("phase", ["first", "join", "verify"])
def test_a_host_the_plan_does_not_give_the_phase_leaves_it(tmp_path, phase):
    phases = {name: ["cp9"] for name in ("reset", "first", "join", "verify")}
    proc = run(tmp_path, phase, {"phases": phases, "run_id": "full-unit"})
    assert proc.returncode == 0, proc.out[-3000:]
    assert "changed=0" in proc.out and "failed=0" in proc.out
