"""Every external command a module runs is bounded by its timeout option (issue 12, defect 13): stand-in
etcdutl, kubeadm, kubectl and systemctl that hang (found by a binary path option or on PATH) are stopped
at the timeout, the module fails naming the command, the timeout and the option, and what the module
guards (a data directory, a join configuration file with a token in it, the state to move aside) is left
as it was. The Kubernetes Python client of k8s_local_pv_info is bounded the same way, against an API
server that accepts connections and never answers."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import tempfile
import textwrap
import threading
import time

import pytest
from ansible_collections.kubedr.kubeadm.plugins.modules import (
    etcd_restore,
    etcd_snapshot_info,
    k8s_local_pv_info,
    kubeadm_join,
    kubeadm_join_material,
    kubeadm_reset,
    kubeadm_token_delete,
)

TIMEOUT = 2
TOKEN = "abcdef.0123456789abcdef"
CLUSTER_CONFIGURATION = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nclusterName: lab\n"


def fake_tool(bin_dir, name, hang_on, body=""):
    """bin_dir/name: logs its arguments; when they contain `hang_on`, records its pid and sleeps a minute
    (as itself: exec), else runs `body`."""
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        dir=$(dirname "$0")
        echo "{name} $*" >> "$dir/log"
        case " $* " in
          *" {hang_on} "*) echo $$ > "$dir/{name}.hung"; echo "{name} started" >&2; exec sleep 60;;
        esac
        {body}
        exit 0
        """))
    path.chmod(0o755)
    return path


def hung_process_gone(bin_dir, name, within=5.0):
    pid = int((bin_dir / f"{name}.hung").read_text())
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def timed(run_module, module, args):
    start = time.monotonic()
    result = run_module(module, args)
    return result, time.monotonic() - start


def assert_timed_out(result, elapsed, command, option="timeout"):
    assert result["failed"], result
    assert result["msg"].startswith(command), result["msg"]
    assert f" did not finish within {option}={TIMEOUT} seconds and was stopped" in result["msg"], result
    assert f"raise {option}" in result["msg"], result["msg"]
    assert elapsed < 20, elapsed


@pytest.fixture
def bin_dir(tmp_path, monkeypatch):
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", f"{path}:{os.environ['PATH']}")
    return path


def fake_snapshot(path):
    """A file that passes etcd_snapshot_info's checks: a bbolt meta page header, a sha256 trailer."""
    page = (0).to_bytes(8, "little") + (4).to_bytes(2, "little") + bytes(6)
    page += (0xED0CDAED).to_bytes(4, "little")
    body = page + os.urandom(8192)
    path.write_bytes(body + hashlib.sha256(body).digest())
    return path


def restore_args(tmp_path, etcdutl, **extra):
    data_dir = tmp_path / "etcd"
    (data_dir / "member").mkdir(parents=True)
    (data_dir / "member" / "old").write_text("old data")
    return {"snapshot": str(fake_snapshot(tmp_path / "snapshot.db")), "data_dir": str(data_dir),
            "name": "cp1", "initial_cluster": "cp1=https://127.0.0.1:2380", "initial_cluster_token": "t1",
            "etcdutl_path": str(etcdutl), "timeout": TIMEOUT, **extra}


def test_etcd_restore_stops_a_hanging_restore_and_leaves_the_data_dir(run_module, tmp_path, bin_dir):
    etcdutl = fake_tool(bin_dir, "etcdutl", "restore")
    args = restore_args(tmp_path, etcdutl)
    result, elapsed = timed(run_module, etcd_restore, args)
    assert_timed_out(result, elapsed, "etcdutl snapshot restore")
    assert f"{args['data_dir']} was not touched" in result["msg"]
    assert hung_process_gone(bin_dir, "etcdutl")
    assert (tmp_path / "etcd" / "member" / "old").read_text() == "old data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "etcd", "snapshot.db"], "scratch dir left"


