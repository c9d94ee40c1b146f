# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collection-private: etcd snapshot files, their sha256 trailer and the metadata JSON beside them.

etcd appends the sha256 of the database to the snapshot stream: the last 32 bytes of a snapshot
file are the sha256 of everything before them (etcdutl checks this on restore). Everything here is
standard library only and streams, so memory use does not grow with the snapshot size.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os

TRAILER_SIZE = 32
BBOLT_MAGIC = 0xED0CDAED
READ_SIZE = 1024 * 1024
METADATA_SUFFIX = ".json"
PART_SUFFIX = ".part"
METADATA_FORMAT = 1


class SnapshotFileError(Exception):
    """A snapshot could not be written or read; the message says what to do."""


class TrailerHasher:
    """Feed the snapshot's bytes in order; tells whether the last 32 bytes are the sha256 of the rest
    and gives the sha256 of the whole, with a single pass and one hash computation."""

    def __init__(self):
        self._content = hashlib.sha256()
        self._tail = b""
        self.size = 0

    def update(self, chunk):
        n = len(chunk)
        self.size += n
        if n >= TRAILER_SIZE:
            if self._tail:
                self._content.update(self._tail)
            self._content.update(chunk[:-TRAILER_SIZE])
            self._tail = bytes(chunk[-TRAILER_SIZE:])
        else:
            buf = self._tail + bytes(chunk)
            cut = max(0, len(buf) - TRAILER_SIZE)
            self._content.update(buf[:cut])
            self._tail = buf[cut:]

    @property
    def trailer_ok(self):
        return self.size > TRAILER_SIZE and self._content.digest() == self._tail

    @property
    def sha256(self):
        """sha256 of every byte fed, trailer included (what sha256sum prints for the file)."""
        whole = self._content.copy()
        whole.update(self._tail)
        return whole.hexdigest()

    def problems(self):
        if self.size <= TRAILER_SIZE:
            return [f"{self.size} bytes is too short for an etcd snapshot (database plus 32-byte sha256"
                    " trailer): truncated or not a snapshot"]
        if not self.trailer_ok:
            return ["sha256 trailer does not match the data: the file is truncated or corrupt"
                    " (or it is a raw member/snap/db copy, which has no trailer)"]
        return []


def bbolt_magic_ok(first_page):
    """Whether the first page is a bbolt meta page: page header (id 8, flags 2, count 2, overflow 4)
    followed by the meta's magic number, all little-endian."""
    if len(first_page) < 24:
        return False
    flags = int.from_bytes(first_page[8:10], "little")
    magic = int.from_bytes(first_page[16:20], "little")
    return magic == BBOLT_MAGIC and flags & 0x04 == 0x04


def no_space_message(directory, need):
    return f"no space left on {directory}: need about {human_size(need)} ({need} bytes) for the snapshot"


def human_size(size):
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def free_bytes(directory):
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_stream(chunks, path, mode=0o600, need=0):
    """Write the snapshot bytes from `chunks` to `path` (normally `<dest>.part`) and fsync it.

    Returns {size, sha256, trailer_ok, problems}. On any error, KeyboardInterrupt included, `path` is
    removed before the exception propagates; ENOSPC becomes a SnapshotFileError saying how much room
    is needed (`need`, the database size, when known).
    """
    directory = os.path.dirname(os.path.abspath(path))
    hasher = TrailerHasher()
    done = False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), mode)
        try:
            os.fchmod(fd, mode)  # the umask does not get a say
            for chunk in chunks:  # unbuffered: the 32 KiB chunks go straight to the kernel, no extra copy
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                hasher.update(chunk)
            os.fsync(fd)
        finally:
            os.close(fd)
        done = True
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise SnapshotFileError(no_space_message(directory, max(need, hasher.size))) from e
        raise SnapshotFileError(f"cannot write {path}: {e.strerror or e}") from e
    finally:
        if not done:
            remove_quietly(path)
    return {"size": hasher.size, "sha256": hasher.sha256, "trailer_ok": hasher.trailer_ok,
            "problems": hasher.problems()}


def remove_quietly(path):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def inspect(path):
    """What the bytes of a snapshot file say about it: {size, sha256, valid, problems, bbolt_magic}."""
    hasher = TrailerHasher()
    first = b""
    try:
        with open(path, "rb") as fh:
            while True:
                chunk = fh.read(READ_SIZE)
                if not chunk:
                    break
                if not first:
                    first = chunk[:4096]
                hasher.update(chunk)
    except OSError as e:
        raise SnapshotFileError(f"cannot read {path}: {e.strerror or e}") from e
    problems = hasher.problems()
    magic = bbolt_magic_ok(first)
    if not magic and hasher.size > TRAILER_SIZE:
        problems.append("the first page is not a bbolt meta page (wrong magic): not an etcd database")
    return {"size": hasher.size, "sha256": hasher.sha256, "valid": not problems, "problems": problems,
            "bbolt_magic": magic}


def file_digest(path):
    """(size, sha256 hex) of a file, read in chunks; (None, None) when it does not exist."""
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as fh:
            while True:
                chunk = fh.read(READ_SIZE)
                if not chunk:
                    break
                size += len(chunk)
                digest.update(chunk)
    except FileNotFoundError:
        return None, None
    return size, digest.hexdigest()


def metadata_path(dest):
    return dest + METADATA_SUFFIX


def read_metadata(dest):
    """The metadata JSON beside `dest`, or None when it is missing or unreadable (never raises)."""
    try:
        with open(metadata_path(dest)) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def metadata_json(metadata):
    return json.dumps(metadata, indent=2, sort_keys=True) + "\n"


def write_file(path, text, mode=0o600):
    """Write `text` to `path` and fsync it (the caller moves it into place)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as fh:
            fd = None
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        if fd is not None:
            os.close(fd)
