"""Snapshot file helpers and the protobuf wire decoder, offline."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess

import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils import etcd_grpc
from ansible_collections.kubedr.kubeadm.plugins.module_utils import etcd_snapshot_file as snapfile


def snapshot_bytes(size: int = 100_000) -> bytes:
    """A fake snapshot: a bbolt-looking first page, random body, sha256 trailer."""
    page = (0).to_bytes(8, "little") + (4).to_bytes(2, "little") + bytes(6)
    page += (0xED0CDAED).to_bytes(4, "little")
    body = page + os.urandom(size - len(page))
    return body + hashlib.sha256(body).digest()


def chunked(data: bytes, rng: random.Random):
    pos = 0
    while pos < len(data):
        n = rng.choice([1, 5, 31, 32, 33, 1000, 32 * 1024])
        yield memoryview(data)[pos:pos + n]
        pos += n


@pytest.mark.parametrize("seed", range(5))
def test_trailer_hasher_any_chunking(seed):
    data = snapshot_bytes(50_000 + seed)
    hasher = snapfile.TrailerHasher()
    for chunk in chunked(data, random.Random(seed)):
        hasher.update(chunk)
    assert hasher.trailer_ok and hasher.problems() == []
    assert hasher.sha256 == hashlib.sha256(data).hexdigest() and hasher.size == len(data)

    bad = bytearray(data)
    bad[seed * 1000] ^= 0x10
    hasher = snapfile.TrailerHasher()
    for chunk in chunked(bytes(bad), random.Random(seed)):
        hasher.update(chunk)
    assert not hasher.trailer_ok and "does not match" in hasher.problems()[0]


@pytest.mark.parametrize("size", [0, 1, 32])
def test_too_short(size):
    hasher = snapfile.TrailerHasher()
    hasher.update(hashlib.sha256(b"").digest()[:size])
    assert not hasher.trailer_ok and "too short" in hasher.problems()[0]


def test_write_stream_and_inspect(tmp_path):
    data = snapshot_bytes()
    path = tmp_path / "s.db.part"
    written = snapfile.write_stream(chunked(data, random.Random(1)), str(path), 0o640)
    assert written == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "trailer_ok": True,
                       "problems": []}
    assert path.read_bytes() == data and (path.stat().st_mode & 0o777) == 0o640
    report = snapfile.inspect(str(path))
    assert report["valid"] and report["bbolt_magic"] and report["sha256"] == written["sha256"]
    assert snapfile.file_digest(str(path)) == (len(data), written["sha256"])
    assert snapfile.file_digest(str(tmp_path / "none")) == (None, None)


def test_write_stream_removes_part_on_error(tmp_path):
    path = tmp_path / "s.db.part"

    def broken():
        yield b"x" * 1000
        raise RuntimeError("etcd went away")

    with pytest.raises(RuntimeError):
        snapfile.write_stream(broken(), str(path))
    assert not path.exists()


def test_write_stream_enospc(tmp_path):
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mountpoint)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs")
    try:
        path = mountpoint / "s.db.part"
        with pytest.raises(snapfile.SnapshotFileError) as info:
            snapfile.write_stream(chunked(snapshot_bytes(300_000), random.Random(2)), str(path), need=300_032)
        assert str(info.value) == (f"no space left on {mountpoint}: need about 293.0 KiB (300032 bytes)"
                                   " for the snapshot")
        assert list(mountpoint.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


def test_metadata_roundtrip(tmp_path):
    dest = str(tmp_path / "s.db")
    assert snapfile.read_metadata(dest) is None
    snapfile.write_file(snapfile.metadata_path(dest), snapfile.metadata_json({"revision": 5}))
    assert snapfile.read_metadata(dest) == {"revision": 5}
    (tmp_path / "s.db.json").write_text("[1, 2]")
    assert snapfile.read_metadata(dest) is None
    (tmp_path / "s.db.json").write_text("{not json")
    assert snapfile.read_metadata(dest) is None


# --- protobuf wire format ------------------------------------------------------------------------------

def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, wire_type: int, payload: bytes) -> bytes:
    return varint(number << 3 | wire_type) + (varint(len(payload)) + payload if wire_type == 2 else payload)


def test_decode_snapshot_response():
    header = (field(1, 0, varint(0xCDF818194E3A8C32)) + field(2, 0, varint(0x8E9E05C52164694D))
              + field(3, 0, varint(48213)) + field(4, 0, varint(7)) + field(9, 5, b"\x01\x02\x03\x04"))
    blob = os.urandom(40_000)
    message = (field(1, 2, header) + field(2, 0, varint(123456)) + field(3, 2, blob) + field(4, 2, b"3.6.0")
               + field(15, 1, b"\x00" * 8))
    decoded = etcd_grpc.decode_snapshot_response(message)
    assert decoded["header"] == {"cluster_id": 0xCDF818194E3A8C32, "member_id": 0x8E9E05C52164694D,
                                 "revision": 48213, "raft_term": 7}
    assert decoded["remaining_bytes"] == 123456 and bytes(decoded["blob"]) == blob
    assert decoded["version"] == "3.6.0"
    empty = etcd_grpc.decode_snapshot_response(b"")
    assert empty["header"] is None and bytes(empty["blob"]) == b"" and empty["version"] is None


@pytest.mark.parametrize("bad", [b"\x1a\x05ab", b"\x10\xff", b"\x0b", b"\x19\x00"])
def test_decode_rejects_garbage(bad):
    with pytest.raises(etcd_grpc.WireError):
        etcd_grpc.decode_snapshot_response(bad)
