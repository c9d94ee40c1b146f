"""Benchmark: `playbooks/backup.yml` (etcd and config, no PVs) against the same work done by hand.

On a kubeadm lab of its own (bench/kube_lab_spec.toml), in one run so both sides see the same load:

  1. one untimed `backup.yml -e backup_pvs=false` sets restic up on the control-plane hosts (key, password
     file, repository), as the first night does; a raw restic repository is initialised on the backup host;
     with --fill-mib, etcd is first filled with that many MiB of random values under /kubedr-bench/
     (keys the API server never reads);
  2. per round (--rounds, the two sides alternate who goes first):
       role: `ansible-playbook playbooks/backup.yml -e backup_pvs=false`, steady state, wall clock of the
             whole process (the inventory's targets: restic over sftp and the backup host's directory);
       raw:  the same work on the source host, each step timed, run straight in the host's namespaces (no
             SSH, nothing typed): `etcdctl snapshot save`, `etcdutl snapshot status`, a trial
             `etcdutl snapshot restore` into scratch space, the kubeadm and kubelet ConfigMaps and the node
             list read with kubectl, the PKI, manifests and those files copied into a staging directory,
             `restic backup` of the snapshot and of the config over sftp to the backup host (two
             snapshots, as the role), `restic forget --prune` with the role's retention, and the set
             copied into a directory on the backup host (a tar stream);
  3. prints the steps, both times and the ratio role/raw per round and for the medians. Targets (issue 13):
     at most 4x at the lab's size, at most 1.5x at a 1 GiB database; the exit code says whether the
     target for the size run was met.

    .venv/bin/python bench/backup.py                     # lab up, 3 rounds, lab down
    .venv/bin/python bench/backup.py --fill-mib 1024     # the 1 GiB case
    .venv/bin/python bench/backup.py --keep              # leave the lab up afterwards
    .venv/bin/python bench/backup.py --role-extra restic_setup_check=false   # without the set-up check
    .venv/bin/python bench/backup.py --scheduled   # as etcd_backup_schedule's timer runs it (its extra args)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from kube_bench import (  # first: it points lab at the bench lab
    ETCDCTL,
    ETCDUTL,
    REPO,
    lab,
    lab_up,
    log,
    playbook,
    slowest_tasks,
)

from lab import hosts, kube  # noqa: E402  (after kube_bench)
from lab.inventory import backup_vars  # noqa: E402
from lab.state import State  # noqa: E402

KUBECTL = ["kubectl", "--kubeconfig=/etc/kubernetes/admin.conf"]
RAW = "/srv/kubedr-bench-raw"  # scratch space on the source host (/srv is each lab host's own)
RAW_REPOSITORY = "/srv/restic/bench-raw"  # on the backup host
RAW_DIR = "/srv/kubedr/bench-raw-sets"  # on the backup host
# etcd_backup_schedule's default etcd_backup_schedule_extra_args: the timer's runs skip the restic set-up
SCHEDULED = ("--skip-tags", "etcd_backup_restic_setup")
FILL_VALUE = 1 << 20  # etcd's default request limit is 1.5 MiB


def backup_playbook(*extra: str, profile: Path | None = None) -> tuple[float, str]:
    return playbook("backup.yml", "-e", "backup_pvs=false", *extra, profile=profile)


def sh(host, script: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return kube.in_host(host, ["sh", "-c", script], timeout=timeout)


def fill(host, mib: int) -> None:
    """mib MiB of random 1 MiB values under /kubedr-bench/, one etcdctl put each (value on stdin)."""
    etcdctl = " ".join(ETCDCTL)
    sh(host, f"mkdir -p {RAW} && i=0; while [ $i -lt {mib} ]; do"
             f" head -c {FILL_VALUE * 3 // 4} /dev/urandom | base64 -w0 > {RAW}/value &&"
             f" {etcdctl} put /kubedr-bench/$i < {RAW}/value > /dev/null || exit 1; i=$((i + 1)); done;"
             f" rm -f {RAW}/value", timeout=3600)


def restic_env(vault) -> str:
    """What the raw steps export: a repository the role's SSH set-up reaches, the role's password file."""
    password_file = backup_vars()["restic_password_file"]
    return (f"RESTIC_REPOSITORY=sftp:root@{vault.address}:{RAW_REPOSITORY} "
            f"RESTIC_PASSWORD_FILE={password_file} RESTIC_PROGRESS_FPS=0.016 ")


def raw_backup(source, vault, cluster: str) -> list[tuple[str, float]]:
    """The role's work by hand on the source host; each step with its wall time."""
    steps: list[tuple[str, float]] = []
    etcdctl, kubectl, restic = " ".join(ETCDCTL), " ".join(KUBECTL), restic_env(vault) + "restic"
    stage = f"{RAW}/stage"
    tags = f"--host {cluster} --tag kubedr --tag cluster:{cluster}"

    def step(name: str, script: str, host=source) -> None:
        started = time.monotonic()
        sh(host, script)
        steps.append((name, time.monotonic() - started))

    sh(source, f"rm -rf {stage} {RAW}/trial && mkdir -p -m 0700 {stage}/etcd {stage}/config")
    step("etcdctl snapshot save", f"{etcdctl} snapshot save {stage}/etcd/snapshot.db > /dev/null")
    step("etcdutl snapshot status", f"{ETCDUTL} snapshot status {stage}/etcd/snapshot.db -w json > /dev/null")
    step("trial restore (etcdutl snapshot restore)",
         f"{ETCDUTL} snapshot restore {stage}/etcd/snapshot.db --data-dir {RAW}/trial > /dev/null 2>&1"
         f" && rm -rf {RAW}/trial")
    step("ConfigMaps and nodes (kubectl)",
         f"{kubectl} -n kube-system get configmap kubeadm-config -o 'jsonpath={{.data.ClusterConfiguration}}'"
         f" > {stage}/config/kubeadm-config.yaml && {kubectl} -n kube-system get configmap kubelet-config"
         f" -o 'jsonpath={{.data.kubelet}}' > {stage}/config/kubelet-config.yaml"
         f" && {kubectl} get nodes -o json > {stage}/etcd/nodes.json")
    step("stage the PKI and manifests (cp -a)",
         f"cp -a /etc/kubernetes/pki {stage}/config/pki && cp -a /etc/kubernetes/manifests {stage}/config/")
    step("restic backup (etcd, then config; sftp)",
         f"{restic} backup --json {tags} --tag kind:etcd {stage}/etcd > /dev/null"
         f" && {restic} backup --json {tags} --tag kind:pki {stage}/config > /dev/null")
    step("restic forget --prune (the role's retention)",
         f"{restic} forget --json --host {cluster} --tag kind:etcd --group-by host,paths --keep-last 14"
         f" --keep-within 7d --prune > /dev/null && {restic} forget --json --host {cluster} --tag kind:pki"
         f" --group-by host,paths --keep-last 14 --keep-within 7d --prune > /dev/null")
    started = time.monotonic()
    name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    sender = subprocess.Popen([*hosts.enter(source), "tar", "-C", stage, "-cf", "-", "etcd", "config"],
                              stdout=subprocess.PIPE, env=kube.HOST_ENV)
    subprocess.run([*hosts.enter(vault), "sh", "-c",
                    f"mkdir -p {RAW_DIR}/.{name}.part && tar -C {RAW_DIR}/.{name}.part -xpf -"
                    f" && mv -T {RAW_DIR}/.{name}.part {RAW_DIR}/{name}"],
                   stdin=sender.stdout, check=True, env=kube.HOST_ENV, timeout=1800)
    sender.stdout.close()
    if sender.wait(timeout=60) != 0:
        raise RuntimeError("tar on the source host failed")
    steps.append(("copy the set to the backup host's directory (tar stream)", time.monotonic() - started))
    return steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fill-mib", type=int, default=0, help="fill etcd with this many MiB first")
    parser.add_argument("--keep", action="store_true", help="leave the bench lab up at the end")
    parser.add_argument("--scheduled", action="store_true",
                        help="time the role as etcd_backup_schedule's timer runs it (its extra args)")
    parser.add_argument("--role-extra", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra var for the timed role runs (repeatable): restic_setup_check=false")
    parser.add_argument("--slowest", type=int, default=12, help="print the N slowest tasks of each role run")
    args = parser.parse_args()
    profile = REPO / ".cache" / "bench-backup-profile"
    if os.geteuid() != 0:
        sys.exit("the lab needs root")
    target = 1.5 if args.fill_mib >= 1024 else 4.0
    try:
        started = time.monotonic()
        lab_up()
        log(f"lab up: {time.monotonic() - started:.0f}s")
        spec = State.load().spec
        first, source = spec.by_role("control_plane")[:2]
        vault = spec.by_role("backup")[0]
        if args.fill_mib:
            started = time.monotonic()
            fill(first, args.fill_mib)
            log(f"etcd filled with {args.fill_mib} MiB: {time.monotonic() - started:.0f}s")
        seconds, _ = backup_playbook()
        log(f"first backup.yml (sets restic up, untimed for the ratio): {seconds:.1f}s")
        env = restic_env(vault)  # a --keep lab has the repository already
        sh(source, f"{env} restic cat config > /dev/null 2>&1 || {env} restic init > /dev/null")
        roles, raws = [], []
        for index in range(args.rounds):
            order = ("role", "raw") if index % 2 == 0 else ("raw", "role")
            for side in order:
                if side == "role":
                    seconds, output = backup_playbook(*(SCHEDULED if args.scheduled else ()),
                                                      *(a for x in args.role_extra for a in ("-e", x)),
                                                      profile=profile)
                    roles.append(seconds)
                    line = next((x.strip() for x in output.splitlines() if "etcd revision=" in x), "")
                    log(f"round {index + 1} role: {seconds:.1f}s  {line.strip(chr(34))}")
                    for task_seconds, name in slowest_tasks(profile, args.slowest):
                        log(f"    {task_seconds:5.2f}s  {name}")
                else:
                    steps = raw_backup(source, vault, spec.cluster)
                    raws.append(sum(s for _, s in steps))
                    log(f"round {index + 1} raw: {raws[-1]:.1f}s")
                    for name, s in steps:
                        log(f"    {name}: {s:.2f}s")
        log("\n| round | role s | raw s | role/raw |\n|---|---|---|---|")
        for index, (role, raw) in enumerate(zip(roles, raws, strict=True)):
            log(f"| {index + 1} | {role:.1f} | {raw:.1f} | {role / raw:.2f} |")
        ratio = statistics.median(roles) / statistics.median(raws)
        load = os.getloadavg()
        status = json.loads(sh(first, " ".join(ETCDCTL) + " endpoint status -w json").stdout)
        size = status[0]["Status"]["dbSize"]
        log(f"\nmedians: role {statistics.median(roles):.1f}s, raw {statistics.median(raws):.1f}s, "
            f"ratio {ratio:.2f} (target <= {target} at this size: etcd database {size / 2**20:.1f} MiB); "
            f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
        return 0 if ratio <= target else 1
    finally:
        if not args.keep:
            lab("down", timeout=900)


if __name__ == "__main__":
    sys.exit(main())
