"""Local PV backup and restore on the kubeadm lab: the lab's StatefulSet kubedr-lab/data (3 replicas on
local PVs of w1/w2) backed up with playbooks/backup_pvs.yml into one shared sftp restic repository on the
vault host (set up by the restic role), its data then changed and destroyed on the workers, and
restored with playbooks/restore_pvs.yml; plus the failure paths: a pre hook that fails, a wrong
password during a backup that scaled the StatefulSet down, a wrong password for a restore, a missing
repository, a stale lock left by a killed restic, a live lock held by a running one, and the vault's sshd
out of reach. Each fails (or, for the stale lock, goes through) with a clear message, the StatefulSet
back at 3 Ready replicas, and no data lost."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import signal
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


WRAPPER = "/srv/kubedr/restic-wrapper"


def install_restic_wrapper(lab, node: str, fail_restore: bool) -> None:
    """restic on `node` behind WRAPPER, which refuses `restore` when fail_restore (every other command is
    the real one): the restore of the volumes on that node fails after the snapshots were listed."""
    script = "#!/bin/sh\n"
    if fail_restore:
        script += (
            'for a in "$@"; do if [ "$a" = restore ]; then'
            ' echo "Fatal: injected restore failure (test)" >&2; exit 1; fi; done\n'
        )
    script += f'exec {RESTIC} "$@"\n'
    encoded = base64.b64encode(script.encode()).decode()
    lab.ssh(node, f"echo {encoded} | base64 -d > {WRAPPER} && chmod 0755 {WRAPPER}")


def test_a_volume_that_fails_to_restore_swaps_none_and_keeps_it_at_zero(kube_lab, backed_up):
    """All or nothing (issue 12.8): the restore of the volumes on one node fails; no volume is swapped, no
    staged copy is left, the StatefulSet stays at zero replicas with its replicas in the annotation, and
    the message names the failed PVCs. A rerun with restic working restores every volume."""
    lab = kube_lab
    where = backed_up["where"]
    failing = where[PODS[1]][0]
    failed_pvcs = [f"data-{pod}" for pod in PODS if where[pod][0] == failing]
    for pod in PODS:
        in_pod(lab, pod, f"echo before the failed restore > /data/before-failed-restore-{pod}")

    def moved_and_staged(node, path):
        return lab.ssh(
            node,
            f"ls -d {path}.moved-* {path}/.kubedr-moved-* {path}.restore-* {path}/.kubedr-restore-*"
            f" {os.path.dirname(path)}/.{os.path.basename(path)}.kubedr-staged.json 2>/dev/null",
            check=False,
        ).stdout.split()

    aside_before = {pod: moved_and_staged(*where[pod]) for pod in PODS}
    try:
        for node in {node for node, _path in where.values()}:
            install_restic_wrapper(lab, node, fail_restore=node == failing)
        failed = playbook(
            lab,
            "restore_pvs.yml",
            {"pv_restore_confirm": True, "pv_restore_restic_path": WRAPPER},
            expect_ok=False,
        )
        out = " ".join(failed.stdout.split())
        assert "failed before any volume was swapped" in out, out[-4000:]
        assert "Nothing was swapped" in out and "The staged copies were removed." in out
        for pvc in failed_pvcs:
            assert f"PVC {pvc} ({failing}:" in out
        assert "injected restore failure" in out
        sts = statefulset(lab)
        assert sts["spec"]["replicas"] == 0, "scaled back up on data from two points in time"
        assert sts["metadata"]["annotations"][ANNOTATION] == "3"
        for pod in PODS:  # every volume holds what it held: nothing swapped, nothing staged left
            node, path = where[pod]
            kept = lab.ssh(node, f"cat {path}/before-failed-restore-{pod}").stdout
            assert kept == "before the failed restore\n", pod
            assert moved_and_staged(node, path) == aside_before[pod], pod
    finally:
        for node in {node for node, _path in where.values()}:
            lab.ssh(node, f"rm -f {WRAPPER}", check=False)

    playbook(lab, "restore_pvs.yml", {"pv_restore_confirm": True})
    assert_scaled_back(lab)
    payload_intact(lab)
    for pod in PODS:
        gone = in_pod(lab, pod, f"test -e /data/before-failed-restore-{pod}", check=False).returncode != 0
        assert gone, f"{pod}: the retry did not restore its volume"


# --- error cases: missing repository, stale and live locks, repository host unreachable -------------


def lock_ids(lab) -> set[str]:
    """Lock files of the shared repository, read on the vault host's /srv through the lab directory."""
    locks = lab.dir / "hosts" / "vault" / REPOSITORY_PATH.lstrip("/") / "locks"
    return {p.name for p in locks.iterdir() if re.fullmatch("[0-9a-f]{64}", p.name)}


