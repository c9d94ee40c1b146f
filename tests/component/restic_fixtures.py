"""Real restic repositories for the restic module tests: local path backend and a TLS rest-server with auth.

Import the fixtures into a test module (`from restic_fixtures import ...  # noqa: F401`); the
shared conftest.py is left alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

PASSWORD = "kubedr-Pw-9f3a1c7e"  # distinctive, so a leak is easy to find in results and argv


def _binary(name: str) -> Path:
    try:
        from lab import build

        pins = build.load_pins()
        return build.binary(name, pins[name]["version"])
    except (FileNotFoundError, KeyError, ImportError) as e:
        pytest.skip(f"{name} is not available: {e}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Repo:
    """A restic repository the tests reach with `args` (module options) and `cli` (restic directly)."""

    def __init__(self, restic: Path, repository: str, password: str = PASSWORD, env: dict | None = None,
                 cacert: str | None = None, cache_dir: str | None = None):
        self.restic = restic
        self.repository = repository
        self.password = password
        self.env = env or {}
        self.cacert = cacert
        self.cache_dir = cache_dir

    def args(self, **extra) -> dict:
        args = {"repository": self.repository, "password": self.password, "restic_path": str(self.restic),
                "env": dict(self.env), "retry_lock": "2s"}
        if self.cacert:
            args["cacert"] = self.cacert
        if self.cache_dir:
            args["cache_dir"] = self.cache_dir
        args.update(extra)
        return args

    def cli(self, *args: str, check: bool = True, password: str | None = None) -> subprocess.CompletedProcess:
        env = dict(os.environ, RESTIC_REPOSITORY=self.repository,
                   RESTIC_PASSWORD=self.password if password is None else password, **self.env)
        cmd = [str(self.restic)]
        if self.cacert:
            cmd += ["--cacert", self.cacert]
        if self.cache_dir:
            cmd += ["--cache-dir", self.cache_dir]
        proc = subprocess.run(cmd + list(args), env=env, capture_output=True, text=True, timeout=300,
                              check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"restic {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def init(self) -> Repo:
        self.cli("init")
        return self

    def snapshot_ids(self) -> list[str]:
        snapshots = json.loads(self.cli("snapshots", "--json").stdout)
        return [s["id"] for s in sorted(snapshots, key=lambda s: s["time"])]


class RestServer:
    """rest-server on 127.0.0.1 with TLS (a throwaway CA) and htpasswd auth; stopped by pid."""

    user = "kubedr"
    http_password = "rest-Secret-44b1"

    def __init__(self, binary: Path, root: Path):
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.cacert = str(root / "ca.crt")

    def start(self) -> RestServer:
        from lab.rest_server import write_tls_and_auth

        data = self.root / "data"
        data.mkdir(parents=True)
        tls_and_auth = write_tls_and_auth(self.root, "localhost", "127.0.0.1", self.user, self.http_password)
        log = open(self.root / "rest-server.log", "wb")  # noqa: SIM115 - closed in stop()
        self._log = log
        self.proc = subprocess.Popen(
            [str(self.binary), "--listen", f"127.0.0.1:{self.port}", "--path", str(data), *tls_and_auth],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rest-server exited: {(self.root / 'rest-server.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("rest-server did not start listening")

    def url(self, name: str, with_credentials: bool = True) -> str:
        auth = f"{self.user}:{self.http_password}@" if with_credentials else ""
        return f"rest:https://{auth}127.0.0.1:{self.port}/{name}/"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


@pytest.fixture(scope="session")
def restic_bin() -> Path:
    return _binary("restic")


@pytest.fixture
def local_repo(restic_bin, tmp_path) -> Repo:
    """An initialised repository on the local path backend."""
    return Repo(restic_bin, str(tmp_path / "repo"), cache_dir=str(tmp_path / "cache")).init()


@pytest.fixture
def empty_repo_location(restic_bin, tmp_path) -> Repo:
    """A repository location where nothing exists yet."""
    return Repo(restic_bin, str(tmp_path / "repo"), cache_dir=str(tmp_path / "cache"))


@pytest.fixture
def stable_dir():
    """A fresh directory under /var/tmp, removed afterwards.

    restic records the metadata of every ancestor of a backed-up path in the snapshot tree, so
    --skip-if-unchanged sees a change whenever a parent directory's mtime moves: below /tmp (and
    pytest's tmp_path) that happens all the time, below /var/tmp almost never.
    """
    path = Path(tempfile.mkdtemp(prefix="kubedr-restic-test-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def rest_server(tmp_path_factory):
    server = RestServer(_binary("rest-server"), tmp_path_factory.mktemp("rest-server")).start()
    yield server
    server.stop()


def tree_checksums(root: Path) -> dict:
    """{relative path: sha256 or 'dir'/'link:<target>'} for everything below root."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def make_tree(root: Path) -> Path:
    """A small source tree with nested dirs, an owner other than root, a symlink and a binary file."""
    (root / "member" / "snap").mkdir(parents=True)
    (root / "member" / "wal").mkdir()
    (root / "member" / "snap" / "db").write_bytes(os.urandom(200_000))
    (root / "member" / "wal" / "0000.wal").write_text("wal data\n")
    (root / "link").symlink_to("member/wal/0000.wal")
    os.chown(root / "member" / "wal", 1234, 5678)
    os.chmod(root / "member" / "wal", 0o750)
    os.chmod(root, 0o700)
    return root
