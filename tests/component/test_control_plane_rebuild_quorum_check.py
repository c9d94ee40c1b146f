"""roles/control_plane_rebuild/tasks/quorum_check.yml run by a real ansible-playbook on this machine
(local connection) against a real TLS etcd cluster on loopback, with the facts the preflight leaves
(issue 12, case 9): a member answering with a leader refuses the full rebuild, no override; nothing
answering lets it go on; a set without etcd certificates refuses unless
-e control_plane_rebuild_allow_quorum_unknown=true; a run that has begun is not checked again; the set's
certificates fetched from a backup host leave nothing in the controller's TMPDIR.

Not covered here: the lab (SSH, the lab's addresses, a host whose link is down); that is
tests/integration/test_control_plane_rebuild.py::test_full_rebuild_from_the_backup_set and
tests/integration/test_lifecycle.py::test_full_rebuild_with_the_first_host_dead_then_backup."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from etcd_fixtures import ETCD_VERSIONS, EtcdCluster
from playbook_run import ansible_playbook

REPO = Path(__file__).resolve().parents[2]
SET = "20261201T070437Z-r653"


@pytest.fixture
def trio(tmp_path):
    try:
        from lab import build

        build.binary("etcd", ETCD_VERSIONS[-1])
    except FileNotFoundError as e:
        pytest.skip(str(e))
    cluster = EtcdCluster(ETCD_VERSIONS[-1], tmp_path / "etcd")
    try:
        yield cluster.start(3)
    finally:
        cluster.stop()


def backup_set(tmp_path, cluster, with_pki=True) -> Path:
    """A set directory as etcd_backup's dir target writes it (only config/pki matters here)."""
    root = tmp_path / "sets" / SET
    (root / "config").mkdir(parents=True)
    if with_pki:
        (root / "config/pki").symlink_to(cluster.root / "pki", target_is_directory=True)
    return root


def run(
    tmp_path, cluster, facts: dict, *extra: str, tmpdir: Path | None = None
) -> subprocess.CompletedProcess:
    """quorum_check.yml on cp1 (alive) and cp2 (dead, as the preflight noted), the trio's URLs to probe."""
    inventory = {
        "all": {
            "hosts": {
                h: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
                for h in ("cp1", "cp2")
            }
        }
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    play = [
        {
            "name": "quorum check",
            "hosts": "cp1,cp2",
            "gather_facts": False,
            "vars": {
                "kubedr_cluster": "unit",
                "control_plane_rebuild_mode": "full",
                "control_plane_rebuild_quorum_probe_urls": [m.client_url for m in cluster.members],
                "control_plane_rebuild_quorum_probe_timeout": 2,
            },
            "tasks": [
                {
                    "name": "What the preflight leaves: the plan on the controller",
                    "ansible.builtin.set_fact": {
                        "_control_plane_rebuild_plan_result": {
                            "alive": ["cp1"],
                            "hosts": {"cp1": {"markers": facts.pop("markers", [])}},
                            "backup": {"manifest": {"members": []}},
                            "layout": {"pki_dir": "config/pki"},
                            "run_id": facts.pop("run_id", "full-unit"),
                        },
                    },
                    "delegate_to": "localhost",
                    "delegate_facts": True,
                    "run_once": True,
                },
                {
                    "name": "Quorum check",
                    "ansible.builtin.include_role": {
                        "name": "kubedr.kubeadm.control_plane_rebuild",
                        "tasks_from": "quorum_check",
                    },
                },
            ],
        }
    ]
    play[0]["vars"].update(facts)
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    return ansible_playbook("-i", tmp_path / "hosts.yml", tmp_path / "play.yml", *extra,
                            env={"TMPDIR": str(tmpdir)} if tmpdir else None)


def test_a_member_with_a_leader_refuses_then_nothing_answering_goes_on(tmp_path, trio):
    facts = {"control_plane_rebuild_backup_dir": str(backup_set(tmp_path, trio))}
    refused = run(tmp_path, trio, dict(facts), "-e", "control_plane_rebuild_allow_quorum_unknown=true")
    assert refused.returncode != 0, refused.stdout[-4000:]
    assert "answers with a leader" in refused.stdout and "split brain" in refused.stdout
    assert "control_plane_rebuild_mode=replace_member" in refused.stdout
    assert "control_plane_rebuild_allow_quorum_unknown does not override" in refused.stdout

    trio.stop()
    went_on = run(tmp_path, trio, dict(facts))
    assert went_on.returncode == 0, went_on.stdout[-4000:]
    assert "no etcd member answers with a leader, the full rebuild may go on (down: " in went_on.stdout


def test_a_set_without_certificates_refuses_unless_overridden(tmp_path, trio):
    facts = {"control_plane_rebuild_backup_dir": str(backup_set(tmp_path, trio, with_pki=False))}
    refused = run(tmp_path, trio, dict(facts))
    assert refused.returncode != 0, refused.stdout[-4000:]
    assert (
        "the quorum check cannot run at all: the backup set has no config/pki/etcd/ca.crt" in refused.stdout
    )
    assert "control_plane_rebuild_allow_quorum_unknown=true" in refused.stdout
    allowed = run(tmp_path, trio, dict(facts), "-e", "control_plane_rebuild_allow_quorum_unknown=yes")
    assert allowed.returncode == 0, allowed.stdout[-4000:]
    assert (
        "control_plane_rebuild_allow_quorum_unknown: going on, although the quorum check cannot run"
        in allowed.stdout
    )


def test_a_run_that_has_begun_is_not_checked_again(tmp_path, trio):
    facts = {"control_plane_rebuild_backup_dir": str(backup_set(tmp_path, trio)),
             "markers": ["joined", "reset"], "run_id": "full-0123456789abcdef"}
    # the trio answers with a leader: this run's own new etcd
    went_on = run(tmp_path, trio, facts)
    assert went_on.returncode == 0, went_on.stdout[-4000:]
    assert (
        "run full-0123456789abcdef has begun (cp1 hold its markers): the quorum check ran when it began"
        in went_on.stdout
    )


def test_certificates_fetched_from_the_backup_host_are_removed(tmp_path, trio):
    sets = backup_set(tmp_path, trio).parent
    controller_tmp = tmp_path / "controller-tmp"
    controller_tmp.mkdir()
    facts = {
        "control_plane_rebuild_backup_dir": "",
        "control_plane_rebuild_backup_host": "cp2",
        "control_plane_rebuild_backup_path": str(sets),
    }
    # fetch.yml keeps the chosen set's name on localhost
    result = run(
        tmp_path,
        trio,
        facts,
        "-e",
        json.dumps({"_control_plane_rebuild_set_name": SET}),
        tmpdir=controller_tmp,
    )
    assert result.returncode != 0, result.stdout[-4000:]  # the trio answers with a leader
    assert "answers with a leader" in result.stdout
    assert "Fetch the set's etcd CA and client certificates" in result.stdout
    assert list(controller_tmp.iterdir()) == []
