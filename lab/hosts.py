"""Lab hosts: a network namespace, plus persistent mount and UTS namespaces, plus sshd.

Each host sees its own /etc/kubernetes, /var/lib/etcd, /var/lib/kubelet, containerd's and
CNI's directories, /var/lib/kubedr, /var/log, /etc/ssh, /root/.ssh, /tmp, /run, /srv, /usr/local/bin and
/mnt/disks, bind-mounted from <lab dir>/hosts/<name>/ inside its mount namespace; everything
else is the machine's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from . import proc
from .state import Host, Spec, State, lab_dir

# host path -> directory under the host's root, and its mode
PRIVATE_DIRS = {
    "/etc/kubernetes": 0o755,
    "/var/lib/etcd": 0o700,
    "/var/lib/kubelet": 0o755,
    "/etc/containerd": 0o755,
    "/var/lib/containerd": 0o711,
    "/etc/cni": 0o755,
    "/var/lib/cni": 0o755,
    "/var/log": 0o755,
    "/var/lib/kubedr": 0o700,  # the collection's own state: markers, staging, what it moved aside
    "/etc/ssh": 0o755,
    "/root/.ssh": 0o700,
    "/tmp": 0o1777,
    "/run": 0o755,
    "/srv": 0o755,
    "/usr/local/bin": 0o755,
    "/mnt/disks": 0o755,
}
SSHD_CONFIG = """\
# sshd of lab host {name}: key-only root login on its own address
ListenAddress {address}
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
PidFile /run/sshd.pid
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
"""


def run(argv: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def ns_dir() -> Path:
    return lab_dir() / "ns"


def ns_files(host: Host) -> tuple[Path, Path]:
    return ns_dir() / f"{host.name}.mnt", ns_dir() / f"{host.name}.uts"


def shared_copy(source: Path) -> Path:
    """A copy of one of the lab's own files in the lab directory, which every host sees: the checkout may
    lie under a directory the hosts mount over (a clone under /tmp or /srv)."""
    target = lab_dir() / "bin" / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    return target


def enter(host: Host) -> list[str]:
    """argv prefix that runs a command inside the host's namespaces."""
    mnt, uts = ns_files(host)
    return ["nsenter", f"--net=/run/netns/{host.netns}", f"--mount={mnt}", f"--uts={uts}", "--"]


def ssh_dir() -> Path:
    return lab_dir() / "ssh"


def _mounted(path: Path) -> bool:
    target = str(path)
    with open("/proc/self/mountinfo") as fh:
        return any(line.split()[4] == target for line in fh)


def _say(log, what: str) -> None:
    log(f"  created {what}")


def _not_ours(kind: str, name: str) -> RuntimeError:
    return RuntimeError(f"{kind} {name} exists but this lab ({lab_dir()}) did not create it: another lab "
                        "with the same prefix is up; take it down or give this lab another prefix and subnet")


def ensure_network(spec: Spec, state: State, log) -> None:
    exists = run(["ip", "link", "show", spec.bridge], check=False).returncode == 0
    if exists and spec.bridge not in state.data["links"]:
        raise _not_ours("bridge", spec.bridge)
    if not exists:
        state.record("links", spec.bridge)
        run(["ip", "link", "add", spec.bridge, "type", "bridge"])
        run(["ip", "addr", "add", f"{spec.gateway}/{spec.subnet.prefixlen}", "dev", spec.bridge])
        _say(log, f"bridge {spec.bridge} {spec.gateway}/{spec.subnet.prefixlen}")
    run(["ip", "link", "set", spec.bridge, "up"])


def ensure_host(spec: Spec, state: State, host: Host, log) -> None:
    _ensure_netns(spec, state, host, log)
    _ensure_root(spec, host)
    _ensure_mount_ns(state, host, log)
    _ensure_ssh_material(host)
    _ensure_sshd(state, host, log)


