"""A kubeadm HA cluster on the lab hosts (`python -m lab up --kube`).

Every host gets its own containerd (Debian's, root and socket inside the host's private
/var/lib/containerd and /run), the locally built images imported into it (there is no
registry), a bridge CNI network, its own cgroup root, and a kubelet run the way kubeadm's
systemd unit runs it (lab/kubelet_service.py). Then, as an operator would: `kubeadm init
--upload-certs` on the first control-plane host behind a stable endpoint (lab/apiserver_proxy.py
on the backup host), `kubeadm join --control-plane` on the others one at a time, `kubeadm join`
on the workers, and a StatefulSet on static local PersistentVolumes that writes known data.

What differs from a production node, and why, is in the README (kube-proxy and CoreDNS are
skipped: no image for them and nothing here needs Services or DNS).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import yaml

from . import build, hosts, images, proc
from .state import Host, Spec, State, lab_dir

IMAGE_REPO = "kubedr.lab"
API_PORT = 6443
POD_SUBNET = "10.244.0.0/16"
SERVICE_SUBNET = "10.96.0.0/12"
CRI_SOCKET = "unix:///run/containerd/containerd.sock"
HOST_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
            "LANG": "C.UTF-8"}
# the kubelet sets these machine-wide (the hosts share one kernel); `down` puts them back
KUBELET_SYSCTLS = ("vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops")
MIN_INOTIFY_INSTANCES = 1024
WORKLOAD_NAMESPACE = "kubedr-lab"
WORKLOAD_NAME = "data"
WORKLOAD_REPLICAS = 3
PAYLOAD_LINES = 1000

CONTAINERD_CONFIG = """\
# containerd of lab host {name}: root, state and socket inside the host's private directories
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "/var/lib/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  # no CAP_SYS_RESOURCE here: runc cannot lower oom_score_adj to the sandbox's -998
  restrict_oom_score_adj = true

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "/etc/cni/net.d"
"""


def versions() -> tuple[str, str]:
    pins = build.load_pins()
    return pins["kubernetes"]["version"], pins["etcd"]["default"]


def kube_binary(tool: str) -> Path:
    return build.binary("kubernetes", versions()[0], tool)


def etcd_tool(tool: str) -> str:
    """etcdctl or etcdutl for tests and benchmarks, by absolute path: stock kubeadm nodes have them only
    inside the etcd image, so the lab keeps them off the hosts' PATH (kubedr finds its own etcdutl)."""
    return str(build.binary("etcd", versions()[1], tool))


def in_host(host: Host, argv: list[str], check: bool = True, timeout: float = 600,
            input: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([*hosts.enter(host), *argv], capture_output=True, text=True, env=HOST_ENV,
                            timeout=timeout, input=input)
    if check and result.returncode != 0:
        raise RuntimeError(f"{host.name}: {' '.join(argv[:4])} ... failed ({result.returncode}):\n"
                           f"{(result.stderr or result.stdout).strip()[-3000:]}")
    return result


def host_index(spec: Spec, host: Host) -> int:
    return spec.hosts.index(host)


def cgroup_hierarchies() -> list[Path]:
    """Mount points of every cgroup v1 hierarchy and of cgroup2, from mountinfo."""
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype in ("cgroup", "cgroup2"):
                found.append(Path(fields[4]))
    return found


def cgroup_root(host: Host) -> str:
    return f"/{host.netns}"


# --- per-host setup --------------------------------------------------------------------------

def install(spec: Spec, state: State, host: Host, pause: str, log) -> None:
    """Binaries, containerd and CNI config, cgroup root and the kubelet unit on one host."""
    bindir = host.root / "usr/local/bin"
    tools = ["kubeadm", "kubelet", "kubectl"]
    for tool in tools:
        _link(kube_binary(tool), bindir / tool)
    for name in ("kubedr-kubelet-service", "systemctl"):
        shutil.copy2(Path(__file__).with_name("kubelet_service.py"), bindir / name)
        os.chmod(bindir / name, 0o755)
    containerd = host.root / "etc/containerd/config.toml"
    containerd.parent.mkdir(parents=True, exist_ok=True)
    containerd.write_text(CONTAINERD_CONFIG.format(name=host.name, pause=pause))
    cni = host.root / "etc/cni/net.d/10-kubedr-lab.conflist"
    cni.parent.mkdir(parents=True, exist_ok=True)
    cni.write_text(json.dumps(cni_config(spec, host), indent=2) + "\n")
    hosts.run(["ip", "netns", "exec", host.netns, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
    cgroups = state.data.setdefault("cgroups", [])
    for hierarchy in cgroup_hierarchies():
        path = hierarchy / cgroup_root(host).lstrip("/")
        if str(path) not in cgroups:
            state.record("cgroups", str(path))
        path.mkdir(exist_ok=True)


def _link(target: Path, link: Path) -> None:
    """Hard link when the cache shares the file system (no copy of 60-90 MB binaries)."""
    if link.exists() and link.stat().st_ino == target.stat().st_ino:
        return
    link.unlink(missing_ok=True)
    try:
        os.link(target, link)
    except OSError:
        shutil.copy2(target, link)


def cni_config(spec: Spec, host: Host) -> dict:
    """A bridge network per host. Pods reach only their own host: nothing here routes between hosts."""
    subnet = f"10.244.{host_index(spec, host) + 1}.0/24"
    return {
        "cniVersion": "0.4.0",
        "name": "kubedr-lab",
        "plugins": [{
            "type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": False,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]]},
        }],
    }


