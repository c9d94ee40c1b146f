"""EtcdClient and the kubeadm connection defaults against real TLS etcd 3.5 and 3.6."""

from __future__ import annotations

import socket
import sys
import time

import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_client import (
    EtcdClient,
    EtcdError,
    format_id,
    kubeadm_defaults,
)
from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_common import (
    connection_settings,
    etcd_argument_spec,
    etcd_client,
)
from etcd_fixtures import free_ports
from etcd_manifests import kubeadm_manifest

from lab import pki


@pytest.fixture(scope="module")
def client(etcd_single) -> EtcdClient:
    return EtcdClient(etcd_single.members[0].client_url, timeout=5, **etcd_single.tls())


@pytest.fixture(scope="module")
def foreign_pki(tmp_path_factory):
    """kubeadm-layout certificates from an unrelated CA."""
    root = tmp_path_factory.mktemp("foreign-pki")
    pki.write_etcd_member_pki(pki.CertificateAuthority.create(), root, "localhost", "127.0.0.1")
    return root / "etcd"


# --- reads ------------------------------------------------------------------------------------------


def test_status(client, etcd_single, etcd_version):
    status = client.status()
    assert status["version"] == etcd_version
    assert status["cluster_id"] > 0 and status["member_id"] > 0
    assert status["leader"] == status["member_id"]  # a single member leads itself
    assert status["raft_term"] >= 1
    assert status["raft_applied_index"] >= 1 and status["raft_index"] >= status["raft_applied_index"] - 1
    assert status["db_size"] >= status["db_size_in_use"] > 0
    assert status["is_learner"] is False
    assert status["errors"] == []
    # storageVersion only exists in 3.6's StatusResponse
    assert (status["storage_version"] is not None) == etcd_version.startswith("3.6.")


def test_member_list_matches_etcdctl(client, etcd_single):
    listing = client.member_list()
    member = etcd_single.members[0]
    assert len(listing["members"]) == 1
    got = listing["members"][0]
    assert got["name"] == member.name
    assert got["peer_urls"] == [member.peer_url]
    assert got["client_urls"] == [member.client_url]
    assert got["is_learner"] is False
    assert got["id"] == listing["member_id"] == client.status()["member_id"]
    # etcdctl's simple output: "<hex id>, started, <name>, <peer urls>, <client urls>, <is learner>"
    etcdctl_id, state, name = [f.strip() for f in etcd_single.etcdctl("member", "list").split(",")][:3]
    assert (etcdctl_id, state, name) == (format_id(got["id"]), "started", member.name)


def test_alarms_none(client):
    assert client.alarms() == []


def test_put_range_revisions(client, etcd_single):
    first = client.put("/kubedr/test/a", "one")
    second = client.put("/kubedr/test/a", b"two\x00bytes")
    client.put("/kubedr/test/b", "bee")
    assert second == first + 1

    got = client.range("/kubedr/test/a")
    assert got["count"] == 1
    (kv,) = got["kvs"]
    assert kv == {"key": b"/kubedr/test/a", "value": b"two\x00bytes", "create_revision": first,
                  "mod_revision": second, "version": 2}
    assert got["revision"] == second + 1

    prefix = client.range("/kubedr/test/", range_end="/kubedr/test0")
    assert [kv["key"] for kv in prefix["kvs"]] == [b"/kubedr/test/a", b"/kubedr/test/b"]
    assert client.range("/kubedr/test/missing") == {"revision": second + 1, "count": 0, "kvs": []}
    # an independent client sees the same data
    assert etcd_single.etcdctl("get", "--print-value-only", "/kubedr/test/b").strip() == "bee"


def test_hashkv_follows_writes(client):
    before = client.hashkv()
    assert client.hashkv(before["revision"])["hash"] == before["hash"]
    client.put("/kubedr/test/hash", "x")
    after = client.hashkv()
    assert after["revision"] == before["revision"] + 1
    assert after["hash"] != before["hash"]
    assert client.hashkv(before["revision"])["hash"] == before["hash"]  # history is hashable
    assert isinstance(client.hash(), int) and client.hash() > 0