def _ensure_netns(spec: Spec, state: State, host: Host, log) -> None:
    exists = Path(f"/run/netns/{host.netns}").exists()
    if exists and host.netns not in state.data["netns"]:
        raise _not_ours("network namespace", host.netns)
    if not exists:
        state.record("netns", host.netns)
        run(["ip", "netns", "add", host.netns])
        _say(log, f"netns {host.netns}")
    if run(["ip", "link", "show", host.veth], check=False).returncode != 0:
        state.record("links", host.veth)
        run(["ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns])
        run(["ip", "link", "set", host.veth, "master", spec.bridge, "up"])
        inside = ["ip", "-n", host.netns]
        run([*inside, "addr", "add", f"{host.address}/{spec.subnet.prefixlen}", "dev", "eth0"])
        run([*inside, "link", "set", "eth0", "up"])
        run([*inside, "link", "set", "lo", "up"])
        _say(log, f"veth {host.veth} -> {host.name} eth0 {host.address}")
    # No default route on purpose: a lab host reaches only the lab subnet and its own loopback.


def _ensure_root(spec: Spec, host: Host) -> None:
    for path, mode in PRIVATE_DIRS.items():
        directory = host.root / path.lstrip("/")
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, mode)
    if host.role == "workers":
        for disk in spec.disks:  # the data disks of local PersistentVolumes
            (host.root / "mnt/disks" / disk).mkdir(exist_ok=True)
    for name in ("sshd", "lock"):
        (host.root / "run" / name).mkdir(exist_ok=True)
    os.chmod(host.root / "run" / "sshd", 0o755)


def _ensure_mount_ns(state: State, host: Host, log) -> None:
    for point in PRIVATE_DIRS:
        if lab_dir().resolve().is_relative_to(point):
            raise ValueError(f"the lab directory {lab_dir()} lies under {point}, which every host mounts "
                             "over; set KUBEDR_LAB_DIR elsewhere (default /var/lib/kubedr-lab)")
    nsd = ns_dir()
    nsd.mkdir(parents=True, exist_ok=True)
    if not _mounted(nsd):
        # namespace files can only be bound onto a private mount
        state.record("mounts", str(nsd))
        run(["mount", "--bind", str(nsd), str(nsd)])
        run(["mount", "--make-private", str(nsd)])
    mnt, uts = ns_files(host)
    if _mounted(mnt) and _mounted(uts):
        return
    for point in PRIVATE_DIRS:
        # bind mounts need their mount points on the machine; empty ones, removed by `down`
        if not Path(point).exists():
            state.record("paths", point)
            Path(point).mkdir(parents=True)
    for f in (mnt, uts):
        state.record("mounts", str(f))
        f.touch()
    binds = " && ".join(
        f"mount --bind {host.root / p.lstrip('/')} {p}" for p in PRIVATE_DIRS
    )
    run(["nsenter", f"--net=/run/netns/{host.netns}", "unshare", f"--mount={mnt}", f"--uts={uts}",
         "--propagation", "private", "sh", "-ec", f"hostname {host.name} && {binds}"])
    _say(log, f"mount and UTS namespaces of {host.name}")


def _ensure_ssh_material(host: Host) -> None:
    keys = ssh_dir()
    keys.mkdir(parents=True, exist_ok=True)
    client_key = keys / "id_ed25519"
    if not client_key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kubedr-lab", "-f", str(client_key)])
    etc_ssh = host.root / "etc" / "ssh"
    host_key = etc_ssh / "ssh_host_ed25519_key"
    if not host_key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{host.name}", "-f", str(host_key)])
    for shared in ("moduli", "ssh_config"):
        if Path("/etc/ssh", shared).exists() and not (etc_ssh / shared).exists():
            shutil.copy2(Path("/etc/ssh", shared), etc_ssh / shared)
    (etc_ssh / "sshd_config").write_text(SSHD_CONFIG.format(name=host.name, address=host.address))
    auth = host.root / "root" / ".ssh" / "authorized_keys"
    auth.write_text(Path(f"{client_key}.pub").read_text())
    os.chmod(auth, 0o600)


def _ensure_sshd(state: State, host: Host, log) -> None:
    key = f"{host.name}/sshd"
    if proc.alive(state.data["processes"].get(key)):
        return
    argv = [*enter(host), "/usr/sbin/sshd", "-D", "-e", "-f", "/etc/ssh/sshd_config"]
    state.data["processes"][key] = proc.spawn(argv, host.root / "log" / "sshd.log")
    state.save()
    _say(log, f"sshd on {host.name} ({host.address}:22)")


def write_known_hosts(spec: Spec) -> Path:
    lines = []
    for host in spec.hosts:
        pub = (host.root / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
        lines.append(f"{host.address},{host.name} {pub[0]} {pub[1]}")
    path = ssh_dir() / "known_hosts"
    path.write_text("\n".join(lines) + "\n")
    # paramiko reads ~/.ssh/known_hosts only: the lab gives it a home of its own
    paramiko_home = ssh_dir() / "home" / ".ssh"
    paramiko_home.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, paramiko_home / "known_hosts")
    return path


def wait_ssh(host: Host, timeout: float = 10.0) -> None:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host.address, 22), timeout=1) as sock:
                if sock.recv(4).startswith(b"SSH"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"sshd of {host.name} does not answer on {host.address}:22; "
                               f"see {host.root / 'log' / 'sshd.log'}")
        time.sleep(0.1)


