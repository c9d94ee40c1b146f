"""kubeadm_reset on real directories and real listening sockets: the manifests move first, the module
waits for the ports to close, the rest moves, a record is written, and nothing is ever deleted."""

from __future__ import annotations

import json
import socket
import threading

from ansible_collections.kubedr.kubeadm.plugins.modules import kubeadm_reset


def node(tmp_path):
    """A kubeadm node's state under tmp_path: /etc/kubernetes (with its manifests), /var/lib/etcd."""
    kube = tmp_path / "etc-kubernetes"
    (kube / "manifests").mkdir(parents=True)
    (kube / "manifests" / "etcd.yaml").write_text("etcd")
    (kube / "admin.conf").write_text("conf")
    (tmp_path / "etcd" / "member").mkdir(parents=True)
    return {
        "stamp": "r1",
        "manifests_dir": str(kube / "manifests"),
        "paths": [str(kube), str(tmp_path / "etcd")],
        "stop_kubelet": False,
        "record": str(tmp_path / "state" / "run" / "reset"),
    }


def listener():
    server = socket.create_server(("127.0.0.1", 0))
    return server, f"127.0.0.1:{server.getsockname()[1]}"


def test_everything_moves_aside_in_order_and_a_rerun_changes_nothing(run_module, tmp_path):
    args = node(tmp_path)
    server, address = listener()
    threading.Timer(1.0, server.close).start()  # the "static pod" stops a second after its manifest went
    result = run_module(kubeadm_reset, {**args, "wait_closed": [address], "timeout": 30})
    assert result["changed"] is True and result["kubelet_stopped"] is False
    assert [m["path"] for m in result["moved"]] == [args["manifests_dir"], *args["paths"]]
    aside = tmp_path / ".etc-kubernetes.kubedr-aside-r1"
    assert (aside / "admin.conf").read_text() == "conf"
    assert (aside / ".manifests.kubedr-aside-r1" / "etcd.yaml").read_text() == "etcd"
    assert (tmp_path / ".etcd.kubedr-aside-r1" / "member").is_dir()
    record = tmp_path / "state" / "run" / "reset"
    assert json.loads(record.read_text()) == result["moved"]
    assert (
        oct(record.stat().st_mode & 0o777) == "0o600" and oct(record.parent.stat().st_mode & 0o777) == "0o700"
    )
    again = run_module(kubeadm_reset, {**args, "wait_closed": [address]})
    assert again["changed"] is False and again["moved"] == []
    assert json.loads(record.read_text()) == result["moved"]  # the first run's record is kept


def test_a_port_that_stays_open_stops_the_reset_before_the_data_moves(run_module, tmp_path):
    args = node(tmp_path)
    server, address = listener()
    try:
        result = run_module(kubeadm_reset, {**args, "wait_closed": [address], "timeout": 1})
    finally:
        server.close()
    assert result["failed"] and address in result["msg"] and "still accept connections" in result["msg"]
    assert [m["path"] for m in result["moved"]] == [args["manifests_dir"]]
    assert (tmp_path / "etc-kubernetes" / "admin.conf").exists() and (tmp_path / "etcd" / "member").is_dir()


def test_check_mode_moves_nothing(run_module, tmp_path):
    args = node(tmp_path)
    result = run_module(kubeadm_reset, {**args, "wait_closed": [], "_ansible_check_mode": True})
    assert result["changed"] is True and len(result["moved"]) == 3
    assert (tmp_path / "etc-kubernetes" / "manifests" / "etcd.yaml").exists()
    assert not (tmp_path / "state").exists()


def test_bad_input_is_named(run_module, tmp_path):
    args = node(tmp_path)
    bad_port = run_module(kubeadm_reset, {**args, "wait_closed": ["127.0.0.1"]})
    assert bad_port["failed"] and "not host:port" in bad_port["msg"]
    bad_stamp = run_module(kubeadm_reset, {**args, "stamp": "a/b"})
    assert bad_stamp["failed"] and "plain name" in bad_stamp["msg"]
    assert (tmp_path / "etc-kubernetes" / "manifests" / "etcd.yaml").exists()
