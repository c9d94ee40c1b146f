"""The lab spec and the inventories: addresses, names, and every host in its own cluster only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lab import inventory, state

REPO = Path(__file__).resolve().parents[3]
ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"


def spec(**overrides):
    raw = {"cluster": "prod-fra", "datacenter": "fra", "subnet": "198.18.5.0/24", "prefix": "kdr",
           "hosts": {"control_plane": ["cp1", "cp2", "cp3"], "workers": ["w1"], "backup": ["vault"]}}
    return state.spec_from(raw | overrides)


def test_addresses_follow_the_bridge_in_spec_order():
    s = spec()
    assert s.gateway == "198.18.5.1"
    assert [(h.name, h.role, h.address) for h in s.hosts] == [
        ("cp1", "control_plane", "198.18.5.11"), ("cp2", "control_plane", "198.18.5.12"),
        ("cp3", "control_plane", "198.18.5.13"), ("w1", "workers", "198.18.5.14"),
        ("vault", "backup", "198.18.5.15"),
    ]
    assert state.spec_from(s.to_json()) == s


def test_bad_specs_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="must fit 15 characters"):
        spec(hosts={"control_plane": ["a-very-long-host"]})
    with pytest.raises(ValueError, match="too small"):
        spec(subnet="198.18.5.0/29")
    with pytest.raises(KeyError, match="no lab host named 'cp9'"):
        spec().host("cp9")


def host_vars(inventory_path: Path, host: str) -> dict:
    out = subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(inventory_path), "--host", host],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_lab_inventory_puts_hosts_in_role_and_cluster_groups(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBEDR_LAB_INVENTORY", str(tmp_path / "inv"))
    monkeypatch.setenv("KUBEDR_LAB_DIR", str(tmp_path / "labdir"))
    out = inventory.write(spec())
    graph = subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(out), "--list"], capture_output=True,
                           text=True, check=True).stdout
    groups = json.loads(graph)
    assert groups["prod_fra_control_plane"]["hosts"] == ["cp1", "cp2", "cp3"]
    assert set(groups["control_plane"]["children"]) == {"prod_fra_control_plane"}
    assert groups["prod_fra_backup_hosts"]["hosts"] == ["vault"]
    cp1 = host_vars(out, "cp1")
    assert cp1["kubedr_cluster"] == "prod-fra" and cp1["ansible_host"] == "198.18.5.11"
    assert "StrictHostKeyChecking=yes" in cp1["ansible_ssh_common_args"]
    assert "kubedr_cluster" not in host_vars(out, "vault")  # backup hosts serve a datacenter


def test_example_inventory_keeps_clusters_apart():
    example = REPO / "inventories" / "example"
    assert host_vars(example, "ams-cp2")["kubedr_cluster"] == "prod-ams"
    assert host_vars(example, "fra-w03")["kubedr_cluster"] == "prod-fra"
    raw = yaml.safe_load((example / "hosts.yml").read_text())
    assert set(raw["all"]["children"]) >= {"dc_fra", "dc_ams", "control_plane", "workers", "backup_hosts"}


def test_files_the_hosts_run_are_copied_where_every_host_sees_them(tmp_path, monkeypatch):
    """A clone under /tmp: the vault host's private /tmp hides the checkout, not the lab directory."""
    from lab import hosts

    monkeypatch.setenv("KUBEDR_LAB_DIR", str(tmp_path / "lab"))
    source = REPO / "lab" / "apiserver_proxy.py"
    copy = hosts.shared_copy(source)
    assert copy == tmp_path / "lab" / "bin" / "apiserver_proxy.py"
    assert copy.read_bytes() == source.read_bytes()  # `up` refuses a lab directory the hosts mount over