# --- membership -------------------------------------------------------------------------------------


def test_learner_add_promote_remove(client, etcd_single):
    peer_url = f"https://127.0.0.1:{free_ports(1)[0]}"
    learner = client.member_add([peer_url], is_learner=True)
    try:
        assert learner["is_learner"] is True and learner["peer_urls"] == [peer_url] and learner["id"] > 0
        listed = {m["id"]: m for m in client.member_list()["members"]}
        assert listed[learner["id"]] == dict(learner, name="", client_urls=[])
        assert format_id(learner["id"]) in etcd_single.etcdctl("member", "list")

        with pytest.raises(EtcdError) as err:
            client.member_promote(learner["id"])
        assert err.value.code == 9  # FAILED_PRECONDITION
        message = str(err.value)
        assert etcd_single.members[0].client_url in message
        assert "in sync with leader" in message and "start etcd on the learner" in message
    finally:
        client.member_remove(learner["id"])
    assert [m["name"] for m in client.member_list()["members"]] == [etcd_single.members[0].name]

    with pytest.raises(EtcdError, match="member not found") as err:
        client.member_remove(learner["id"])
    assert err.value.code == 5  # NOT_FOUND


# --- failures ---------------------------------------------------------------------------------------


def test_wrong_ca_is_a_tls_error(etcd_single, foreign_pki):
    bad = EtcdClient(etcd_single.members[0].client_url, str(foreign_pki / "ca.crt"),
                     etcd_single.client_cert, etcd_single.client_key, timeout=5)
    with pytest.raises(EtcdError, match="TLS failure.*check ca/cert/key paths") as err:
        bad.status()
    assert err.value.endpoint == etcd_single.members[0].client_url
    assert err.value.code is None


def test_client_cert_from_another_ca_is_rejected(etcd_single, foreign_pki):
    bad = EtcdClient(etcd_single.members[0].client_url, etcd_single.ca_cert,
                     str(foreign_pki / "healthcheck-client.crt"), str(foreign_pki / "healthcheck-client.key"))
    with pytest.raises(EtcdError, match="TLS handshake failed.*check ca/cert/key paths"):
        bad.status()


def test_missing_or_mismatched_files(etcd_single, foreign_pki, tmp_path):
    with pytest.raises(EtcdError, match="ca_cert '.*nope.crt' does not exist.*check ca/cert/key paths"):
        EtcdClient(etcd_single.members[0].client_url, str(tmp_path / "nope.crt"),
                   etcd_single.client_cert, etcd_single.client_key)
    with pytest.raises(EtcdError, match="cannot load TLS files.*check ca/cert/key paths"):
        EtcdClient(etcd_single.members[0].client_url, etcd_single.ca_cert,
                   etcd_single.client_cert, str(foreign_pki / "healthcheck-client.key"))


def test_connection_refused(etcd_single):
    port = free_ports(1)[0]
    client = EtcdClient(f"https://127.0.0.1:{port}", timeout=5, **etcd_single.tls())
    with pytest.raises(EtcdError, match=rf"connection refused: is etcd running on 127\.0\.0\.1:{port}\?"):
        client.member_list()


def test_peer_port_is_not_a_client_url(etcd_single):
    client = EtcdClient(etcd_single.members[0].peer_url, timeout=5, **etcd_single.tls())
    with pytest.raises(EtcdError, match="is this an etcd client URL"):
        client.status()


