"""The second bad night, as an operator lives it: one kubeadm lab, the lab's own inventory, no hand
between the steps. backup -> etcd restore -> backup -> the same snapshot restored again -> backup ->
full rebuild with the first inventory host dead (PVs restored) -> backup -> etcd restore from a backup
taken before the rebuild -> backup -> replace_member of the host that was dead -> backup.

After every step: the objects written before and after the backup it restored are as expected (read
here, not only by the playbook's own check), every StatefulSet pod's PV data is what it wrote, a
StatefulSet pod deleted comes back (no kubelet watching for revisions etcd no longer serves, no pod
stuck Terminating), and the next backup, as the schedule runs it, succeeds. The steps are tests in
file order; each needs the ones before it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rebuild_checks import assert_no_token, assert_rerun_changes_nothing, controller_tmp, rebuild_tokens_left

from lab import kube

# In CI: the restore and rebuild flows run here, as a chain; their refusals and reruns one by one in
# `make integration-extended` (test_etcd_restore_role.py, test_control_plane_rebuild.py).
pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CLUSTER = "kube-shared"  # kube_shared_spec.toml, the kube_lab fixture's
NS, STS = kube.WORKLOAD_NAMESPACE, kube.WORKLOAD_NAME
PODS = [f"{STS}-{i}" for i in range(kube.WORKLOAD_REPLICAS)]
ETCD_REPOSITORY = f"/srv/restic/kubedr-etcd/{CLUSTER}"  # where the lab inventory has backup.yml write
STATE: dict = {}  # what one step leaves the next: backups taken, by step


def playbook(lab, name: str, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(lab.inventory), f"playbooks/{name}", *extra],
        cwd=REPO,
        env={**lab.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stdout[-10000:]}{result.stderr[-2000:]}"
    return result


def backup(lab, step: str) -> int:
    """backup.yml as the schedule runs it (the inventory's settings only); the etcd revision it stored."""
    result = playbook(lab, "backup.yml")
    found = re.search(
        rf"backup {CLUSTER}: etcd revision=(\d+) .*restic=\S+ dir=\S+; pvs \d+ snapshot", result.stdout
    )
    assert found, result.stdout[-4000:]
    STATE[step] = int(found.group(1))
    return STATE[step]


def restore(
    lab, revision: int, run_id: str, present: list[str], absent: list[str], *extra: str
) -> subprocess.CompletedProcess:
    configmap = {"kind": "configmap", "namespace": "default"}
    return playbook(
        lab,
        "restore_etcd.yml",
        "-e",
        json.dumps(
            {
                "cluster": CLUSTER,
                "etcd_restore_confirm": f"restore {CLUSTER}",
                "etcd_restore_run_id": run_id,
                "etcd_restore_restic_repository": f"sftp:root@{lab.address('vault')}:{ETCD_REPOSITORY}",
                "etcd_restore_restic_password_file": "/srv/kubedr/restic-password",
                "etcd_restore_restic_path": "/usr/local/bin/restic",
                "etcd_restore_restic_snapshot": f"revision:{revision}",
                "etcd_restore_restic_tags": [f"cluster:{CLUSTER}", "kind:etcd"],
                "etcd_restore_verify_present": [{**configmap, "name": n} for n in present],
                "etcd_restore_verify_absent": [{**configmap, "name": n} for n in absent],
            }
        ),
        *extra,
    )


def rebuild(lab, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return playbook(lab, "rebuild_control_plane.yml", "-e", f"cluster={CLUSTER}", *extra, env=env)


def configmaps(lab) -> set[str]:
    items = json.loads(lab.kubectl("get", "configmaps", "-n", "default", "-o", "json").stdout)["items"]
    return {c["metadata"]["name"] for c in items}


def workload_heals(lab, timeout: float = 240) -> None:
    """A pod deleted now is replaced and Ready in time, and no pod anywhere stays Terminating: the
    symptom of kubelets that watch for revisions the restored etcd never serves."""
    old = json.loads(lab.kubectl("get", "pod", PODS[0], "-n", NS, "-o", "json").stdout)["metadata"]["uid"]
    lab.kubectl("delete", "pod", PODS[0], "-n", NS, "--wait=false")
    deadline = time.monotonic() + timeout
    while True:
        pods = json.loads(lab.kubectl("get", "pods", "-A", "-o", "json").stdout)["items"]
        stuck = [p["metadata"]["name"] for p in pods if p["metadata"].get("deletionTimestamp")]
        sts = json.loads(lab.kubectl("get", "statefulset", STS, "-n", NS, "-o", "json").stdout)
        new = next((p for p in pods if p["metadata"]["name"] == PODS[0]), None)
        healed = (
            new is not None
            and new["metadata"]["uid"] != old
            and not stuck
            and sts["status"].get("readyReplicas") == kube.WORKLOAD_REPLICAS
        )
        if healed:
            return
        assert time.monotonic() < deadline, f"not healed after {timeout} s: stuck Terminating {stuck}"
        time.sleep(3)


def assert_objects(lab, present: list[str], absent: list[str]) -> None:
    names = configmaps(lab)
    assert set(present) <= names and not set(absent) & names, (present, absent, sorted(names))


def assert_pv_data(lab) -> None:
    """Each StatefulSet pod reads back, from its local PV, exactly what it wrote there."""
    for pod in PODS:
        read = lab.kubectl("exec", "-n", NS, pod, "--", "cat", "/data/payload").stdout
        assert read == kube.payload(pod), pod


def after_restore(lab, present: list[str], absent: list[str]) -> None:
    assert_objects(lab, present, absent)
    workload_heals(lab)
    assert_pv_data(lab)


def test_backup(kube_lab):
    kube_lab.kubectl("create", "configmap", "night1-before", "-n", "default")
    backup(kube_lab, "first")
    kube_lab.kubectl("create", "configmap", "night1-after", "-n", "default")


def test_etcd_restore_then_backup_again(kube_lab):
    lab = kube_lab
    restore(lab, STATE["first"], "night1", ["night1-before"], ["night1-after"])
    after_restore(lab, ["night1-before"], ["night1-after"])
    # the staged snapshot is of the etcd cluster before the restore: the lineage says it is ours
    backup(lab, "after-restore")
    lab.kubectl("create", "configmap", "night2", "-n", "default")


def test_the_same_snapshot_restored_again_then_backup(kube_lab):
    lab = kube_lab
    restore(lab, STATE["first"], "night1-again", ["night1-before"], ["night1-after", "night2"])
    after_restore(lab, ["night1-before"], ["night1-after", "night2"])
    revision = backup(lab, "before-rebuild")
    assert revision > STATE["after-restore"], (
        "the restored cluster serves revisions below the first restore's"
    )
    lab.kubectl("create", "configmap", "after-last-backup", "-n", "default")


def test_full_rebuild_with_the_first_host_dead_then_backup(kube_lab, tmp_path):
    lab = kube_lab
    # cp1's etcd disk (a mount point) survives its reinstall, old member inside: its later rejoin
    # (test_replace_member_of_the_host_that_was_dead...) meets kubeadm's empty-etcd-dir preflight
    lab.run("wipe", "--keep", "/var/lib/etcd", "cp1", timeout=300)
    lab.run("wipe", "cp2", "cp3", timeout=300)
    lab.run("link", "down", "cp1")
    tmp, tmp_env = controller_tmp(tmp_path)
    result = rebuild(
        lab,
        "-vv",
        "-e",
        json.dumps({"control_plane_rebuild_confirm": f"rebuild {CLUSTER}"}),
        "-e",
        json.dumps(
            {
                "control_plane_rebuild_verify_objects": [
                    {"kind": "configmap", "namespace": "default", "name": "night1-before"}
                ]
            }
        ),
        env=tmp_env,
    )
    assert f"{CLUSTER} full done in" in result.stdout
    # no join token in the output at -vv (kubeadm init's included), none left in the cluster, and no copy
    # of the backup set (CA keys, snapshot) left on the controller
    assert_no_token(result)
    assert rebuild_tokens_left(lab) == []
    assert list(tmp.iterdir()) == []
    # the workers' kubelet identity is the backed-up CA's: they reconnect, nothing of theirs is reset
    for worker in ("w1", "w2"):
        kept = lab.ssh(worker, "ls /var/lib/kubedr/control-plane-rebuild/*/ 2>/dev/null;"
                               " ls -a /var/lib /var/lib/kubelet", check=False).stdout
        assert "worker-reset-" not in kept and ".kubedr-aside-" not in kept, (worker, kept)
    assert_pv_data(lab)  # restored from restic before the pods started
    after_restore(lab, ["night1-before"], ["after-last-backup"])
    backup(lab, "after-rebuild")
    lab.kubectl("create", "configmap", "after-rebuild", "-n", "default")


def test_etcd_restore_from_a_backup_before_the_rebuild_then_backup(kube_lab):
    lab = kube_lab
    # cp1 is still dead: the rebuilt etcd's members are cp2 and cp3
    restore(
        lab,
        STATE["before-rebuild"],
        "night3",
        ["night1-before"],
        ["after-rebuild", "after-last-backup"],
        "--limit",
        "cp2:cp3",
    )
    after_restore(lab, ["night1-before"], ["after-rebuild", "after-last-backup"])
    backup(lab, "after-old-restore")


def test_replace_member_of_the_host_that_was_dead_then_backup(kube_lab):
    lab = kube_lab
    lab.run("link", "up", "cp1")
    before = configmaps(lab)
    replace = (
        "-e",
        "control_plane_rebuild_mode=replace_member",
        "-e",
        "control_plane_rebuild_replace=cp1",
        "-e",
        json.dumps({"control_plane_rebuild_confirm": f"replace cp1 in {CLUSTER}"}),
    )
    result = rebuild(lab, *replace)
    assert "replace_member done in" in result.stdout
    # the old member its etcd disk kept is inside it, moved aside, and kubeadm joined past it
    assert lab.ssh("cp1", "ls -d /var/lib/etcd/.kubedr-aside-*/member").stdout.strip()
    assert_no_token(result)
    assert rebuild_tokens_left(lab) == []
    listing = json.loads(
        lab.ssh(
            "cp2",
            kube.etcd_tool("etcdctl") + " --cacert /etc/kubernetes/pki/etcd/ca.crt"
            " --cert /etc/kubernetes/pki/etcd/healthcheck-client.crt"
            " --key /etc/kubernetes/pki/etcd/healthcheck-client.key"
            " --endpoints https://127.0.0.1:2379 member list -w json",
        ).stdout
    )
    assert sorted(m["name"] for m in listing["members"]) == ["cp1", "cp2", "cp3"]
    assert configmaps(lab) == before, "replacing a member changes no object"
    workload_heals(lab)
    assert_pv_data(lab)
    assert backup(lab, "last") > STATE["after-old-restore"]
    assert_rerun_changes_nothing(rebuild(lab, *replace))
