"""The lab itself: hosts reachable by Ansible over real sshd, real TLS etcd of each pinned version,
quorum broken on purpose, and a teardown that leaves nothing behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab import build

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.lab
CONTROL_PLANE = ["cp1", "cp2", "cp3"]
ETCDCTL = ("etcdctl --cacert /etc/kubernetes/pki/etcd/ca.crt "
           "--cert /etc/kubernetes/pki/etcd/healthcheck-client.crt "
           "--key /etc/kubernetes/pki/etcd/healthcheck-client.key --endpoints https://127.0.0.1:2379 ")


def status(lab) -> dict:
    return json.loads(lab.run("status", "--json").stdout)


def test_up_is_idempotent(lab):
    before = status(lab)
    again = lab.up("--etcd")
    assert "created" not in again.stdout
    assert status(lab) == before
    assert {h["name"] for h in before["hosts"]} == {*CONTROL_PLANE, "vault"}


def test_each_host_has_its_own_name_address_and_directories(lab):
    for host in status(lab)["hosts"]:
        out = lab.ssh(host["name"], "hostname; ip -4 -o addr show eth0").stdout.split("\n")
        assert out[0] == host["name"]
        assert f"{host['address']}/24" in out[1]
    lab.ssh("cp1", "echo cp1-only > /etc/kubernetes/marker && echo x > /var/lib/kubelet/marker")
    assert lab.ssh("cp1", "cat /etc/kubernetes/marker").stdout.strip() == "cp1-only"
    assert lab.ssh("cp2", "test -e /etc/kubernetes/marker", check=False).returncode != 0
    assert not Path("/etc/kubernetes/marker").exists()
    lab.ssh("cp1", "rm /etc/kubernetes/marker /var/lib/kubelet/marker")


def test_lab_hosts_have_no_route_off_the_lab(lab):
    routes = lab.ssh("cp1", "ip route show").stdout
    assert "default" not in routes
    assert "198.18.7.0/24" in routes


@pytest.mark.parametrize("connection", ["ssh", "paramiko"])
def test_ansible_reaches_every_host(lab, connection):
    # paramiko only reads ~/.ssh/known_hosts: the lab keeps one under its own home for it
    env = {"HOME": str(lab.dir / "ssh" / "home")} if connection == "paramiko" else None
    result = lab.ansible("all", "-c", connection, "-m", "ansible.builtin.ping", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count('"ping": "pong"') == 4


def test_host_keys_are_checked(lab, tmp_path):
    result = lab.ansible("cp1", "-c", "paramiko", "-m", "ansible.builtin.ping", env={"HOME": str(tmp_path)})
    assert result.returncode != 0
    assert "UNREACHABLE" in result.stdout


def etcdctl(lab, host: str, args: str, check: bool = True) -> subprocess.CompletedProcess:
    return lab.ssh(host, ETCDCTL + args, check=check)


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def cluster_info(lab, host: str) -> dict:
    """etcd_cluster_info run over SSH on `host` with kubeadm's defaults, as a playbook would."""
    result = lab.ansible(host, "-m", "kubedr.kubeadm.etcd_cluster_info", "-o")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.split(" => ", 1)[1])["cluster"]


