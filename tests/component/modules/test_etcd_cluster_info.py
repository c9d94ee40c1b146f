"""etcd_cluster_info run in-process against real 3-member TLS etcd 3.5 and 3.6 clusters."""

from __future__ import annotations

import time

import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_client import (
    EtcdClient,
    EtcdError,
    format_id,
)
from ansible_collections.kubedr.kubeadm.plugins.modules import etcd_cluster_info
from etcd_fixtures import free_ports
from etcd_manifests import kubeadm_manifest


def tls_args(cluster, endpoint=None) -> dict:
    return {"endpoint": endpoint or cluster.members[0].client_url, "ca_cert": cluster.ca_cert,
            "client_cert": cluster.client_cert, "client_key": cluster.client_key, "timeout": 5}


def by_name(result) -> dict:
    return {m["name"]: m for m in result["cluster"]["members"]}


def leader_per_etcd(cluster, member) -> str:
    """The leader as one member reports it, straight from the client."""
    return format_id(EtcdClient(member.client_url, **cluster.tls()).status()["leader"])


def retry(call, transient: str, seconds: float = 10.0):
    """call() until it stops failing with an EtcdError that contains `transient`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return call()
        except EtcdError as e:
            if transient not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_healthy_cluster(run_module, etcd_trio, etcd_version):
    result = run_module(etcd_cluster_info, tls_args(etcd_trio))
    assert result["changed"] is False and result["failed"] is False
    cluster = result["cluster"]
    members = by_name(result)
    assert sorted(members) == [m.name for m in etcd_trio.members]

    truth = EtcdClient(etcd_trio.members[0].client_url, **etcd_trio.tls())
    listing = truth.member_list()
    assert cluster["cluster_id"] == format_id(listing["cluster_id"])
    assert {m["id"] for m in cluster["members"]} == {format_id(m["id"]) for m in listing["members"]}

    for member in etcd_trio.members:
        got = members[member.name]
        assert got["healthy"] is True and got["error"] is None, got
        assert got["endpoint"] == member.client_url
        assert got["client_urls"] == [member.client_url] and got["peer_urls"] == [member.peer_url]
        assert got["version"] == etcd_version
        assert got["raft_applied_index"] > 0 and got["raft_term"] >= 2 and got["db_size"] > 0
        assert got["is_learner"] is False

    leaders = [m for m in cluster["members"] if m["is_leader"]]
    assert len(leaders) == 1
    assert cluster["leader"] == {"id": leaders[0]["id"], "name": leaders[0]["name"]}
    assert cluster["leader"]["id"] == leader_per_etcd(etcd_trio, etcd_trio.members[2])
    assert cluster["quorum_size"] == 2 and cluster["quorum"] is True
    assert cluster["learners"] == [] and cluster["alarms"] == []

    source = cluster["backup_source"]
    assert source["name"] != cluster["leader"]["name"]  # a follower
    assert source == {"id": members[source["name"]]["id"], "name": source["name"],
                      "endpoint": members[source["name"]]["endpoint"]}
    followers = [m for m in cluster["members"] if not m["is_leader"]]
    assert members[source["name"]]["raft_applied_index"] == max(m["raft_applied_index"] for m in followers)


def test_check_mode_and_discovery_from_manifest(run_module, etcd_trio, tmp_path):
    """Only manifest_path given: endpoint and certificates come from a kubeadm-shaped manifest."""
    member = etcd_trio.members[1]
    manifest = tmp_path / "etcd.yaml"
    manifest.write_text(kubeadm_manifest(f"https://10.0.0.11:2379,{member.client_url}",
                                         pki_dir=str(etcd_trio.pki_dir), name=member.name))
    result = run_module(etcd_cluster_info, {"manifest_path": str(manifest), "_ansible_check_mode": True})
    assert result["changed"] is False
    assert all(m["healthy"] for m in result["cluster"]["members"])
    assert result["cluster"]["quorum"] is True


def test_explicit_endpoints_only(run_module, etcd_trio):
    first, second, third = etcd_trio.members
    args = dict(tls_args(etcd_trio), endpoints=[second.client_url, first.client_url])
    result = run_module(etcd_cluster_info, args)
    members = by_name(result)
    assert result["cluster"]["quorum"] is True
    assert members[first.name]["healthy"] and members[second.name]["healthy"]
    assert members[third.name]["healthy"] is False
    assert "not queried" in members[third.name]["error"]

    # one voter of three vouched for is not quorum: members nobody asked count as unhealthy
    alone = run_module(etcd_cluster_info, dict(tls_args(etcd_trio), endpoints=[first.client_url]))["cluster"]
    assert [m["name"] for m in alone["members"] if m["healthy"]] == [first.name]
    assert alone["quorum"] is False and alone["backup_source"] is None and alone["alarms"] is None


def test_fails_only_when_nothing_answers(run_module, etcd_trio):
    ports = free_ports(2)
    args = dict(tls_args(etcd_trio), endpoints=[f"https://127.0.0.1:{p}" for p in ports])
    result = run_module(etcd_cluster_info, args)
    assert result["failed"] is True
    assert result["msg"].startswith("no etcd endpoint answered")
    assert all(f"is etcd running on 127.0.0.1:{p}?" in result["msg"] for p in ports)


def test_losing_members(run_module, etcd_trio_disposable):
    cluster = etcd_trio_disposable
    named = {m.name: m for m in cluster.members}

    before = run_module(etcd_cluster_info, tls_args(cluster))["cluster"]
    leader = named[before["leader"]["name"]]
    first_victim = named[before["backup_source"]["name"]]
    first_victim.stop()

    # one of three down: still quorum, the remaining follower becomes the backup source
    after = run_module(etcd_cluster_info, tls_args(cluster, endpoint=leader.client_url))
    state = after["cluster"]
    members = by_name(after)
    assert members[first_victim.name]["healthy"] is False
    assert "connection refused" in members[first_victim.name]["error"]
    assert members[first_victim.name]["raft_applied_index"] is None
    assert state["quorum"] is True and state["quorum_size"] == 2
    assert state["leader"]["name"] == leader.name
    (survivor,) = [m for m in cluster.members if m not in (leader, first_victim)]
    assert state["backup_source"]["name"] == survivor.name
    assert state["alarms"] == []

    # two of three down: no quorum, no backup source, but still a report
    leader.stop()
    lost = run_module(etcd_cluster_info, tls_args(cluster, endpoint=survivor.client_url))
    assert lost["failed"] is False
    state = lost["cluster"]
    members = by_name(lost)
    assert [name for name, m in members.items() if m["healthy"]] in ([], [survivor.name])
    assert members[survivor.name]["endpoint"] == survivor.client_url  # it answered
    assert state["quorum"] is False
    assert state["backup_source"] is None
    assert state["alarms"] is None


def test_unstarted_learner(run_module, etcd_trio):
    """A learner that was added but never started: listed, unhealthy, and it does not count for quorum."""
    client = EtcdClient(etcd_trio.members[0].client_url, **etcd_trio.tls())
    peer_url = f"https://127.0.0.1:{free_ports(1)[0]}"
    # etcd refuses membership changes until the member has been connected to all peers for 5s
    learner = retry(lambda: client.member_add([peer_url], is_learner=True), "unhealthy cluster")
    try:
        cluster = run_module(etcd_cluster_info, tls_args(etcd_trio))["cluster"]
    finally:
        client.member_remove(learner["id"])
    learner_id = format_id(learner["id"])
    assert cluster["learners"] == [{"id": learner_id, "name": ""}]
    (entry,) = [m for m in cluster["members"] if m["id"] == learner_id]
    assert entry["is_learner"] is True and entry["healthy"] is False
    assert "has not started" in entry["error"]
    assert cluster["quorum_size"] == 2 and cluster["quorum"] is True
    assert cluster["backup_source"]["id"] != learner_id


@pytest.mark.parametrize("missing", ["ca_cert", "client_key"])
def test_bad_tls_files_fail_cleanly(run_module, etcd_trio, tmp_path, missing):
    args = dict(tls_args(etcd_trio), **{missing: str(tmp_path / "absent.pem")})
    result = run_module(etcd_cluster_info, args)
    assert result["failed"] is True
    assert f"{missing} '{tmp_path / 'absent.pem'}' does not exist" in result["msg"]
