"""etcd_backup_stage: the set's name and cluster manifest (pure), and the action plugin's order of steps with
the host's module runs stood in for (each module is tested for real on its own; the lab's backup tests run
the plugin against real hosts)."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from ansible_collections.kubedr.kubeadm.plugins.action.etcd_backup_stage import ActionModule, StepFailed
from ansible_collections.kubedr.kubeadm.plugins.module_utils._backup_set import cluster_manifest, set_name

MEMBERS = [
    {"name": "cp1", "id": "a1", "peer_urls": ["https://10.0.0.1:2380"], "client_urls": ["https://10.0.0.1:2379"],
     "is_learner": False, "healthy": True, "is_leader": True, "version": "3.6.16", "endpoint": "x"},
    {"name": "cp2", "id": "b2", "peer_urls": ["https://10.0.0.2:2380"], "client_urls": ["https://10.0.0.2:2379"],
     "is_learner": False, "healthy": True, "is_leader": False, "version": "3.6.16",
     "endpoint": "https://10.0.0.2:2379"},
]
INFO = {"cluster_id": "c1d2", "quorum": True, "leader": MEMBERS[0], "members": MEMBERS}
SNAPSHOT = {"revision": 937, "created": "2026-12-02T14:49:01Z", "size": 2048, "sha256": "ab" * 32,
            "raft_index": 1000, "hash_kv": 7, "etcd_version": "3.6.16", "storage_version": "3.6.0",
            "transport": "grpc", "lineage": ["old1", "c1d2"]}
CLUSTER_CONFIGURATION = ("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
                         "kubernetesVersion: v1.36.3\ncontrolPlaneEndpoint: api.lab:6443\nclusterName: lab\n")


def test_set_name_from_the_snapshot_time_else_now():
    assert set_name(SNAPSHOT) == "20261202T144901Z-r937"
    assert set_name({"revision": 5}, now=0) == "19700101T000000Z-r5"


def test_cluster_manifest():
    staged = {"cluster_configuration": CLUSTER_CONFIGURATION, "config_source": "configmap", "nodes": ["cp1"]}
    m = cluster_manifest("lab", "20261202T144901Z-r937", "cp2", MEMBERS[1], INFO, SNAPSHOT, staged)
    assert m["format"] == 1 and m["kind"] == "kubedr.kubeadm/etcd-backup" and m["cluster"] == "lab"
    assert m["etcd_cluster_id"] == "c1d2" and m["etcd_lineage"] == ["old1", "c1d2"]
    assert m["snapshot"] == {"file": "snapshot.db", "revision": 937, "raft_index": 1000, "size": 2048,
                             "sha256": "ab" * 32, "hash_kv": 7, "etcd_version": "3.6.16",
                             "storage_version": "3.6.0", "transport": "grpc"}
    assert m["source"] == {"host": "cp2", "member": "cp2", "member_id": "b2", "endpoint": "https://10.0.0.2:2379",
                           "was_leader": False}
    assert m["leader"] == "cp1" and m["quorum"] is True and m["etcd_versions"] == ["3.6.16"]
    assert [x["name"] for x in m["members"]] == ["cp1", "cp2"] and "endpoint" not in m["members"][0]
    assert (m["kubernetes_version"], m["control_plane_endpoint"], m["cluster_name"]) == (
        "v1.36.3", "api.lab:6443", "lab")
    assert m["nodes"] == ["cp1"] and m["cluster_configuration"] == "configmap"


def test_cluster_manifest_without_configuration_leader_or_lineage():
    snapshot = {k: v for k, v in SNAPSHOT.items() if k != "lineage"}
    m = cluster_manifest("lab", "s", "cp2", MEMBERS[1], {**INFO, "leader": None}, snapshot,
                         {"cluster_configuration": "- not a mapping\n"})
    assert m["leader"] is None and m["etcd_lineage"] == ["c1d2"]
    assert m["kubernetes_version"] is None and m["cluster_configuration"] == "none" and m["nodes"] == []


class Host:
    """Stands in for the module runs on the host: records each call, answers from `answers`."""

    def __init__(self, answers):
        self.calls, self.answers = [], answers

    def __call__(self, module_name, module_args, task_vars):
        self.calls.append((module_name, module_args))
        return self.answers.get(module_name, {"changed": False})


ANSWERS = {
    "kubedr.kubeadm.etcd_lineage": {"lineage": {"cluster_ids": ["old1", "c1d2"], "high_revision": 900}},
    "kubedr.kubeadm.etcd_snapshot": {"changed": True, "snapshot": SNAPSHOT},
    "kubedr.kubeadm.etcdutl_binary": {"changed": False,
                                      "etcdutl": {"path": "/var/lib/kubedr/tools/etcdutl-ab"}},
    "kubedr.kubeadm.etcd_snapshot_info": {"snapshot": {"revision": 937, "trial_restore": {"keys": 12}}},
    "kubedr.kubeadm.kubeadm_config_collect": {"changed": True, "cluster_configuration": CLUSTER_CONFIGURATION,
                                              "config_source": "configmap", "nodes": ["cp1", "cp2"],
                                              "warnings": ["kubelet-config not readable"]},
    "kubedr.kubeadm.backup_manifest": {"changed": True},
}
ARGS = {"stage_dir": "/srv/stage/lab/", "cluster": "lab", "source_host": "cp2", "source_member": MEMBERS[1],
        "cluster_info": INFO, "prefer": "auto", "timeout": 30, "trial_restore": True, "etcdutl_path": None,
        "pack": True,
        "pki_dir": "/etc/kubernetes/pki", "manifests_dir": None, "kubeadm_config_file": None,
        "kubeconfig": "/etc/kubernetes/admin.conf", "kubectl_path": None}


class Connection:
    """The task's connection: fetch_file copies `payload` to the controller path asked for."""

    def __init__(self, payload=b"tar of the set", become=None, fails=False):
        self.payload, self.become, self.fails, self.fetched = payload, become, fails, []

    def fetch_file(self, remote, local):
        self.fetched.append((remote, local))
        if self.fails:
            raise OSError("connection lost")
        Path(local).write_bytes(self.payload)


