"""Stacked etcd on the control-plane hosts, laid out exactly as kubeadm lays it out.

With `up --etcd` (no kubelet; `up --kube` runs etcd as kubeadm's static pods) the lab plays
the kubelet's part for etcd itself: it writes
kubeadm's static pod manifest (/etc/kubernetes/manifests/etcd.yaml) and runs the
manifest's command inside the host, so every tool reads the same files as on a real
kubeadm node. Members are started, stopped and killed one by one so tests can break quorum.
"""

from __future__ import annotations

import signal
import socket
import time

import yaml

from . import build, hosts, pki, proc
from .state import Host, Spec, State

MANIFEST = "etc/kubernetes/manifests/etcd.yaml"
PKI = "/etc/kubernetes/pki/etcd"


def etcd_command(spec: Spec, host: Host, state: str = "new", token: str = "etcd-cluster") -> list[str]:
    """The etcd command line kubeadm writes into its static pod manifest."""
    members = spec.by_role("control_plane")
    peers = ",".join(f"{m.name}=https://{m.address}:2380" for m in members)
    return [
        "etcd",
        f"--advertise-client-urls=https://{host.address}:2379",
        f"--cert-file={PKI}/server.crt",
        "--client-cert-auth=true",
        "--data-dir=/var/lib/etcd",
        f"--initial-advertise-peer-urls=https://{host.address}:2380",
        f"--initial-cluster={peers}",
        f"--initial-cluster-state={state}",
        f"--initial-cluster-token={token}",
        f"--key-file={PKI}/server.key",
        f"--listen-client-urls=https://127.0.0.1:2379,https://{host.address}:2379",
        "--listen-metrics-urls=http://127.0.0.1:2381",
        f"--listen-peer-urls=https://{host.address}:2380",
        f"--name={host.name}",
        f"--peer-cert-file={PKI}/peer.crt",
        "--peer-client-cert-auth=true",
        f"--peer-key-file={PKI}/peer.key",
        f"--peer-trusted-ca-file={PKI}/ca.crt",
        "--snapshot-count=10000",
        f"--trusted-ca-file={PKI}/ca.crt",
    ]


def manifest(command: list[str], version: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "etcd",
            "namespace": "kube-system",
            "labels": {"component": "etcd", "tier": "control-plane"},
            "annotations": {"kubeadm.kubernetes.io/etcd.advertise-client-urls": command[1].split("=", 1)[1]},
        },
        "spec": {
            "hostNetwork": True,
            "priorityClassName": "system-node-critical",
            "containers": [{
                "name": "etcd",
                "image": f"registry.k8s.io/etcd:{version}-0",
                "command": command,
                "volumeMounts": [
                    {"mountPath": "/var/lib/etcd", "name": "etcd-data"},
                    {"mountPath": PKI, "name": "etcd-certs"},
                ],
            }],
            "volumes": [
                {"hostPath": {"path": PKI, "type": "DirectoryOrCreate"}, "name": "etcd-certs"},
                {"hostPath": {"path": "/var/lib/etcd", "type": "DirectoryOrCreate"}, "name": "etcd-data"},
            ],
        },
    }


def install(spec: Spec, version: str, log) -> None:
    """PKI, manifests and the etcd tools (/usr/local/bin) on every control-plane host."""
    members = spec.by_role("control_plane")
    ca_dir = members[0].root / "etc/kubernetes/pki/etcd"
    ca = pki.CertificateAuthority.load(ca_dir) if (ca_dir / "ca.key").exists() else None
    ca = ca or pki.CertificateAuthority.create()
    for host in members:
        pki_dir = host.root / "etc/kubernetes/pki"
        if not (pki_dir / "etcd/server.crt").exists():
            pki.write_etcd_member_pki(ca, pki_dir, host.name, host.address)
            log(f"  created etcd PKI on {host.name}")
        bindir = host.root / "usr/local/bin"
        for tool in ("etcd", "etcdctl", "etcdutl"):
            link = bindir / tool
            target = build.binary("etcd", version, tool)
            if not link.is_symlink() or link.readlink() != target:
                link.unlink(missing_ok=True)
                link.symlink_to(target)
        path = host.root / MANIFEST
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(yaml.safe_dump(manifest(etcd_command(spec, host), version), sort_keys=False))
            log(f"  created {host.name}:/{MANIFEST} (etcd {version})")


def manifest_command(host: Host) -> list[str]:
    """The command of the host's etcd manifest, as the kubelet would run it."""
    data = yaml.safe_load((host.root / MANIFEST).read_text())
    command = data["spec"]["containers"][0]["command"]
    return ["/usr/local/bin/etcd", *command[1:]]


def start(state: State, host: Host, log) -> bool:
    key = f"{host.name}/etcd"
    if proc.alive(state.data["processes"].get(key)):
        return False
    if not (host.root / MANIFEST).exists():
        raise RuntimeError(f"{host.name} has no /{MANIFEST}: run `python -m lab up --etcd` first")
    argv = [*hosts.enter(host), *manifest_command(host)]
    state.data["processes"][key] = proc.spawn(argv, host.root / "log" / "etcd.log")
    state.save()
    log(f"  started etcd on {host.name}")
    return True


def stop(state: State, host: Host, log, kill: bool = False) -> str:
    key = f"{host.name}/etcd"
    record = state.data["processes"].get(key)
    outcome = proc.stop(record, timeout=10, sig=signal.SIGKILL if kill else signal.SIGTERM)
    state.data["processes"].pop(key, None)
    state.save()
    log(f"  etcd on {host.name}: {outcome}")
    return outcome


def wait_listening(host: Host, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host.address, 2379), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"etcd on {host.name} does not listen on {host.address}:2379; "
                       f"see {host.root / 'log' / 'etcd.log'}")


def version_of(host: Host) -> str | None:
    link = host.root / "usr/local/bin/etcd"
    return link.readlink().parent.name.removeprefix("etcd-") if link.is_symlink() else None
