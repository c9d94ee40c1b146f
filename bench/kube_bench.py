"""What the benchmarks on a kubeadm lab of their own share (bench/kube_lab_spec.toml): the bench lab's
directory and inventory, set before `lab` is imported so that a developer's lab is never touched; lab
up and down; etcdctl as a control-plane host runs it; one line of output at a time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPEC = Path(__file__).with_name("kube_lab_spec.toml")
BIN = Path(sys.executable).parent
os.environ.setdefault("KUBEDR_LAB_DIR", "/var/lib/kubedr-bench")
os.environ.setdefault("KUBEDR_LAB_INVENTORY", str(REPO / ".cache" / "bench-inventory"))
sys.path.insert(0, str(REPO))

# etcdctl on a control-plane host, with kubeadm's healthcheck client certificate
ETCDCTL = ["etcdctl", "--cacert=/etc/kubernetes/pki/etcd/ca.crt",
           "--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt",
           "--key=/etc/kubernetes/pki/etcd/healthcheck-client.key", "--endpoints=https://127.0.0.1:2379"]


def log(line: str) -> None:
    print(line, flush=True)


def lab(*args: str, timeout: float = 3600) -> None:
    """`python -m lab <args>` on the bench lab."""
    subprocess.run([sys.executable, "-m", "lab", *args], cwd=REPO, check=True, timeout=timeout)


def lab_up() -> None:
    lab("up", "--kube", "--spec", str(SPEC))
