"""The playbooks refuse to run against nothing: an empty, missing or mistyped inventory, or a cluster
selection that matches no host of the groups a playbook acts on, fails (it used to exit 0 with
"skipping: no hosts matched", and a scheduled backup stayed green with no backup)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playbook_run import ansible_playbook

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".venv/bin"
EXAMPLE = REPO / "inventories/example"
NO_HOSTS = "no hosts to act on"


def playbook(name, *args):
    return ansible_playbook(f"playbooks/{name}", *args)


@pytest.fixture
def empty_inventory(tmp_path):
    path = tmp_path / "hosts.yml"
    path.write_text("")
    return path


def test_backup_with_an_empty_inventory_fails_naming_the_problem(empty_inventory):
    run = playbook("backup.yml", "-i", str(empty_inventory))
    assert run.returncode != 0, run.stdout
    assert NO_HOSTS in run.stdout, run.stdout
    assert "control-plane hosts" in run.stdout and "'control_plane'" in run.stdout, run.stdout
    assert "check -i" in run.stdout and str(empty_inventory) in run.stdout, run.stdout


def test_backup_with_a_mistyped_inventory_path_fails(tmp_path):
    run = playbook("backup.yml", "-i", str(tmp_path / "inventroy"))
    assert run.returncode != 0, run.stdout
    assert NO_HOSTS in run.stdout, run.stdout


def test_backup_of_a_selection_without_control_plane_fails(tmp_path):
    """--limit naming a cluster's workers instead of the cluster: nothing would be backed up."""
    run = playbook("backup.yml", "-i", str(EXAMPLE), "--limit", "prod_fra_workers")
    assert run.returncode != 0, run.stdout
    assert NO_HOSTS in run.stdout and "--limit prod_fra_workers" in run.stdout, run.stdout
    assert "prod-fra" in run.stdout and "prod-ams" in run.stdout, "the clusters of the inventory are named"


def test_backup_of_a_mistyped_cluster_fails():
    run = playbook("backup.yml", "-i", str(EXAMPLE), "--limit", "cluster_prod_fr")
    assert run.returncode != 0, run.stdout


def test_backup_of_a_real_cluster_goes_on(tmp_path):
    """The check passes and the run goes on (--tags: only tasks tagged always, none of which connects)."""
    run = playbook("backup.yml", "-i", str(EXAMPLE), "--limit", "cluster_prod_fra", "--tags", "kubedr_none")
    assert run.returncode == 0, run.stdout + run.stderr
    assert NO_HOSTS not in run.stdout
    assert "Check there are hosts to act on" in run.stdout, "the check runs even with --tags"


@pytest.mark.parametrize(
    "name, args, what",
    [
        ("backup_pvs.yml", [], "hosts that drive the PV backup"),
        ("restore_pvs.yml", ["-e", "pv_restore_confirm=true"], "hosts that drive the PV restore"),
        ("restore_etcd.yml", ["-e", "cluster=lab"], "etcd members to restore"),
        ("rebuild_control_plane.yml", ["-e", "cluster=lab"], "control-plane hosts of cluster lab"),
    ],
)
def test_other_playbooks_with_an_empty_inventory_fail(empty_inventory, name, args, what):
    run = playbook(name, "-i", str(empty_inventory), *args)
    assert run.returncode != 0, run.stdout
    assert NO_HOSTS in run.stdout and what in run.stdout, run.stdout


def test_restore_etcd_of_a_mistyped_cluster_fails():
    run = playbook("restore_etcd.yml", "-i", str(EXAMPLE), "-e", "cluster=prod-fr")
    assert run.returncode != 0, run.stdout
    assert NO_HOSTS in run.stdout and "'prod_fr_control_plane'" in run.stdout, run.stdout


@pytest.mark.parametrize("name", ["restore_etcd.yml", "rebuild_control_plane.yml"])
def test_one_cluster_playbooks_without_a_cluster_name_the_clusters(name):
    run = playbook(name, "-i", str(EXAMPLE))
    assert run.returncode != 0, run.stdout
    expected = "this playbook acts on one cluster: pass -e cluster=<name>, one of prod-fra, prod-ams"
    assert expected in run.stdout, run.stdout


def test_backup_of_one_named_cluster_goes_on_and_a_mistyped_one_fails():
    run = playbook("backup.yml", "-i", str(EXAMPLE), "-e", "cluster=prod-ams", "--tags", "kubedr_none")
    assert run.returncode == 0, run.stdout + run.stderr
    assert NO_HOSTS not in run.stdout
    mistyped = playbook("backup.yml", "-i", str(EXAMPLE), "-e", "cluster=prod-am", "--tags", "kubedr_none")
    assert mistyped.returncode != 0, mistyped.stdout
    assert NO_HOSTS in mistyped.stdout and "'prod_am_control_plane'" in mistyped.stdout, mistyped.stdout


def test_rebuild_of_a_mistyped_cluster_fails():
    run = playbook("rebuild_control_plane.yml", "-i", str(EXAMPLE), "-e", "cluster=prod-fr")
    assert run.returncode != 0, run.stdout
    assert NO_HOSTS in run.stdout and "cluster prod-fr" in run.stdout, run.stdout


def test_rebuild_without_a_cluster_says_to_pass_one():
    run = playbook("rebuild_control_plane.yml", "-i", str(EXAMPLE))
    assert run.returncode != 0, run.stdout
    assert "-e cluster=<name>" in run.stdout, run.stdout