def start_containerd(state: State, host: Host, log) -> None:
    key = f"{host.name}/containerd"
    if not proc.alive(state.data["processes"].get(key)):
        argv = [*hosts.enter(host), "containerd", "--config", "/etc/containerd/config.toml"]
        state.data["processes"][key] = proc.spawn(argv, host.root / "log" / "containerd.log", env=HOST_ENV)
        state.save()
        log(f"  started containerd on {host.name}")
    deadline = time.monotonic() + 30
    while in_host(host, ["ctr", "version"], check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"containerd on {host.name} does not answer; "
                               f"see {host.root / 'log/containerd.log'}")
        time.sleep(0.2)


def import_images(host: Host, archives: dict[str, Path], log) -> None:
    present = set(in_host(host, ["ctr", "-n", "k8s.io", "images", "ls", "-q"]).stdout.split())
    for ref, archive in archives.items():
        if ref in present:
            continue
        started = time.monotonic()
        in_host(host, ["ctr", "-n", "k8s.io", "images", "import", str(archive)])
        log(f"  imported {ref} on {host.name} ({time.monotonic() - started:.0f}s)")


def start_kubelet_service(state: State, host: Host, log) -> None:
    key = f"{host.name}/kubelet-service"
    if proc.alive(state.data["processes"].get(key)):
        return
    argv = [*hosts.enter(host), "/usr/bin/python3", "/usr/local/bin/kubedr-kubelet-service"]
    state.data["processes"][key] = proc.spawn(argv, host.root / "log" / "kubelet.log", env=HOST_ENV)
    state.save()
    log(f"  started the kubelet service on {host.name}")


def control_plane_endpoint(spec: Spec) -> str | None:
    """address:port of the API proxy on the backup host."""
    backup = spec.by_role("backup")
    return f"{backup[0].address}:{API_PORT}" if backup else None


def start_proxy(spec: Spec, state: State, log) -> str:
    """The control-plane endpoint, on the backup host: address:port."""
    vault = spec.by_role("backup")[0]
    endpoint = control_plane_endpoint(spec)
    key = f"{vault.name}/apiserver-proxy"
    if not proc.alive(state.data["processes"].get(key)):
        backends = [f"{h.address}:{API_PORT}" for h in spec.by_role("control_plane")]
        proxy = hosts.shared_copy(Path(__file__).with_name("apiserver_proxy.py"))
        argv = [*hosts.enter(vault), "/usr/bin/python3", str(proxy), endpoint, *backends]
        log_path = vault.root / "log" / "apiserver-proxy.log"
        state.data["processes"][key] = proc.spawn(argv, log_path, env=HOST_ENV)
        state.save()
        log(f"  started the control-plane endpoint {endpoint} on {vault.name}")
    return endpoint


def record_sysctls(state: State) -> None:
    saved = state.data.setdefault("sysctls", {})
    for key in KUBELET_SYSCTLS:
        if key not in saved:
            saved[key] = Path("/proc/sys", key.replace(".", "/")).read_text().strip()
    state.save()


# --- kubeadm ---------------------------------------------------------------------------------

def node_registration(host: Host) -> dict:
    return {
        "name": host.name,
        "criSocket": CRI_SOCKET,
        "imagePullPolicy": "Never",  # no registry: the images were imported
        "kubeletExtraArgs": [
            {"name": "node-ip", "value": host.address},  # no default route to guess it from
            {"name": "cgroup-root", "value": cgroup_root(host)},  # hosts share the kernel's cgroups
        ],
        # cgroup v1: kubeadm >= 1.35 fails SystemVerification on it unless told to skip it
        "ignorePreflightErrors": ["SystemVerification"],
    }


