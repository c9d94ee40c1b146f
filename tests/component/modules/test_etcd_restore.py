"""etcd_restore in-process: real snapshots (etcdctl snapshot save), etcdutl/etcdctl and etcd 3.5/3.6."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import fake_selinux
import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_client import EtcdClient
from ansible_collections.kubedr.kubeadm.plugins.modules import etcd_restore
from etcd_fixtures import EtcdCluster, launch, new_member, snapshot_save, write_pki

from lab import build

KEYS = {f"/kubedr/restore/k{i}": f"value-{i}" for i in range(5)}
BUMP = 1000


@pytest.fixture(scope="module")
def snapshot(etcd_single, tmp_path_factory):
    """A snapshot of a 1-member cluster holding KEYS: (path, revision at snapshot time)."""
    client = EtcdClient(etcd_single.members[0].client_url, **etcd_single.tls())
    revision = 0
    for key, value in KEYS.items():
        revision = client.put(key, value)
    path = snapshot_save(etcd_single, tmp_path_factory.mktemp("snap") / "snapshot.db")
    return path, revision


def tool(version, name="etcdutl") -> str:
    return str(build.binary("etcd", version, name))


def tree(path: Path) -> dict:
    """Every file under `path` with its content (directories as None): to prove nothing changed."""
    if not path.exists():
        return {}
    found = {}
    for root, dirs, files in os.walk(path):
        for d in dirs:
            found[os.path.relpath(os.path.join(root, d), path)] = None
        for f in files:
            found[os.path.relpath(os.path.join(root, f), path)] = Path(root, f).read_bytes()
    return found


def siblings(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.parent.iterdir() if p != data_dir)


def restore_args(snap, data_dir, name, initial, version, **extra) -> dict:
    args = {"snapshot": str(snap), "data_dir": str(data_dir), "name": name, "initial_cluster": initial,
            "initial_cluster_token": "kubedr-restored", "bump_revision": BUMP, "mark_compacted": True,
            "etcdutl_path": tool(version)}
    args.update(extra)
    return {k: v for k, v in args.items() if v is not None}


def test_restore_three_members_and_start_them(run_module, snapshot, etcd_version, tmp_path):
    snap, revision = snapshot
    cluster = write_pki(EtcdCluster(etcd_version, tmp_path / "restored"))
    nodes = [new_member(cluster, f"r{i}", data_dir=tmp_path / f"node{i}" / "etcd") for i in range(3)]
    for node in nodes:
        node.data_dir.parent.mkdir(parents=True)
    initial = ",".join(f"{m.name}={m.peer_url}" for m in nodes)
    old = nodes[0].data_dir
    (old / "member" / "snap").mkdir(parents=True)
    (old / "member" / "snap" / "db").write_bytes(b"old database")
    (old / "keep-me").write_text("old data")
    old_tree = tree(old)

    # check mode: reports the restore, touches nothing
    args0 = restore_args(snap, old, "r0", initial, etcd_version)
    result = run_module(etcd_restore, dict(args0, _ansible_check_mode=True))
    assert result["changed"] is True and result["failed"] is False, result
    assert tree(old) == old_tree and siblings(old) == []
    assert result["restore"]["moved_aside"].startswith(f"{old}.moved-")
    assert result["commands"][0][:3] == [tool(etcd_version), "snapshot", "restore"]

    results = [run_module(etcd_restore, restore_args(snap, n.data_dir, n.name, initial, etcd_version))
               for n in nodes]
    for node, result in zip(nodes, results, strict=True):
        assert result["changed"] is True and result["failed"] is False, result
        r = result["restore"]
        assert r["tool"] == "etcdutl" and r["data_dir"] == str(node.data_dir) and r["name"] == node.name
        assert r["initial_cluster_token"] == "kubedr-restored" and len(r["snapshot_sha256"]) == 64
        assert (node.data_dir / "member" / "snap" / "db").is_file()
        marker = json.loads((node.data_dir / ".kubedr-restore.json").read_text())
        assert marker["snapshot_sha256"] == r["snapshot_sha256"] and marker["name"] == node.name
        assert oct(node.data_dir.stat().st_mode & 0o777) == "0o700"
        assert not [s for s in siblings(node.data_dir) if ".restore-" in s]  # no scratch left behind
    moved = Path(results[0]["restore"]["moved_aside"])
    assert moved.parent == old.parent and moved.name.startswith("etcd.moved-")
    assert tree(moved) == old_tree  # the old data dir, moved aside whole, never deleted
    assert results[1]["restore"]["moved_aside"] is None

    # same inputs again: nothing to do
    again = run_module(etcd_restore, args0)
    assert again["changed"] is False and again["commands"] == [], again
    assert again["restore"]["moved_aside"] == str(moved)

    try:
        for node in nodes:
            launch(cluster, node, initial)
        cluster.wait_ready(30)
        client = EtcdClient(nodes[2].client_url, **cluster.tls())
        assert sorted(m["name"] for m in client.member_list()["members"]) == ["r0", "r1", "r2"]
        got = client.range("/kubedr/restore/", "/kubedr/restore0")
        assert {kv["key"].decode(): kv["value"].decode() for kv in got["kvs"]} == KEYS
        assert got["revision"] >= revision + BUMP, (got["revision"], revision)
        assert client.put("/kubedr/after", "x") > revision + BUMP

        # etcd runs on it: same inputs are still a no-op, other inputs are refused and touch nothing
        assert run_module(etcd_restore, args0)["changed"] is False
        before = tree(old)
        refused = run_module(etcd_restore, dict(args0, initial_cluster_token="other"))
        assert refused["failed"] is True and "still running" in refused["msg"], refused
        assert "etcd.yaml" in refused["msg"]
        assert tree(old).keys() == before.keys() and siblings(old) == [moved.name]
    finally:
        cluster.stop()

    # stopped: other inputs restore again, moving the restored data aside too
    redo = run_module(etcd_restore, dict(args0, initial_cluster_token="third"))
    assert redo["changed"] is True, redo
    assert len(siblings(old)) == 2 and Path(redo["restore"]["moved_aside"]).is_dir()


def test_restore_starts_above_the_revisions_clients_saw(run_module, snapshot, etcd_version, tmp_path):
    """Restoring a snapshot a second time: the cluster served up to `seen`; the restored one must start
    above that by the bump, not at the snapshot's revision plus the bump (watches would wait)."""
    snap, revision = snapshot
    cluster = write_pki(EtcdCluster(etcd_version, tmp_path / "restored"))
    node = new_member(cluster, "r0", data_dir=tmp_path / "node" / "etcd")
    node.data_dir.parent.mkdir(parents=True)
    initial = f"r0={node.peer_url}"
    seen = revision + 5 * BUMP
    args = restore_args(snap, node.data_dir, "r0", initial, etcd_version, above_revision=seen)
    result = run_module(etcd_restore, args)
    assert result["changed"] is True, result
    assert result["restore"]["snapshot_revision"] == revision
    assert result["restore"]["bump_revision"] == seen - revision + BUMP
    assert run_module(etcd_restore, args)["changed"] is False  # the same inputs give the same bump
    try:
        launch(cluster, node, initial)
        cluster.wait_ready(30)
        client = EtcdClient(node.client_url, **cluster.tls())
        assert client.put("/kubedr/after", "x") > seen + BUMP
    finally:
        cluster.stop()


