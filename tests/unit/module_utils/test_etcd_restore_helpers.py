"""Restore helpers without etcd: input checks, lock detection, the scratch/swap layout."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys

import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils import etcd_restore as r

CLUSTER = "a=https://10.0.0.1:2380,b=https://10.0.0.2:2380,b=https://[fd00::2]:2380"


def params(tmp_path, **extra):
    snap = tmp_path / "snap.db"
    snap.write_bytes(b"x")
    base = {"initial_cluster": CLUSTER, "name": "b", "initial_advertise_peer_urls": None, "bump_revision": 0,
            "mark_compacted": False, "snapshot": str(snap), "data_dir": str(tmp_path / "etcd")}
    base.update(extra)
    return base


def test_parse_initial_cluster():
    assert r.parse_initial_cluster(CLUSTER) == {
        "a": ["https://10.0.0.1:2380"], "b": ["https://10.0.0.2:2380", "https://[fd00::2]:2380"]}
    for bad, needle in [("", "empty"), ("a", "name=peer-url"), ("a=10.0.0.1:2380", "not a peer URL"),
                        ("a=https://h:1,b=https://h:1", "given to both a and b"),
                        ("a=https://h", "not a peer")]:
        with pytest.raises(r.RestoreError, match=needle):
            r.parse_initial_cluster(bad)


def test_check_inputs(tmp_path):
    assert r.check_inputs(params(tmp_path)) == ["https://10.0.0.2:2380", "https://[fd00::2]:2380"]
    urls = ["https://[fd00::2]:2380", "https://10.0.0.2:2380"]
    assert r.check_inputs(params(tmp_path, initial_advertise_peer_urls=urls)) == urls
    for extra, needle in [
        ({"name": "c"}, "does not appear"),
        ({"initial_advertise_peer_urls": ["https://10.0.0.2:2380"]}, "differ from b's entry"),
        ({"bump_revision": 5}, "needs mark_compacted"),
        ({"mark_compacted": True}, "needs a positive bump_revision"),
        ({"bump_revision": -1, "mark_compacted": True}, "negative"),
        ({"snapshot": str(tmp_path / "none")}, "does not exist"),
        ({"data_dir": str(tmp_path / "snap.db")}, "not a directory"),
        ({"data_dir": str(tmp_path / "no" / "etcd")}, "parent directory"),
    ]:
        with pytest.raises(r.RestoreError, match=needle):
            r.check_inputs(params(tmp_path, **extra))


def test_restore_argv_and_tool_support():
    options = {"name": "a", "initial_cluster": "a=https://h:1", "initial_cluster_token": "t",
               "bump_revision": 9, "skip_hash_check": True}
    argv = r.restore_argv("/bin/etcdutl", "/s.db", "/x", options, ["https://h:1"])
    assert argv == ["/bin/etcdutl", "snapshot", "restore", "/s.db", "--data-dir=/x", "--name=a",
                    "--initial-cluster=a=https://h:1", "--initial-cluster-token=t",
                    "--initial-advertise-peer-urls=https://h:1", "--bump-revision=9", "--mark-compacted",
                    "--skip-hash-check"]
    assert r.etcdctl_restore_support("--data-dir=\"\" --bump-revision=0") == (True, True)
    assert r.etcdctl_restore_support("--data-dir=\"\"") == (True, False)  # etcdctl 3.4
    assert r.etcdctl_restore_support("snapshot save\nsnapshot status") == (False, False)  # etcdctl 3.6
    assert r.restore_failure(1, "", "info line\nError: snapshot missing hash but --skip-hash-check=false\n") \
        .endswith("set skip_hash_check=true for such a file)")
    assert r.restore_failure(2, "", "") == "exit code 2"


def test_locked_files(tmp_path):
    db = tmp_path / "member" / "snap" / "db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    wal = tmp_path / "member" / "wal" / "0000000000000000-0000000000000000.wal"
    wal.parent.mkdir(parents=True)
    wal.write_bytes(b"")
    assert r.locked_files(str(tmp_path)) == []
    with open(db, "rb+") as fh:  # bbolt's flock, from another open file description
        fcntl.flock(fh, fcntl.LOCK_EX)
        assert r.locked_files(str(tmp_path)) == [str(db)]
    assert r.locked_files(str(tmp_path)) == []
    # the WAL's fcntl lock, held by another process (POSIX locks do not conflict within one process)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys; f = open(sys.argv[1], 'rb+'); fcntl.lockf(f, fcntl.LOCK_EX);"
        " print('locked', flush=True); sys.stdin.read()"), str(wal)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert r.locked_files(str(tmp_path)) == [str(wal)]
    finally:
        holder.stdin.close()
        holder.wait(5)


def _fill(path):
    (path / "member" / "snap").mkdir(parents=True)
    (path / "member" / "snap" / "db").write_text("data")


def test_swap_plain_directory(tmp_path):
    data_dir = tmp_path / "etcd"
    _fill(data_dir)
    layout = r.plan(str(data_dir), False, "20260101T000000Z")
    assert layout["scratch"] == f"{data_dir}.restore-20260101T000000Z"
    assert layout["moved_aside"] == f"{data_dir}.moved-20260101T000000Z"
    _fill(tmp_path / "etcd.restore-20260101T000000Z")
    (tmp_path / "etcd.restore-20260101T000000Z" / "new").write_text("restored")
    r.swap_in(layout)
    assert (data_dir / "new").read_text() == "restored"
    assert (tmp_path / "etcd.moved-20260101T000000Z" / "member" / "snap" / "db").read_text() == "data"
    assert sorted(os.listdir(tmp_path)) == ["etcd", "etcd.moved-20260101T000000Z"]
    # same second again: names do not collide
    again = r.plan(str(data_dir), False, "20260101T000000Z")
    assert again["moved_aside"] == f"{data_dir}.moved-20260101T000000Z.1"


def test_swap_empty_or_missing_directory(tmp_path):
    layout = r.plan(str(tmp_path / "etcd"), False, "T")
    assert layout["moved_aside"] is None and layout["exists"] is False
    (tmp_path / "etcd").mkdir()
    layout = r.plan(str(tmp_path / "etcd"), False, "T")
    assert layout["moved_aside"] is None and layout["exists"] is True
    _fill(tmp_path / "etcd.restore-T")
    r.swap_in(layout)
    assert sorted(os.listdir(tmp_path)) == ["etcd"] and (tmp_path / "etcd" / "member").is_dir()


def test_swap_mount_point(tmp_path):
    data_dir = tmp_path / "etcd"
    _fill(data_dir)
    (data_dir / r.MARKER).write_text("{}")
    (data_dir / ".kubedr-moved-old").mkdir()  # an earlier restore's moved-aside data stays where it is
    layout = r.plan(str(data_dir), True, "T")
    assert layout["scratch"] == str(data_dir / ".kubedr-restore-T")
    assert layout["moved_aside"] == str(data_dir / ".kubedr-moved-T")
    scratch = data_dir / ".kubedr-restore-T"
    (scratch / "member").mkdir(parents=True)
    (scratch / "member" / "new").write_text("restored")
    r.swap_in(layout)
    assert sorted(os.listdir(data_dir)) == [".kubedr-moved-T", ".kubedr-moved-old", "member"]
    assert (data_dir / "member" / "new").read_text() == "restored"
    assert sorted(os.listdir(data_dir / ".kubedr-moved-T")) == [r.MARKER, "member"]
    assert os.listdir(tmp_path) == ["etcd"]


def test_marker_identity(tmp_path):
    wanted = {k: k for k in r.IDENTITY}
    (tmp_path / "member").mkdir()
    assert r.same_restore(dict(wanted, extra=1), wanted, str(tmp_path)) is True
    assert r.same_restore(dict(wanted, name="other"), wanted, str(tmp_path)) is False
    assert r.same_restore(None, wanted, str(tmp_path)) is False
    assert r.same_restore(wanted, wanted, str(tmp_path / "nope")) is False  # data gone: restore again
    (tmp_path / r.MARKER).write_text("[1]")
    assert r.read_marker(str(tmp_path)) is None