def test_per_call_timeout(etcd_single):
    """A peer that accepts TCP but never speaks TLS: the call gives up after its own timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        client = EtcdClient(f"https://127.0.0.1:{silent.getsockname()[1]}", timeout=60, **etcd_single.tls())
        started = time.monotonic()
        with pytest.raises(EtcdError, match=r"no answer within 0\.5s"):
            client.status(timeout=0.5)
        assert time.monotonic() - started < 3


def test_only_https_endpoints(etcd_single):
    with pytest.raises(EtcdError, match="only https://host:port"):
        EtcdClient("http://127.0.0.1:2379", **etcd_single.tls())
    assert EtcdClient("127.0.0.1:2379", **etcd_single.tls()).endpoint == "https://127.0.0.1:2379"


def test_format_id_like_etcdctl():
    assert format_id(0x123) == "123"  # "%x": no zero padding
    assert format_id(2**64 - 1) == "ffffffffffffffff"


# --- kubeadm defaults -------------------------------------------------------------------------------


def test_defaults_without_manifest(tmp_path):
    assert kubeadm_defaults(str(tmp_path / "absent.yaml")) == {
        "endpoint": "https://127.0.0.1:2379",
        "ca_cert": "/etc/kubernetes/pki/etcd/ca.crt",
        "client_cert": "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
        "client_key": "/etc/kubernetes/pki/etcd/healthcheck-client.key",
        "source": None,
    }


@pytest.mark.parametrize("without_yaml", [False, True], ids=["pyyaml", "line-scan"])
@pytest.mark.parametrize(("listen", "expected"), [
    ("https://127.0.0.1:2379,https://10.0.0.10:2379", "https://127.0.0.1:2379"),
    ("https://10.0.0.10:2379,https://127.0.0.1:2379", "https://127.0.0.1:2379"),
    ("http://127.0.0.1:2379,https://10.0.0.10:2379", "https://10.0.0.10:2379"),
    ("https://0.0.0.0:2379", "https://127.0.0.1:2379"),
    ("https://[::]:2379", "https://[::1]:2379"),
])
def test_defaults_from_manifest(tmp_path, monkeypatch, without_yaml, listen, expected):
    if without_yaml:
        monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml -> ImportError
    manifest = tmp_path / "etcd.yaml"
    manifest.write_text(kubeadm_manifest(listen, pki_dir="/srv/k8s/pki/etcd"))
    assert kubeadm_defaults(str(manifest)) == {
        "endpoint": expected,
        "ca_cert": "/srv/k8s/pki/etcd/ca.crt",
        "client_cert": "/srv/k8s/pki/etcd/healthcheck-client.crt",
        "client_key": "/srv/k8s/pki/etcd/healthcheck-client.key",
        "source": str(manifest),
    }


def test_argument_spec_defaults():
    spec = etcd_argument_spec()
    assert set(spec) == {"endpoint", "ca_cert", "client_cert", "client_key", "manifest_path", "timeout"}
    assert spec["manifest_path"]["default"] == "/etc/kubernetes/manifests/etcd.yaml"
    assert spec["timeout"] == {"type": "int", "default": 10}
    assert etcd_argument_spec() is not etcd_argument_spec()  # callers may update() their copy


def test_explicit_options_win_over_manifest(tmp_path):
    manifest = tmp_path / "etcd.yaml"
    manifest.write_text(kubeadm_manifest("https://127.0.0.1:2379"))
    params = {"endpoint": "https://10.9.9.9:2379", "ca_cert": None, "client_cert": "/x/c.crt",
              "client_key": None, "manifest_path": str(manifest)}
    assert connection_settings(params) == {
        "endpoint": "https://10.9.9.9:2379",
        "ca_cert": "/etc/kubernetes/pki/etcd/ca.crt",
        "client_cert": "/x/c.crt",
        "client_key": "/etc/kubernetes/pki/etcd/healthcheck-client.key",
    }


def test_discovery_reaches_real_etcd(etcd_single, tmp_path, etcd_version):
    """A kubeadm-shaped manifest pointing at the test member is all the module options need."""
    member = etcd_single.members[0]
    manifest = tmp_path / "etcd.yaml"
    manifest.write_text(kubeadm_manifest(f"{member.client_url},https://10.0.0.10:2379",
                                         pki_dir=str(etcd_single.pki_dir)))
    params = {"endpoint": None, "ca_cert": None, "client_cert": None, "client_key": None,
              "manifest_path": str(manifest), "timeout": 5}
    client = etcd_client(params)
    assert client.endpoint == member.client_url
    assert client.status()["version"] == etcd_version


def test_bad_timeout_rejected(tmp_path):
    with pytest.raises(EtcdError, match="timeout must be a positive"):
        etcd_client({"timeout": -1, "manifest_path": str(tmp_path / "absent.yaml")})
