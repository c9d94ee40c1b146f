# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small etcd v3 client over the JSON gateway (mutual TLS), standard library only, for managed hosts."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import socket
import ssl
from urllib.parse import urlsplit

from ansible_collections.kubedr.kubeadm.plugins.module_utils import etcd_grpc

DEFAULT_MANIFEST = "/etc/kubernetes/manifests/etcd.yaml"
DEFAULT_ENDPOINT = "https://127.0.0.1:2379"
DEFAULT_PKI_DIR = "/etc/kubernetes/pki/etcd"
TRANSPORTS = ("auto", "grpc", "gateway")

GRPC_CODES = (
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
    "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
)

# etcd error text -> what the operator should do about it.
HINTS = (
    ("in sync with leader", "start etcd on the learner and retry once it has caught up with the leader"),
    ("member not found", "check the member ID against the member list (etcdctl prints IDs in hex)"),
    ("unhealthy cluster", "etcd allows membership changes only once this member has been connected to all"
                          " voting peers for 5s and enough members are started: retry, or bring failed"
                          " members back first"),
    ("no leader", "the cluster has no leader: quorum is probably lost"),
    ("Peer URLs already exists", "a member with these peer URLs is already registered"),
)


class EtcdError(Exception):
    """Any failure talking to etcd; `code` is the gRPC status code when etcd answered with an error."""

    def __init__(self, message, endpoint=None, code=None):
        super().__init__(message)
        self.endpoint = endpoint
        self.code = code


def format_id(member_id):
    """Member and cluster IDs the way etcdctl prints them (lowercase hex, no padding)."""
    return f"{member_id:x}"


def _int(value):
    return int(value) if value not in (None, "") else 0


def _b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode("ascii")


def _member(raw):
    return {
        "id": _int(raw.get("ID")),
        "name": raw.get("name", ""),
        "peer_urls": raw.get("peerURLs") or [],
        "client_urls": raw.get("clientURLs") or [],
        "is_learner": bool(raw.get("isLearner", False)),
    }


