"""A kubeadm worker's kubelet identity on disk, made at test time with `cryptography` (controller side
only: the module under test reads it with the standard library).

kubeadm's layout: /etc/kubernetes/pki/ca.crt (the cluster CA, RSA, CN=kubernetes), the kubelet's
kubeconfig /etc/kubernetes/kubelet.conf (the CA embedded, the client certificate by path) and the
rotated client certificate and key in /var/lib/kubelet/pki/kubelet-client-<time>.pem, which
kubelet-client-current.pem links to.
"""

from __future__ import annotations

import base64
import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.UTC)


class CA:
    """A cluster CA as kubeadm makes one: same subject (CN=kubernetes) in every cluster."""

    def __init__(self, common_name: str = "kubernetes", key_identifier: bool = True):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        )
        if key_identifier:
            builder = builder.add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
        self.cert = builder.sign(self.key, hashes.SHA256())
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def client(
        self,
        node: str = "w1",
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
        key_identifier: bool = True,
        signer: CA | None = None,
    ) -> bytes:
        """A kubelet client certificate and its key (ECDSA P-256, as the kubelet rotates them), PEM.
        `signer` signs it under this CA's name (a forgery, or another cluster's CA of the same name)."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
                        x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node}"),
                    ]
                )
            )
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or NOW - datetime.timedelta(hours=1))
            .not_valid_after(not_after or NOW + datetime.timedelta(days=365))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        )
        if key_identifier:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        cert = builder.sign((signer or self).key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def kubelet_conf(ca_pem: bytes, client: str, embedded_client: bytes | None = None) -> str:
    """The kubeconfig the kubelet writes after its TLS bootstrap (or, with embedded_client, one with the
    certificate in it, as kubeadm writes on control-plane hosts)."""
    user = (
        f"    client-certificate-data: {base64.b64encode(embedded_client).decode()}\n"
        if embedded_client
        else f"    client-certificate: {client}\n    client-key: {client}\n"
    )
    return (
        "apiVersion: v1\nclusters:\n- cluster:\n"
        f"    certificate-authority-data: {base64.b64encode(ca_pem).decode()}\n"
        "    server: https://198.18.0.100:6443\n  name: default-cluster\n"
        "contexts:\n- context:\n    cluster: default-cluster\n    namespace: default\n"
        "    user: default-auth\n"
        "  name: default-context\ncurrent-context: default-context\nkind: Config\npreferences: {}\n"
        f"users:\n- name: default-auth\n  user:\n{user}"
    )


def worker(root: Path, ca: CA, client_pem: bytes | None = None, node: str = "w1") -> dict:
    """A joined worker's identity files under root; returns the module's path arguments."""
    pki = root / "etc-kubernetes" / "pki"
    kubelet_pki = root / "var-lib-kubelet" / "pki"
    pki.mkdir(parents=True)
    kubelet_pki.mkdir(parents=True)
    (pki / "ca.crt").write_bytes(ca.pem)
    rotated = kubelet_pki / "kubelet-client-2026-12-01-10-00-00.pem"
    rotated.write_bytes(client_pem if client_pem is not None else ca.client(node))
    current = kubelet_pki / "kubelet-client-current.pem"
    current.symlink_to(rotated.name)
    conf = root / "etc-kubernetes" / "kubelet.conf"
    conf.write_text(kubelet_conf(ca.pem, str(current)))
    return {"kubeconfig": str(conf), "ca_path": str(pki / "ca.crt")}
