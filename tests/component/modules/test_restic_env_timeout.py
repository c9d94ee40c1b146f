"""restic runner against real repositories: environment masking after parsing (secret and non-secret
environment kept apart), the per-command timeout, and mount points found as bind mounts."""

from __future__ import annotations

import json
import socket
import threading
import time

import restic_fixtures
from ansible_collections.kubedr.kubeadm.plugins.modules import restic_backup, restic_snapshots
from restic_fixtures import PASSWORD, make_tree

# shared fixtures, found by pytest as module globals
restic_bin = restic_fixtures.restic_bin
local_repo = restic_fixtures.local_repo


def assert_good_backup(result, repo):
    assert not result["failed"], result
    assert result["changed"] and repo.snapshot_ids() == [result["snapshot_id"]], result
    assert len(result["snapshot_id"]) == 64 and result["summary"]["files_new"] == 2, result


def test_non_secret_env_value_in_output_does_not_break_backup(run_module, local_repo, tmp_path):
    """GOMAXPROCS=2 is no secret: "2" is in every snapshot id and byte count restic prints."""
    src = make_tree(tmp_path / "src")
    result = run_module(restic_backup, local_repo.args(paths=[str(src)], env={"GOMAXPROCS": "2"}))
    assert_good_backup(result, local_repo)
    listed = run_module(restic_snapshots, local_repo.args(env={"GOMAXPROCS": "2"}))
    assert [s["id"] for s in listed["snapshots"]] == [result["snapshot_id"]], listed


def test_plain_env_is_not_masked(run_module, local_repo, tmp_path):
    """plain_env values are handed to restic and never masked, even when restic's JSON holds them."""
    src = make_tree(tmp_path / "src")
    plain = {"GOMAXPROCS": "1", "KUBEDR_NOTE": "summary"}
    result = run_module(restic_backup, local_repo.args(paths=[str(src)], plain_env=plain))
    assert_good_backup(result, local_repo)
    assert "********" not in json.dumps(result)


def test_secret_env_is_masked_after_parsing(run_module, local_repo, tmp_path):
    """A secret that shows up in restic's output (here in a path) is masked in the results, and the
    backup is still parsed."""
    secret = "Tok3n-d1r-5ecret"
    src = make_tree(tmp_path / secret)
    result = run_module(restic_backup, local_repo.args(paths=[str(src)], env={"KUBEDR_API_TOKEN": secret}))
    assert_good_backup(result, local_repo)
    assert secret not in json.dumps(result) and PASSWORD not in json.dumps(result)
    listed = run_module(restic_snapshots, local_repo.args(env={"KUBEDR_API_TOKEN": secret}))
    assert listed["snapshots"][0]["paths"] == [str(tmp_path / "********")], listed


def test_too_short_secret_env_value_fails_naming_plain_env(run_module, local_repo):
    result = run_module(restic_snapshots, local_repo.args(env={"KUBEDR_THREADS": "4"}))
    assert result["failed"] and "plain_env" in result["msg"] and "KUBEDR_THREADS" in result["msg"], result


class SilentServer:
    """A TCP socket on 127.0.0.1 that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.closed = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.closed:
            try:
                conn = self.sock.accept()[0]
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        self.closed = True
        self.sock.close()
        for conn in self.conns:
            conn.close()


def test_timeout_stops_a_restic_command_and_names_the_option(run_module, restic_bin, tmp_path):
    server = SilentServer()
    try:
        args = {
            "repository": f"rest:http://127.0.0.1:{server.port}/repo/",
            "password": PASSWORD,
            "restic_path": str(restic_bin),
            "no_cache": True,
            "retry_lock": "",
            "timeout": 3,
        }
        start = time.monotonic()
        result = run_module(restic_snapshots, args)
        elapsed = time.monotonic() - start
    finally:
        server.close()
    assert result["failed"], result
    assert "timeout=3" in result["msg"] and "did not finish" in result["msg"], result
    assert elapsed < 30, elapsed
    assert server.conns, "restic never connected: the test did not exercise a hanging backend"
