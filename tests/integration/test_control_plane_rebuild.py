"""Rebuilding control planes on the kubeadm lab: a control-plane host wiped (as if reinstalled)
and replaced while etcd keeps quorum; then every control-plane host wiped and the control plane
rebuilt from the backup set of playbooks/backup.yml, the StatefulSet's local PV data restored from
its restic snapshots before its pods start again."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rebuild_checks import assert_no_token, assert_rerun_changes_nothing, controller_tmp, rebuild_tokens_left

from lab import build, kube

# The flows run in CI inside test_lifecycle.py; the refusals and reruns here on a lab of their own.
pytestmark = [pytest.mark.lab, pytest.mark.extended]
CLUSTER = "kube-shared"  # the shared kubeadm lab (conftest.py), left healthy at the end
PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
ETCDCTL = (kube.etcd_tool("etcdctl") + " --cacert /etc/kubernetes/pki/etcd/ca.crt "
           "--cert /etc/kubernetes/pki/etcd/healthcheck-client.crt "
           "--key /etc/kubernetes/pki/etcd/healthcheck-client.key --endpoints https://127.0.0.1:2379 ")
REPLACE_CP1 = ("-e", "control_plane_rebuild_mode=replace_member", "-e", "control_plane_rebuild_replace=cp1")
CONFIRM = ("-e", json.dumps({"control_plane_rebuild_confirm": f"replace cp1 in {CLUSTER}"}))
NS, STS = kube.WORKLOAD_NAMESPACE, kube.WORKLOAD_NAME
PODS = [f"{STS}-{i}" for i in range(kube.WORKLOAD_REPLICAS)]
# restic for the PVs, as an operator gives it to backup.yml and again to the rebuild: one sftp
# repository on vault (/srv is each lab host's own, /etc the machine's)
RESTIC = {
    "restic_backend": "sftp",
    "restic_sftp_host": "vault",
    "restic_sftp_path": "/srv/restic/rebuild-pv-volumes",
    "restic_binary_src": str(build.binary("restic", "0.19.1", "restic")),
    "restic_password": "rebuild-itest-not-a-secret-7c2e",
    "restic_password_file": "/srv/kubedr/restic-password",
    "pv_backup_kubectl": str(kube.kube_binary("kubectl")),
    "pv_restore_kubectl": str(kube.kube_binary("kubectl")),
}


def playbook(lab, name: str, *extra: str, check: bool = True,
             env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(lab.inventory),
                             str(PLAYBOOKS / name), *extra], cwd=PLAYBOOKS.parent,
                            env={**lab.env, **(env or {})},
                            capture_output=True, text=True, timeout=1800, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{name} failed:\n{result.stdout[-8000:]}{result.stderr[-2000:]}")
    return result


def rebuild(lab, *extra: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    return playbook(lab, "rebuild_control_plane.yml", "-e", f"cluster={CLUSTER}", *extra, check=check,
                    env=env)


SETS = f"/srv/kubedr/etcd-backup/{CLUSTER}"  # control_plane_rebuild_backup_path's default on vault


def wipe(lab, host: str) -> None:
    """What a reinstalled control-plane host looks like: binaries and runtime, no cluster state."""
    lab.ssh(host, "systemctl stop kubelet")
    lab.ssh(host, "for t in $(ctr -n k8s.io tasks ls -q); do ctr -n k8s.io tasks kill -s SIGKILL $t; done",
            check=False)
    deadline = time.monotonic() + 60
    while lab.ssh(host, "ss -Htln '( sport = :2379 or sport = :6443 )'").stdout.strip():
        assert time.monotonic() < deadline, f"{host}'s etcd and API server did not stop"
        time.sleep(1)
    lab.ssh(host, "rm -rf /etc/kubernetes/* /var/lib/etcd/* /var/lib/kubelet/* /var/lib/kubedr/*")


def members(lab, host: str) -> list[dict]:
    return json.loads(lab.ssh(host, ETCDCTL + "member list -w json").stdout)["members"]


def ready_nodes(lab) -> set[str]:
    nodes = json.loads(lab.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    return {n["metadata"]["name"] for n in nodes
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])}


def test_replace_member_refuses_without_confirmation(kube_lab):
    result = rebuild(kube_lab, *REPLACE_CP1, check=False)
    assert result.returncode != 0
    assert f"replace cp1 in {CLUSTER}" in result.stdout
    assert kube_lab.ssh("cp1", "test -f /etc/kubernetes/manifests/etcd.yaml", check=False).returncode == 0


def test_replace_a_wiped_first_control_plane_host(kube_lab):
    lab = kube_lab
    lab.kubectl("create", "configmap", "before-replace", "-n", "default")
    old_id = next(m["ID"] for m in members(lab, "cp2") if m["name"] == "cp1")
    wipe(lab, "cp1")
    # the API keeps serving on two of three members, through the endpoint
    lab.kubectl("get", "configmap", "before-replace", "-n", "default")

    expect = {"control_plane_rebuild_verify_objects": [
        {"kind": "configmap", "namespace": "default", "name": "before-replace"}]}
    result = rebuild(lab, *REPLACE_CP1, *CONFIRM, "-e", json.dumps(expect))
    assert "replace_member done in" in result.stdout

    listing = members(lab, "cp2")
    assert sorted(m["name"] for m in listing) == ["cp1", "cp2", "cp3"]
    assert not any(m.get("isLearner") for m in listing)
    assert next(m["ID"] for m in listing if m["name"] == "cp1") != old_id  # a new member, not the old one
    assert {"cp1", "cp2", "cp3", "w1", "w2"} <= ready_nodes(lab)
    pods = json.loads(lab.kubectl("get", "pods", "-n", "kube-system", "-o", "json").stdout)["items"]
    assert {p["metadata"]["name"] for p in pods if p["status"]["phase"] == "Running"} >= {
        "etcd-cp1", "kube-apiserver-cp1", "kube-controller-manager-cp1", "kube-scheduler-cp1"}
    sts = json.loads(lab.kubectl("get", "statefulset", kube.WORKLOAD_NAME, "-n", kube.WORKLOAD_NAMESPACE,
                                 "-o", "json").stdout)
    assert sts["status"].get("readyReplicas") == kube.WORKLOAD_REPLICAS


def test_replace_member_rerun_changes_nothing(kube_lab):
    assert_rerun_changes_nothing(rebuild(kube_lab, *REPLACE_CP1, *CONFIRM))


def tree_checksum(files: dict[str, str]) -> str:
    """What the roles' checksum of a volume holding `files` (relative path: content) is."""
    lines = "".join(f"{hashlib.sha256(content.encode()).hexdigest()}  ./{path}\n"
                    for path, content in sorted(files.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def test_full_rebuild_refuses_pv_restore_without_restic(kube_lab):
    # the lab's inventory has restic settings (lab/inventory.py): take the password away
    confirmed = {"control_plane_rebuild_confirm": f"rebuild {CLUSTER}",
                 "control_plane_rebuild_backup_dir": "/nonexistent", "restic_password": ""}
    result = rebuild(kube_lab, "-e", json.dumps(confirmed), check=False)
    assert result.returncode != 0
    assert "control_plane_rebuild_restore_pvs=false" in result.stdout  # the way out is named
    assert kube_lab.ssh("cp1", "test -f /etc/kubernetes/manifests/etcd.yaml", check=False).returncode == 0


def test_full_rebuild_from_the_backup_set(kube_lab, tmp_path):
    lab = kube_lab
    tmp, tmp_env = controller_tmp(tmp_path)
    lab.kubectl("create", "configmap", "before-backup", "-n", "default")
    playbook(lab, "backup.yml", "-e", json.dumps({"etcd_backup_targets": ["dir"], **RESTIC}))
    lab.kubectl("create", "configmap", "after-backup", "-n", "default")
    # after the backup: a file written in every volume (the restore moves it aside), and w1's disks
    # lose their payload (the restore brings it back)
    for pod in PODS:
        lab.kubectl("exec", "-n", NS, pod, "--", "touch", "/data/after-backup")
    lab.ssh("w1", "rm -f /mnt/disks/*/payload")
    for host in ("cp1", "cp2", "cp3"):
        wipe(lab, host)
    assert lab.kubectl("get", "nodes", check=False).returncode != 0  # no API server answers

    expect = {"control_plane_rebuild_verify_objects": [
        {"kind": "configmap", "namespace": "default", "name": "before-backup"}]}
    started = time.monotonic()
    result = rebuild(lab, "-vv", "-e",
                     json.dumps({"control_plane_rebuild_confirm": f"rebuild {CLUSTER}", **RESTIC}),
                     "-e", json.dumps(expect), env=tmp_env)
    print(f"full rebuild with the PV restore: {time.monotonic() - started:.0f} s")
    assert f"{CLUSTER} full done in" in result.stdout
    # no join token in the output at -vv (kubeadm init's included), none left in the cluster, and no copy
    # of the backup set (CA keys, snapshot) left on the controller
    assert_no_token(result)
    assert rebuild_tokens_left(lab) == []
    assert list(tmp.iterdir()) == []
    assert re.search(r"backup set \d{8}T\d{6}Z-r\d+ of cluster " + CLUSTER, result.stdout)
    assert "PVs to restore from restic once the control plane is back: kubedr-lab/data" in result.stdout

    assert lab.kubectl("get", "configmap", "after-backup", "-n", "default", check=False).returncode != 0
    listing = members(lab, "cp3")
    assert sorted(m["name"] for m in listing) == ["cp1", "cp2", "cp3"]
    assert not any(m.get("isLearner") for m in listing)
    wait_ready = time.monotonic() + 300
    while {"cp1", "cp2", "cp3", "w1", "w2"} - ready_nodes(lab):
        assert time.monotonic() < wait_ready, ready_nodes(lab)
        time.sleep(3)
    sts = json.loads(lab.kubectl("get", "statefulset", STS, "-n", NS, "-o", "json").stdout)
    assert sts["status"].get("readyReplicas") == kube.WORKLOAD_REPLICAS
    assert "kubedr.io/replicas-before-scale" not in sts["metadata"].get("annotations", {})
    # every pod reads the data of the backup: its payload back, the later file gone from view
    for pod in PODS:
        assert lab.kubectl("exec", "-n", NS, pod, "--", "cat", "/data/payload").stdout == kube.payload(pod)
        assert "after-backup" not in lab.kubectl("exec", "-n", NS, pod, "--", "ls", "/data").stdout
    # the report: each volume's checksum right after the restore and again at the end
    marker = json.loads(lab.ssh("cp1", "cat /var/lib/kubedr/control-plane-rebuild/full-*/pvs.json").stdout)
    restored = {v["pvc"]: v for v in marker["restored"]}
    assert sorted(restored) == [f"data-{pod}" for pod in PODS]
    for pod in PODS:
        volume = restored[f"data-{pod}"]
        assert volume["checksum"] == tree_checksum({"payload": kube.payload(pod)})
        # ... and nothing was deleted: what the volume held after the backup is kept beside it
        kept = lab.ssh(volume["node"], f"ls -A {volume['moved_aside']}").stdout.split()
        assert "after-backup" in kept
        assert ("payload" in kept) == (volume["node"] != "w1")  # w1 had lost it
    assert result.stdout.count("checksum unchanged since the restore") == len(PODS)


def test_full_rebuild_refuses_another_clusters_set(kube_lab, tmp_path):
    """A set whose manifest names another cluster is refused after it was fetched; the controller's copy
    is removed on this failure too, and nothing on the hosts is touched."""
    lab = kube_lab
    tmp, tmp_env = controller_tmp(tmp_path)
    foreign = "20000101T000000Z-r1"  # the oldest name: never the newest the other tests take
    newest = lab.ssh("vault", f"ls {SETS} | grep -E '^[0-9]{{8}}T[0-9]{{6}}Z-r[0-9]+$' | sort | tail -n 1")
    newest = newest.stdout.strip()
    manifest = f"{SETS}/{foreign}/etcd/manifest.json"
    lab.ssh("vault", f"cp -a {SETS}/{newest} {SETS}/{foreign} && python3 -c \"import json; p='{manifest}'; "
                     "m=json.load(open(p)); m['cluster']='other'; json.dump(m, open(p, 'w'))\"")
    try:
        before = lab.ssh("cp1", "ls -l --time-style=full-iso /etc/kubernetes/manifests").stdout
        result = rebuild(lab, "-vv", "-e", json.dumps({"control_plane_rebuild_confirm": f"rebuild {CLUSTER}",
                                                       "control_plane_rebuild_backup_set": foreign,
                                                       **RESTIC}),
                         check=False, env=tmp_env)
        assert result.returncode != 0
        assert "is of cluster other" in result.stdout and f"not of {CLUSTER}" in result.stdout
        assert list(tmp.iterdir()) == []
        assert lab.ssh("cp1", "ls -l --time-style=full-iso /etc/kubernetes/manifests").stdout == before
        # a name that is not a set's is refused before anything is fetched
        result = rebuild(lab, "-e", json.dumps({"control_plane_rebuild_confirm": f"rebuild {CLUSTER}",
                                                "control_plane_rebuild_backup_set": "latest", **RESTIC}),
                         check=False, env=tmp_env)
        assert result.returncode != 0 and "<UTC time>Z-r<revision>" in result.stdout
        assert list(tmp.iterdir()) == []
    finally:
        lab.ssh("vault", f"rm -rf {SETS}/{foreign}")


def test_full_rebuild_rerun_restores_nothing_again(kube_lab):
    lab = kube_lab
    for pod in PODS:  # written after the rebuild: a rerun must not move it aside
        lab.kubectl("exec", "-n", NS, pod, "--", "touch", "/data/after-rebuild")
    result = rebuild(lab, "-e", json.dumps({"control_plane_rebuild_confirm": f"rebuild {CLUSTER}", **RESTIC}))
    assert f"{CLUSTER} full done in" in result.stdout
    for pod in PODS:
        assert "after-rebuild" in lab.kubectl("exec", "-n", NS, pod, "--", "ls", "/data").stdout
    assert result.stdout.count("changed since the restore") == len(PODS)
