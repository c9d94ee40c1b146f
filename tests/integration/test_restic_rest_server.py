"""restic against rest-server on the lab's backup host over TLS with htpasswd auth, driven over SSH
from a control-plane host by the collection's restic modules (the unit tests run the same modules
against a rest-server on loopback)."""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import time
import tomllib
from pathlib import Path

import pytest

from lab import build, proc
from lab.rest_server import write_tls_and_auth

pytestmark = pytest.mark.lab
PORT = 8000
USER = "kubedr"
# test values, not secrets
HTTP_PASSWORD = "rest-itest-5d1e"
RESTIC_PASSWORD = "repo-itest-93ac"


def wait_listening(address: str, port: int, record: dict, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive(record):
            raise AssertionError(f"rest-server exited: {Path(record['log']).read_text()}")
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"rest-server did not listen on {address}:{port}")


@pytest.fixture
def rest_server(lab):
    """rest-server in the backup host's namespaces, its files where every lab host sees them (not /tmp,
    /srv: those are each host's own); stopped by its recorded pid."""
    address = lab.address("vault")
    prefix = tomllib.loads(lab.spec(Path(__file__).with_name("lab_spec.toml")).read_text())["lab"]["prefix"]
    root = Path(tempfile.mkdtemp(prefix="kubedr-rest-", dir="/var/tmp"))
    tls_and_auth = write_tls_and_auth(root, "vault", address, USER, HTTP_PASSWORD)
    binary = build.binary("rest-server", build.load_pins()["rest-server"]["version"], "rest-server")
    ns = lab.dir / "ns"
    record = proc.spawn(["nsenter", f"--net=/run/netns/{prefix}-vault", f"--mount={ns / 'vault.mnt'}",
                         f"--uts={ns / 'vault.uts'}", str(binary), "--listen", f"{address}:{PORT}",
                         "--path", str(root / "data"), *tls_and_auth],
                        root / "rest-server.log")
    try:
        wait_listening(address, PORT, record)
        yield root
    finally:
        proc.stop(record)
        shutil.rmtree(root, ignore_errors=True)


def test_restic_modules_on_rest_server_on_the_backup_host(lab, rest_server):
    restic = build.binary("restic", build.load_pins()["restic"]["version"], "restic")
    extra = {"port": PORT, "rest_user": USER, "rest_password": HTTP_PASSWORD,
             "restic_password": RESTIC_PASSWORD, "cacert": str(rest_server / "ca.crt"),
             "restic_path": str(restic)}
    result = lab.playbook("restic_rest.yml", "-e", json.dumps(extra))
    assert HTTP_PASSWORD not in result.stdout and RESTIC_PASSWORD not in result.stdout
    # the data went to the backup host's rest-server, one repository per host
    assert (rest_server / "data" / "cp1" / "config").is_file()