class EtcdClient:
    def __init__(self, endpoint, ca_file, cert_file, key_file, timeout=10):
        url = urlsplit(endpoint if "://" in endpoint else "https://" + endpoint)
        if url.scheme != "https" or not url.hostname:
            raise EtcdError(f"{endpoint}: only https://host:port etcd client URLs are supported", endpoint)
        self.endpoint = f"https://{url.netloc}"
        self.host, self.port = url.hostname, url.port or 2379
        self.ca_file, self.cert_file, self.key_file = ca_file, cert_file, key_file
        self.timeout = timeout
        self._context = self._ssl_context()

    def _ssl_context(self):
        for what, path in (("ca_cert", self.ca_file), ("client_cert", self.cert_file),
                           ("client_key", self.key_file)):
            if not path or not os.path.isfile(path):
                raise EtcdError(f"{what} {path!r} does not exist or is not a file: check ca/cert/key paths",
                                self.endpoint)
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
            context.load_cert_chain(self.cert_file, self.key_file)
        except (ssl.SSLError, OSError) as e:
            raise EtcdError(f"cannot load TLS files (ca {self.ca_file}, cert {self.cert_file},"
                            f" key {self.key_file}): {e}: check ca/cert/key paths", self.endpoint) from e
        return context

    def for_endpoint(self, endpoint):
        """A client for another member with the same credentials."""
        return EtcdClient(endpoint, self.ca_file, self.cert_file, self.key_file, self.timeout)

    def call(self, path, body=None, timeout=None):
        """POST `body` as JSON to the gateway path (e.g. /v3/kv/range); the decoded answer or EtcdError."""
        timeout = timeout or self.timeout
        where = f"etcd at {self.endpoint} ({path})"
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self._context)
        try:
            conn.request("POST", path, json.dumps(body or {}), {"Content-Type": "application/json"})
            response = conn.getresponse()
            status, payload = response.status, response.read()
        except ssl.SSLCertVerificationError as e:
            raise EtcdError(f"{where}: TLS failure, server certificate not trusted by ca_cert"
                            f" {self.ca_file}: {e}: check ca/cert/key paths (ca_cert must be the etcd CA)",
                            self.endpoint) from e
        except ssl.SSLError as e:
            raise EtcdError(f"{where}: TLS handshake failed: {e}: check ca/cert/key paths (the client cert"
                            f" {self.cert_file} must be signed by the etcd CA)", self.endpoint) from e
        except ConnectionRefusedError as e:
            raise EtcdError(f"{where}: connection refused: is etcd running on {self.host}:{self.port}?",
                            self.endpoint) from e
        except (socket.timeout, TimeoutError) as e:  # noqa: UP041 - distinct classes before Python 3.10
            raise EtcdError(f"{where}: no answer within {timeout}s: is the member up and reachable?",
                            self.endpoint) from e
        except (OSError, http.client.HTTPException) as e:
            raise EtcdError(f"{where}: {type(e).__name__}: {e}", self.endpoint) from e
        finally:
            conn.close()
        try:
            data = json.loads(payload or b"{}")
        except ValueError:
            raise EtcdError(f"{where}: HTTP {status} with a non-JSON body {payload[:200]!r}:"
                            " is this an etcd client URL?", self.endpoint) from None
        if status == 200:
            return data
        code = _int(data.get("code"))
        text = data.get("message") or data.get("error") or f"HTTP {status}"
        name = GRPC_CODES[code] if code < len(GRPC_CODES) else str(code)
        message = f"{where}: {name}: {text}"
        hints = [hint for needle, hint in HINTS if needle in text]
        if hints:
            message += f" ({hints[0]})"
        raise EtcdError(message, self.endpoint, code)

    # --- maintenance -------------------------------------------------------------------------------

    def status(self, timeout=None):
        raw = self.call("/v3/maintenance/status", timeout=timeout)
        header = raw.get("header", {})
        return {
            "cluster_id": _int(header.get("cluster_id")),
            "member_id": _int(header.get("member_id")),
            "revision": _int(header.get("revision")),
            "raft_term": _int(raw.get("raftTerm")),
            "version": raw.get("version", ""),
            "storage_version": raw.get("storageVersion"),  # etcd >= 3.6 only
            "leader": _int(raw.get("leader")),
            "raft_index": _int(raw.get("raftIndex")),
            "raft_applied_index": _int(raw.get("raftAppliedIndex")),
            "db_size": _int(raw.get("dbSize")),
            "db_size_in_use": _int(raw.get("dbSizeInUse")),
            "is_learner": bool(raw.get("isLearner", False)),
            "errors": raw.get("errors") or [],
        }

    def alarms(self, timeout=None):
        """Alarms: [{'member_id': int, 'alarm': 'NOSPACE'|'CORRUPT'}]; needs quorum (goes through raft)."""
        raw = self.call("/v3/maintenance/alarm", {"action": "GET"}, timeout)
        return [{"member_id": _int(a.get("memberID")), "alarm": a.get("alarm", "NONE")}
                for a in raw.get("alarms") or []]

    def hash(self, timeout=None):
        """Hash of the whole backend (what `etcdctl check` style comparisons use); differs across members."""
        return _int(self.call("/v3/maintenance/hash", timeout=timeout).get("hash"))

    def hashkv(self, revision=0, timeout=None):
        """Hash of the MVCC key space up to `revision` (0 = latest); equal on healthy members."""
        raw = self.call("/v3/maintenance/hashkv", {"revision": str(revision)}, timeout)
        return {
            "hash": _int(raw.get("hash")),
            "compact_revision": _int(raw.get("compact_revision")),
            "hash_revision": _int(raw.get("hash_revision")),
            "revision": _int(raw.get("header", {}).get("revision")),
        }

    def snapshot(self, prefer="auto", timeout=None):
        """The backend snapshot as a stream: iterate for its bytes (etcd's sha256 trailer included).

        `prefer` is "grpc", "gateway" or "auto" (gRPC when grpcio imports, else the JSON gateway); the
        returned object's `transport` says which. `timeout` is an idle timeout, seconds without any
        data, never a deadline on the whole (possibly long) stream. Errors are EtcdError.
        """
        transport = snapshot_transport(prefer)
        timeout = timeout or self.timeout
        if transport == "grpc":
            return etcd_grpc.SnapshotCall(self.host, self.port, self.ca_file, self.cert_file, self.key_file,
                                          timeout, EtcdError)
        return _GatewaySnapshot(self, timeout)

    def stream(self, path, body=None, timeout=None):
        """POST to a streaming gateway path; yields each decoded `result` object as it arrives.

        The socket timeout bounds the wait for the next bytes only, so a long stream is never cut short.
        """
        timeout = timeout or self.timeout
        where = f"etcd at {self.endpoint} ({path})"
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self._context)
        try:
            try:
                conn.request("POST", path, json.dumps(body or {}), {"Content-Type": "application/json"})
                response = conn.getresponse()
                if response.status != 200:
                    payload = response.read(64 * 1024)
                    try:
                        data = json.loads(payload or b"{}")
                    except ValueError:
                        data = {"message": f"HTTP {response.status}: {payload[:200]!r}"}
                    self._raise(where, data.get("error", data), response.status)
                while True:
                    line = response.readline()
                    if not line:
                        return
                    if not line.strip():
                        continue
                    try:
                        data = json.loads(line)
                    except ValueError:
                        raise EtcdError(f"{where}: undecodable line in the stream {line[:200]!r}",
                                        self.endpoint) from None
                    if "error" in data:
                        self._raise(where, data["error"], response.status)
                    yield data.get("result", {})
            except ssl.SSLCertVerificationError as e:
                raise EtcdError(f"{where}: TLS failure, server certificate not trusted by ca_cert"
                                f" {self.ca_file}: {e}: check ca/cert/key paths (ca_cert must be the"
                                " etcd CA)", self.endpoint) from e
            except ssl.SSLError as e:
                raise EtcdError(f"{where}: TLS handshake failed: {e}: check ca/cert/key paths (the client"
                                f" cert {self.cert_file} must be signed by the etcd CA)",
                                self.endpoint) from e
            except ConnectionRefusedError as e:
                raise EtcdError(f"{where}: connection refused: is etcd running on {self.host}:{self.port}?",
                                self.endpoint) from e
            except (socket.timeout, TimeoutError) as e:  # noqa: UP041 - distinct classes before Python 3.10
                raise EtcdError(f"{where}: stream made no progress for {timeout}s: is the member up and"
                                " reachable?", self.endpoint) from e
            except (OSError, http.client.HTTPException) as e:
                raise EtcdError(f"{where}: {type(e).__name__}: {e}", self.endpoint) from e
        finally:
            conn.close()

    def _raise(self, where, data, status):
        code = _int(data.get("code", data.get("grpc_code")))
        text = data.get("message") or data.get("error") or f"HTTP {status}"
        name = GRPC_CODES[code] if code < len(GRPC_CODES) else str(code)
        raise EtcdError(f"{where}: {name}: {text}", self.endpoint, code)

    # --- cluster membership ------------------------------------------------------------------------

    def member_list(self, timeout=None):
        raw = self.call("/v3/cluster/member/list", timeout=timeout)
        header = raw.get("header", {})
        return {
            "cluster_id": _int(header.get("cluster_id")),
            "member_id": _int(header.get("member_id")),
            "members": [_member(m) for m in raw.get("members") or []],
        }

    def member_add(self, peer_urls, is_learner=False, timeout=None):
        """Register a new member; returns it (id, peer_urls, is_learner). It still has to be started."""
        body = {"peerURLs": list(peer_urls), "isLearner": is_learner}
        raw = self.call("/v3/cluster/member/add", body, timeout)
        return _member(raw.get("member", {}))

    def member_remove(self, member_id, timeout=None):
        self.call("/v3/cluster/member/remove", {"ID": str(member_id)}, timeout)

    def member_promote(self, member_id, timeout=None):
        self.call("/v3/cluster/member/promote", {"ID": str(member_id)}, timeout)

    # --- key/value ---------------------------------------------------------------------------------

    def put(self, key, value, timeout=None):
        """Store `value` (str or bytes) under `key`; returns the new store revision."""
        raw = self.call("/v3/kv/put", {"key": _b64(key), "value": _b64(value)}, timeout)
        return _int(raw.get("header", {}).get("revision"))

    def range(self, key, range_end=None, limit=0, timeout=None):
        """Keys from `key` up to `range_end` (exclusive; None = just `key`); keys and values as bytes."""
        body = {"key": _b64(key), "limit": str(limit)}
        if range_end is not None:
            body["range_end"] = _b64(range_end)
        raw = self.call("/v3/kv/range", body, timeout)
        return {
            "revision": _int(raw.get("header", {}).get("revision")),
            "count": _int(raw.get("count")),
            "kvs": [{
                "key": base64.b64decode(kv.get("key", "")),
                "value": base64.b64decode(kv.get("value", "")),
                "create_revision": _int(kv.get("create_revision")),
                "mod_revision": _int(kv.get("mod_revision")),
                "version": _int(kv.get("version")),
            } for kv in raw.get("kvs") or []],
        }


