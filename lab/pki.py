"""Certificates laid out exactly as kubeadm lays them out for stacked etcd.

kubeadm writes /etc/kubernetes/pki/etcd/{ca,server,peer,healthcheck-client}.{crt,key} and
/etc/kubernetes/pki/apiserver-etcd-client.{crt,key}; server and peer certificates carry the
host name, localhost, the host address and 127.0.0.1 / ::1 as SANs.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _write_pair(directory: Path, stem: str, cert: x509.Certificate, key) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = directory / f"{stem}.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    os.chmod(key_path, 0o600)


class CertificateAuthority:
    def __init__(self, cert: x509.Certificate, key):
        self.cert = cert
        self.key = key

    @classmethod
    def create(cls, common_name: str = "etcd-ca") -> CertificateAuthority:
        key = _key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + 10 * VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True, key_encipherment=True,
                    content_commitment=False, data_encipherment=False, key_agreement=False,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @classmethod
    def load(cls, directory: Path, stem: str = "ca") -> CertificateAuthority:
        cert = x509.load_pem_x509_certificate((directory / f"{stem}.crt").read_bytes())
        key = serialization.load_pem_private_key((directory / f"{stem}.key").read_bytes(), None)
        return cls(cert, key)

    def write(self, directory: Path, stem: str = "ca") -> None:
        _write_pair(directory, stem, self.cert, self.key)

    def issue(self, common_name: str, *, server: bool, client: bool, dns: list[str] = (),
              ips: list[str] = (), organization: str | None = None):
        key = _key()
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organization:
            attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + (
            [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        )
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(self.key, hashes.SHA256()), key


def write_etcd_member_pki(ca: CertificateAuthority, pki_dir: Path, hostname: str, address: str) -> None:
    """Write one control-plane host's etcd certificates under `pki_dir` (its /etc/kubernetes/pki)."""
    etcd_dir = pki_dir / "etcd"
    ca.write(etcd_dir)
    dns = [hostname, "localhost"]
    ips = [address, "127.0.0.1", "::1"]
    _write_pair(etcd_dir, "server", *ca.issue(hostname, server=True, client=True, dns=dns, ips=ips))
    _write_pair(etcd_dir, "peer", *ca.issue(hostname, server=True, client=True, dns=dns, ips=ips))
    _write_pair(etcd_dir, "healthcheck-client",
                *ca.issue("kube-etcd-healthcheck-client", server=False, client=True))
    _write_pair(pki_dir, "apiserver-etcd-client",
                *ca.issue("kube-apiserver-etcd-client", server=False, client=True))
