# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a kubeadm join needs, made on a control-plane host that runs: the configuration kubeadm's
upload-certs and token create read, and the parts of the join command they print; and the
JoinConfiguration the joining host hands to kubeadm join."""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets

from ansible_collections.kubedr.kubeadm.plugins.module_utils._fs import MOVED_PREFIX
from ansible_collections.kubedr.kubeadm.plugins.module_utils.move_aside import ASIDE_PREFIX

# old data kubedr kept inside a mount point: a restore's swap, and move_aside's and kubeadm_reset's
KEPT_PREFIXES = (MOVED_PREFIX, ASIDE_PREFIX)

DEFAULT_API_VERSION = "kubeadm.k8s.io/v1beta4"
# A bootstrap token is "<id>.<secret>"; the id is public (the Secret bootstrap-token-<id> names it).
TOKEN = re.compile(r"\A([a-z0-9]{6})\.[a-z0-9]{16}\Z")
TOKEN_ID = re.compile(r"\A[a-z0-9]{6}\Z")
TOKEN_SECRET_TYPE = "bootstrap.kubernetes.io/token"
TOKEN_SECRET_PREFIX = "bootstrap-token-"


class JoinMaterialError(Exception):
    pass


def certificate_key() -> str:
    """A new key for the uploaded control-plane certificates: 32 random bytes, hex (as `kubeadm certs
    certificate-key` makes them)."""
    return secrets.token_hex(32)


def _field(cluster_configuration: str, name: str) -> str | None:
    """A top-level scalar of the ClusterConfiguration text, None when absent."""
    found = re.search(rf"^{name}:\s*(\S+)\s*$", cluster_configuration, re.MULTILINE)
    return found.group(1) if found else None


def api_version(cluster_configuration: str) -> str:
    return _field(cluster_configuration, "apiVersion") or DEFAULT_API_VERSION


# kubeadm's configuration API by Kubernetes minor: v1beta3 up to 1.30, v1beta4 from 1.31 (which still
# reads v1beta3, deprecated). The backed-up ClusterConfiguration says which its kubeadm wrote.
API_VERSIONS = ("kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4")
FIRST_V1BETA4_MINOR = 31


def api_version_for(written: str | None = None, kubernetes_version: str | None = None) -> str:
    """The configuration API to write for a cluster: the one its ClusterConfiguration was written in, else
    the one its Kubernetes version's kubeadm writes (v1beta4 when neither is known)."""
    if written in API_VERSIONS:
        return written
    minor = re.match(r"v?1\.(\d+)", kubernetes_version or "")
    if minor and int(minor.group(1)) < FIRST_V1BETA4_MINOR:
        return API_VERSIONS[0]
    return DEFAULT_API_VERSION


def cluster_api_version(cluster_configuration: str) -> str:
    """api_version_for the ClusterConfiguration text of the kubeadm-config ConfigMap."""
    return api_version_for(_field(cluster_configuration, "apiVersion"),
                           _field(cluster_configuration, "kubernetesVersion"))


def node_registration_for(version: str, registration: dict | None) -> dict:
    """nodeRegistration in the shape `version` wants: v1beta4 made kubeletExtraArgs a list of {name, value}
    (v1beta3 a map); either shape is taken, so an inventory written for one release serves the other."""
    out = dict(registration or {})
    args = out.get("kubeletExtraArgs")
    if args is None:
        return out
    pairs = list(args.items()) if isinstance(args, dict) else [(a["name"], a["value"]) for a in args]
    if version == API_VERSIONS[0]:
        out["kubeletExtraArgs"] = {str(name): str(value) for name, value in pairs}
    else:
        out["kubeletExtraArgs"] = [{"name": str(name), "value": str(value)} for name, value in pairs]
    return out


def advertise_address(manifest: str) -> str:
    """The API server's --advertise-address from its static pod manifest ("" when absent)."""
    found = re.search(r"--advertise-address=([^\s\"']+)", manifest)
    return found.group(1) if found else ""