def kubeadm_config(spec: Spec, host: Host, endpoint: str, join: dict | None = None) -> str:
    kube_version, etcd_version = versions()
    local = {"advertiseAddress": host.address, "bindPort": API_PORT}
    if join is None:
        docs = [{
            "apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "InitConfiguration",
            "localAPIEndpoint": local, "nodeRegistration": node_registration(host),
            "skipPhases": ["addon/kube-proxy", "addon/coredns"],
        }, {
            "apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "ClusterConfiguration",
            "clusterName": spec.cluster,
            "kubernetesVersion": f"v{kube_version}",
            "controlPlaneEndpoint": endpoint,
            "imageRepository": IMAGE_REPO,
            "etcd": {"local": {"dataDir": "/var/lib/etcd", "imageTag": f"{etcd_version}-0"}},
            "networking": {"podSubnet": POD_SUBNET, "serviceSubnet": SERVICE_SUBNET},
        }, {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "cgroupDriver": "cgroupfs",
            "failCgroupV1": False,  # kubelet >= 1.35 refuses cgroup v1 otherwise; this machine is v1
            "failSwapOn": False,
            # kubelet plugins stay inside the host's private /var/lib/kubelet
            "volumePluginDir": "/var/lib/kubelet/volumeplugins",
        }]
    else:
        doc = {
            "apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "JoinConfiguration",
            "discovery": {"bootstrapToken": {"apiServerEndpoint": endpoint, "token": join["token"],
                                             "caCertHashes": [join["ca_hash"]]}},
            "nodeRegistration": node_registration(host),
        }
        if host.role == "control_plane":
            doc["controlPlane"] = {"localAPIEndpoint": local, "certificateKey": join["certificate_key"]}
        docs = [doc]
    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)


def is_member(host: Host) -> bool:
    return (host.root / "etc/kubernetes/kubelet.conf").exists()


def kubeadm(host: Host, args: list[str], config: str, log, timeout: float = 900) -> str:
    """Run kubeadm with a config file in the host's /etc/kubernetes; output kept in the host's log."""
    name = f"kubeadm-{args[0]}.yaml"
    (host.root / "etc/kubernetes" / name).write_text(config)
    started = time.monotonic()
    result = in_host(host, ["kubeadm", *args, f"--config=/etc/kubernetes/{name}", "--v=1"], check=False,
                     timeout=timeout)
    logfile = host.root / "log" / f"kubeadm-{args[0]}.log"
    logfile.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"kubeadm {args[0]} on {host.name} failed ({result.returncode}); log {logfile}:\n"
                           f"{result.stderr.strip()[-3000:]}")
    log(f"  kubeadm {args[0]} on {host.name}: {time.monotonic() - started:.0f}s")
    return result.stdout


def join_material(first: Host) -> dict:
    """A fresh token and certificate key, made right before the joins (the key lasts two hours)."""
    key = in_host(first, ["kubeadm", "certs", "certificate-key"]).stdout.strip()
    # kubeadm takes the key from the config file when there is one
    docs = list(yaml.safe_load_all((first.root / "etc/kubernetes/kubeadm-init.yaml").read_text()))
    docs[0]["certificateKey"] = key
    upload = first.root / "etc/kubernetes/kubeadm-upload-certs.yaml"
    upload.write_text("---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs))
    os.chmod(upload, 0o600)
    in_host(first, ["kubeadm", "init", "phase", "upload-certs", "--upload-certs",
                    "--config=/etc/kubernetes/kubeadm-upload-certs.yaml"])
    command = in_host(first, ["kubeadm", "token", "create", "--ttl=1h", "--print-join-command"])
    command = command.stdout.split()
    return {"token": command[command.index("--token") + 1],
            "ca_hash": command[command.index("--discovery-token-ca-cert-hash") + 1],
            "certificate_key": key}


def kubeconfig_path() -> Path:
    return lab_dir() / "kubeconfig"


def kubectl(*args: str, input: str | None = None, check: bool = True, timeout: float = 120) -> str:
    result = subprocess.run([str(kube_binary("kubectl")), f"--kubeconfig={kubeconfig_path()}", *args],
                            capture_output=True, text=True, input=input, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def wait_for(what: str, test, timeout: float, log) -> None:
    started = time.monotonic()
    last = None
    while time.monotonic() - started < timeout:
        try:
            ok, last = test()
            if ok:
                log(f"  {what}: {time.monotonic() - started:.0f}s")
                return
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            last = str(exc)
        time.sleep(2)
    raise RuntimeError(f"{what}: not after {timeout:.0f}s; last seen: {last}")


def nodes_ready(names: list[str]):
    def test():
        items = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
        ready = {n["metadata"]["name"] for n in items
                 if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])}
        return set(names) <= ready, f"ready: {sorted(ready)}"
    return test