@pytest.mark.parametrize("case", ["name", "peer_urls", "missing", "corrupt", "bump_alone", "etcdctl36"])
def test_bad_inputs_leave_data_dir_untouched(run_module, snapshot, etcd_version, tmp_path, case):
    snap = snapshot[0]
    data_dir = tmp_path / "host" / "etcd"
    (data_dir / "member").mkdir(parents=True)
    (data_dir / "member" / "precious").write_text("do not touch")
    initial = "a=https://127.0.0.1:2380,b=https://127.0.0.2:2380"
    args = restore_args(snap, data_dir, "a", initial, etcd_version)
    expect = {
        "name": ("does not appear in initial_cluster", {"name": "c"}),
        "peer_urls": ("differ from a's entry", {"initial_advertise_peer_urls": ["https://127.0.0.9:2380"]}),
        "missing": ("does not exist", {"snapshot": str(tmp_path / "nope.db")}),
        "corrupt": ("snapshot restore failed", {"snapshot": str(tmp_path / "corrupt.db")}),
        "bump_alone": ("needs mark_compacted", {"mark_compacted": False}),
        "etcdctl36": ("cannot restore",
                      {"etcdutl_path": None, "etcdctl_path": tool(etcd_version, "etcdctl")}),
    }
    if case == "etcdctl36" and etcd_version.startswith("3.5"):
        pytest.skip("etcdctl 3.5 can still restore (see test_etcdctl_fallback)")
    needle, change = expect[case]
    if case == "corrupt":
        data = snap.read_bytes()
        half = len(data) // 2
        Path(change["snapshot"]).write_bytes(data[:half] + b"\0" * 4096 + data[half + 4096:])
    before = tree(data_dir)
    result = run_module(etcd_restore, {k: v for k, v in dict(args, **change).items() if v is not None})
    assert result["failed"] is True and needle in result["msg"], result
    assert tree(data_dir) == before and siblings(data_dir) == []
    if case == "corrupt":  # etcdutl's own words reach the operator
        assert "Error: expected sha256" in result["stderr"] and "expected sha256" in result["msg"]
        assert "corrupt or truncated" in result["msg"]