def restic_env(lab) -> str:
    return (
        f"RESTIC_REPOSITORY=sftp:root@{lab.address('vault')}:{REPOSITORY_PATH}"
        f" RESTIC_PASSWORD_FILE={PASSWORD_FILE}"
    )


def is_restic_check(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return argv[0].endswith(b"restic") and b"check" in argv


@contextlib.contextmanager
def exclusive_lock(lab, node: str):
    """A `restic check --read-data` on `node` holding the repository's exclusive lock, frozen with SIGSTOP
    (its process exists: a live lock). Yields (pid, lock id). The lab hosts share this machine's pid
    namespace, so the test signals it by the pid the node printed; at the end it is killed by that pid and
    its stale lock removed with `restic unlock` on the node."""
    before = lock_ids(lab)
    pid = int(
        lab.ssh(
            node,
            f"{restic_env(lab)} nohup {RESTIC} --no-cache check --read-data"
            " >/dev/null 2>&1 </dev/null & echo $!",
        ).stdout.split()[-1]
    )
    try:
        deadline = time.monotonic() + 120
        while not lock_ids(lab) - before:
            # right after `&` the pid may still be the shell or nohup, before it execs restic
            assert Path(f"/proc/{pid}/cmdline").exists(), "restic check ended before it took its lock"
            assert time.monotonic() < deadline, "restic check took no lock"
            time.sleep(0.005)
        assert is_restic_check(pid), f"pid {pid} is not the restic check started here"
        os.kill(pid, signal.SIGSTOP)
        yield pid, (lock_ids(lab) - before).pop()
    finally:
        if is_restic_check(pid):
            os.kill(pid, signal.SIGKILL)
        # until it is reaped, restic on the node still sees the process and calls its lock live
        wait_for(lambda: not Path(f"/proc/{pid}").exists(), "the killed restic reaped", 60)
        lab.ssh(node, f"{restic_env(lab)} {RESTIC} unlock", check=False)


@pytest.fixture(scope="module")
def ballast(kube_lab, backed_up):
    """64 MiB of random data in the repository (its own restic host), so `restic check --read-data`
    holds its lock long enough to be caught."""
    lab = kube_lab
    node = backed_up["where"][PODS[0]][0]
    lab.ssh(node, "mkdir -p /srv/kubedr/ballast && head -c 67108864 /dev/urandom > /srv/kubedr/ballast/blob")
    lab.ssh(node, f"{restic_env(lab)} {RESTIC} backup -q --host {CLUSTER}/lock-ballast /srv/kubedr/ballast")
    return node


def assert_scaled_back(lab):
    wait_for(lambda: all_ready(lab), "StatefulSet back at 3 Ready replicas", 180)
    assert ANNOTATION not in statefulset(lab)["metadata"].get("annotations", {})


def payload_intact(lab):
    for pod in PODS:
        assert in_pod(lab, pod, "sha256sum /data/payload").stdout.split()[0] == sha256(kube.payload(pod)), pod


def test_missing_repository_fails_before_touching_anything(kube_lab, backed_up):
    lab = kube_lab
    missing = f"sftp:root@{lab.address('vault')}:{REPOSITORY_PATH}-missing"
    generation = statefulset(lab)["metadata"]["generation"]
    failed = playbook(
        lab, "backup_pvs.yml", {"pv_backup_hook": "scale", "pv_backup_repository": missing}, expect_ok=False
    )
    assert "PV backup stopped before it started (no hook ran, nothing was backed up)" in failed.stdout
    assert "does not exist: create it with the kubedr.kubeadm.restic role" in failed.stdout
    assert statefulset(lab)["metadata"]["generation"] == generation, "the StatefulSet was touched"
    restored = playbook(
        lab,
        "restore_pvs.yml",
        {"pv_restore_confirm": True, "pv_restore_repository": missing},
        expect_ok=False,
    )
    assert "does not exist" in restored.stdout
    assert statefulset(lab)["metadata"]["generation"] == generation, "the StatefulSet was touched"
    assert lab.ssh("vault", f"test -e {REPOSITORY_PATH}-missing", check=False).returncode != 0, "created"
    assert_scaled_back(lab)
    payload_intact(lab)


def test_stale_lock_of_a_killed_restic_is_removed_and_the_backup_goes_through(kube_lab, backed_up, ballast):
    lab = kube_lab
    with exclusive_lock(lab, ballast) as (pid, lock):
        os.kill(pid, signal.SIGKILL)  # gone: its exclusive lock is stale, and would block every backup
        wait_for(lambda: not Path(f"/proc/{pid}").exists(), "the killed restic reaped", 60)
        assert lock in lock_ids(lab)
        in_pod(lab, PODS[1], "echo new > /data/after-stale-lock")  # so the backup takes a new snapshot
        try:
            run = playbook(lab, "backup_pvs.yml", {"pv_backup_hook": "scale", "pv_backup_retry_lock": "5s"})
        finally:
            in_pod(lab, PODS[1], "rm -f /data/after-stale-lock", check=False)
        assert lock not in lock_ids(lab)
        warnings = run.stdout + run.stderr  # Ansible prints warnings on stderr
        assert "removed 1 stale lock(s)" in warnings and lock[:8] in warnings
    assert_scaled_back(lab)
    taken = [s for s in snapshots(lab, ballast) if s["hostname"] == f"{CLUSTER}/{NS}/data-{PODS[1]}"]
    assert len(taken) >= 2, "no new snapshot of the changed volume"


def test_live_lock_fails_clearly_is_left_alone_and_everything_is_scaled_back(kube_lab, backed_up, ballast):
    lab = kube_lab
    before = len(snapshots(lab, ballast))
    with exclusive_lock(lab, ballast) as (pid, lock):
        in_pod(lab, PODS[0], "echo new > /data/during-live-lock")  # a backup would take a new snapshot
        try:
            started = time.monotonic()
            failed = playbook(
                lab,
                "backup_pvs.yml",
                {"pv_backup_hook": "scale", "pv_backup_retry_lock": "5s"},
                expect_ok=False,
            )
            waited = time.monotonic() - started
        finally:
            in_pod(lab, PODS[0], "rm -f /data/during-live-lock", check=False)
        assert "PV backup failed for 1 group(s)" in failed.stdout
        assert "locked by a running restic process and stayed locked for retry_lock=5s" in failed.stdout
        assert f"locked exclusively by PID {pid}" in failed.stdout and "left in place" in failed.stdout
        assert lock in lock_ids(lab) and is_restic_check(pid), "the live lock or its process was removed"
        assert waited >= 5
        assert_scaled_back(lab)

        # a restore meets the lock while it lists the snapshots: before the StatefulSet is touched
        generation = statefulset(lab)["metadata"]["generation"]
        restore = playbook(
            lab,
            "restore_pvs.yml",
            {"pv_restore_confirm": True, "pv_restore_retry_lock": "5s"},
            expect_ok=False,
        )
        assert "locked by a running restic process" in restore.stdout
        assert statefulset(lab)["metadata"]["generation"] == generation, "the StatefulSet was touched"
        assert lock in lock_ids(lab)
    assert len(snapshots(lab, ballast)) == before, "a snapshot was written under the live lock"
    assert_scaled_back(lab)
    payload_intact(lab)


@contextlib.contextmanager
def vault_ssh_refused(lab, nodes: set[str]):
    """The vault's sshd out of reach for the workers: a REJECT rule (TCP reset) in the vault host's own
    network namespace, for the workers' addresses only (the controller still reaches it); removed after."""
    rules = [
        f"INPUT -p tcp --dport 22 -s {lab.address(node)} -j REJECT --reject-with tcp-reset" for node in nodes
    ]
    for rule in rules:
        lab.ssh("vault", f"iptables -I {rule}")
    try:
        yield
    finally:
        for rule in rules:
            lab.ssh("vault", f"iptables -D {rule}", check=False)


def test_repository_host_unreachable_fails_clearly_before_touching_anything(kube_lab, backed_up):
    lab = kube_lab
    nodes = {node for node, _path in backed_up["where"].values()}
    generation = statefulset(lab)["metadata"]["generation"]
    with vault_ssh_refused(lab, nodes):
        failed = playbook(lab, "backup_pvs.yml", {"pv_backup_hook": "scale"}, expect_ok=False)
        assert "PV backup stopped before it started" in failed.stdout
        assert "cannot reach the backend of restic repository sftp:" in failed.stdout
        assert "Connection refused" in failed.stdout
        assert statefulset(lab)["metadata"]["generation"] == generation, "the StatefulSet was touched"
        restore = playbook(lab, "restore_pvs.yml", {"pv_restore_confirm": True}, expect_ok=False)
        assert "cannot reach the backend of restic repository" in restore.stdout
        assert statefulset(lab)["metadata"]["generation"] == generation, "the StatefulSet was touched"
        # with the stale-lock step off, the scale hook runs first and is undone after the failed backup
        hooked = playbook(
            lab,
            "backup_pvs.yml",
            {"pv_backup_hook": "scale", "pv_backup_unlock_stale": False},
            expect_ok=False,
        )
        assert "PV backup failed for 1 group(s)" in hooked.stdout
        assert "cannot reach the backend of restic repository" in hooked.stdout
    assert_scaled_back(lab)
    payload_intact(lab)
    assert playbook(lab, "backup_pvs.yml").returncode == 0, "the backup does not work again once reachable"