REMOVE_TAR = {"path": "/srv/stage/lab/transfer.tar", "state": "absent"}


def action(host, check_mode=False, connection=None):
    plugin = object.__new__(ActionModule)
    plugin._task = SimpleNamespace(check_mode=check_mode)
    plugin._execute_module = host
    plugin._connection = connection or Connection()
    plugin._warnings = []
    return plugin


def test_the_steps_in_order_on_one_host():
    host = Host(ANSWERS)
    plugin = action(host)
    out = plugin._stage(dict(ARGS), {})
    assert [call[0] for call in host.calls] == [
        "ansible.builtin.file", "kubedr.kubeadm.etcd_lineage", "kubedr.kubeadm.etcd_snapshot",
        "kubedr.kubeadm.etcdutl_binary", "kubedr.kubeadm.etcd_snapshot_info",
        "kubedr.kubeadm.kubeadm_config_collect",
        "kubedr.kubeadm.backup_manifest", "ansible.builtin.command", "ansible.builtin.file"]
    calls = dict(host.calls)
    assert host.calls[0][1]["path"] == "/srv/stage/lab/etcd"
    assert calls["kubedr.kubeadm.etcd_snapshot"]["lineage"] == ["old1", "c1d2"]
    assert calls["kubedr.kubeadm.etcd_snapshot"]["dest"] == "/srv/stage/lab/etcd/snapshot.db"
    # the trial restore uses the etcdutl found (read out of the etcd image on a stock node)
    assert calls["kubedr.kubeadm.etcdutl_binary"] == {"path": None}
    assert calls["kubedr.kubeadm.etcd_snapshot_info"]["etcdutl_path"] == "/var/lib/kubedr/tools/etcdutl-ab"
    # only the collect options given reach kubeadm_config_collect (its defaults for the rest)
    assert calls["kubedr.kubeadm.kubeadm_config_collect"] == {
        "stage_dir": "/srv/stage/lab", "pki_dir": "/etc/kubernetes/pki",
        "kubeconfig": "/etc/kubernetes/admin.conf"}
    assert calls["kubedr.kubeadm.backup_manifest"]["manifest"] == out["manifest"]
    assert out["manifest"]["nodes"] == ["cp1", "cp2"] and out["manifest"]["set"] == "20261202T144901Z-r937"
    assert calls["ansible.builtin.command"]["argv"][-3:] == ["/srv/stage/lab/transfer.tar", "etcd", "config"]
    assert out["set"] == "20261202T144901Z-r937" and out["snapshot_changed"] and out["changed"]
    # the tar came to a private directory on the controller and left the host's staging directory
    assert plugin._connection.fetched == [("/srv/stage/lab/transfer.tar", out["archive"])]
    assert Path(out["archive"]).read_bytes() == b"tar of the set"
    assert os.path.dirname(out["archive"]) == out["controller_dir"]
    assert oct(os.stat(out["controller_dir"]).st_mode & 0o777) == "0o700"
    assert host.calls[-1] == ("ansible.builtin.file", REMOVE_TAR)
    assert plugin._warnings == ["kubelet-config not readable"]
    shutil.rmtree(out["controller_dir"])


