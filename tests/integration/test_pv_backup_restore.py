"""Local PV backup and restore on the kubeadm lab: the lab's StatefulSet kubedr-lab/data (3 replicas on
local PVs of w1/w2) backed up with playbooks/backup_pvs.yml into one shared sftp restic repository on the
vault host (set up by the restic role), its data then changed and destroyed on the workers, and
restored with playbooks/restore_pvs.yml; plus the failure paths: a pre hook that fails, a wrong
password during a backup that scaled the StatefulSet down, a wrong password for a restore."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

import pytest

from lab import build, kube

# on a kubeadm lab of its own: `make integration-extended` (CI's time budget leaves it out)
pytestmark = [pytest.mark.lab, pytest.mark.extended]
SPEC = Path(__file__).with_name("pv_lab_spec.toml")
REPO = Path(__file__).resolve().parents[2]
CLUSTER = "kube-pv"
NS, STS = kube.WORKLOAD_NAMESPACE, kube.WORKLOAD_NAME
PODS = [f"{STS}-{i}" for i in range(kube.WORKLOAD_REPLICAS)]
PASSWORD_FILE = "/srv/kubedr/restic-password"  # /etc is the machine's on the lab hosts, /srv each host's own
WRONG_PASSWORD_FILE = "/srv/kubedr/wrong-password"
REPOSITORY_PATH = "/srv/restic/kube-pv-volumes"
RESTIC = "/usr/local/bin/restic"
ANNOTATION = "kubedr.io/replicas-before-scale"


@pytest.fixture(scope="module")
def kube_lab(own_lab_module):
    lab = own_lab_module
    lab.run("up", "--kube", "--spec", str(SPEC), timeout=3600)
    lab.kubectl_path = str(kube.kube_binary("kubectl"))
    lab.setup = {  # the first run sets up restic on the workers: one shared sftp repository on vault
        "restic_backend": "sftp",
        "restic_sftp_host": "vault",
        "restic_sftp_path": REPOSITORY_PATH,
        "restic_binary_src": str(build.binary("restic", "0.19.1", "restic")),
        "restic_password": "pv-itest-not-a-secret-4b1d",
        "restic_password_file": PASSWORD_FILE,
    }
    repository = f"sftp:root@{lab.address('vault')}:{REPOSITORY_PATH}"
    lab.common = {
        "pv_backup_kubectl": lab.kubectl_path,
        "pv_restore_kubectl": lab.kubectl_path,
        "pv_backup_namespace": NS,
        "pv_restore_namespace": NS,
        "pv_restore_statefulset": STS,
    }
    lab.extra = {  # later runs skip that play and name the repository
        "kubedr_pv_restic_setup": False,
        "pv_backup_repository": repository,
        "pv_restore_repository": repository,
        "pv_backup_password_file": PASSWORD_FILE,
        "pv_restore_password_file": PASSWORD_FILE,
        "pv_backup_restic_path": RESTIC,
        "pv_restore_restic_path": RESTIC,
    }
    return lab


def playbook(lab, name: str, *extra: dict, check: bool = False, expect_ok: bool = True, setup: bool = False):
    args = [
        str(Path(lab.env["PATH"].split(":")[0]) / "ansible-playbook"),
        "-i",
        str(lab.inventory),
        str(REPO / "playbooks" / name),
        "-e",
        json.dumps(lab.common),
        "-e",
        json.dumps(lab.setup if setup else lab.extra),
    ]
    for more in extra:
        args += ["-e", json.dumps(more)]
    if check:
        args.append("--check")
    started = time.monotonic()
    result = subprocess.run(
        args, cwd=REPO, env=lab.env, capture_output=True, text=True, timeout=1800, check=False
    )
    result.seconds = time.monotonic() - started
    if expect_ok and result.returncode != 0:
        raise AssertionError(f"{name} failed:\n{result.stdout[-8000:]}{result.stderr[-2000:]}")
    if not expect_ok and result.returncode == 0:
        raise AssertionError(f"{name} succeeded, a failure was expected:\n{result.stdout[-4000:]}")
    assert "pv-itest-not-a-secret-4b1d" not in result.stdout + result.stderr
    return result


def kjson(lab, *args):
    return json.loads(lab.kubectl(*args, "-o", "json").stdout)


def volumes(lab) -> dict[str, tuple[str, str]]:
    """pod -> (node, path) of its PV, read from the API independently of the module under test."""
    pvs = {
        pv["spec"]["claimRef"]["name"]: pv
        for pv in kjson(lab, "get", "pv")["items"]
        if pv["spec"].get("claimRef", {}).get("namespace") == NS
    }
    out = {}
    for pod in PODS:
        pv = pvs[f"data-{pod}"]
        node = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0][
            "values"
        ][0]
        out[pod] = (node, pv["spec"]["local"]["path"])
    return out


def snapshots(lab, node: str, password_file: str = PASSWORD_FILE) -> list[dict]:
    repo = f"sftp:root@{lab.address('vault')}:{REPOSITORY_PATH}"
    out = lab.ssh(
        node,
        f"RESTIC_REPOSITORY={repo} RESTIC_PASSWORD_FILE={password_file} {RESTIC} snapshots --json --no-lock",
    ).stdout
    return json.loads(out)


def statefulset(lab) -> dict:
    return kjson(lab, "get", "statefulset", STS, "-n", NS)


def all_ready(lab) -> bool:
    sts = statefulset(lab)
    return sts["spec"]["replicas"] == 3 and sts["status"].get("readyReplicas", 0) == 3


def wait_for(test, what: str, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while not test():
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        time.sleep(3)


def in_pod(lab, pod: str, command: str, check: bool = True):
    return lab.kubectl("exec", "-n", NS, pod, "--", "sh", "-c", command, check=check)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def backed_up(kube_lab):
    """The first backup: checked, then its snapshots are what every later test restores."""
    lab = kube_lab
    wait_for(lambda: all_ready(lab), "StatefulSet Ready before the backup")
    where = volumes(lab)
    mtimes = {
        pod: lab.ssh(node, f"stat -c %Y {path}/payload").stdout.strip() for pod, (node, path) in where.items()
    }
    node = next(iter(where.values()))[0]
    run = playbook(lab, "backup_pvs.yml", {"pv_backup_keep_last": 3}, setup=True)
    lab.backup_seconds = run.seconds
    taken = snapshots(lab, node)
    return {"where": where, "mtimes": mtimes, "snapshots": taken}


def test_backup_has_a_stable_identity_per_pvc(kube_lab, backed_up):
    taken = backed_up["snapshots"]
    assert len(taken) == 3
    by_host = {s["hostname"]: s for s in taken}
    for ordinal, pod in enumerate(PODS):
        snap = by_host[f"{CLUSTER}/{NS}/data-{pod}"]
        node, path = backed_up["where"][pod]
        assert snap["paths"] == [path]
        assert sorted(snap["tags"]) == sorted(
            [
                f"cluster:{CLUSTER}",
                f"namespace:{NS}",
                f"statefulset:{STS}",
                f"ordinal:{ordinal}",
                f"pvc:data-{pod}",
            ]
        )


def test_check_mode_neither_scales_nor_backs_up(kube_lab, backed_up):
    lab = kube_lab
    generation = statefulset(lab)["metadata"]["generation"]
    in_pod(lab, PODS[0], "echo changed > /data/changed-for-check-mode")  # a real run would take a snapshot
    try:
        playbook(lab, "backup_pvs.yml", {"pv_backup_hook": "scale"}, check=True)
        sts = statefulset(lab)
        assert sts["metadata"]["generation"] == generation, "check mode changed the StatefulSet"
        assert ANNOTATION not in sts["metadata"].get("annotations", {})
        assert len(snapshots(lab, backed_up["where"][PODS[0]][0])) == 3
    finally:
        in_pod(lab, PODS[0], "rm -f /data/changed-for-check-mode")


def test_failing_pre_hook_takes_no_backup_and_is_undone(kube_lab, backed_up):
    lab = kube_lab
    for pod in PODS:
        in_pod(lab, pod, "rm -f /data/hook-undone")
    in_pod(lab, PODS[1], "echo changed > /data/changed-for-hook-test")  # a backup would take a new snapshot
    try:
        failed = playbook(
            lab,
            "backup_pvs.yml",
            {
                "pv_backup_hook": "exec",
                "pv_backup_exec_pre": ["sh", "-c", "echo quiesce failed >&2; exit 7"],
                "pv_backup_exec_post": ["touch", "/data/hook-undone"],
            },
            expect_ok=False,
        )
        assert "PV backup failed for 1 group(s)" in failed.stdout
        assert f"{NS}/statefulset {STS}" in failed.stdout
        # no backup was taken, and the post command ran in every pod
        assert len(snapshots(lab, backed_up["where"][PODS[0]][0])) == 3
        for pod in PODS:
            assert in_pod(lab, pod, "test -f /data/hook-undone", check=False).returncode == 0, pod
    finally:
        for pod in PODS:
            in_pod(lab, pod, "rm -f /data/hook-undone /data/changed-for-hook-test")


def test_backup_failing_under_scale_hook_scales_back(kube_lab, backed_up):
    lab = kube_lab
    for node in {where[0] for where in backed_up["where"].values()}:
        lab.ssh(node, f"umask 077; echo wrong-password > {WRONG_PASSWORD_FILE}")
    failed = playbook(
        lab,
        "backup_pvs.yml",
        {"pv_backup_hook": "scale", "pv_backup_password_file": WRONG_PASSWORD_FILE},
        expect_ok=False,
    )
    assert "wrong password" in failed.stdout
    # the hook was undone: all replicas back and Ready, the remembered replicas annotation gone
    sts = statefulset(lab)
    assert sts["spec"]["replicas"] == 3 and sts["status"].get("readyReplicas") == 3
    assert ANNOTATION not in sts["metadata"].get("annotations", {})


def test_restore_with_wrong_password_fails_before_touching_anything(kube_lab, backed_up):
    lab = kube_lab
    generation = statefulset(lab)["metadata"]["generation"]
    failed = playbook(
        lab,
        "restore_pvs.yml",
        {"pv_restore_confirm": True, "pv_restore_password_file": WRONG_PASSWORD_FILE},
        expect_ok=False,
    )
    assert "wrong password" in failed.stdout
    sts = statefulset(lab)
    assert sts["metadata"]["generation"] == generation, "the StatefulSet was changed"
    assert sts["status"].get("readyReplicas") == 3


def test_restore_needs_confirmation(kube_lab, backed_up):
    failed = playbook(kube_lab, "restore_pvs.yml", expect_ok=False)
    assert "pv_restore_confirm must be true" in failed.stdout


def test_restore_brings_back_exactly_the_backed_up_data(kube_lab, backed_up):
    lab = kube_lab
    where = backed_up["where"]
    for pod in PODS:
        in_pod(lab, pod, f"echo written after the backup by {pod} > /data/after-backup")
    # destroy: the payload of data-0 deleted on its node (stale data left beside it), the whole volume
    # of data-1 emptied (a new disk), data-2 only has the file written after the backup
    node0, path0 = where[PODS[0]]
    lab.ssh(node0, f"rm {path0}/payload")
    node1, path1 = where[PODS[1]]
    lab.ssh(node1, f"find {path1} -mindepth 1 -delete")
    assert in_pod(lab, PODS[0], "test -f /data/payload", check=False).returncode != 0

    run = playbook(
        lab, "restore_pvs.yml", {"pv_restore_confirm": True, "pv_restore_mode": "0755", "pv_restore_owner": 0}
    )
    lab.restore_seconds = run.seconds
    wait_for(lambda: all_ready(lab), "StatefulSet Ready after the restore", 120)
    assert ANNOTATION not in statefulset(lab)["metadata"].get("annotations", {})
    for pod in PODS:
        node, path = where[pod]
        inside = in_pod(lab, pod, "sha256sum /data/payload").stdout.split()[0]
        assert inside == sha256(kube.payload(pod)), pod
        assert in_pod(lab, pod, "test -e /data/after-backup", check=False).returncode != 0, pod
        # restic put back the file's own mtime: the pod did not write it again
        assert lab.ssh(node, f"stat -c %Y {path}/payload").stdout.strip() == backed_up["mtimes"][pod], pod
    # what was there is kept aside on the node: the stale data with the file written after the backup
    for pod in (PODS[0], PODS[2]):
        node, path = where[pod]
        moved = lab.ssh(
            node, f"ls -d {path}.moved-* {path}/.kubedr-moved-* 2>/dev/null", check=False
        ).stdout.split()
        assert len(moved) == 1, (pod, moved)
        kept = lab.ssh(node, f"cat {moved[0]}/after-backup").stdout
        assert kept == f"written after the backup by {pod}\n"
    # the emptied volume had nothing to keep aside
    node, path = where[PODS[1]]
    assert (
        lab.ssh(node, f"ls -d {path}.moved-* {path}/.kubedr-moved-* 2>/dev/null", check=False).stdout.split()
        == []
    )
    print(f"backup {getattr(lab, 'backup_seconds', 0):.0f}s, restore {lab.restore_seconds:.0f}s")
