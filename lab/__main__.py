"""python -m lab: test hosts in network namespaces on this machine, with sshd and etcd."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from . import build, etcd, hosts, inventory, kube, proc
from .state import State, lab_dir, load_spec

# what `status` reports per host, when the lab started it
SERVICES = ("sshd", "etcd", "containerd", "kubelet-service", "apiserver-proxy")


def log(line: str) -> None:
    print(line, flush=True)


def cmd_up(args) -> int:
    if args.kube and args.etcd:
        sys.exit("--kube runs etcd as kubeadm's static pods; --etcd runs it without Kubernetes: pick one")
    state = State.load()
    spec = load_spec(args.spec)
    if state.spec and state.spec.to_json() != spec.to_json():
        sys.exit("the lab is up with another spec; run `python -m lab down` first")
    state.data["spec"] = spec.to_json()
    state.save()
    log(f"lab {spec.cluster}: {len(spec.hosts)} hosts on {spec.subnet} (state in {lab_dir()})")
    hosts.ensure_network(spec, state, log)
    for host in spec.hosts:
        hosts.ensure_host(spec, state, host, log)
    hosts.write_known_hosts(spec)
    for host in spec.hosts:
        hosts.wait_ssh(host)
    log(f"  inventory: {inventory.write(spec)}")
    if args.etcd:
        version = args.etcd_version or build.load_pins()["etcd"]["default"]
        installed = {etcd.version_of(h) for h in spec.by_role("control_plane")} - {None}
        if installed and installed != {version}:
            sys.exit(f"etcd {installed.pop()} is installed in the lab; to switch to {version} run "
                     f"`python -m lab etcd recreate --version {version}`")
        etcd.install(spec, version, log)
        members = spec.by_role("control_plane")
        for host in members:
            etcd.start(state, host, log)
        for host in members:
            etcd.wait_listening(host)
    if args.kube:
        kube.up(spec, state, log)
    log("lab is up")
    return 0


def cmd_down(args) -> int:
    state = State.load()
    spec = state.spec
    log(f"tearing down the lab in {lab_dir()}")
    problems = kube.teardown(state, log) + hosts.teardown(state, log)
    if problems:
        for p in problems:
            log(f"  could not undo: {p}")
        return 1
    if spec:
        for host in spec.hosts:
            shutil.rmtree(host.root, ignore_errors=True)
        inventory.remove()
    for leftover in ("ssh", "ns", "hosts", "bin"):  # bin: hosts.shared_copy
        shutil.rmtree(lab_dir() / leftover, ignore_errors=True)
    (lab_dir() / "restic-password").unlink(missing_ok=True)  # the repositories went with the hosts
    state.path.unlink(missing_ok=True)
    if lab_dir().exists() and not any(lab_dir().iterdir()):
        lab_dir().rmdir()
    log("lab is down")
    return 0


def _spec_or_exit(state: State):
    if not state.spec:
        sys.exit("the lab is not up: run `python -m lab up`")
    return state.spec


def cmd_status(args) -> int:
    state = State.load()
    spec = state.spec
    if not spec:
        print(json.dumps({"up": False}) if args.json else "lab is down")
        return 3
    report = {"up": True, "cluster": spec.cluster, "subnet": str(spec.subnet), "hosts": []}
    for host in spec.hosts:
        entry = {"name": host.name, "role": host.role, "address": host.address,
                 "netns": Path(f"/run/netns/{host.netns}").exists()}
        for service in SERVICES:
            record = state.data["processes"].get(f"{host.name}/{service}")
            if record or service == "sshd":
                entry[service] = record["pid"] if proc.alive(record) else None
        if etcd.version_of(host):
            entry["etcd_version"] = etcd.version_of(host)
        report["hosts"].append(entry)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"lab {spec.cluster} on {spec.subnet}, state in {lab_dir()}")
    for e in report["hosts"]:
        services = " ".join(
            f"{s}={'pid ' + str(e[s]) if e[s] else 'down'}" for s in SERVICES if s in e
        )
        version = f" etcd {e['etcd_version']}" if "etcd_version" in e else ""
        print(f"  {e['name']:<6} {e['role']:<14} {e['address']:<15} {services}{version}")
    print(f"inventory: {inventory.inventory_dir()}")
    if kube.kubeconfig_path().exists():
        print(f"kubeconfig: {kube.kubeconfig_path()}")
    return 0


def cmd_ssh(args) -> int:
    state = State.load()
    host = _spec_or_exit(state).host(args.host)
    keys = hosts.ssh_dir()
    argv = ["ssh", "-i", str(keys / "id_ed25519"), "-o", f"UserKnownHostsFile={keys / 'known_hosts'}",
            "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", f"root@{host.address}",
            *args.command]
    os.execvp("ssh", argv)


def cmd_etcd(args) -> int:
    state = State.load()
    spec = _spec_or_exit(state)
    members = [spec.host(n) for n in args.hosts] or spec.by_role("control_plane")
    if args.action == "start":
        for host in members:
            etcd.start(state, host, log)
        for host in members:
            etcd.wait_listening(host)
    elif args.action in ("stop", "kill"):
        for host in members:
            etcd.stop(state, host, log, kill=args.action == "kill")
    elif args.action == "recreate":
        # lab-only: throw the lab's own etcd away and start a fresh cluster of another version
        version = args.version or build.load_pins()["etcd"]["default"]
        for host in spec.by_role("control_plane"):
            etcd.stop(state, host, log)
            # empty the data dir in place: the host's bind mount holds on to this very directory
            for entry in (host.root / "var/lib/etcd").iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            (host.root / etcd.MANIFEST).unlink(missing_ok=True)
        etcd.install(spec, version, log)
        for host in spec.by_role("control_plane"):
            etcd.start(state, host, log)
        for host in spec.by_role("control_plane"):
            etcd.wait_listening(host)
    return 0


def cmd_link(args) -> int:
    """Drills: a dead host. Its link to the lab bridge goes down, so nothing reaches it: not a new SSH
    session, not one kept open by a control master (stopping sshd alone leaves those), not etcd peers."""
    state = State.load()
    spec = _spec_or_exit(state)
    for name in args.hosts:
        host = spec.host(name)
        hosts.run(["ip", "link", "set", host.veth, args.action])
        if args.action == "up":
            hosts.wait_ssh(host, timeout=30)
        log(f"  {host.name}: link {args.action}")
    return 0


def cmd_wipe(args) -> int:
    state = State.load()
    spec = _spec_or_exit(state)
    for name in args.hosts:
        kube.wipe(spec.host(name), log, tuple(args.keep))
    return 0


def cmd_build(args) -> int:
    build.build_all(args.names)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="create the lab hosts (idempotent)")
    up.add_argument("--spec", type=Path, help="lab spec file (default: lab/spec.toml)")
    up.add_argument("--etcd", action="store_true", help="also run a kubeadm-style TLS etcd cluster")
    up.add_argument("--etcd-version", help="etcd release from lab/pins.toml (default: its default)")
    up.add_argument("--kube", action="store_true",
                    help="also bring up a kubeadm HA cluster (builds Kubernetes on first use)")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="remove everything `up` created").set_defaults(func=cmd_down)
    status = sub.add_parser("status", help="hosts, addresses and services")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    ssh = sub.add_parser("ssh", help="open a shell (or run a command) on a lab host")
    ssh.add_argument("host")
    ssh.add_argument("command", nargs=argparse.REMAINDER)
    ssh.set_defaults(func=cmd_ssh)
    member = sub.add_parser("etcd", help="start, stop or kill etcd members (all by default)")
    member.add_argument("action", choices=["start", "stop", "kill", "recreate"])
    member.add_argument("hosts", nargs="*")
    member.add_argument("--version", help="with recreate: etcd release from lab/pins.toml")
    member.set_defaults(func=cmd_etcd)
    link = sub.add_parser("link", help="drills: take a host off the lab network (dead) or back")
    link.add_argument("action", choices=["down", "up"])
    link.add_argument("hosts", nargs="+")
    link.set_defaults(func=cmd_link)
    wipe = sub.add_parser("wipe", help="drills: make kubeadm lab nodes look reinstalled (cluster state gone)")
    wipe.add_argument("hosts", nargs="+")
    wipe.add_argument("--keep", action="append", default=[], metavar="DIR",
                      help="a cluster-state directory left as it is (a disk that survived): /var/lib/etcd")
    wipe.set_defaults(func=cmd_wipe)
    bld = sub.add_parser("build", help="build the pinned binaries into the cache (cached per version)")
    bld.add_argument("names", nargs="*",
                     help="etcd, restic, rest-server, host-python, kubernetes, images "
                          "(default: all but kubernetes and images)")
    bld.set_defaults(func=cmd_build)
    args = parser.parse_args(argv)
    if os.geteuid() != 0 and args.command not in ("build", "status"):
        sys.exit("the lab needs root (network and mount namespaces)")
    try:
        return args.func(args)
    except (RuntimeError, FileNotFoundError, KeyError, ValueError) as exc:
        sys.exit(f"lab {args.command}: {exc}")


if __name__ == "__main__":
    sys.exit(main())