@pytest.mark.parametrize("version", build.load_pins()["etcd"]["versions"])
def test_tls_etcd_survives_one_member_and_loses_quorum_with_two(lab, version):
    lab.run("etcd", "recreate", "--version", version)
    listed = etcdctl(lab, "cp1", "member list -w json").stdout
    members = json.loads(listed)["members"]
    assert sorted(m["name"] for m in members) == CONTROL_PLANE
    assert all(u.startswith("https://") for m in members for u in m["clientURLs"] + m["peerURLs"])
    version_out = etcdctl(lab, "cp2", "endpoint status -w json").stdout
    assert json.loads(version_out)[0]["Status"]["version"] == version
    # plain HTTP and a client without a certificate are refused: mutual TLS for real
    assert lab.ssh("cp1", "etcdctl --endpoints http://127.0.0.1:2379 --command-timeout=2s get x",
                   check=False).returncode != 0
    assert lab.ssh("cp1", "etcdctl --endpoints https://127.0.0.1:2379 --cacert "
                   "/etc/kubernetes/pki/etcd/ca.crt --command-timeout=2s get x", check=False).returncode != 0

    etcdctl(lab, "cp1", f"put /kubedr/probe {version}")
    lab.run("etcd", "kill", "cp3")
    wait_for(lambda: etcdctl(lab, "cp1", "put /kubedr/after-one-down yes", check=False).returncode == 0,
             what="writes with one member down")
    health = etcdctl(lab, "cp2", "endpoint health --cluster", check=False)
    assert health.returncode != 0 and "198.18.7.13" in health.stdout + health.stderr
    cluster = cluster_info(lab, "cp1")
    follower = [m["name"] for m in cluster["members"] if m["healthy"] and not m["is_leader"]]
    assert cluster["quorum"] and [cluster["backup_source"]["name"]] == follower
    assert [m["name"] for m in cluster["members"] if not m["healthy"]] == ["cp3"]
    assert etcdctl(lab, "cp2", "get --print-value-only /kubedr/probe").stdout.strip() == version

    lab.run("etcd", "kill", "cp2")
    lost = etcdctl(lab, "cp1", "--command-timeout=3s put /kubedr/after-two-down no", check=False)
    assert lost.returncode != 0
    assert etcdctl(lab, "cp1", "endpoint health", check=False).returncode != 0
    cluster = cluster_info(lab, "cp1")
    assert not cluster["quorum"] and cluster["backup_source"] is None

    lab.run("etcd", "start", "cp2", "cp3")
    wait_for(lambda: etcdctl(lab, "cp1", "endpoint health --cluster", check=False).returncode == 0,
             what="quorum back")
    assert etcdctl(lab, "cp3", "get --print-value-only /kubedr/after-one-down").stdout.strip() == "yes"


def other_spec(tmp_path: Path, prefix: str, subnet: str) -> Path:
    """The test lab's spec with its own prefix and subnet, to stand beside the session's lab."""
    spec = tmp_path / f"{prefix}.toml"
    spec.write_text((REPO / "tests/integration/lab_spec.toml").read_text()
                    .replace('"kdt"', f'"{prefix}"').replace("198.18.7.0", subnet))
    return spec


def test_a_second_lab_with_the_same_prefix_is_refused(lab, own_lab):
    result = own_lab.up(check=False)
    assert result.returncode != 0
    assert "bridge kdt-br0 exists but this lab" in result.stderr
    assert lab.ssh("cp1", "hostname").stdout.strip() == "cp1"  # the first lab is untouched


def test_down_after_a_killed_up_leaves_nothing(own_lab, tmp_path):
    lab = own_lab
    spec = other_spec(tmp_path, "kdk", "198.18.8.0")
    up = subprocess.Popen([sys.executable, "-m", "lab", "up", "--spec", str(spec)], cwd=REPO, env=lab.env,
                          stdout=subprocess.PIPE, text=True)
    try:
        for line in up.stdout:
            if "created sshd on cp2" in line:
                up.send_signal(signal.SIGKILL)  # a crash half way through `up`
                break
    finally:
        up.wait(timeout=60)
    pids = lab.recorded_pids()
    assert pids, "up was killed before it started anything"
    down = lab.run("down")
    assert "lab is down" in down.stdout
    assert lab.leftovers("kdk", pids) == []


def test_down_leaves_nothing_behind(own_lab, tmp_path):
    lab = own_lab
    lab.run("up", "--etcd", "--spec", str(other_spec(tmp_path, "kdz", "198.18.10.0")))
    pids = lab.recorded_pids()
    assert len(pids) == 7  # 4 sshd + 3 etcd
    lab.ssh("vault", "nohup sleep 300 >/dev/null 2>&1 &")  # a stray child of an ssh session
    lab.run("down")
    assert lab.leftovers("kdz", pids) == []
