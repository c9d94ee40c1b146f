"""Real TLS etcd clusters on 127.0.0.1 for unit tests: started with subprocess, stopped by pid."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab import build, pki

ETCD_VERSIONS = tuple(build.load_pins()["etcd"]["versions"])
STOP_TIMEOUT = 5.0


def free_ports(count: int) -> list[int]:
    """Distinct ports the kernel reports free right now (all sockets held open until all are picked)."""
    socks = []
    try:
        for _port in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Member:
    name: str
    client_url: str
    peer_url: str
    data_dir: Path
    log_file: Path
    proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM this member's own process, SIGKILL it if it is still alive after STOP_TIMEOUT."""
        if not self.running:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)


@dataclass
class EtcdCluster:
    version: str
    root: Path
    members: list[Member] = field(default_factory=list)

    @property
    def pki_dir(self) -> Path:
        return self.root / "pki" / "etcd"

    @property
    def ca_cert(self) -> str:
        return str(self.pki_dir / "ca.crt")

    @property
    def client_cert(self) -> str:
        return str(self.pki_dir / "healthcheck-client.crt")

    @property
    def client_key(self) -> str:
        return str(self.pki_dir / "healthcheck-client.key")

    def tls(self) -> dict:
        return {"ca_file": self.ca_cert, "cert_file": self.client_cert, "key_file": self.client_key}

    def command(self, member: Member, initial_cluster: str, state: str = "new") -> list[str]:
        pki_dir = self.pki_dir
        return [
            str(build.binary("etcd", self.version)),
            f"--name={member.name}",
            f"--data-dir={member.data_dir}",
            f"--listen-client-urls={member.client_url}",
            f"--advertise-client-urls={member.client_url}",
            f"--listen-peer-urls={member.peer_url}",
            f"--initial-advertise-peer-urls={member.peer_url}",
            f"--initial-cluster={initial_cluster}",
            f"--initial-cluster-state={state}",
            "--initial-cluster-token=kubedr-unit",
            f"--cert-file={pki_dir / 'server.crt'}",
            f"--key-file={pki_dir / 'server.key'}",
            f"--trusted-ca-file={pki_dir / 'ca.crt'}",
            "--client-cert-auth=true",
            f"--peer-cert-file={pki_dir / 'peer.crt'}",
            f"--peer-key-file={pki_dir / 'peer.key'}",
            f"--peer-trusted-ca-file={pki_dir / 'ca.crt'}",
            "--peer-client-cert-auth=true",
            "--heartbeat-interval=50",
            "--election-timeout=500",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]

    def start(self, size: int) -> EtcdCluster:
        ca = pki.CertificateAuthority.create()
        pki.write_etcd_member_pki(ca, self.root / "pki", "localhost", "127.0.0.1")
        ports = free_ports(2 * size)
        for i in range(size):
            self.members.append(Member(
                name=f"etcd-{i}",
                client_url=f"https://127.0.0.1:{ports[2 * i]}",
                peer_url=f"https://127.0.0.1:{ports[2 * i + 1]}",
                data_dir=self.root / f"etcd-{i}",
                log_file=self.root / f"etcd-{i}.log",
            ))
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        for member in self.members:
            with member.log_file.open("wb") as log:
                member.proc = subprocess.Popen(self.command(member, initial), stdout=log,
                                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Until every running member answers status and agrees on a leader (and, on 3.6, has
        migrated its storage version to 3.6, which happens a moment after the leader is elected)."""
        from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_client import EtcdClient, EtcdError

        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for m in self.members:
                if m.proc and not m.running:
                    raise RuntimeError(f"{m.name} exited with {m.proc.returncode}:\n{m.log_tail()}")
            try:
                statuses = [EtcdClient(m.client_url, timeout=2, **self.tls()).status()
                            for m in self.members if m.running]
                leaders = {s["leader"] for s in statuses}
                # a new 3.6 member reports storage version 3.5.0 first, then migrates it to 3.6.0
                minor = ".".join(self.version.split(".")[:2]) + "."
                unsettled = self.version.startswith("3.6") and any(
                    not (s["storage_version"] or "").startswith(minor) for s in statuses)
                if len(leaders) == 1 and 0 not in leaders and not unsettled:
                    return
                last = f"leaders seen: {leaders}, storage version unsettled: {unsettled}"
            except EtcdError as e:
                last = str(e)
            time.sleep(0.1)
        logs = "\n".join(f"--- {m.name}\n{m.log_tail()}" for m in self.members)
        raise RuntimeError(f"etcd {self.version} cluster not ready after {timeout}s: {last}\n{logs}")

    def etcdctl(self, *args: str, endpoint: str | None = None) -> str:
        """Run the matching etcdctl (an independent client to cross-check against); its stdout."""
        proc = subprocess.run(
            [str(build.binary("etcd", self.version, "etcdctl")),
             f"--endpoints={endpoint or self.members[0].client_url}", f"--cacert={self.ca_cert}",
             f"--cert={self.client_cert}", f"--key={self.client_key}", "--command-timeout=5s", *args],
            capture_output=True, text=True, timeout=20, check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"etcdctl {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout

    def stop(self) -> None:
        """Stop every member, even when stopping one of them fails."""
        errors = []
        for member in self.members:
            try:
                member.stop()
            except Exception as e:  # keep going: no etcd may outlive the test session
                errors.append(e)
        if errors:
            raise errors[0]


def write_pki(cluster: EtcdCluster) -> EtcdCluster:
    """PKI for a cluster whose members are started one by one with launch() (no start())."""
    ca = pki.CertificateAuthority.create()
    pki.write_etcd_member_pki(ca, cluster.root / "pki", "localhost", "127.0.0.1")
    return cluster


def new_member(cluster: EtcdCluster, name: str, data_dir: Path | None = None) -> Member:
    """A member on free loopback ports (not started, not yet in cluster.members)."""
    client_port, peer_port = free_ports(2)
    return Member(name=name, client_url=f"https://127.0.0.1:{client_port}",
                  peer_url=f"https://127.0.0.1:{peer_port}",
                  data_dir=data_dir or cluster.root / name, log_file=cluster.root / f"{name}.log")


def launch(cluster: EtcdCluster, member: Member, initial_cluster: str, state: str = "new") -> Member:
    """Start `member` (added to cluster.members, so cluster.stop() stops it too); does not wait."""
    if member not in cluster.members:
        cluster.members.append(member)
    with member.log_file.open("ab") as log:
        member.proc = subprocess.Popen(cluster.command(member, initial_cluster, state), stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return member


def snapshot_save(cluster: EtcdCluster, path: Path, endpoint: str | None = None) -> Path:
    """`etcdctl snapshot save` from one member (etcdctl, not the collection, makes the test input)."""
    cluster.etcdctl("snapshot", "save", str(path), endpoint=endpoint)
    return path
