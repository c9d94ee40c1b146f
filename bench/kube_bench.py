"""What the benchmarks on a kubeadm lab of their own share (bench/kube_lab_spec.toml): the bench lab's
directory and inventory, set before `lab` is imported so that a developer's lab is never touched; lab
up and down; etcdctl as a control-plane host runs it; one line of output at a time."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

REPO = Path(__file__).resolve().parents[1]
SPEC = Path(__file__).with_name("kube_lab_spec.toml")
BIN = Path(sys.executable).parent
os.environ.setdefault("KUBEDR_LAB_DIR", "/var/lib/kubedr-bench")
os.environ.setdefault("KUBEDR_LAB_INVENTORY", str(REPO / ".cache" / "bench-inventory"))
sys.path.insert(0, str(REPO))

from lab import kube  # noqa: E402  (after the lab directory is set)

# etcdctl on a control-plane host, with kubeadm's healthcheck client certificate; both tools by absolute
# path, since the lab's hosts, like stock nodes, have them only inside the etcd image
ETCDUTL = kube.etcd_tool("etcdutl")
ETCDCTL = [kube.etcd_tool("etcdctl"), "--cacert=/etc/kubernetes/pki/etcd/ca.crt",
           "--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt",
           "--key=/etc/kubernetes/pki/etcd/healthcheck-client.key", "--endpoints=https://127.0.0.1:2379"]


def log(line: str) -> None:
    print(line, flush=True)


def lab(*args: str, timeout: float = 3600) -> None:
    """`python -m lab <args>` on the bench lab."""
    subprocess.run([sys.executable, "-m", "lab", *args], cwd=REPO, check=True, timeout=timeout)


def lab_up() -> None:
    lab("up", "--kube", "--spec", str(SPEC))


def playbook(name: str, *extra: str, profile: Path | None = None) -> tuple[float, str]:
    """One timed `ansible-playbook playbooks/<name>` on the bench lab; with `profile`, ansible-core's junit
    callback writes each task's time there (see `slowest_tasks`)."""
    env = dict(os.environ)
    if profile:
        shutil.rmtree(profile, ignore_errors=True)
        env.update(ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.junit", JUNIT_OUTPUT_DIR=str(profile),
                   JUNIT_HIDE_TASK_ARGUMENTS="true")
    started = time.monotonic()
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", os.environ["KUBEDR_LAB_INVENTORY"],
                             str(REPO / "playbooks" / name), *extra],
                            cwd=REPO, capture_output=True, text=True, timeout=3600, check=False, env=env)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{result.stdout[-6000:]}{result.stderr[-2000:]}")
    return seconds, result.stdout


def slowest_tasks(profile: Path, count: int) -> list[tuple[float, str]]:
    """The slowest tasks of a profiled run (each task's time on its slowest host), skipped ones left out."""
    times: dict[str, float] = {}
    for report in profile.glob("*.xml"):
        for case in ElementTree.parse(report).getroot().iter("testcase"):
            if case.find("skipped") is None:
                name = case.get("name", "").split("] ", 1)[-1].split(" : ", 1)[-1]  # the task, not play/role
                times[name] = max(times.get(name, 0.0), float(case.get("time") or 0))
    return sorted(((t, n) for n, t in times.items()), reverse=True)[:count]