# --- the test workload -----------------------------------------------------------------------

def payload(pod: str) -> str:
    """What pod `pod` writes to /data/payload, so tests can recompute and compare it."""
    return "".join(f"{pod} line {n}\n" for n in range(1, PAYLOAD_LINES + 1))


def workload_manifests(spec: Spec, image: str) -> list[dict]:
    labels = {"app.kubernetes.io/name": WORKLOAD_NAME, "app.kubernetes.io/part-of": "kubedr-lab"}
    docs: list[dict] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": WORKLOAD_NAMESPACE}},
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "local-storage"},
         "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer",
         "reclaimPolicy": "Retain"},
    ]
    for worker in spec.by_role("workers"):
        for disk in spec.disks:
            docs.append({
                "apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": f"local-{worker.name}-{disk}", "labels": {"kubedr.io/lab-disk": disk}},
                "spec": {
                    "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "local-storage",
                    "local": {"path": f"/mnt/disks/{disk}"},
                    "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                        {"key": "kubernetes.io/hostname", "operator": "In", "values": [worker.name]}]}]}},
                },
            })
    write = (f"if [ ! -f /data/payload ]; then seq 1 {PAYLOAD_LINES} | sed \"s/^/$POD_NAME line /\" "
             "> /data/payload.tmp && mv /data/payload.tmp /data/payload; fi; "
             "trap 'exit 0' TERM; while true; do sleep 1; done")
    docs.append({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": WORKLOAD_NAME, "namespace": WORKLOAD_NAMESPACE, "labels": labels},
        "spec": {
            "serviceName": WORKLOAD_NAME, "replicas": WORKLOAD_REPLICAS,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "terminationGracePeriodSeconds": 5,
                "containers": [{
                    "name": "writer", "image": image, "imagePullPolicy": "Never",
                    "command": ["sh", "-c", write],
                    "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    "readinessProbe": {"exec": {"command": ["test", "-f", "/data/payload"]},
                                       "periodSeconds": 2},
                }],
            }},
            "volumeClaimTemplates": [{
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-storage",
                         "resources": {"requests": {"storage": "1Gi"}}},
            }],
        },
    })
    return docs


# --- bring-up and teardown -------------------------------------------------------------------

def up(spec: Spec, state: State, log) -> None:
    if not spec.by_role("backup"):
        raise ValueError("the kubeadm lab needs a backup host for its control-plane endpoint")
    instances = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    if instances < MIN_INOTIFY_INSTANCES:
        raise RuntimeError(f"fs.inotify.max_user_instances is {instances}: kubelets stop with 'too many open "
                           "files' when several share the machine; run `make deps` (it raises the limit)")
    kube_version, etcd_version = versions()
    step = time.monotonic()
    build.build_all(["kubernetes"], log=log)
    archives = images.build_images(kube_version, etcd_version, log=log)
    pause = next(ref for ref in archives if "/pause:" in ref)
    workload = next(ref for ref in archives if "/workload:" in ref)
    log(f"  binaries and images: {time.monotonic() - step:.0f}s")
    record_sysctls(state)
    nodes = spec.by_role("control_plane") + spec.by_role("workers")
    for host in nodes:
        install(spec, state, host, pause, log)
        start_containerd(state, host, log)
        wanted = {r: p for r, p in archives.items()
                  if host.role == "control_plane" or "/pause:" in r or "/workload:" in r}
        import_images(host, wanted, log)
        start_kubelet_service(state, host, log)
    endpoint = start_proxy(spec, state, log)

    control_plane = spec.by_role("control_plane")
    initialised = [h for h in control_plane if (h.root / "etc/kubernetes/admin.conf").exists()]
    first = (initialised or control_plane)[0]
    if not is_member(first):
        kubeadm(first, ["init", "--upload-certs"], kubeadm_config(spec, first, endpoint), log)
    shutil.copy2(first.root / "etc/kubernetes/admin.conf", kubeconfig_path())
    os.chmod(kubeconfig_path(), 0o600)
    pending = [h for h in nodes if not is_member(h)]
    if pending:
        material = join_material(first)
        for host in pending:  # one at a time, control plane first: etcd keeps its quorum
            kubeadm(host, ["join"], kubeadm_config(spec, host, endpoint, material), log)
    wait_for(f"{len(nodes)} nodes Ready", nodes_ready([h.name for h in nodes]), 300, log)
    manifests = workload_manifests(spec, workload)
    kubectl("apply", "-f", "-", input="---\n".join(yaml.safe_dump(d) for d in manifests))
    wait_for(f"StatefulSet {WORKLOAD_NAMESPACE}/{WORKLOAD_NAME} Ready", workload_ready, 300, log)
    log(f"  kubeconfig: {kubeconfig_path()}")