def test_etcd_restore_stops_a_hanging_snapshot_status(run_module, tmp_path, bin_dir):
    etcdutl = fake_tool(bin_dir, "etcdutl", "status")
    args = restore_args(tmp_path, etcdutl, above_revision=5, bump_revision=10, mark_compacted=True)
    result, elapsed = timed(run_module, etcd_restore, args)
    assert_timed_out(result, elapsed, "etcdutl snapshot status")
    assert hung_process_gone(bin_dir, "etcdutl")
    assert "snapshot restore" not in (bin_dir / "log").read_text()


def test_etcd_restore_refuses_a_negative_timeout(run_module, tmp_path, bin_dir):
    etcdutl = fake_tool(bin_dir, "etcdutl", "restore")
    result = run_module(etcd_restore, restore_args(tmp_path, etcdutl, timeout=-1))
    assert result["failed"] and "timeout must be a number of seconds" in result["msg"], result


def test_etcd_snapshot_info_trial_restore_timeout_fails_even_when_reporting(run_module, tmp_path, bin_dir):
    etcdutl = fake_tool(bin_dir, "etcdutl", "restore")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    args = {"path": str(fake_snapshot(tmp_path / "snapshot.db")), "trial_restore": True,
            "fail_on_invalid": False, "scratch_dir": str(scratch), "etcdutl_path": str(etcdutl),
            "timeout": TIMEOUT}
    result, elapsed = timed(run_module, etcd_snapshot_info, args)
    assert_timed_out(result, elapsed, "trial restore: etcdutl snapshot restore")
    assert "says nothing about the snapshot" in result["msg"]
    assert hung_process_gone(bin_dir, "etcdutl")
    assert list(scratch.iterdir()) == [], "the trial restore's scratch directory was left"


def test_kubeadm_join_is_stopped_and_its_configuration_removed(run_module, tmp_path, bin_dir, monkeypatch):
    if os.path.exists("/etc/kubernetes/kubelet.conf"):
        pytest.skip("this host has joined a cluster: kubeadm_join would not run")
    fake_tool(bin_dir, "kubeadm", "join")
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    args = {"endpoint": "127.0.0.1:6443", "token": TOKEN, "ca_cert_hash": "sha256:" + "0" * 64,
            "timeout": TIMEOUT}
    result, elapsed = timed(run_module, kubeadm_join, args)
    assert_timed_out(result, elapsed, "kubeadm join (127.0.0.1:6443)")
    assert "kubeadm_reset" in result["msg"]
    assert hung_process_gone(bin_dir, "kubeadm")
    assert list(private.iterdir()) == [], "the join configuration (with the token) was left on disk"
    assert TOKEN not in str(result)


def test_kubeadm_join_material_stops_a_hanging_kubeadm(run_module, tmp_path, bin_dir, monkeypatch):
    configmap = tmp_path / "kubeadm-config.json"
    configmap.write_text(json.dumps({"data": {"ClusterConfiguration": CLUSTER_CONFIGURATION}}))
    fake_tool(bin_dir, "kubectl", "never", body=f"cat {configmap}")
    fake_tool(bin_dir, "kubeadm", "upload-certs")
    kubeconfig = tmp_path / "admin.conf"
    kubeconfig.write_text("kubeconfig")
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    args = {"control_plane": True, "advertise_address": "127.0.0.1", "kubeconfig": str(kubeconfig),
            "timeout": TIMEOUT}
    result, elapsed = timed(run_module, kubeadm_join_material, args)
    assert_timed_out(result, elapsed, "kubeadm init phase upload-certs --upload-certs --config ")
    assert hung_process_gone(bin_dir, "kubeadm")
    assert list(private.iterdir()) == []
    assert "token create" not in (bin_dir / "log").read_text()


def token_secrets(path, token_id, description):
    """A `kubectl get secrets -o json` listing holding one bootstrap token."""
    data = {key: base64.b64encode(value.encode()).decode()
            for key, value in {"token-id": token_id, "description": description}.items()}
    secret = {"metadata": {"name": f"bootstrap-token-{token_id}"}, "type": "bootstrap.kubernetes.io/token",
              "data": data}
    path.write_text(json.dumps({"items": [secret]}))
    return path