def test_with_become_the_tar_comes_through_slurp():
    host = Host({**ANSWERS, "ansible.legacy.slurp": {"content": base64.b64encode(b"root's tar").decode(),
                                                     "encoding": "base64"}})
    plugin = action(host, connection=Connection(become=object()))
    out = plugin._stage(dict(ARGS), {})
    assert Path(out["archive"]).read_bytes() == b"root's tar" and plugin._connection.fetched == []
    shutil.rmtree(out["controller_dir"])


def test_a_failed_transfer_leaves_no_copy_on_the_controller_nor_the_tar_on_the_host(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR is read again
    host = Host(ANSWERS)
    with pytest.raises(OSError, match="connection lost"):
        action(host, connection=Connection(fails=True))._stage(dict(ARGS), {})
    assert list(tmp_path.iterdir()) == []
    assert host.calls[-1] == ("ansible.builtin.file", REMOVE_TAR)


def test_an_unchanged_member_changes_nothing_and_no_pack_without_dir_target():
    answers = {**ANSWERS, "kubedr.kubeadm.etcd_snapshot": {"changed": False, "snapshot": SNAPSHOT},
               "kubedr.kubeadm.kubeadm_config_collect": {"changed": False},
               "kubedr.kubeadm.backup_manifest": {"changed": False}}
    host = Host(answers)
    out = action(host)._stage({**ARGS, "pack": False}, {})
    assert not out["changed"] and not out["snapshot_changed"] and out["archive"] is None
    assert "ansible.builtin.command" not in dict(host.calls)


def test_check_mode_stops_after_the_snapshot():
    host = Host(ANSWERS)
    out = action(host, check_mode=True)._stage(dict(ARGS), {})
    assert [call[0] for call in host.calls][-1] == "kubedr.kubeadm.etcd_snapshot"
    assert out["manifest"] == {} and out["set"] == "20261202T144901Z-r937"


@pytest.mark.parametrize("failing, step", [
    ("kubedr.kubeadm.etcd_snapshot", "snapshot the source member"),
    ("kubedr.kubeadm.etcdutl_binary", "find etcdutl for the trial restore"),
    ("kubedr.kubeadm.etcd_snapshot_info", "verify the snapshot"),
    ("kubedr.kubeadm.kubeadm_config_collect", "stage the PKI and the kubeadm configuration"),
])
def test_a_failing_step_stops_there_and_is_named(failing, step):
    host = Host({**ANSWERS, failing: {"failed": True, "msg": "it broke"}})
    with pytest.raises(StepFailed) as e:
        action(host)._stage(dict(ARGS), {})
    assert e.value.step == step and e.value.result["msg"] == "it broke"
    assert [call[0] for call in host.calls][-1] == failing
    assert "kubedr.kubeadm.backup_manifest" not in dict(host.calls)


def test_without_the_trial_restore_no_etcdutl_is_looked_for():
    host = Host(ANSWERS)
    action(host)._stage({**ARGS, "trial_restore": False}, {})
    calls = dict(host.calls)
    assert "kubedr.kubeadm.etcdutl_binary" not in calls
    assert calls["kubedr.kubeadm.etcd_snapshot_info"]["trial_restore"] is False
    assert "etcdutl_path" not in calls["kubedr.kubeadm.etcd_snapshot_info"]