CLUSTER_STATE = ("/etc/kubernetes", "/var/lib/etcd", "/var/lib/kubelet", "/var/lib/kubedr")


def wipe(host: Host, log, keep: tuple[str, ...] = ()) -> None:
    """Make a node look reinstalled, for disaster drills: its kubelet stopped, its containers killed,
    and the contents of every cluster-state directory but those in `keep` gone (a disk of its own, such as
    /var/lib/etcd's, survives a reinstall with the old data). Binaries, images and containerd stay."""
    unknown = set(keep) - set(CLUSTER_STATE)
    if unknown:
        raise ValueError(f"wipe --keep {', '.join(sorted(unknown))}: not one of {', '.join(CLUSTER_STATE)}")
    emptied = [d for d in CLUSTER_STATE if d not in keep]
    in_host(host, ["systemctl", "stop", "kubelet"])
    tasks = in_host(host, ["ctr", "-n", "k8s.io", "tasks", "ls", "-q"]).stdout.split()
    for task in tasks:
        in_host(host, ["ctr", "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", task], check=False)

    def stopped():
        listening = in_host(host, ["ss", "-Htln", f"( sport = :2379 or sport = :{API_PORT} )"]).stdout
        return not listening.strip(), listening.strip()

    wait_for(f"{host.name}: etcd and the API server stopped", stopped, 60, log)
    # the directories themselves are the host's private mounts: empty them in place
    in_host(host, ["sh", "-c", " ".join(f"rm -rf {d}/* {d}/.[!.]*;" for d in emptied)])
    log(f"  wiped {host.name}: {', '.join(emptied)} emptied, {len(tasks)} containers killed")


def workload_ready():
    sts = json.loads(kubectl("get", "statefulset", WORKLOAD_NAME, "-n", WORKLOAD_NAMESPACE, "-o", "json"))
    ready = sts.get("status", {}).get("readyReplicas", 0)
    return ready == WORKLOAD_REPLICAS, f"{ready}/{WORKLOAD_REPLICAS} ready"


def teardown(state: State, log) -> list[str]:
    """Kubelets first (so nothing restarts pods), then every process left in the hosts' cgroup
    roots (the containers), then the cgroups themselves and the sysctls the kubelet changed."""
    problems = []
    for key in sorted(k for k in state.data["processes"] if k.endswith("/kubelet-service")):
        try:
            log(f"  {proc.stop(state.data['processes'][key], timeout=30)} {key}")
        except RuntimeError as exc:
            problems.append(str(exc))
            continue
        del state.data["processes"][key]
        state.save()
    cgroups = [Path(p) for p in state.data.get("cgroups", [])]
    deadline = time.monotonic() + 30
    while (pids := _cgroup_pids(cgroups)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    if pids:
        problems.append(f"processes {sorted(pids)} survived in the lab's cgroups")
    for root in cgroups:
        if not root.exists():
            state.forget("cgroups", str(root))
            continue
        try:
            for directory, _, _ in sorted(os.walk(root), key=lambda w: -len(w[0])):
                with contextlib.suppress(FileNotFoundError):  # runc may remove a container's own first
                    os.rmdir(directory)
        except OSError as exc:
            problems.append(f"cgroup {root}: {exc}")
            continue
        state.forget("cgroups", str(root))
    for key, value in state.data.get("sysctls", {}).items():
        Path("/proc/sys", key.replace(".", "/")).write_text(value)
    if state.data.pop("sysctls", None):
        log("  restored the sysctls the kubelets set")
        state.save()
    kubeconfig_path().unlink(missing_ok=True)
    return problems


def _cgroup_pids(roots: list[Path]) -> set[int]:
    pids = set()
    for root in roots:
        for directory, _, files in os.walk(root):
            if "cgroup.procs" in files:
                try:
                    pids.update(int(p) for p in (Path(directory) / "cgroup.procs").read_text().split())
                except OSError:
                    continue
    return pids