def snapshot_transport(prefer="auto"):
    """"grpc" or "gateway" for the `prefer` option; EtcdError when gRPC is asked for but unavailable."""
    if prefer not in TRANSPORTS:
        raise EtcdError(f"unknown snapshot transport {prefer!r}: expected one of {', '.join(TRANSPORTS)}")
    if prefer == "auto":
        return "grpc" if etcd_grpc.HAS_GRPC else "gateway"
    if prefer == "grpc" and not etcd_grpc.HAS_GRPC:
        raise EtcdError("the gRPC transport needs the grpcio Python library on the managed host"
                        " (or use the gateway transport)")
    return prefer


class _GatewaySnapshot:
    """Snapshot bytes from POST /v3/maintenance/snapshot, one newline-delimited JSON chunk at a time."""

    transport = "gateway"

    def __init__(self, client, timeout):
        self.client, self.timeout = client, timeout
        self.version = None
        self.header = None
        self.remaining_bytes = None

    def __iter__(self):
        for result in self.client.stream("/v3/maintenance/snapshot", timeout=self.timeout):
            if result.get("header") and self.header is None:
                header = result["header"]
                self.header = {"cluster_id": _int(header.get("cluster_id")),
                               "member_id": _int(header.get("member_id")),
                               "revision": _int(header.get("revision")),
                               "raft_term": _int(header.get("raft_term"))}
            if result.get("version"):
                self.version = result["version"]
            self.remaining_bytes = _int(result.get("remainingBytes", result.get("remaining_bytes")))
            blob = result.get("blob")
            if blob:
                yield base64.b64decode(blob)


