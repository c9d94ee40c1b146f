"""The standard-library reading of PEM certificates and kubeconfigs behind kubeadm_node_identity_info,
checked against what `cryptography` makes and reads of the same certificates."""

from __future__ import annotations

import base64
import datetime
import json

import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils import kubeadm_node_identity as kni
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubelet_fixtures import CA, kubelet_conf


@pytest.fixture(scope="module")
def ca():
    return CA()


def test_a_certificate_reads_as_cryptography_reads_it(ca):
    client_pem = ca.client("w1")
    leaf = x509.load_pem_x509_certificate(client_pem)
    [der] = kni.pem_certificates(client_pem, "client.pem")  # the key block beside it is skipped
    assert der == leaf.public_bytes(serialization.Encoding.DER)
    cert = kni.parse_certificate(der)
    assert cert.subject == "O=system:nodes, CN=system:node:w1" and cert.common_name == "system:node:w1"
    assert cert.issuer == "CN=kubernetes" and cert.issuer_der == ca.cert.subject.public_bytes()
    assert cert.not_after == int(leaf.not_valid_after_utc.timestamp())
    assert cert.not_before == int(leaf.not_valid_before_utc.timestamp())
    assert cert.authority_key_id == leaf.extensions.get_extension_for_class(
        x509.AuthorityKeyIdentifier
    ).value.key_identifier
    authority = kni.parse_certificate(ca.cert.public_bytes(serialization.Encoding.DER))
    assert authority.subject_der == ca.cert.subject.public_bytes()
    assert authority.subject_key_id == cert.authority_key_id and authority.authority_key_id is None


def test_a_ca_bundle_gives_every_certificate_in_order(ca):
    other = CA()
    bundle = ca.pem + other.pem
    ders = kni.pem_certificates(bundle, "bundle")
    assert ders == [c.cert.public_bytes(serialization.Encoding.DER) for c in (ca, other)]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "holds no PEM certificate"),
        (b"hello\n", "holds no PEM certificate"),
        (b"-----BEGIN CERTIFICATE-----\nMIIB\n", "incomplete"),  # truncated: no END line
        (b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", "not base64"),
        (
            b"-----BEGIN CERTIFICATE-----\n"
            + base64.b64encode(b"\x30\x03\x02\x01\x01")
            + b"\n-----END CERTIFICATE-----\n",
            "not an X.509 certificate",
        ),
    ],
)
def test_garbled_pem_is_an_error_naming_the_file(content, problem):
    with pytest.raises(kni.IdentityError) as err:
        kni.pem_certificates(content, "/var/lib/kubelet/pki/kubelet-client-current.pem")
    assert problem in str(err.value) and "/var/lib/kubelet/pki/kubelet-client-current.pem" in str(err.value)


def test_a_truncated_certificate_is_an_error_and_the_key_is_never_quoted(ca):
    client_pem = ca.client("w1")
    cert_end = client_pem.index(b"-----END CERTIFICATE-----")
    key = client_pem[client_pem.index(b"-----BEGIN PRIVATE KEY-----") :]
    body = client_pem[:cert_end]
    # drop a line from the middle of the certificate: still base64, no longer DER
    lines = body.split(b"\n")
    garbled = b"\n".join(lines[:3] + lines[4:]) + client_pem[cert_end:]
    with pytest.raises(kni.IdentityError) as err:
        kni.pem_certificates(garbled, "client.pem")
    assert "client.pem" in str(err.value)
    secret_line = key.split(b"\n")[1].decode()
    assert secret_line not in str(err.value)


def test_kubeconfig_names_the_ca_and_the_client_certificate(ca, tmp_path):
    text = kubelet_conf(ca.pem, "/var/lib/kubelet/pki/kubelet-client-current.pem")
    creds = kni.kubeconfig_credentials(text, str(tmp_path / "kubelet.conf"))
    assert creds["ca"] == ("data", ca.pem)
    assert creds["client"] == ("file", "/var/lib/kubelet/pki/kubelet-client-current.pem")


def test_kubeconfig_as_json_and_relative_paths(tmp_path, ca):
    config = {
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"certificate-authority": "pki/ca.crt"}}],
        "users": [{"name": "u", "user": {"client-certificate-data": base64.b64encode(b"PEM").decode()}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    creds = kni.kubeconfig_credentials(json.dumps(config), str(tmp_path / "kubelet.conf"))
    assert creds == {"ca": ("file", str(tmp_path / "pki" / "ca.crt")), "client": ("data", b"PEM")}


def test_kubeconfig_without_pyyaml_is_read_line_by_line(monkeypatch, ca, tmp_path):
    monkeypatch.setattr(kni, "yaml", None)
    text = kubelet_conf(ca.pem, "/var/lib/kubelet/pki/kubelet-client-current.pem")
    creds = kni.kubeconfig_credentials(text, str(tmp_path / "kubelet.conf"))
    assert creds["ca"] == ("data", ca.pem)
    assert creds["client"] == ("file", "/var/lib/kubelet/pki/kubelet-client-current.pem")
    # a second cluster with another CA: which one the kubelet uses needs the YAML structure
    two = text.replace(
        "  name: default-cluster\n",
        "  name: default-cluster\n- cluster:\n    certificate-authority-data: "
        + base64.b64encode(CA().pem).decode()
        + "\n  name: other\n",
    )
    with pytest.raises(kni.IdentityError) as err:
        kni.kubeconfig_credentials(two, "/etc/kubernetes/kubelet.conf")
    assert "PyYAML" in str(err.value) and "/etc/kubernetes/kubelet.conf" in str(err.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{{ not yaml: [", "is not a kubeconfig"),
        ("- a\n- b\n", "is not a kubeconfig"),
        (
            "clusters:\n- name: c\n  cluster: {server: x}\n"
            "users:\n- name: u\n  user: {client-certificate: /p}\n",
            "names no certificate authority",
        ),
        (
            "clusters:\n- name: c\n  cluster: {certificate-authority: /ca}\n"
            "users:\n- name: u\n  user: {token: x}\n",
            "names no client certificate",
        ),
        (
            "current-context: gone\nclusters:\n- name: c\n  cluster: {certificate-authority: /ca}\n"
            "users:\n- name: u\n  user: {client-certificate: /p}\n",
            "current-context gone",
        ),
        (
            "clusters:\n- name: c\n  cluster: {certificate-authority-data: '!!'}\n"
            "users:\n- name: u\n  user: {client-certificate: /p}\n",
            "not base64",
        ),
    ],
)
def test_kubeconfig_problems_are_named(text, problem):
    with pytest.raises(kni.IdentityError) as err:
        kni.kubeconfig_credentials(text, "/etc/kubernetes/kubelet.conf")
    assert problem in str(err.value) and "/etc/kubernetes/kubelet.conf" in str(err.value)


def test_times_after_2049_are_generalized_times(ca):
    far = datetime.datetime(2061, 3, 4, 5, 6, 7, tzinfo=datetime.UTC)
    cert = kni.parse_certificate(kni.pem_certificates(ca.client("w1", not_after=far), "c")[0])
    assert cert.not_after == int(far.timestamp())
    assert cert.summary("c")["not_after"] == "2061-03-04T05:06:07Z"
