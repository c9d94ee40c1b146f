"""kubeadm_node_identity_info on real identity files (certificates made at test time): a worker that
still belongs to the cluster, one of another cluster (a CA of the same name), a reinstalled one, an
expired or misnamed certificate; unreadable or garbled files fail and are never called a lost identity."""

from __future__ import annotations

import datetime
import os

import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils import kubeadm_node_identity as kni
from ansible_collections.kubedr.kubeadm.plugins.modules import kubeadm_node_identity_info
from kubelet_fixtures import CA, NOW, kubelet_conf, worker


@pytest.fixture(scope="module")
def cluster():
    return CA()


@pytest.fixture(scope="module")
def other():
    """Another cluster's CA: kubeadm names every CA CN=kubernetes."""
    return CA()


def run(run_module, cluster, paths, **more):
    return run_module(kubeadm_node_identity_info, {"ca_cert": cluster.pem.decode(), **paths, **more})


def test_a_worker_of_this_cluster_matches(run_module, cluster, tmp_path):
    result = run(run_module, cluster, worker(tmp_path, cluster), node_name="w1")
    identity = result["identity"]
    assert result["changed"] is False and identity["verdict"] == "match", identity
    assert identity["reasons"] == [] and identity["missing"] == []
    assert identity["signature_checked"] is True  # cryptography is in the test venv
    assert identity["client_certificate"]["subject"] == "O=system:nodes, CN=system:node:w1"
    assert identity["client_certificate"]["path"].endswith("kubelet-client-current.pem")
    assert identity["cluster_ca_sha256"] == [kni.sha256_hex(kni.pem_certificates(cluster.pem, "x")[0])]
    assert "PRIVATE KEY" not in str(result)


def test_without_cryptography_the_key_identifiers_decide(monkeypatch, run_module, cluster, tmp_path):
    monkeypatch.setattr(kni, "x509", None)
    result = run(run_module, cluster, worker(tmp_path, cluster))
    assert result["identity"]["verdict"] == "match" and result["identity"]["signature_checked"] is False


def test_an_embedded_client_certificate_is_read_from_the_kubeconfig(run_module, cluster, tmp_path):
    paths = worker(tmp_path, cluster)
    with open(paths["kubeconfig"], "w") as fh:
        fh.write(kubelet_conf(cluster.pem, "", embedded_client=cluster.client("cp1")))
    result = run(run_module, cluster, paths, node_name="cp1")
    assert result["identity"]["verdict"] == "match", result["identity"]
    assert result["identity"]["client_certificate"]["path"] == paths["kubeconfig"]


def test_another_clusters_ca_of_the_same_name_is_a_mismatch(run_module, cluster, other, tmp_path):
    paths = worker(tmp_path, other)
    result = run(run_module, cluster, paths, node_name="w1")
    identity = result["identity"]
    assert result["failed"] is False and identity["verdict"] == "mismatch"
    assert any(paths["ca_path"] in r for r in identity["reasons"])
    assert any(paths["kubeconfig"] in r for r in identity["reasons"])
    assert any("not issued by the cluster CA" in r for r in identity["reasons"])


@pytest.mark.parametrize("with_cryptography", [True, False])
def test_a_client_certificate_of_another_ca_is_a_mismatch(
    monkeypatch, run_module, cluster, other, tmp_path, with_cryptography
):
    if not with_cryptography:
        monkeypatch.setattr(kni, "x509", None)
    # the node's CA files are this cluster's, its client certificate is another CA's (same issuer name)
    result = run(run_module, cluster, worker(tmp_path, cluster, client_pem=other.client("w1")))
    assert result["identity"]["verdict"] == "mismatch"
    assert any("not issued by the cluster CA" in r for r in result["identity"]["reasons"])


def test_a_forged_signature_is_caught_when_cryptography_is_there(run_module, cluster, other, tmp_path):
    # this cluster's name and key identifier, another key's signature: only a signature check sees it
    forged = cluster.client("w1", signer=other)
    result = run(run_module, cluster, worker(tmp_path, cluster, client_pem=forged))
    assert result["identity"]["verdict"] == "mismatch", result["identity"]
    assert any("signature" in r for r in result["identity"]["reasons"])


