"""Fixtures for tests that run against the lab: real namespaces, sshd and etcd on this machine."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SPEC = Path(__file__).with_name("lab_spec.toml")


class Lab:
    """Drives `python -m lab` for one test lab kept apart from a developer's own."""

    def __init__(self, root: Path):
        self.dir = root / "lab"
        self.inventory = root / "inventory"
        self.env = {**os.environ, "KUBEDR_LAB_DIR": str(self.dir),
                    "KUBEDR_LAB_INVENTORY": str(self.inventory), "PATH": f"{BIN}:{os.environ['PATH']}"}

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
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


@pytest.fixture
def own_lab(root):
    """A lab of the test's own, for tests about bringing labs up and down; torn down in any case."""
    with _lab() as lab:
        yield lab