def test_kubeadm_token_delete_stops_a_hanging_kubeadm(run_module, tmp_path, bin_dir):
    listing = token_secrets(tmp_path / "secrets.json", "abcdef", "kubedr run")
    fake_tool(bin_dir, "kubectl", "never", body=f"cat {listing}")
    fake_tool(bin_dir, "kubeadm", "delete")
    kubeconfig = tmp_path / "admin.conf"
    kubeconfig.write_text("kubeconfig")
    args = {"description": "kubedr run", "kubeconfig": str(kubeconfig), "timeout": TIMEOUT}
    result, elapsed = timed(run_module, kubeadm_token_delete, args)
    assert_timed_out(result, elapsed, "kubeadm token delete abcdef")
    assert hung_process_gone(bin_dir, "kubeadm")


def test_kubeadm_token_delete_stops_a_hanging_kubectl_listing(run_module, tmp_path, bin_dir):
    fake_tool(bin_dir, "kubectl", "secrets")
    fake_tool(bin_dir, "kubeadm", "never")
    kubeconfig = tmp_path / "admin.conf"
    kubeconfig.write_text("kubeconfig")
    args = {"description": "kubedr run", "kubeconfig": str(kubeconfig), "timeout": TIMEOUT}
    result, elapsed = timed(run_module, kubeadm_token_delete, args)
    assert result["failed"], result
    assert result["msg"].startswith("listing the bootstrap tokens failed: kubectl "), result["msg"]
    # kubectl's own --request-timeout plus the runner's slack for start-up and discovery
    assert "did not return within 17 s and was stopped" in result["msg"], result["msg"]
    assert elapsed < 20, elapsed
    assert hung_process_gone(bin_dir, "kubectl")
    assert [line.split()[0] for line in (bin_dir / "log").read_text().splitlines()] == ["kubectl"]


def test_kubeadm_reset_stops_a_hanging_kubelet_stop_before_anything_else_moves(run_module, tmp_path, bin_dir):
    fake_tool(bin_dir, "systemctl", "stop", body='[ "$1" = is-active ] && { echo active; exit 0; }')
    kube = tmp_path / "etc-kubernetes"
    (kube / "manifests").mkdir(parents=True)
    (kube / "manifests" / "etcd.yaml").write_text("etcd")
    (kube / "admin.conf").write_text("conf")
    args = {"stamp": "r1", "manifests_dir": str(kube / "manifests"), "paths": [str(kube)], "wait_closed": [],
            "command_timeout": TIMEOUT}
    result, elapsed = timed(run_module, kubeadm_reset, args)
    assert_timed_out(result, elapsed, "systemctl stop kubelet", "command_timeout")
    assert hung_process_gone(bin_dir, "systemctl")
    assert [m["path"] for m in result["moved"]] == [args["manifests_dir"]] and not result["kubelet_stopped"]
    assert (kube / "admin.conf").read_text() == "conf", "the state moved although the kubelet did not stop"


class SilentServer:
    """A TCP socket on 127.0.0.1 that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self):
        self.sock.close()
        for conn in self.conns:
            conn.close()


def test_k8s_local_pv_info_gives_up_on_an_api_server_that_never_answers(run_module, tmp_path):
    pytest.importorskip("kubernetes")
    server = SilentServer()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(textwrap.dedent(f"""\
        apiVersion: v1
        kind: Config
        clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{server.port}"}}}}]
        users: [{{name: u, user: {{token: not-a-secret}}}}]
        contexts: [{{name: c, context: {{cluster: c, user: u}}}}]
        current-context: c
        """))
    try:
        args = {"kubeconfig": str(kubeconfig), "timeout": TIMEOUT}
        result, elapsed = timed(run_module, k8s_local_pv_info, args)
    finally:
        server.close()
    assert result["failed"], result
    assert f"no answer from the API server within timeout={TIMEOUT} seconds" in result["msg"], result["msg"]
    assert "listing PersistentVolumes" in result["msg"] and "raise timeout" in result["msg"], result["msg"]
    assert elapsed < 30, elapsed
    assert server.conns, "the client never connected: the test did not exercise a silent API server"
