"""etcd_snapshot_info on snapshots of real etcd 3.5 and 3.6: intact, truncated, flipped, trial restores."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid

import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_client import EtcdClient
from ansible_collections.kubedr.kubeadm.plugins.modules import etcd_snapshot, etcd_snapshot_info

from lab import build


def client(cluster) -> EtcdClient:
    return EtcdClient(cluster.members[0].client_url, timeout=5, **cluster.tls())


def take(run_module, cluster, dest) -> dict:
    result = run_module(etcd_snapshot, {
        "endpoint": cluster.members[0].client_url, "ca_cert": cluster.ca_cert,
        "client_cert": cluster.client_cert, "client_key": cluster.client_key, "dest": str(dest)})
    assert result["changed"] is True, result
    return result["snapshot"]


def etcdutl(cluster) -> str:
    return str(build.binary("etcd", cluster.version, "etcdutl"))


@pytest.fixture
def snapshot(run_module, etcd_single, tmp_path):
    dest = tmp_path / "etcd.db"
    return dest, take(run_module, etcd_single, dest)


def test_intact_snapshot(run_module, snapshot):
    dest, taken = snapshot
    result = run_module(etcd_snapshot_info, {"path": str(dest)})
    assert result["changed"] is False and result["failed"] is False
    info = result["snapshot"]
    assert info["valid"] is True and info["problems"] == [] and info["bbolt_magic"] is True
    assert info["sha256"] == hashlib.sha256(dest.read_bytes()).hexdigest() == taken["sha256"]
    assert info["size"] == dest.stat().st_size
    assert info["metadata"]["revision"] == taken["revision"] and info["metadata_matches"] is True
    assert info["restore"] is None and result["commands"] == []


def test_trial_restore_counts_keys(run_module, etcd_single, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    client(etcd_single).put("/kubedr/info/first", "v")  # a store without keys reports revision 0 here
    first = take(run_module, etcd_single, tmp_path / "a.db")
    marker = uuid.uuid4().hex
    for i in range(7):
        client(etcd_single).put(f"/kubedr/info/{marker}/{i}", "v")
    second = take(run_module, etcd_single, tmp_path / "b.db")

    results = [run_module(etcd_snapshot_info, {"path": str(tmp_path / name), "trial_restore": True,
                                               "scratch_dir": str(scratch),
                                               "etcdutl_path": etcdutl(etcd_single)})
               for name in ("a.db", "b.db")]
    for result, taken in zip(results, (first, second), strict=True):
        assert result["failed"] is False, result
        restore = result["snapshot"]["restore"]
        assert restore["revision"] == taken["revision"] and restore["tool"] == etcdutl(etcd_single)
        assert [c[1:3] for c in result["commands"]] == [["snapshot", "restore"], ["snapshot", "status"]]
    counts = [r["snapshot"]["restore"]["total_key"] for r in results]
    assert counts[1] == counts[0] + 7
    assert list(scratch.iterdir()) == []  # scratch restore removed


def test_trial_restore_finds_tool_on_path(run_module, snapshot, etcd_single, monkeypatch, tmp_path):
    dest, taken = snapshot
    monkeypatch.setenv("PATH", f"{os.path.dirname(etcdutl(etcd_single))}:{os.environ['PATH']}")
    result = run_module(etcd_snapshot_info, {"path": str(dest), "trial_restore": True})
    assert result["snapshot"]["restore"]["tool"] == etcdutl(etcd_single)
    assert result["snapshot"]["restore"]["revision"] == taken["revision"]


def test_trial_restore_with_etcdctl(run_module, snapshot, etcd_single, tmp_path):
    """etcdctl 3.5 can still restore; etcdctl 3.6 cannot, which is a reported problem, not a crash."""
    dest, taken = snapshot
    tool = tmp_path / "bin" / "etcdctl"
    tool.parent.mkdir()
    shutil.copy(build.binary("etcd", etcd_single.version, "etcdctl"), tool)
    result = run_module(etcd_snapshot_info, {"path": str(dest), "trial_restore": True,
                                             "etcdutl_path": str(tool), "fail_on_invalid": False})
    if etcd_single.version.startswith("3.5"):
        assert result["snapshot"]["valid"] is True, result
        assert result["snapshot"]["restore"]["revision"] == taken["revision"]
    else:
        assert result["snapshot"]["valid"] is False and result["snapshot"]["restore"] is None
        assert result["snapshot"]["problems"][0].startswith("trial restore failed:")


@pytest.mark.parametrize("damage", ["truncated", "flipped", "trailer-only", "tiny"])
def test_damaged_snapshot(run_module, snapshot, etcd_single, damage):
    dest = snapshot[0]
    data = bytearray(dest.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "flipped":
        data[len(data) // 2] ^= 0x01
    elif damage == "trailer-only":
        data[-1] ^= 0x80
    else:
        data = data[:10]
    dest.write_bytes(bytes(data))

    failed = run_module(etcd_snapshot_info, {"path": str(dest), "trial_restore": True,
                                             "etcdutl_path": etcdutl(etcd_single)})
    assert failed["failed"] is True and "is not intact" in failed["msg"]
    assert failed["snapshot"]["valid"] is False and failed["snapshot"]["metadata_matches"] is False
    assert "trial restore skipped" in failed["snapshot"]["problems"][-1]
    assert failed["commands"] == []

    reported = run_module(etcd_snapshot_info, {"path": str(dest), "fail_on_invalid": False})
    assert reported["failed"] is False and reported["snapshot"]["valid"] is False
    problem = reported["snapshot"]["problems"][0]
    assert ("too short" in problem) if damage == "tiny" else ("sha256 trailer does not match" in problem)


def test_not_a_bbolt_file(run_module, tmp_path):
    body = os.urandom(8192)
    path = tmp_path / "random.db"
    path.write_bytes(body + hashlib.sha256(body).digest())
    result = run_module(etcd_snapshot_info, {"path": str(path), "fail_on_invalid": False})
    info = result["snapshot"]
    assert info["valid"] is False and info["bbolt_magic"] is False and "bbolt" in info["problems"][0]
    assert info["metadata"] is None and info["metadata_matches"] is None


def test_metadata_of_another_snapshot(run_module, etcd_single, tmp_path):
    take(run_module, etcd_single, tmp_path / "a.db")
    client(etcd_single).put("/kubedr/info/other", uuid.uuid4().hex)
    take(run_module, etcd_single, tmp_path / "b.db")
    os.replace(tmp_path / "b.db", tmp_path / "a.db")  # a.db.json now describes another file
    result = run_module(etcd_snapshot_info, {"path": str(tmp_path / "a.db"), "fail_on_invalid": False})
    info = result["snapshot"]
    assert info["metadata_matches"] is False and info["valid"] is False
    assert "not the snapshot the metadata describes" in info["problems"][0]


def test_missing_file(run_module, tmp_path):
    result = run_module(etcd_snapshot_info, {"path": str(tmp_path / "none.db")})
    assert result["failed"] is True and "does not exist" in result["msg"]
