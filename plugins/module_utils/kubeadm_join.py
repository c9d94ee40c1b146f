# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a kubeadm join needs, made on a control-plane host that runs: the configuration kubeadm's
upload-certs and token create read, and the parts of the join command they print; and the
JoinConfiguration the joining host hands to kubeadm join."""

from __future__ import annotations

import json
import re
import secrets

DEFAULT_API_VERSION = "kubeadm.k8s.io/v1beta4"


class JoinMaterialError(Exception):
    pass


def certificate_key() -> str:
    """A new key for the uploaded control-plane certificates: 32 random bytes, hex (as `kubeadm certs
    certificate-key` makes them)."""
    return secrets.token_hex(32)


def api_version(cluster_configuration: str) -> str:
    found = re.search(r"^apiVersion:\s*(\S+)\s*$", cluster_configuration, re.MULTILINE)
    return found.group(1) if found else DEFAULT_API_VERSION


def advertise_address(manifest: str) -> str:
    """The API server's --advertise-address from its static pod manifest ("" when absent)."""
    found = re.search(r"--advertise-address=([^\s\"']+)", manifest)
    return found.group(1) if found else ""


def configuration(cluster_configuration: str, address: str, key: str = "", ttl: str = "1h") -> str:
    """An InitConfiguration (the bootstrap token's ttl, the certificate key when given) and the
    cluster's own ClusterConfiguration (from the kubeadm-config ConfigMap): kubeadm reads its settings
    from it, so nothing falls back to defaults (nor looks up a release version online). kubeadm
    refuses --ttl beside --config, hence the ttl here; and without this host's API address it guesses
    one from the default route, which a host may not have."""
    if not re.search(r"^kind:\s*ClusterConfiguration\s*$", cluster_configuration, re.MULTILINE):
        raise JoinMaterialError(
            "the kubeadm-config ConfigMap holds no ClusterConfiguration: is this a kubeadm cluster?"
        )
    head = (
        f"apiVersion: {api_version(cluster_configuration)}\nkind: InitConfiguration\n"
        f"localAPIEndpoint:\n  advertiseAddress: {address}\n"
        f"bootstrapTokens:\n- ttl: {ttl}\n  usages: [signing, authentication]\n"
        "  groups: [system:bootstrappers:kubeadm:default-node-token]\n"
    )
    if key:
        head += f"certificateKey: {key}\n"
    return f"{head}---\n{cluster_configuration.strip()}\n"


def parse_join_command(text: str) -> dict:
    """endpoint, token and ca_cert_hash from `kubeadm token create --print-join-command`."""
    endpoint = re.search(r"\bkubeadm join (\S+)", text)
    token = re.search(r"--token (\S+)", text)
    ca_hash = re.search(r"--discovery-token-ca-cert-hash (\S+)", text)
    if not (endpoint and token and ca_hash):
        # not quoted back: whatever it printed may hold a token
        raise JoinMaterialError(
            "kubeadm token create --print-join-command printed no complete join command "
            "(endpoint, --token, --discovery-token-ca-cert-hash)"
        )
    return {"endpoint": endpoint.group(1), "token": token.group(1), "ca_cert_hash": ca_hash.group(1)}


def join_configuration(
    endpoint: str,
    token: str,
    ca_cert_hash: str,
    node_registration: dict | None = None,
    certificate_key: str = "",
    advertise_address: str = "",
    bind_port: int = 6443,
    api_version: str = DEFAULT_API_VERSION,
) -> str:
    """A JoinConfiguration for `kubeadm join --config`, as JSON (which kubeadm reads as YAML); with a
    certificate key it joins a control-plane host that serves the API on advertise_address."""
    if certificate_key and not advertise_address:
        raise JoinMaterialError(
            "a control-plane join (certificate_key given) needs advertise_address, "
            "this host's API server address"
        )
    config = {
        "apiVersion": api_version,
        "kind": "JoinConfiguration",
        "discovery": {
            "bootstrapToken": {"apiServerEndpoint": endpoint, "token": token, "caCertHashes": [ca_cert_hash]}
        },
        "nodeRegistration": dict(node_registration or {}),
    }
    if certificate_key:
        config["controlPlane"] = {
            "localAPIEndpoint": {"advertiseAddress": advertise_address, "bindPort": bind_port},
            "certificateKey": certificate_key,
        }
    return json.dumps(config, indent=2) + "\n"