def _mounted_elsewhere(point: str) -> list[int]:
    """Pids whose mount namespace has something mounted on `point` (another lab's hosts)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            with open(entry / "mountinfo") as fh:
                if any(line.split()[4] == point for line in fh):
                    pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _namespace_members(ns_paths: list[Path]) -> list[dict]:
    """Processes living in any of the given namespaces, matched by namespace inode, not by name."""
    wanted = set()
    for path in ns_paths:
        try:
            st = os.stat(path)
            wanted.add((st.st_dev, st.st_ino))
        except OSError:
            continue
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        for kind in ("net", "mnt"):
            try:
                st = os.stat(entry / "ns" / kind)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in wanted:
                start = proc.start_time(int(entry.name))
                if start is not None:
                    found.append({"pid": int(entry.name), "start": start, "argv": [entry.name]})
                break
    return found


def _stop_strays(state: State, log) -> list[str]:
    """Stop what our recorded processes left inside the lab's namespaces (ssh sessions, children)."""
    paths = [Path(f"/run/netns/{n}") for n in state.data["netns"]]
    paths += [Path(m) for m in state.data["mounts"] if m.endswith(".mnt")]
    problems = []
    for record in _namespace_members(paths):
        try:
            log(f"  {proc.stop(record, timeout=5)} stray pid {record['pid']} inside the lab")
        except RuntimeError as exc:
            problems.append(str(exc))
    return problems


def teardown(state: State, log) -> list[str]:
    """Undo everything recorded in `state`; returns what could not be undone."""
    problems = []
    for key in sorted(state.data["processes"]):
        record = state.data["processes"][key]
        try:
            outcome = proc.stop(record, timeout=10)
        except (RuntimeError, PermissionError) as exc:
            problems.append(str(exc))
            continue
        if outcome != "absent":
            log(f"  {outcome} {key} (pid {record['pid']})")
        del state.data["processes"][key]
        state.save()
    problems += _stop_strays(state, log)
    for mount in sorted(state.data["mounts"], key=len, reverse=True):
        path = Path(mount)
        if _mounted(path):
            result = run(["umount", mount], check=False)
            if result.returncode != 0:
                problems.append(f"umount {mount}: {result.stderr.strip()}")
                continue
            log(f"  unmounted {mount}")
        if path.is_file():
            path.unlink()
        state.forget("mounts", mount)
    for netns in list(state.data["netns"]):
        if Path(f"/run/netns/{netns}").exists():
            result = run(["ip", "netns", "del", netns], check=False)
            if result.returncode != 0:
                problems.append(f"ip netns del {netns}: {result.stderr.strip()}")
                continue
            log(f"  removed netns {netns}")
        state.forget("netns", netns)
    for point in sorted(state.data["paths"], key=len, reverse=True):
        users = _mounted_elsewhere(point)
        if users:
            # removing it would detach the bind mounts of another lab's hosts
            log(f"  left mount point {point} in place: still mounted in pid {users[0]}'s namespace")
            state.forget("paths", point)
            continue
        try:
            Path(point).rmdir()
        except FileNotFoundError:
            pass
        except OSError as exc:
            problems.append(f"mount point {point} is not empty, left in place: {exc}")
            continue
        state.forget("paths", point)
    for link in list(state.data["links"]):
        if run(["ip", "link", "show", link], check=False).returncode == 0:
            run(["ip", "link", "del", link], check=False)
            log(f"  removed link {link}")
        state.forget("links", link)
    return problems
