"""etcd_restore_member_info in-process on a temporary /etc/kubernetes layout (real files, a real statvfs)."""

from __future__ import annotations

import os

import pytest
from ansible_collections.kubedr.kubeadm.plugins.modules import etcd_restore_member_info
from etcd_manifests import kubeadm_manifest


@pytest.fixture
def layout(tmp_path):
    manifests, run = tmp_path / "manifests", tmp_path / "runs" / "r1"
    manifests.mkdir()
    data = tmp_path / "etcd-data"
    data.mkdir()
    text = kubeadm_manifest("https://127.0.0.1:2379,https://10.0.0.10:2379").replace(
        "--data-dir=/var/lib/etcd", f"--data-dir={data}")
    (manifests / "etcd.yaml").write_text(text)
    (manifests / "kube-apiserver.yaml").write_text("apiVersion: v1\nkind: Pod\n")
    return manifests, run, data


def args(layout, **extra):
    manifests, run = layout[:2]
    return {"manifests_dir": str(manifests), "stash_dir": str(run / "manifests"), "run_dir": str(run),
            "default_name": "inventory-name", **extra}


def test_a_fresh_host(layout, run_module):
    manifests, data = layout[0], layout[2]
    result = run_module(etcd_restore_member_info, args(layout, need_bytes=1))
    assert not result["changed"] and not result.get("failed")
    assert result["member"] == {"name": "cp1", "peer_urls": ["https://10.0.0.10:2380"], "data_dir": str(data),
                                "initial_cluster_entry": "cp1=https://10.0.0.10:2380"}
    assert result["manifests"]["etcd"] == {"location": "manifests", "path": str(manifests / "etcd.yaml")}
    assert result["manifests"]["kube-apiserver"]["location"] == "manifests"
    assert result["markers"] == []  # the run directory does not exist yet
    assert "--name=cp1" in result["etcd_manifest"]
    room = result["data_dir"]
    assert room["exists"] and room["fits"] and room["free_bytes"] > 0


def test_a_resumed_run_finds_parked_manifests_and_its_markers(layout, run_module):
    manifests, run = layout[:2]
    (run / "manifests").mkdir(parents=True)
    for name in ("etcd.yaml", "kube-apiserver.yaml"):
        os.rename(manifests / name, run / "manifests" / name)
    for marker in ("started.json", "stopped"):
        (run / marker).write_text("")
    result = run_module(etcd_restore_member_info, args(layout))
    assert result["manifests"]["etcd"]["location"] == "stash"
    assert result["member"]["name"] == "cp1"  # read from the parked manifest
    assert result["markers"] == ["started.json", "stopped"]  # the manifests/ directory is no marker


def test_the_space_the_restore_needs(layout, run_module):
    result = run_module(etcd_restore_member_info, args(layout, need_bytes=1 << 62))
    assert not result.get("failed") and result["data_dir"]["fits"] is False


def test_a_missing_data_dir_measures_its_parent(layout, run_module):
    data = layout[2]
    data.rmdir()
    result = run_module(etcd_restore_member_info, args(layout))
    assert result["data_dir"]["exists"] is False and result["data_dir"]["free_bytes"] > 0


@pytest.mark.parametrize("where", ["both", "none"])
def test_a_manifest_in_both_places_or_none_is_refused(layout, run_module, where):
    manifests, run = layout[:2]
    (run / "manifests").mkdir(parents=True)
    if where == "both":
        (run / "manifests" / "kube-apiserver.yaml").write_text("other\n")
    else:
        (manifests / "kube-apiserver.yaml").unlink()
    result = run_module(etcd_restore_member_info, args(layout))
    assert result["failed"] and f"not in {where}" in result["msg"]
    assert str(run / "manifests" / "kube-apiserver.yaml") in result["msg"]
    assert "Nothing was touched" in result["msg"]


def test_a_manifest_without_name_takes_the_default(layout, run_module):
    manifests = layout[0]
    text = (manifests / "etcd.yaml").read_text().replace("    - --name=cp1\n", "")
    (manifests / "etcd.yaml").write_text(text)
    result = run_module(etcd_restore_member_info, args(layout))
    assert result["member"]["name"] == "inventory-name"
    assert result["member"]["initial_cluster_entry"] == "inventory-name=https://10.0.0.10:2380"