# --- kubeadm defaults ------------------------------------------------------------------------------

def _manifest_flags(text):
    """--flag=value pairs of the etcd container command of a kubeadm static pod manifest."""
    args = []
    try:
        import yaml
    except ImportError:
        yaml = None
    if yaml is not None:
        try:
            pod = yaml.safe_load(text) or {}
            for container in pod.get("spec", {}).get("containers", []):
                args += [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
        except (yaml.YAMLError, AttributeError, TypeError):
            args = []
    if not args:  # no PyYAML (or an odd file): kubeadm writes one "- --flag=value" per line
        args = [m.group(1) for m in re.finditer(r"^\s*-\s+[\"']?(--[^\"'\s]+)", text, re.MULTILINE)]
    flags = {}
    for arg in args:
        name, sep, value = arg.partition("=")
        if arg.startswith("--") and sep:
            flags.setdefault(name[2:], value)
    return flags


def _pick_client_url(urls):
    """First https URL, preferring loopback; wildcard listen addresses become loopback."""
    https = [u.strip() for u in urls.split(",") if u.strip().startswith("https://")]
    https = [u.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:") for u in https]
    for url in https:
        if urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1"):
            return url
    return https[0] if https else None


def kubeadm_defaults(manifest_path=DEFAULT_MANIFEST):
    """Connection defaults (endpoint, ca_cert, client_cert, client_key) from kubeadm's etcd static pod.

    Falls back to kubeadm's standard locations when the manifest does not exist (e.g. external etcd
    hosts or a control plane whose etcd is down). The client certificate is the healthcheck-client
    pair kubeadm writes next to the etcd CA.
    """
    endpoint, ca_cert, source = DEFAULT_ENDPOINT, os.path.join(DEFAULT_PKI_DIR, "ca.crt"), None
    if manifest_path and os.path.exists(manifest_path):
        try:
            with open(manifest_path) as fh:
                flags = _manifest_flags(fh.read())
        except (OSError, UnicodeDecodeError) as e:
            raise EtcdError(f"cannot read etcd manifest {manifest_path}: {e}") from e
        endpoint = _pick_client_url(flags.get("listen-client-urls", "")) or endpoint
        ca_cert = flags.get("trusted-ca-file") or ca_cert
        source = manifest_path
    pki_dir = os.path.dirname(ca_cert)
    return {
        "endpoint": endpoint,
        "ca_cert": ca_cert,
        "client_cert": os.path.join(pki_dir, "healthcheck-client.crt"),
        "client_key": os.path.join(pki_dir, "healthcheck-client.key"),
        "source": source,
    }
