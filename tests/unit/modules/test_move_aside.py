"""move_aside on real directories and a real bind mount: nothing is deleted, reruns change nothing."""

from __future__ import annotations

import os
import subprocess

import pytest
from ansible_collections.kubedr.kubeadm.plugins.modules import move_aside


def tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_directory_is_renamed_beside_itself(run_module, tmp_path):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "etcd.yaml").write_text("etcd")
    result = run_module(move_aside, {"paths": [str(manifests)], "stamp": "s1"})
    assert result["changed"] is True
    aside = tmp_path / ".manifests.kubedr-aside-s1"
    assert result["moved"] == [{"path": str(manifests), "aside": str(aside), "entries": ["manifests"]}]
    assert not manifests.exists() and (aside / "etcd.yaml").read_text() == "etcd"
    again = run_module(move_aside, {"paths": [str(manifests)], "stamp": "s1"})
    assert again["changed"] is False and again["moved"] == []


def test_keep_moves_entries_inside_and_keeps_the_named_ones(run_module, tmp_path):
    kube = tmp_path / "kubernetes"
    (kube / "pki").mkdir(parents=True)
    (kube / "pki" / "ca.key").write_text("key")
    (kube / "admin.conf").write_text("conf")
    (kube / "manifests").mkdir()
    result = run_module(move_aside, {"paths": [str(kube)], "stamp": "s2", "keep": ["pki"]})
    assert result["moved"][0]["entries"] == ["admin.conf", "manifests"]
    assert tree(kube) == [".kubedr-aside-s2", ".kubedr-aside-s2/admin.conf", ".kubedr-aside-s2/manifests",
                          "pki", "pki/ca.key"]
    # an earlier aside directory is never moved again
    assert run_module(move_aside, {"paths": [str(kube)], "stamp": "s3", "keep": ["pki"]})["changed"] is False


def test_check_mode_moves_nothing(run_module, tmp_path):
    data = tmp_path / "etcd"
    (data / "member").mkdir(parents=True)
    result = run_module(move_aside, {"paths": [str(data)], "stamp": "s4", "_ansible_check_mode": True})
    assert result["changed"] is True and result["moved"][0]["aside"].endswith(".etcd.kubedr-aside-s4")
    assert tree(tmp_path) == ["etcd", "etcd/member"]


def test_missing_and_empty_paths_are_no_change(run_module, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_module(move_aside, {"paths": [str(tmp_path / "empty"), str(tmp_path / "missing")]})
    assert result["changed"] is False and result["moved"] == []


@pytest.mark.parametrize("args, message", [
    ({"paths": ["relative/dir"]}, "paths must be absolute"),
    ({"paths": ["/"]}, "paths must be absolute and not '/'"),
    ({"paths": ["/nonexistent-kubedr"], "stamp": "a/b"}, "must be a plain name"),
])
def test_bad_input_is_refused(run_module, args, message):
    result = run_module(move_aside, args)
    assert result["failed"] and message in result["msg"]


def test_an_existing_aside_name_is_refused_not_overwritten(run_module, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("new")
    (tmp_path / ".d.kubedr-aside-s5").mkdir()
    result = run_module(move_aside, {"paths": [str(tmp_path / "d")], "stamp": "s5"})
    assert result["failed"] and "exists already" in result["msg"]
    assert (tmp_path / "d" / "f").read_text() == "new"


@pytest.mark.skipif(os.geteuid() != 0, reason="bind mounts need root")
def test_a_mount_point_keeps_its_place_and_its_entries_move_inside(run_module, tmp_path):
    disk, point = tmp_path / "disk", tmp_path / "var-lib-etcd"
    (disk / "member" / "snap").mkdir(parents=True)
    point.mkdir()
    subprocess.run(["mount", "--bind", str(disk), str(point)], check=True)
    try:
        result = run_module(move_aside, {"paths": [str(point)], "stamp": "s6"})
        assert result["moved"][0]["aside"] == str(point / ".kubedr-aside-s6")
        assert tree(point) == [".kubedr-aside-s6", ".kubedr-aside-s6/member", ".kubedr-aside-s6/member/snap"]
    finally:
        subprocess.run(["umount", str(point)], check=True)
    assert tree(disk) == [".kubedr-aside-s6", ".kubedr-aside-s6/member", ".kubedr-aside-s6/member/snap"]
