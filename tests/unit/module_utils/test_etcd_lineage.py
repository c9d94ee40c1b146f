"""The lineage rules: which snapshots are a cluster's own, and how far a restore must raise the revision."""

from __future__ import annotations

import json
import os
import stat

import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils import etcd_lineage
from ansible_collections.kubedr.kubeadm.plugins.modules import etcd_lineage as etcd_lineage_module


def test_same_cluster_after_restores_and_rebuilds():
    # the running cluster remembers the ids it had: a backup of any of them is its own
    assert etcd_lineage.same_cluster("aa", [], "cc", ["aa", "bb"])
    # the backup remembers ids the (wiped, rebuilt) hosts forgot: still its own
    assert etcd_lineage.same_cluster("aa", ["99", "aa"], "cc", ["99"])
    assert etcd_lineage.same_cluster("CC", None, "cc", None)
    # no common id: another cluster's snapshot
    assert not etcd_lineage.same_cluster("dd", ["ee"], "cc", ["aa", "bb"])
    assert not etcd_lineage.same_cluster("dd", [], "", [])


@pytest.mark.parametrize(
    ("snapshot", "high", "margin", "bump"),
    [
        (500, 0, 1_000_000_000, 1_000_000_000),  # first restore: the margin
        (500, 1_000_000_700, 1_000_000_000, 2_000_000_200),  # the same snapshot again: above what was served
        (2_000_000_000, 1_000_000_700, 1_000_000_000, 1_000_000_000),  # newer than anything seen
        (500, 900, 0, 0),  # bumping turned off
    ],
)
def test_restore_bump_starts_above_every_revision_seen(snapshot, high, margin, bump):
    assert etcd_lineage.restore_bump(snapshot, high, margin) == bump
    if margin:
        assert snapshot + bump >= high + margin


def test_merge_keeps_order_and_the_highest_revision():
    merged = etcd_lineage.merge(
        {"cluster": "lab", "cluster_ids": ["aa"], "high_revision": 9}, ["bb", "AA", ""], 5
    )
    assert merged == {"cluster": "lab", "cluster_ids": ["aa", "bb"], "high_revision": 9}


def test_damaged_file_is_named(tmp_path):
    path = tmp_path / "lineage.json"
    path.write_text("{not json")
    with pytest.raises(etcd_lineage.LineageError, match="move it aside"):
        etcd_lineage.read(str(path))


def test_module_records_reads_and_refuses_another_cluster(run_module, tmp_path):
    path = tmp_path / "kubedr" / "lineage.json"
    args = {"path": str(path), "cluster": "lab"}
    empty = run_module(etcd_lineage_module, args)
    assert empty["changed"] is False and not path.exists()

    check = run_module(
        etcd_lineage_module, dict(args, cluster_ids=["aa"], revision=7, _ansible_check_mode=True)
    )
    assert check["changed"] is True and not path.exists()

    wrote = run_module(etcd_lineage_module, dict(args, cluster_ids=["aa", "bb"], revision=7))
    assert wrote["changed"] is True and wrote["lineage"]["cluster_ids"] == ["aa", "bb"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text())["high_revision"] == 7

    again = run_module(etcd_lineage_module, dict(args, cluster_ids=["bb"], revision=3))
    assert again["changed"] is False and again["lineage"]["high_revision"] == 7

    other = run_module(etcd_lineage_module, dict(args, cluster="prod"))
    assert other["failed"] and "another cluster" in other["msg"]