def test_a_ca_without_key_identifiers_is_matched_by_name_and_signature(run_module, tmp_path):
    bare = CA(key_identifier=False)
    result = run(run_module, bare, worker(tmp_path, bare, client_pem=bare.client("w1", key_identifier=False)))
    assert result["identity"]["verdict"] == "match", result["identity"]


def test_an_expired_client_certificate(run_module, cluster, tmp_path):
    old = cluster.client(
        "w1", not_before=NOW - datetime.timedelta(days=400), not_after=NOW - datetime.timedelta(days=1)
    )
    result = run(run_module, cluster, worker(tmp_path, cluster, client_pem=old))
    assert result["identity"]["verdict"] == "expired", result["identity"]
    assert any("expired" in r for r in result["identity"]["reasons"])


def test_a_certificate_for_another_node_is_a_mismatch(run_module, cluster, tmp_path):
    result = run(run_module, cluster, worker(tmp_path, cluster, node="w2"), node_name="w1")
    assert result["identity"]["verdict"] == "mismatch"
    assert any("system:node:w1" in r for r in result["identity"]["reasons"])


def test_a_reinstalled_worker_is_missing_everything(run_module, cluster, tmp_path):
    result = run(
        run_module,
        cluster,
        {"kubeconfig": str(tmp_path / "kubelet.conf"), "ca_path": str(tmp_path / "ca.crt")},
        client_cert=str(tmp_path / "client.pem"),
    )
    identity = result["identity"]
    assert result["failed"] is False and identity["verdict"] == "missing"
    assert identity["missing"] == [str(tmp_path / p) for p in ("kubelet.conf", "ca.crt", "client.pem")]


def test_a_dangling_current_certificate_link_is_missing(run_module, cluster, tmp_path):
    paths = worker(tmp_path, cluster)
    os.remove(tmp_path / "var-lib-kubelet" / "pki" / "kubelet-client-2026-12-01-10-00-00.pem")
    result = run(run_module, cluster, paths)
    assert result["identity"]["verdict"] == "missing"
    current = tmp_path / "var-lib-kubelet" / "pki" / "kubelet-client-current.pem"
    assert result["identity"]["missing"] == [str(current)]


def test_a_garbled_kubeconfig_fails_and_is_not_a_lost_identity(run_module, cluster, tmp_path):
    paths = worker(tmp_path, cluster)
    with open(paths["kubeconfig"], "w") as fh:
        fh.write("apiVersion: v1\nclusters: [\n")
    result = run(run_module, cluster, paths)
    assert result["failed"] and "identity" not in result
    assert paths["kubeconfig"] in result["msg"] and "Nothing was changed" in result["msg"]


def test_an_unreadable_file_fails(run_module, cluster, tmp_path):
    paths = worker(tmp_path, cluster)
    os.remove(paths["ca_path"])
    os.mkdir(paths["ca_path"])  # read as root, a directory is what cannot be read
    result = run(run_module, cluster, paths)
    assert result["failed"] and paths["ca_path"] in result["msg"] and "cannot be read" in result["msg"]


def test_a_garbled_client_certificate_fails_without_quoting_its_key(run_module, cluster, tmp_path):
    pem = cluster.client("w1")
    key = pem[pem.index(b"-----BEGIN PRIVATE KEY-----") :]
    garbled = b"-----BEGIN CERTIFICATE-----\nAAAA\n" + key  # its END line lost
    result = run(run_module, cluster, worker(tmp_path, cluster, client_pem=garbled))
    assert result["failed"] and "kubelet-client-current.pem" in result["msg"]
    assert key.split(b"\n")[1].decode() not in result["msg"]


def test_a_bad_ca_cert_parameter_is_named(run_module, cluster, tmp_path):
    paths = worker(tmp_path, cluster)
    result = run_module(kubeadm_node_identity_info, {"ca_cert": "not a certificate", **paths})
    assert result["failed"] and "ca_cert" in result["msg"]


def test_check_mode_reads_the_same(run_module, cluster, tmp_path):
    result = run(run_module, cluster, worker(tmp_path, cluster), _ansible_check_mode=True)
    assert result["changed"] is False and result["identity"]["verdict"] == "match"
