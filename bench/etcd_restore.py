"""Benchmark: `playbooks/restore_etcd.yml` (the etcd_restore role) against the same steps done by hand.

On a kubeadm lab of its own (bench/kube_lab_spec.toml), with one snapshot taken first (`etcdctl snapshot
save` on the first control-plane host, copied to the controller), per round (--rounds, the two sides
alternate who goes first):

  role: `ansible-playbook playbooks/restore_etcd.yml -e etcd_restore_snapshot_src=<that file>`, wall clock
        of the whole process (preflight, every API server then every etcd stopped, the snapshot restored on
        every member with the old data moved aside, etcd started together, the API servers, the
        controller-manager, scheduler and kubelets restarted, every node Ready);
  raw:  the same steps straight in the hosts' namespaces (no SSH, nothing typed), each timed: the snapshot
        copied to every member, every kube-apiserver manifest moved out and the API servers gone, every
        etcd manifest moved out and etcd gone, old data moved aside and `etcdutl snapshot restore` (same
        bump, marked compacted) on every member, the etcd manifests back and the cluster healthy, the API
        servers back and ready, controller-manager and scheduler manifests out and back, `systemctl
        restart kubelet` on every node, every node Ready.

It prints the steps, both times and the ratio role/raw per round and for the medians (target, issue 13:
at most 1.3); the exit code says whether it was met. Both sides end with the same check: an object
created after the snapshot is gone, one from before it is there.

    .venv/bin/python bench/etcd_restore.py              # lab up, 2 rounds, lab down
    .venv/bin/python bench/etcd_restore.py --keep       # leave the lab up afterwards
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

from lab import kube  # noqa: E402  (after kube_bench)
from lab.state import State  # noqa: E402

TARGET = 1.3
BUMP = 1_000_000_000  # the role's default etcd_restore_bump_revision
KUBECTL = ["kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "--request-timeout=2s"]
MANIFESTS = "/etc/kubernetes/manifests"
# the raw side's parked manifests and snapshot copy, in each host's own /etc/kubernetes (the lab hosts
# share /root)
STASH = "/etc/kubernetes/bench-raw-stash"
SNAPSHOT = "/etc/kubernetes/bench-snapshot.db"
STARTED = int(time.time())
BEFORE, AFTER = "bench-before-snapshot", "bench-after-snapshot"


def poll(what: str, test, timeout: float = 600) -> None:
    """Wait for test() to be true, checking every 0.5 s (tighter than the role's 2 s)."""
    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not after {timeout:.0f}s")
        time.sleep(0.5)


def answers(host, argv: list[str]) -> bool:
    return kube.in_host(host, argv, check=False, timeout=30).returncode == 0


def api_up(host) -> bool:
    server = f"--server=https://{host.address}:{kube.API_PORT}"
    return answers(host, [*KUBECTL, server, "get", "--raw", "/readyz"])


def port_open(host, port: int) -> bool:
    """As the role's kubeadm_static_pod tells a component has stopped: its port on the host refuses."""
    return answers(host, ["timeout", "2", "bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"])


# an etcd process in the host's network namespace (the lab hosts share the pid namespace)
ETCD_RUNS = ("self=$(readlink /proc/self/ns/net); for p in /proc/[0-9]*; do"
             " [ \"$(readlink $p/ns/net 2>/dev/null)\" = \"$self\" ] || continue;"
             " c=$(tr '\\0' '\\n' < $p/cmdline 2>/dev/null | head -n1);"
             " [ \"${c##*/}\" = etcd ] && exit 0; done; exit 1")


def etcd_runs(host) -> bool:
    return answers(host, ["sh", "-c", ETCD_RUNS])


def etcd_up(host) -> bool:
    return answers(host, [*ETCDCTL, "--command-timeout=2s", "endpoint", "health"])


class Stopwatch:
    def __init__(self):
        self.steps: list[tuple[str, float]] = []

    def step(self, name: str, action, *args):
        started = time.monotonic()
        action(*args)
        self.steps.append((name, time.monotonic() - started))
        log(f"  raw: {name}: {self.steps[-1][1]:.1f}s")

    @property
    def total(self) -> float:
        return sum(seconds for _, seconds in self.steps)


def each(hosts, argv_of) -> None:
    for host in hosts:
        kube.in_host(host, ["sh", "-c", argv_of(host)])


def raw_restore(spec, snapshot: Path, run: int) -> Stopwatch:
    members = spec.by_role("control_plane")
    nodes = members + spec.by_role("workers")
    cluster = ",".join(f"{h.name}=https://{h.address}:2380" for h in members)
    watch = Stopwatch()
    data = snapshot.read_bytes()

    def copy():
        for host in members:
            subprocess.run([*kube.hosts.enter(host), "sh", "-c", f"cat > {SNAPSHOT}"], input=data, check=True,
                           env=kube.HOST_ENV, timeout=120)

    def park(name):
        each(members, lambda h: f"mkdir -p {STASH} && mv {MANIFESTS}/{name}.yaml {STASH}/")

    def unpark(name):
        each(members, lambda h: f"mv {STASH}/{name}.yaml {MANIFESTS}/")

    watch.step("copy the snapshot to every member", copy)
    def stop(name, port):
        park(name)
        poll(f"{name} gone", lambda: not any(port_open(h, port) for h in members))

    def stop_etcd():
        # etcd's data dir is replaced next: its process must be gone, not only its port closed
        stop("etcd", 2379)
        poll("etcd processes gone", lambda: not any(etcd_runs(h) for h in members))

    watch.step("stop every API server", stop, "kube-apiserver", kube.API_PORT)
    watch.step("stop every etcd", stop_etcd)
    # /var/lib/etcd is a mount point on the lab hosts, as on many sites: its entries move, not the directory
    watch.step("old data aside, etcdutl snapshot restore on every member", each, members, lambda h: (
        f"d=/var/lib/etcd; a=$d/.bench-aside-{run}-{int(time.time())}; s=$d/.bench-new-{run};"
        f" mkdir $a && mv $d/member $a/ &&"
        f" {ETCDUTL} snapshot restore {SNAPSHOT} --data-dir $s --name {h.name}"
        f" --initial-cluster {cluster} --initial-advertise-peer-urls https://{h.address}:2380"
        f" --initial-cluster-token bench-raw-{run} --bump-revision {BUMP} --mark-compacted &&"
        f" mv $s/member $d/ && rmdir $s"))
    watch.step("start etcd, cluster healthy", lambda: (unpark("etcd"), poll(
        "etcd healthy", lambda: all(etcd_up(h) for h in members))))
    watch.step("start the API servers, ready", lambda: (unpark("kube-apiserver"), poll(
        "API servers ready", lambda: all(api_up(h) for h in members))))

    def restart_controllers():
        for name, port in (("kube-controller-manager", 10257), ("kube-scheduler", 10259)):
            stop(name, port)
            unpark(name)
            poll(f"{name} back", lambda p=port: all(port_open(h, p) for h in members))

    watch.step("restart controller-manager and scheduler", restart_controllers)
    watch.step("restart every kubelet", each, nodes, lambda h: "systemctl restart kubelet")
    names = [h.name for h in nodes]
    watch.step("every node Ready", kube.wait_for, f"{len(names)} nodes Ready", kube.nodes_ready(names), 600,
               lambda _line: None)
    return watch


def role_restore(spec, snapshot: Path, run: int, profile: Path) -> float:
    seconds, _ = playbook("restore_etcd.yml", "-e", json.dumps({
        "cluster": spec.cluster,
        "etcd_restore_confirm": f"restore {spec.cluster}",
        "etcd_restore_snapshot_src": str(snapshot),
        "etcd_restore_run_id": f"bench-{STARTED}-{run}",  # unique on a --keep lab too
        "etcd_restore_allow_foreign": True}), profile=profile)
    return seconds


def check() -> None:
    """What both sides must end with: the snapshot's objects, not what came after it."""
    kube.kubectl("get", "configmap", BEFORE, "-n", "default")
    if kube.kubectl("get", "configmap", AFTER, "-n", "default", "--ignore-not-found").strip():
        raise RuntimeError(f"configmap {AFTER} (created after the snapshot) is still there")
    kube.kubectl("create", "configmap", AFTER, "-n", "default")  # for the next round


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="leave the bench lab up at the end")
    parser.add_argument("--slowest", type=int, default=15, help="print the N slowest tasks of each role run")
    args = parser.parse_args()
    profile = REPO / ".cache" / "bench-etcd-restore-profile"
    if os.geteuid() != 0:
        sys.exit("the lab needs root")
    try:
        started = time.monotonic()
        lab_up()
        log(f"lab up: {time.monotonic() - started:.0f}s")
        spec = State.load().spec
        first = spec.by_role("control_plane")[0]
        kube.kubectl("create", "configmap", BEFORE, "-n", "default", check=False)
        kube.kubectl("delete", "configmap", AFTER, "-n", "default", "--ignore-not-found")  # a --keep lab's
        kube.in_host(first, [*ETCDCTL, "snapshot", "save", SNAPSHOT])
        snapshot = REPO / ".cache" / "bench-etcd-restore" / "snapshot.db"
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.write_bytes(subprocess.run([*kube.hosts.enter(first), "cat", SNAPSHOT], capture_output=True,
                                            check=True, env=kube.HOST_ENV, timeout=120).stdout)
        kube.kubectl("create", "configmap", AFTER, "-n", "default")
        rows = []
        for run in range(args.rounds):
            times = {}
            for side in (("role", "raw") if run % 2 == 0 else ("raw", "role")):
                if side == "role":
                    times["role"] = role_restore(spec, snapshot, run, profile)
                    log(f"round {run + 1}: role {times['role']:.1f}s; slowest tasks (s, slowest host):")
                    for task_seconds, name in slowest_tasks(profile, args.slowest):
                        log(f"  {task_seconds:6.1f}  {name}")
                else:
                    watch = raw_restore(spec, snapshot, run)
                    times["raw"], times["steps"] = watch.total, watch.steps
                    log(f"round {run + 1}: raw {watch.total:.1f}s")
                check()
            rows.append(times)
        load = os.getloadavg()
        log("\n| step (raw, by hand, last round) | s |\n|---|---|")
        for name, seconds in rows[-1]["steps"]:
            log(f"| {name} | {seconds:.1f} |")
        log("\n| round | role s | raw s | role/raw |\n|---|---|---|---|")
        for i, r in enumerate(rows, 1):
            log(f"| {i} | {r['role']:.1f} | {r['raw']:.1f} | {r['role'] / r['raw']:.2f} |")
        role = statistics.median(r["role"] for r in rows)
        raw = statistics.median(r["raw"] for r in rows)
        log(f"\nmedian role {role:.1f}s, raw {raw:.1f}s, ratio role/raw {role / raw:.2f}"
            f" (target <= {TARGET});"
            f" load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
        return 0 if role / raw <= TARGET else 1
    finally:
        if not args.keep:
            lab("down", timeout=900)


if __name__ == "__main__":
    sys.exit(main())
