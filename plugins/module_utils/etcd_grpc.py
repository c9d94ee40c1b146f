# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collection-private: etcd's Maintenance/Snapshot stream over gRPC, without generated protobuf stubs.

grpcio is optional on the managed host: HAS_GRPC says whether it imported, GRPC_IMPORT_ERROR keeps
the traceback for missing_required_lib(). Messages are decoded by a tiny protobuf wire reader that
knows just SnapshotResponse and ResponseHeader.
"""

from __future__ import annotations

import os
import threading
import time
import traceback

# grpc's C core logs handshake failures on stderr at INFO level; the EtcdError already says it all.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
# No pthread_atfork handlers: a process that forks after a snapshot (run_command, or the unit tests, which
# run modules in one process) would otherwise restart grpc's poller in the child, where it dies on the fds
# that subprocess closes before exec (SIGABRT, "epoll_wait error: Bad file descriptor").
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")

try:
    import grpc
except ImportError:
    grpc = None
    HAS_GRPC = False
    GRPC_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_GRPC = True
    GRPC_IMPORT_ERROR = None

SNAPSHOT_METHOD = "/etcdserverpb.Maintenance/Snapshot"
# BoringSSL's words when the server certificate does not verify against ca_cert (as opposed to
# the server rejecting our client certificate, which shows up as an alert such as UNKNOWN_CA).
SERVER_CERT_ERRORS = ("certificate_verify_failed", "certificate verify failed", "bad_signature",
                      "certificate signature failure", "unable to get local issuer", "self signed",
                      "self-signed", "peer name", "hostname")
MAX_MESSAGE = 64 * 1024 * 1024  # etcd sends 32 KiB blobs; leave plenty of room
# Flow control: how far etcd may run ahead of us. By default grpc's C core probes the bandwidth-delay
# product and opens the HTTP/2 windows to max(4 MiB, 2 x BDP) while the process is under no memory
# pressure. On loopback, with a reader that writes and hashes every chunk, the estimate keeps ratcheting
# up over a long stream, and what etcd sends ahead piles up in the transport: peak RSS then followed the
# snapshot size (61 MiB at 256 MiB, 88 MiB at 1 GiB, once 141 MiB). Without BDP probing the stream and
# connection windows stay at `lookahead_bytes`, which bounds that buffer whatever the size.
RECEIVE_WINDOW = 2 * 1024 * 1024
# Largest HTTP/2 frame we accept (default 16 KiB): BDP probing used to raise it along with the window; this
# keeps a 32 KiB message of etcd's from needing several DATA frames.
MAX_FRAME = 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.enable_http_proxy", 0),  # etcd client URLs are reached directly, like etcdctl does
    ("grpc.http2.bdp_probe", 0),
    ("grpc.http2.lookahead_bytes", RECEIVE_WINDOW),
    ("grpc.http2.max_frame_size", MAX_FRAME),
    # grpcio's Python-level option (grpc.experimental.ChannelOptions.SingleThreadedUnaryStream): the
    # iterating thread polls the call's completion queue itself instead of being handed each message by
    # the channel's spin thread. Measured here: 3.3-3.6 s of CPU instead of 4.7-5.6 s for the 35,000
    # messages of a 1 GiB snapshot. A grpcio without it passes it to the core, which ignores it.
    ("SingleThreadedUnaryStream", 1),
]


class WireError(ValueError):
    """Bytes that are not the protobuf message we expected."""


def _varint(buf, pos):
    """(value, next position) of the base-128 varint at buf[pos]."""
    result = shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def fields(buf):
    """(field number, wire type, value) of each field of a protobuf message; values of
    length-delimited fields are memoryview slices (no copy), fixed-size ones are ints."""
    view = memoryview(buf)
    pos, end = 0, len(view)
    while pos < end:
        key, pos = _varint(view, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _varint(view, pos)
        elif wire_type == 2:
            length, pos = _varint(view, pos)
            if pos + length > end:
                raise WireError(f"field {number} claims {length} bytes, {end - pos} left")
            value, pos = view[pos:pos + length], pos + length
        elif wire_type == 1:
            if pos + 8 > end:
                raise WireError("truncated fixed64")
            value, pos = int.from_bytes(view[pos:pos + 8], "little"), pos + 8
        elif wire_type == 5:
            if pos + 4 > end:
                raise WireError("truncated fixed32")
            value, pos = int.from_bytes(view[pos:pos + 4], "little"), pos + 4
        else:
            raise WireError(f"unsupported wire type {wire_type} (field {number})")
        yield number, wire_type, value


def _signed64(value):
    return value - (1 << 64) if value >= 1 << 63 else value


def decode_header(buf):
    """etcdserverpb.ResponseHeader: cluster_id=1, member_id=2, revision=3 (int64), raft_term=4."""
    header = {"cluster_id": 0, "member_id": 0, "revision": 0, "raft_term": 0}
    names = {1: "cluster_id", 2: "member_id", 3: "revision", 4: "raft_term"}
    for number, wire_type, value in fields(buf):
        if number in names and wire_type == 0:
            header[names[number]] = _signed64(value) if number == 3 else value
    return header


def decode_snapshot_response(buf):
    """etcdserverpb.SnapshotResponse: header=1, remaining_bytes=2, blob=3, version=4 (etcd >= 3.6).

    `blob` is a memoryview into `buf`; `header` is None when the message carries none.
    """
    message = {"header": None, "remaining_bytes": 0, "blob": memoryview(b""), "version": None}
    for number, wire_type, value in fields(buf):
        if number == 1 and wire_type == 2:
            message["header"] = decode_header(value)
        elif number == 2 and wire_type == 0:
            message["remaining_bytes"] = value
        elif number == 3 and wire_type == 2:
            message["blob"] = value
        elif number == 4 and wire_type == 2:
            message["version"] = bytes(value).decode("utf-8", "replace")
    return message


def _identity(data):
    return data


def _read(path):
    with open(path, "rb") as fh:
        return fh.read()


def _explain(error, target, files):
    """Operator-facing text for a failed gRPC call (`error` is a grpc.RpcError)."""
    code = error.code().name if hasattr(error, "code") and error.code() else "UNKNOWN"
    details = (error.details() if hasattr(error, "details") else None) or str(error)
    where = f"etcd at https://{target} (gRPC {SNAPSHOT_METHOD})"
    text = f"{where}: {code}: {details}"
    lowered = details.lower()
    if any(needle in lowered for needle in SERVER_CERT_ERRORS):
        return (f"{text}: TLS failure, server certificate not trusted by ca_cert {files[0]}:"
                " check ca/cert/key paths (ca_cert must be the etcd CA)")
    if "handshake" in lowered or "ssl" in lowered or "tls" in lowered:
        return (f"{text}: TLS handshake failed: check ca/cert/key paths (the client cert {files[1]}"
                " must be signed by the etcd CA)")
    if "refused" in details.lower():
        return f"{text}: connection refused: is etcd running on {target}?"
    return text


class SnapshotCall:
    """Iterate to get the snapshot's bytes (memoryviews); aborts after `idle_timeout` seconds
    without a message (there is no deadline on the whole stream, which may be long).

    `version` is the storage version etcd >= 3.6 sends along; `header` the first header seen.
    """

    transport = "grpc"

    def __init__(self, host, port, ca_file, cert_file, key_file, idle_timeout, error_class):
        if not HAS_GRPC:
            raise error_class("the gRPC transport needs the grpcio Python library on the managed host")
        self.target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.files = (ca_file, cert_file, key_file)
        self.idle_timeout = idle_timeout
        self.error_class = error_class
        self.version = None
        self.header = None
        self.remaining_bytes = None
        try:
            self._credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(ca_file), private_key=_read(key_file),
                certificate_chain=_read(cert_file))
        except (OSError, ValueError) as e:
            raise error_class(f"cannot load TLS files (ca {ca_file}, cert {cert_file}, key {key_file}): {e}:"
                              " check ca/cert/key paths", f"https://{self.target}") from e

    def __iter__(self):
        endpoint = f"https://{self.target}"
        channel = grpc.secure_channel(self.target, self._credentials, options=CHANNEL_OPTIONS)
        stub = channel.unary_stream(SNAPSHOT_METHOD, request_serializer=_identity,
                                    response_deserializer=_identity)
        call = stub(b"", wait_for_ready=False)  # empty SnapshotRequest; no deadline, see the watchdog
        last = [time.monotonic()]
        stalled = threading.Event()
        finished = threading.Event()

        def watchdog():
            while not finished.wait(min(1.0, self.idle_timeout / 4)):
                if time.monotonic() - last[0] > self.idle_timeout:
                    stalled.set()
                    call.cancel()
                    return

        guard = threading.Thread(target=watchdog, name="etcd-snapshot-watchdog", daemon=True)
        guard.start()
        try:
            for raw in call:
                last[0] = time.monotonic()
                try:
                    message = decode_snapshot_response(raw)
                except WireError as e:
                    raise self.error_class(f"etcd at {endpoint}: undecodable SnapshotResponse: {e}",
                                           endpoint) from e
                if message["header"] and self.header is None:
                    self.header = message["header"]
                if message["version"]:
                    self.version = message["version"]
                self.remaining_bytes = message["remaining_bytes"]
                if len(message["blob"]):
                    yield message["blob"]
        except grpc.RpcError as e:
            if stalled.is_set():
                raise self.error_class(f"etcd at {endpoint}: snapshot stream made no progress for"
                                       f" {self.idle_timeout}s: is the member up and reachable?",
                                       endpoint) from None
            code = e.code().value[0] if hasattr(e, "code") and e.code() else None
            raise self.error_class(_explain(e, self.target, self.files), endpoint, code) from None
        finally:
            finished.set()
            call.cancel()  # no-op when the stream is complete; stops etcd sending when we bail out
            channel.close()
