"""EtcdClient.snapshot over gRPC and the JSON gateway against real TLS etcd 3.5 and 3.6."""

from __future__ import annotations

import socket
import time

import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils import etcd_grpc
from ansible_collections.kubedr.kubeadm.plugins.module_utils import etcd_snapshot_file as snapfile
from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_client import (
    EtcdClient,
    EtcdError,
    snapshot_transport,
)

TRANSPORTS = ("grpc", "gateway")


@pytest.fixture(scope="module")
def client(etcd_single) -> EtcdClient:
    etcd = EtcdClient(etcd_single.members[0].client_url, timeout=5, **etcd_single.tls())
    for i in range(32):  # ~512 KiB: a stream of a few dozen 32 KiB messages
        etcd.put(f"/kubedr/stream/{i}", bytes([i]) * 16 * 1024)
    return etcd


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stream_is_a_verified_snapshot(client, etcd_version, transport):
    stream = client.snapshot(transport)
    assert stream.transport == transport
    hasher = snapfile.TrailerHasher()
    chunks = 0
    first = b""
    for chunk in stream:
        first = first or bytes(chunk[:4096])
        hasher.update(chunk)
        chunks += 1
    assert chunks > 10 and hasher.trailer_ok and hasher.size > 512 * 1024
    assert snapfile.bbolt_magic_ok(first)
    assert hasher.size >= client.status()["db_size"]
    assert stream.version == ("3.6.0" if etcd_version.startswith("3.6") else None)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_slow_reader_is_not_cut_short(client, transport):
    """timeout is an idle timeout: a stream that takes several times longer than it still completes."""
    slow = EtcdClient(client.endpoint, client.ca_file, client.cert_file, client.key_file, timeout=1)
    hasher = snapfile.TrailerHasher()
    started = time.monotonic()
    for chunk in slow.snapshot(transport):
        hasher.update(chunk)
        time.sleep(0.15)
    assert time.monotonic() - started > 2.5
    assert hasher.trailer_ok


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_silent_server_hits_idle_timeout(client, transport):
    """A TCP listener that never speaks: the stream gives up after `timeout` seconds, clearly."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        silent = EtcdClient(f"https://127.0.0.1:{port}", client.ca_file, client.cert_file, client.key_file,
                            timeout=1)
        started = time.monotonic()
        with pytest.raises(EtcdError) as info:
            list(silent.snapshot(transport))
        assert time.monotonic() - started < 6
    assert "1s" in str(info.value), str(info.value)


def test_transport_choice(monkeypatch):
    assert snapshot_transport("auto") == "grpc" and snapshot_transport("gateway") == "gateway"
    with pytest.raises(EtcdError, match="unknown snapshot transport"):
        snapshot_transport("carrier-pigeon")
    monkeypatch.setattr(etcd_grpc, "HAS_GRPC", False)
    assert snapshot_transport("auto") == "gateway"
    with pytest.raises(EtcdError, match="grpcio"):
        snapshot_transport("grpc")
