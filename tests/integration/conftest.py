"""Fixtures for tests that run against the lab: real namespaces, sshd and etcd on this machine."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lab import proc

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SPEC = Path(__file__).with_name("lab_spec.toml")
# The kubeadm lab of the kube_lab fixture; modules that wreck hosts rebuild them before they end,
# so it could serve several modules (it did not stay reliable across the backup and restore tests).
KUBE_SPEC = Path(__file__).with_name("kube_shared_spec.toml")


class Lab:
    """Drives `python -m lab` for one test lab kept apart from a developer's own."""

    def __init__(self, root: Path):
        self.dir = root / "lab"
        self.inventory = root / "inventory"
        self.env = {**os.environ, "KUBEDR_LAB_DIR": str(self.dir),
                    "KUBEDR_LAB_INVENTORY": str(self.inventory), "PATH": f"{BIN}:{os.environ['PATH']}"}

    @staticmethod
    def spec(path: Path) -> Path:
        """The spec file to use for `path`: the file of that name in $KUBEDR_TEST_SPEC_DIR when set
        (copies with other prefixes and subnets let a second test run share the machine with CI)."""
        other = os.environ.get("KUBEDR_TEST_SPEC_DIR")
        return Path(other) / Path(path).name if other else Path(path)

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        args = tuple(str(self.spec(a)) if i and args[i - 1] == "--spec" else a for i, a in enumerate(args))
        result = subprocess.run([sys.executable, "-m", "lab", *args], cwd=REPO, env=self.env,
                                capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"lab {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result

    def up(self, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("up", "--spec", str(SPEC), *extra, check=check)

    def ssh(self, host: str, command: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("ssh", host, command, check=check, timeout=60)

    def playbook(self, name: str, *args: str) -> subprocess.CompletedProcess:
        """Run tests/integration/playbooks/<name> against this lab; fails the test on a failed run."""
        result = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(self.inventory),
                                 str(Path(__file__).with_name("playbooks") / name), *args],
                                cwd=REPO, env=self.env, capture_output=True, text=True, timeout=600,
                                check=False)
        if result.returncode != 0:
            raise AssertionError(f"playbook {name} failed:\n{result.stdout[-6000:]}{result.stderr[-2000:]}")
        return result

    def kubectl(self, *args: str, check: bool = True,
                request_timeout: int = 20) -> subprocess.CompletedProcess:
        from lab import kube

        result = subprocess.run([str(kube.kube_binary("kubectl")), f"--kubeconfig={self.dir / 'kubeconfig'}",
                                 f"--request-timeout={request_timeout}s", *args],
                                capture_output=True, text=True, timeout=60, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result

    def address(self, host: str) -> str:
        report = json.loads(self.run("status", "--json").stdout)
        return next(h["address"] for h in report["hosts"] if h["name"] == host)

    def recorded_pids(self) -> list[int]:
        state = json.loads((self.dir / "state.json").read_text())
        return [p["pid"] for p in state["processes"].values()]

    def leftovers(self, prefix: str, pids: list[int]) -> list[str]:
        """What a torn-down lab left: namespaces, links, mounts, live recorded pids, files."""
        found = []
        netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
        found += [line for line in netns.splitlines() if line.startswith(f"{prefix}-")]
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
        found += [line.split(":")[1].strip() for line in links.splitlines()
                  if line.split(":")[1].strip().startswith(f"{prefix}-")]
        with open("/proc/self/mountinfo") as fh:
            found += [line.split()[4] for line in fh if str(self.dir) in line]
        # a zombie waiting for init to reap it holds nothing but its pid
        found += [f"pid {p}" for p in pids if proc.start_time(p) is not None]
        if self.dir.exists():
            found += [str(p) for p in self.dir.iterdir()]
        if self.inventory.exists():
            found += [str(p) for p in self.inventory.rglob("*")]
        return found

    def ansible(self, pattern: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "ansible"), pattern, "-i", str(self.inventory), *args],
                              cwd=REPO, env={**self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=180, check=False)


@contextlib.contextmanager
def _lab():
    # not under /tmp: every lab host mounts its own /tmp over the machine's
    root = Path(tempfile.mkdtemp(prefix="kubedr-itest-", dir="/var/tmp"))
    lab = Lab(root)
    try:
        yield lab
    finally:
        lab.run("down", check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def root():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")


@pytest.fixture(scope="session")
def lab(root, tmp_path_factory):
    """The test lab, up for the whole session and always torn down."""
    with _lab() as lab:
        lab.up("--etcd")
        yield lab


@pytest.fixture(scope="module")
def kube_lab(root):
    """A kubeadm lab (lab/kube.py) for one test module, always torn down after it: one kubeadm
    lab at a time keeps the 2-core machine's timings sane."""
    with _lab() as lab:
        lab.run("up", "--kube", "--spec", str(KUBE_SPEC), timeout=3600)
        yield lab


@pytest.fixture(scope="module")
def own_lab_module(root):
    """A lab shared by one test module's tests; torn down in any case."""
    with _lab() as lab:
        yield lab


@pytest.fixture
def own_lab(root):
    """A lab of the test's own, for tests about bringing labs up and down; torn down in any case."""
    with _lab() as lab:
        yield lab
