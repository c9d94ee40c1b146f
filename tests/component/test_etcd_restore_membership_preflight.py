"""playbooks/restore_etcd.yml's preflight (--tags etcd_restore_preflight) on three "control-plane hosts" that
are this machine (local connection, a manifests and state directory each), etcd down (nothing listens where
their etcd.yaml points): a restore with --limit to two of the three members is refused naming the third
(from the backup set's manifest beside the snapshot) and the override, and touches nothing; with
-e etcd_restore_allow_subset=true (a string, as typed) it goes on; on all three it goes on
(issue 12, case 9). The lab's integration test of the same case: tests/integration/test_etcd_restore_role.py
(test_restore_limited_to_two_of_three_members_is_refused)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from etcd_fixtures import ETCD_VERSIONS, EtcdCluster, free_ports, snapshot_save
from etcd_manifests import kubeadm_manifest
from playbook_run import ansible_playbook

REPO = Path(__file__).resolve().parents[2]
HOSTS = ("cp1", "cp2", "cp3")
ADDRESS = {"cp1": "10.0.0.11", "cp2": "10.0.0.12", "cp3": "10.0.0.13"}


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    """A real snapshot, in a backup set's etcd/ directory with a manifest naming cp1, cp2 and cp3."""
    try:
        from lab import build

        build.binary("etcd", ETCD_VERSIONS[-1])
    except FileNotFoundError as e:
        pytest.skip(str(e))
    root = tmp_path_factory.mktemp("snapshot")
    cluster = EtcdCluster(ETCD_VERSIONS[-1], root / "etcd")
    (root / "set/etcd").mkdir(parents=True)
    try:
        cluster.start(1)
        path = snapshot_save(cluster, root / "set/etcd/snapshot.db")
    finally:
        cluster.stop()
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = {
        "format": 1,
        "kind": "kubedr.kubeadm/etcd-backup",
        "cluster": "unit",
        "snapshot": {"file": "snapshot.db", "sha256": sha},
        "members": [
            {
                "name": h,
                "id": str(i),
                "peer_urls": [f"https://{ADDRESS[h]}:2380"],
                "client_urls": [f"https://{ADDRESS[h]}:2379"],
                "is_learner": False,
            }
            for i, h in enumerate(HOSTS)
        ],
    }
    (path.parent / "manifest.json").write_text(json.dumps(manifest))
    return path


def etcd_tool(name: str) -> Path:
    from lab import build

    return build.binary("etcd", ETCD_VERSIONS[-1], name)


@pytest.fixture
def hosts(tmp_path):
    """An inventory of cp1..cp3 on this machine; each one's etcd.yaml as kubeadm writes it (cp1 init, cp2
    and cp3 joined), pointing at a loopback port nothing listens on (etcd down)."""
    port = free_ports(1)[0]
    members = {}
    inventory = {"control_plane": {"children": {"unit_control_plane": {"hosts": members}}}}
    for i, host in enumerate(HOSTS):
        manifests = tmp_path / host / "manifests"
        manifests.mkdir(parents=True)
        text = kubeadm_manifest(
            f"https://127.0.0.1:{port}", pki_dir=str(tmp_path / "no-pki"), name=host, address=ADDRESS[host]
        )
        known = ",".join(f"{h}=https://{ADDRESS[h]}:2380" for h in HOSTS[: i + 1])
        text = text.replace(
            f"--initial-cluster={host}=https://{ADDRESS[host]}:2380", f"--initial-cluster={known}"
        )
        (manifests / "etcd.yaml").write_text(text)
        (manifests / "kube-apiserver.yaml").write_text("apiVersion: v1\nkind: Pod\n")
        members[host] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "ansible_become": False,
            "kubedr_cluster": "unit",
            "etcd_restore_manifests_dir": str(manifests),
            "etcd_restore_state_dir": str(tmp_path / host / "state"),
            # these hosts have no containerd holding an etcd image to read etcdutl out of
            "etcd_restore_etcdutl_path": str(etcd_tool("etcdutl")),
        }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return tmp_path, path


def preflight(inventory: Path, snapshot: Path, *extra: str) -> subprocess.CompletedProcess:
    return ansible_playbook(
        "-i",
        inventory,
        "playbooks/restore_etcd.yml",
        "--tags",
        "etcd_restore_preflight",
        "-e",
        json.dumps(
            {
                "cluster": "unit",
                "etcd_restore_confirm": "restore unit",
                "etcd_restore_snapshot_src": str(snapshot),
                # etcdctl's snapshot has no kubedr metadata: not provably this cluster's
                "etcd_restore_allow_foreign": True,
            }
        ),
        *extra,
    )


def test_limit_to_two_of_three_members_is_refused_then_allowed_by_the_override(hosts, snapshot):
    root, inventory = hosts
    refused = preflight(inventory, snapshot, "--limit", "cp1,cp2")
    out = refused.stdout
    assert refused.returncode != 0, out[-4000:]
    assert "Refuse a restore that leaves etcd members out" in out.split("fatal:")[0].rsplit("TASK [", 1)[1]
    assert "the cluster's membership also has cp3 (https://10.0.0.13:2380), named by the manifest of" in out
    assert "etcd_restore_allow_subset=true" in out and "replaced afterwards" in out
    for host in HOSTS:  # nothing touched: the manifests in place, no run started
        assert sorted(os.listdir(root / host / "manifests")) == ["etcd.yaml", "kube-apiserver.yaml"]
        assert not (root / host / "state" / "runs").exists()

    allowed = preflight(inventory, snapshot, "--limit", "cp1,cp2", "-e", "etcd_restore_allow_subset=true")
    assert allowed.returncode == 0, allowed.stdout[-4000:]
    assert "etcd_restore_allow_subset: restoring only cp1, cp2, leaving out cp3" in allowed.stdout
    assert "starting restore" in allowed.stdout and "on cp1, cp2" in allowed.stdout


def test_every_member_goes_on(hosts, snapshot):
    _root, inventory = hosts
    run = preflight(inventory, snapshot)
    assert run.returncode == 0, run.stdout[-4000:]
    assert "the play covers every etcd member (cp1, cp2, cp3; from the backup manifest" in run.stdout


def test_no_etcdutl_is_refused_before_anything_stops(hosts, snapshot):
    """No etcdutl named, none on the PATH and no containerd to read one out of the etcd image: the
    preflight stops at that, naming what it tried and the fixes, with every manifest in place."""
    if shutil.which("etcdutl"):
        pytest.skip("this machine has an etcdutl on the PATH, which the module would take")
    root, inventory = hosts
    run = preflight(inventory, snapshot, "-e", "etcd_restore_etcdutl_path=")
    assert run.returncode != 0, run.stdout[-4000:]
    assert "Find etcdutl on each member host" in run.stdout.split("fatal:")[0].rsplit("TASK [", 1)[1]
    assert "no etcdutl for this host (" in run.stdout and "Fix: set etcdutl_path" in run.stdout
    assert "no etcdutl on the PATH" in run.stdout
    for host in HOSTS:
        assert sorted(os.listdir(root / host / "manifests")) == ["etcd.yaml", "kube-apiserver.yaml"]
        assert not (root / host / "state" / "runs").exists()
