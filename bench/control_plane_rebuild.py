"""Benchmark: a full control-plane rebuild through the role against the same steps run by hand.

On a kubeadm lab of its own (bench/kube_lab_spec.toml), after one `playbooks/backup.yml` (dir target):

  1. every control-plane host wiped (`lab wipe`: kubelet stopped, containers killed, /etc/kubernetes,
     /var/lib/etcd, /var/lib/kubelet, /var/lib/kubedr emptied), then
     `ansible-playbook playbooks/rebuild_control_plane.yml` timed from start to exit;
  2. the same hosts wiped again, then the raw steps an operator types, each timed on its own:
     copy the backup set to the first host, put back the CAs and service-account keys,
     `etcdutl snapshot restore` (bumped revision, compacted), `kubeadm init` on that data, wait for
     the API, certificate key + upload-certs + token, then per other control-plane host
     `kubeadm join --control-plane` and wait until it is a voting member with a ready API server,
     and finally every node Ready and every control-plane static pod Running and Ready.

It prints both times, the phases, and the ratio role / raw (target at most 1.3). The raw steps run
straight inside the hosts' namespaces (no SSH), so their sum leaves out everything an operator adds
(typing, reading, SSH): the comparison is strict. Both rounds end with the same check (5 nodes
Ready, 3 voting etcd members, an object from before the backup present).

    .venv/bin/python bench/control_plane_rebuild.py            # lab up, both rounds, lab down
    .venv/bin/python bench/control_plane_rebuild.py --keep     # leave the lab up afterwards
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from kube_bench import BIN, ETCDCTL, ETCDUTL, REPO, lab, lab_up, log  # first: it points lab at the bench lab

from lab import kube  # noqa: E402  (after kube_bench)
from lab.state import State  # noqa: E402

TARGET = 1.3
# What the role puts back from the old PKI (_rebuild_plan.PKI_FILES), by hand.
PKI = ["ca.crt", "ca.key", "sa.key", "sa.pub", "front-proxy-ca.crt", "front-proxy-ca.key",
       "etcd/ca.crt", "etcd/ca.key"]
MARKER = "bench-before-backup"


def playbook(name: str, *extra: str) -> str:
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", os.environ["KUBEDR_LAB_INVENTORY"],
                             str(REPO / "playbooks" / name), *extra], cwd=REPO, capture_output=True,
                            text=True, timeout=3600, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{result.stdout[-6000:]}{result.stderr[-2000:]}")
    return result.stdout


class Stopwatch:
    """The raw steps, each timed on its own; their sum is the raw rebuild time."""

    def __init__(self):
        self.steps: list[tuple[str, float]] = []

    def step(self, name: str, action, *args):
        started = time.monotonic()
        result = action(*args)
        self.steps.append((name, time.monotonic() - started))
        log(f"  raw: {name}: {self.steps[-1][1]:.1f}s")
        return result

    @property
    def total(self) -> float:
        return sum(seconds for _, seconds in self.steps)


def poll(what: str, test, timeout: float = 600) -> None:
    """Wait for test() to be true, checking every 0.5 s (tighter than the role's 2-3 s)."""
    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not after {timeout:.0f}s")
        time.sleep(0.5)


def api_ready(host) -> bool:
    return kube.in_host(host, ["kubectl", "--kubeconfig=/etc/kubernetes/admin.conf",
                               f"--server=https://{host.address}:{kube.API_PORT}", "get", "--raw", "/readyz"],
                        check=False, timeout=30).returncode == 0


def voting(anchor, name: str) -> bool:
    listing = kube.in_host(anchor, [*ETCDCTL, "member", "list", "-w", "json"], check=False, timeout=30)
    if listing.returncode != 0:
        return False
    members = json.loads(listing.stdout).get("members", [])
    return any(m.get("name") == name and not m.get("isLearner") for m in members)


def static_pods_ready(host) -> set[str]:
    listing = kube.in_host(host, ["kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "get", "pods",
                                  "-n", "kube-system", "-l", "tier=control-plane", "-o", "json"],
                           check=False, timeout=30)
    if listing.returncode != 0:
        return set()
    return {p["metadata"]["name"] for p in json.loads(listing.stdout)["items"]
            if p["status"].get("phase") == "Running"
            and any(c["type"] == "Ready" and c["status"] == "True"
                    for c in p["status"].get("conditions", []))}


def newest_backup_set(vault, cluster: str) -> str:
    found = kube.in_host(vault, ["sh", "-c", f"ls -1d /srv/kubedr/etcd-backup/{cluster}/*/ | sort | tail -1"])
    path = found.stdout.strip().rstrip("/")
    if not path:
        raise RuntimeError(f"no backup set under /srv/kubedr/etcd-backup/{cluster} on {vault.name}")
    return path


def copy_set(vault, first, source: str) -> None:
    """scp -r, as an operator would: a tar stream from the backup host into the first host."""
    sender = subprocess.Popen([*kube.hosts.enter(vault), "tar", "-C", source, "-cf", "-", "."],
                              stdout=subprocess.PIPE, env=kube.HOST_ENV)
    unpack = "mkdir -p /root/rebuild && tar -C /root/rebuild -xf -"
    subprocess.run([*kube.hosts.enter(first), "sh", "-c", unpack], stdin=sender.stdout,
                   check=True, env=kube.HOST_ENV, timeout=600)
    sender.stdout.close()
    if sender.wait(timeout=60) != 0:
        raise RuntimeError("tar on the backup host failed")


def raw_rebuild(spec) -> Stopwatch:
    first, *others = spec.by_role("control_plane")
    vault = spec.by_role("backup")[0]
    endpoint = kube.control_plane_endpoint(spec)
    watch = Stopwatch()
    source = newest_backup_set(vault, spec.cluster)
    watch.step("copy the backup set to the first host", copy_set, vault, first, source)
    copies = " && ".join(f"cp /root/rebuild/config/pki/{f} /etc/kubernetes/pki/{f}" for f in PKI)
    watch.step("put back the CAs and service-account keys", kube.in_host, first,
               ["sh", "-c", f"mkdir -p /etc/kubernetes/pki/etcd && {copies}"])
    peer = f"https://{first.address}:2380"
    watch.step("etcdutl snapshot restore", kube.in_host, first, [
        "sh", "-c", f"{ETCDUTL} snapshot restore /root/rebuild/etcd/snapshot.db"
        f" --data-dir /var/lib/etcd/restored --name {first.name} --initial-cluster {first.name}={peer}"
        f" --initial-advertise-peer-urls {peer}"
        " --initial-cluster-token bench-raw --bump-revision 1000000000 --mark-compacted"
        " && mv /var/lib/etcd/restored/member /var/lib/etcd/member && rmdir /var/lib/etcd/restored"])
    watch.step("kubeadm init on the restored data", kube.kubeadm, first,
               ["init", "--ignore-preflight-errors=DirAvailable--var-lib-etcd"],
               kube.kubeadm_config(spec, first, endpoint), log)
    watch.step(f"API server on {first.name} ready", poll, "API ready", lambda: api_ready(first))
    # the snapshot holds the old Node objects, still "Ready" for a while: kubeadm join refuses those names
    watch.step("delete the other control-plane Nodes", kube.in_host, first,
               ["kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "delete", "node",
                *(h.name for h in others)])
    material = watch.step("certificate key, upload-certs, join token", kube.join_material, first)
    for host in others:  # one at a time: etcd keeps its quorum
        watch.step(f"kubeadm join --control-plane {host.name}", kube.kubeadm, host, ["join"],
                   kube.kubeadm_config(spec, host, endpoint, material), log)
        watch.step(f"{host.name} voting etcd member, API ready", poll, f"{host.name} joined",
                   lambda h=host: voting(first, h.name) and api_ready(h))
    nodes = [h.name for h in spec.by_role("control_plane") + spec.by_role("workers")]
    watch.step("every node Ready", kube.wait_for, f"{len(nodes)} nodes Ready", kube.nodes_ready(nodes), 600,
               lambda _line: None)
    # as the role's verify: a Ready Node can still be starting its static pods
    names = {f"{c}-{h.name}" for c in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
             for h in spec.by_role("control_plane")}
    watch.step("every control-plane static pod Running and Ready", poll, "static pods Ready",
               lambda: names <= static_pods_ready(first))
    return watch


def check(spec) -> None:
    """What both rounds must end with."""
    first = spec.by_role("control_plane")[0]
    nodes = [h.name for h in spec.by_role("control_plane") + spec.by_role("workers")]
    kube.wait_for("nodes Ready", kube.nodes_ready(nodes), 300, log)
    members = json.loads(kube.in_host(first, [*ETCDCTL, "member", "list", "-w", "json"]).stdout)["members"]
    voters = sorted(m["name"] for m in members if not m.get("isLearner"))
    if voters != sorted(h.name for h in spec.by_role("control_plane")):
        raise RuntimeError(f"etcd voters after the rebuild: {voters}")
    kube.kubectl("get", "configmap", MARKER, "-n", "default")


def wipe(spec) -> None:
    lab("wipe", *(h.name for h in spec.by_role("control_plane")), timeout=600)


def role_rebuild(spec) -> float:
    """The rebuild through the role, from wiped control-plane hosts; its wall time."""
    wipe(spec)
    started = time.monotonic()
    # the control plane only, as the raw steps: the workers' disks and their PV data stay
    output = playbook("rebuild_control_plane.yml", "-e", f"cluster={spec.cluster}",
                      "-e", json.dumps({"control_plane_rebuild_confirm": f"rebuild {spec.cluster}",
                                        "control_plane_rebuild_restore_pvs": False}))
    role = time.monotonic() - started
    phases = [line.strip() for line in output.splitlines() if " done in " in line]
    check(spec)
    log(f"role: {role:.1f}s ({phases[-1] if phases else 'no report line'})")
    return role


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="leave the bench lab up at the end")
    parser.add_argument("--role-seconds", type=float,
                        help="skip the role's round and compare with this time of an earlier one")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("the lab needs root")
    try:
        started = time.monotonic()
        lab_up()
        log(f"lab up: {time.monotonic() - started:.0f}s")
        spec = State.load().spec
        if args.role_seconds:  # the backup set of that earlier run is still on the backup host
            role = args.role_seconds
        else:
            kube.kubectl("create", "configmap", MARKER, "-n", "default", check=False)
            playbook("backup.yml", "-e", "backup_pvs=false",
                     "-e", json.dumps({"etcd_backup_targets": ["dir"]}))
            role = role_rebuild(spec)

        wipe(spec)
        raw = raw_rebuild(spec)
        check(spec)

        load = os.getloadavg()
        log("\n| step (raw, by hand) | s |\n|---|---|")
        for name, seconds in raw.steps:
            log(f"| {name} | {seconds:.1f} |")
        log(f"\nrole (ansible-playbook rebuild_control_plane.yml): {role:.1f}s")
        log(f"raw steps, summed: {raw.total:.1f}s")
        log(f"ratio role/raw: {role / raw.total:.2f} (target <= {TARGET}); "
            f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
        return 0 if role / raw.total <= TARGET else 1
    finally:
        if not args.keep:
            lab("down", timeout=900)


if __name__ == "__main__":
    sys.exit(main())