def test_etcdctl_fallback_and_path_lookup(run_module, snapshot, etcd_version, tmp_path, monkeypatch):
    snap = snapshot[0]
    initial = "solo=https://127.0.0.1:2380"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shutil.copy(tool(etcd_version, "etcdctl"), bindir / "etcdctl")
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    args = restore_args(snap, tmp_path / "a", "solo", initial, etcd_version, etcdutl_path=None)
    result = run_module(etcd_restore, args)
    if etcd_version.startswith("3.6"):
        assert result["failed"] is True and "cannot restore" in result["msg"], result
    else:  # etcdctl 3.5 still restores, with --bump-revision
        assert result["changed"] is True and result["restore"]["tool"] == "etcdctl", result
        assert (tmp_path / "a" / "member" / "snap" / "db").is_file()
    assert not (tmp_path / "a").exists() or etcd_version.startswith("3.5")

    shutil.copy(tool(etcd_version), bindir / "etcdutl")  # now on PATH: preferred
    result = run_module(etcd_restore, restore_args(snap, tmp_path / "b", "solo", initial, etcd_version,
                                                   etcdutl_path=None))
    assert result["changed"] is True and result["restore"]["tool_path"] == str(bindir / "etcdutl"), result


def test_mount_point_data_dir(run_module, snapshot, etcd_version, tmp_path, monkeypatch):
    """A data dir that cannot be renamed: its entries are moved inside it, and etcd starts on it."""
    snap = snapshot[0]
    monkeypatch.setattr(etcd_restore._fs, "mount_point", lambda path: True)
    cluster = write_pki(EtcdCluster(etcd_version, tmp_path / "c"))
    node = new_member(cluster, "m0", data_dir=tmp_path / "etcd")
    (node.data_dir / "member").mkdir(parents=True)
    (node.data_dir / "member" / "old").write_text("old member dir")
    initial = f"m0={node.peer_url}"
    result = run_module(etcd_restore, restore_args(snap, node.data_dir, "m0", initial, etcd_version))
    assert result["changed"] is True and result["restore"]["mount_point"] is True, result
    moved = Path(result["restore"]["moved_aside"])
    assert moved.parent == node.data_dir and moved.name.startswith(".kubedr-moved-")
    assert (moved / "member" / "old").read_text() == "old member dir"
    assert sorted(os.listdir(node.data_dir)) == sorted([".kubedr-restore.json", "member", moved.name])
    assert siblings(node.data_dir) == ["c"]
    try:
        launch(cluster, node, initial)
        cluster.wait_ready(20)  # etcd accepts the extra entries in its data dir
        got = EtcdClient(node.client_url, **cluster.tls()).range("/kubedr/restore/", "/kubedr/restore0")
        assert got["count"] == len(KEYS)
    finally:
        cluster.stop()


def test_selinux_labels_restored_after_the_swap_and_on_rerun(run_module, snapshot, etcd_version, tmp_path,
                                                             monkeypatch):
    """SELinux enabled (stand-ins: it cannot run here): the swapped-in data dir is relabeled, a rerun runs
    restorecon again and is unchanged when every label is right; a failing restorecon fails the task with
    the restored data in place and the old data kept."""
    snap = snapshot[0]
    fake = fake_selinux.enable(monkeypatch, tmp_path / "se")
    data_dir = tmp_path / "etcd"
    (data_dir / "member").mkdir(parents=True)
    initial = "solo=https://10.0.0.1:2380"
    args = restore_args(snap, data_dir, "solo", initial, etcd_version)
    result = run_module(etcd_restore, args)
    assert result["changed"] is True and result["restore"]["selinux_relabeled"] > 2, result
    assert fake.call_log() == [f"-R -v {data_dir}"]
    assert result["commands"][-1][1:] == ["-R", "-v", str(data_dir)]
    assert any("SELinux labels" in action for action in result["actions"])
    again = run_module(etcd_restore, args)
    assert again["changed"] is False and again["restore"]["selinux_relabeled"] == 0, again
    assert len(fake.call_log()) == 2
    checked = run_module(etcd_restore, dict(args, _ansible_check_mode=True))
    assert checked["changed"] is False and len(fake.call_log()) == 2  # check mode runs no restorecon

    broken = tmp_path / "broken"
    fake = fake_selinux.enable(monkeypatch, broken, fail="restorecon: Operation not permitted")
    other = tmp_path / "etcd2"
    (other / "member").mkdir(parents=True)
    (other / "member" / "old").write_text("old")
    failed = run_module(etcd_restore, restore_args(snap, other, "solo", initial, etcd_version))
    assert failed["failed"] is True, failed
    assert "Operation not permitted" in failed["msg"]
    assert f"run `restorecon -R {other}` by hand" in failed["msg"]
    assert (other / "member" / "snap" / "db").exists()  # restored, swapped in
    kept = [p for p in other.parent.iterdir() if p.name.startswith("etcd2.moved-")]
    assert len(kept) == 1 and (kept[0] / "member" / "old").read_text() == "old"