def configuration(
    cluster_configuration: str, address: str, key: str = "", ttl: str = "1h", description: str = ""
) -> str:
    """An InitConfiguration (the bootstrap token's ttl, the certificate key when given) and the
    cluster's own ClusterConfiguration (from the kubeadm-config ConfigMap): kubeadm reads its settings
    from it, so nothing falls back to defaults (nor looks up a release version online). kubeadm
    refuses --ttl beside --config, hence the ttl here; and without this host's API address it guesses
    one from the default route, which a host may not have. The description marks the token as the
    caller's, so that it can delete it (tokens_to_delete)."""
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
    if description:
        head += f"  description: {json.dumps(description)}\n"
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


def token_id(token: str) -> str:
    """The public half of a bootstrap token ("abcdef" of "abcdef.0123456789abcdef")."""
    found = TOKEN.match(token) if isinstance(token, str) else None
    if not found:
        # not quoted back: it may be a token with a typo
        raise JoinMaterialError("not a bootstrap token (expected [a-z0-9]{6}.[a-z0-9]{16})")
    return found.group(1)


def _decoded(data: dict, key: str) -> str:
    try:
        return base64.b64decode(data.get(key) or "", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, TypeError, ValueError):
        return ""


def tokens_to_delete(secrets_: list, description: str = "", token_ids=()) -> list:
    """The ids of the bootstrap tokens to delete, out of the cluster's Secrets (the items of `kubectl get
    secrets -n kube-system -o json`): those whose description is `description` (when given) and those
    named in token_ids that exist. Neither given: none. Sorted; the token secrets are never read."""
    wanted = set()
    for given in token_ids or ():
        if not isinstance(given, str) or not TOKEN_ID.match(given):
            raise JoinMaterialError(
                f"{given!r} is not a bootstrap token id ([a-z0-9]{{6}}, the part before the dot): "
                "give the token_id kubeadm_join_material returned"
            )
        wanted.add(given)
    found = set()
    for secret in secrets_ or ():
        if not isinstance(secret, dict) or secret.get("type") != TOKEN_SECRET_TYPE:
            continue
        data = secret.get("data") or {}
        name = (secret.get("metadata") or {}).get("name") or ""
        ident = _decoded(data, "token-id") or (
            name[len(TOKEN_SECRET_PREFIX) :] if name.startswith(TOKEN_SECRET_PREFIX) else ""
        )
        if not TOKEN_ID.match(ident):
            continue
        if ident in wanted or (description and _decoded(data, "description") == description):
            found.add(ident)
    return sorted(found)


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
        "nodeRegistration": node_registration_for(api_version, node_registration),
    }
    if certificate_key:
        config["controlPlane"] = {
            "localAPIEndpoint": {"advertiseAddress": advertise_address, "bindPort": bind_port},
            "certificateKey": certificate_key,
        }
    return json.dumps(config, indent=2) + "\n"


def etcd_dir_check(data_dir: str) -> str:
    """kubeadm's name for its preflight check that the etcd data dir is empty."""
    return "DirAvailable-" + data_dir.rstrip("/").replace("/", "-")


def preflight_to_skip(control_plane: bool, etcd_data_dir: str, listdir=os.listdir) -> list:
    """The preflight checks a control-plane join skips: kubeadm's empty-etcd-dir check when the dir holds
    only what kubedr moved aside inside it (a mount point cannot be renamed, so kubeadm_reset moved its old
    entries into .kubedr-aside-<stamp>; etcd ignores such entries). Anything else in it is data kubeadm
    refuses, as it would without kubedr."""
    if not control_plane:
        return []
    try:
        names = listdir(etcd_data_dir)
    except FileNotFoundError:
        return []
    kept_only = names and all(name.startswith(KEPT_PREFIXES) for name in names)
    return [etcd_dir_check(etcd_data_dir)] if kept_only else []
