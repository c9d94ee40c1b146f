"""What rest-server needs to serve over TLS with htpasswd auth, written for the tests that run one (on
loopback in the unit tests, on the lab's backup host in the integration tests)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from lab.pki import CertificateAuthority


def write_tls_and_auth(root: Path, name: str, address: str, user: str, password: str) -> list[str]:
    """A throwaway CA (root/ca.crt, for the clients), a server certificate for `name` and `address`, and
    an htpasswd file for `user`; returns rest-server's arguments that use them."""
    ca = CertificateAuthority.create(f"kubedr-test-ca-{name}")
    cert, key = ca.issue(name, server=True, client=False, dns=[name], ips=[address])
    (root / "ca.crt").write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    (root / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (root / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                        serialization.PrivateFormat.TraditionalOpenSSL,
                                                        serialization.NoEncryption()))
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
    (root / "htpasswd").write_text(f"{user}:{{SHA}}{digest}\n")
    return ["--htpasswd-file", str(root / "htpasswd"), "--tls",
            "--tls-cert", str(root / "server.crt"), "--tls-key", str(root / "server.key")]
