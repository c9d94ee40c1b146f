"""backup_summary (filter): the line backup.yml prints per cluster."""

from __future__ import annotations

from ansible_collections.kubedr.kubeadm.plugins.filter.backup_summary import backup_summary

ETCD = {"revision": 937, "size": "1437696", "duration": 54.7,
        "restic": {"etcd": "31b57723" + "a" * 56, "pki": "802c78d3" + "b" * 56},
        "dir": "vault:/srv/kubedr/etcd-backup/bench/20261202T144901Z-r937"}


def test_etcd_and_pvs():
    pvs = [{"snapshot_id": "0123456789abcdef"}, {"snapshot_id": None}]
    assert backup_summary("prod", ETCD, pvs) == (
        "backup prod: etcd revision=937 size=1.37 MB duration=54.7s restic=31b57723,802c78d3"
        " dir=vault:/srv/kubedr/etcd-backup/bench/20261202T144901Z-r937;"
        " pvs 2 snapshot(s) 01234567,unchanged")


def test_no_restic_no_dir_and_pvs_left_out():
    etcd = dict(ETCD, restic={}, dir=None)
    line = backup_summary("prod", etcd, [], False)
    assert "restic=- dir=-; pvs left out" in line


def test_an_unchanged_restic_snapshot_and_no_pvs_found():
    line = backup_summary("prod", dict(ETCD, restic={"etcd": "", "pki": "ff00ff00ff00"}), [], True)
    assert "restic=unchanged,ff00ff00 " in line and line.endswith("; pvs none")


def test_etcd_not_backed_up():
    assert backup_summary("prod", {}, []) == "backup prod: etcd not backed up; pvs none"
