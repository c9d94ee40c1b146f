"""The kubeadm lab: a real HA control plane (kubeadm init/join, stacked etcd as static pods run by
real kubelets on containerd), a StatefulSet on local PersistentVolumes, losing one control-plane
host, and a teardown that leaves nothing behind."""

from __future__ import annotations

import hashlib
import json
import time
import tomllib
from pathlib import Path

import pytest

from lab import kube

pytestmark = pytest.mark.lab
SPEC = Path(__file__).with_name("kube_lab_spec.toml")
CONTROL_PLANE = ["cp1", "cp2", "cp3"]
WORKERS = ["w1", "w2"]
ETCDCTL = (kube.etcd_tool("etcdctl") + " --cacert /etc/kubernetes/pki/etcd/ca.crt "
           "--cert /etc/kubernetes/pki/etcd/healthcheck-client.crt "
           "--key /etc/kubernetes/pki/etcd/healthcheck-client.key ")


@pytest.fixture(scope="module")
def kube_lab(own_lab_module):
    lab = own_lab_module
    started = time.monotonic()
    up = lab.run("up", "--kube", "--spec", str(SPEC), timeout=3600)
    lab.up_seconds = time.monotonic() - started
    lab.up_log = up.stdout
    return lab


def kubectl(lab, *args: str, check: bool = True):
    result = lab.kubectl(*args, check=check)
    return json.loads(result.stdout) if "-o" in args and "json" in args and check else result


def wait_for(test, what: str, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while True:
        last = test()
        if last:
            return last
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        time.sleep(2)


def test_nodes_are_ready_with_their_roles(kube_lab):
    nodes = kubectl(kube_lab, "get", "nodes", "-o", "json")["items"]
    by_name = {n["metadata"]["name"]: n for n in nodes}
    assert sorted(by_name) == sorted(CONTROL_PLANE + WORKERS)
    for name, node in by_name.items():
        ready = [c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready == ["True"], name
        assert node["status"]["nodeInfo"]["kubeletVersion"] == f"v{kube.versions()[0]}"
        is_cp = "node-role.kubernetes.io/control-plane" in node["metadata"]["labels"]
        assert is_cp == (name in CONTROL_PLANE), name
    # every control-plane component runs as a static pod on every control-plane host
    pods = kubectl(kube_lab, "get", "pods", "-n", "kube-system", "-o", "json")["items"]
    running = {p["metadata"]["name"] for p in pods if p["status"]["phase"] == "Running"}
    for host in CONTROL_PLANE:
        for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            assert f"{component}-{host}" in running


def test_etcd_has_three_voting_members(kube_lab):
    listing = json.loads(kube_lab.ssh("cp2", ETCDCTL + "member list -w json").stdout)
    members = listing["members"]
    assert sorted(m["name"] for m in members) == CONTROL_PLANE
    assert not any(m.get("isLearner") for m in members)
    health = kube_lab.ssh("cp1", ETCDCTL + "--endpoints " + ",".join(
        f"https://{kube_lab.address(h)}:2379" for h in CONTROL_PLANE) + " endpoint health")
    assert health.stdout.count("is healthy") == 3


def test_statefulset_data_lives_on_local_pvs(kube_lab):
    pods = kubectl(kube_lab, "get", "pods", "-n", kube.WORKLOAD_NAMESPACE, "-o", "json")["items"]
    assert sorted(p["metadata"]["name"] for p in pods) == [f"{kube.WORKLOAD_NAME}-{i}" for i in range(3)]
    pvs = {pv["spec"]["claimRef"]["name"]: pv
           for pv in kubectl(kube_lab, "get", "pv", "-o", "json")["items"] if pv["spec"].get("claimRef")}
    for pod in pods:
        name = pod["metadata"]["name"]
        assert pod["status"]["phase"] == "Running"
        node = pod["spec"]["nodeName"]
        assert node in WORKERS
        expected = hashlib.sha256(kube.payload(name).encode()).hexdigest()
        inside = kube_lab.kubectl("exec", "-n", kube.WORKLOAD_NAMESPACE, name, "--",
                                  "sha256sum", "/data/payload").stdout.split()[0]
        assert inside == expected
        # the same bytes sit on the worker's disk that the pod's PV points at
        pv = pvs[f"data-{name}"]
        terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
        assert terms[0]["matchExpressions"][0]["values"] == [node]
        on_disk = kube_lab.ssh(node, f"sha256sum {pv['spec']['local']['path']}/payload").stdout.split()[0]
        assert on_disk == expected


def test_api_keeps_serving_without_one_control_plane_host(kube_lab):
    lab = kube_lab
    lab.ssh("cp1", "systemctl stop kubelet")
    assert lab.ssh("cp1", "systemctl is-active kubelet", check=False).stdout.strip() == "inactive"
    etcd = lab.ssh("cp1", "ctr -n k8s.io containers ls -q "
                          "'labels.\"io.kubernetes.container.name\"==etcd'").stdout.split()
    assert etcd, "no etcd container on cp1"
    for container in etcd:
        lab.ssh("cp1", f"ctr -n k8s.io tasks kill -s SIGKILL {container}", check=False)
    local_health = ETCDCTL + "--endpoints https://127.0.0.1:2379 --command-timeout=2s endpoint health"
    wait_for(lambda: lab.ssh("cp1", local_health, check=False).returncode != 0, "cp1's etcd down", 30)
    try:
        # writes need quorum: two of three members still have it, behind the same endpoint
        marker = f"kubedr-ha-{int(time.time())}"
        create = ("create", "configmap", marker, "-n", "default")
        wait_for(lambda: lab.kubectl(*create, check=False).returncode == 0, "API via the endpoint", 60)
        # The endpoint spreads connections; once its health checks have seen cp1's API server fail
        # (HAProxy's fall count; longer while etcd elects a leader), every one must find a live server.

        def every_connection_served() -> bool:
            return all(lab.kubectl("get", "configmap", marker, "-n", "default", "-o", "name",
                                   check=False, request_timeout=5).stdout.strip() == f"configmap/{marker}"
                       for attempt in range(6))
        wait_for(every_connection_served, "six reads in a row through the endpoint", 90)
    finally:
        lab.ssh("cp1", "systemctl start kubelet")
    wait_for(lambda: lab.ssh("cp1", ETCDCTL + "--endpoints https://127.0.0.1:2379 endpoint health",
                             check=False).returncode == 0, "cp1's etcd back", 180)
    wait_for(lambda: "cp1" in ready_nodes(lab), "cp1 Ready again", 180)


def ready_nodes(lab) -> set[str]:
    nodes = kubectl(lab, "get", "nodes", "-o", "json")["items"]
    return {n["metadata"]["name"] for n in nodes
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])}


def test_up_again_changes_nothing(kube_lab):
    again = kube_lab.run("up", "--kube", "--spec", str(SPEC), timeout=900)
    for line in again.stdout.splitlines():
        assert not line.strip().startswith(("started", "imported", "kubeadm", "created")), line


def test_down_leaves_nothing_behind(kube_lab):
    lab = kube_lab
    state = json.loads((lab.dir / "state.json").read_text())
    cgroups = state["cgroups"]
    assert cgroups
    pids = lab.recorded_pids()
    lab.run("down", timeout=600)
    assert lab.leftovers(tomllib.loads(lab.spec(SPEC).read_text())["lab"]["prefix"], pids) == []
    assert [c for c in cgroups if Path(c).exists()] == []
    for key, value in state["sysctls"].items():
        assert Path("/proc/sys", key.replace(".", "/")).read_text().strip() == value
