"""etcd_member run in-process against real TLS etcd 3.5 and 3.6: add a learner, start it, promote, remove."""

from __future__ import annotations

import time

import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_client import EtcdClient, format_id
from ansible_collections.kubedr.kubeadm.plugins.modules import etcd_member
from etcd_fixtures import launch, new_member


def tls_args(cluster, endpoint=None, **extra) -> dict:
    args = {"endpoint": endpoint or cluster.members[0].client_url, "ca_cert": cluster.ca_cert,
            "client_cert": cluster.client_cert, "client_key": cluster.client_key, "timeout": 5,
            "wait_timeout": 30}
    args.update(extra)
    return args


def truth(cluster, member=None) -> list[dict]:
    """The member list straight from the client, independent of the module."""
    client = EtcdClient((member or cluster.members[0]).client_url, **cluster.tls())
    return client.member_list()["members"]


def test_learner_lifecycle(run_module, etcd_single_disposable, etcd_version):
    cluster = etcd_single_disposable
    first = cluster.members[0]
    new = new_member(cluster, "learner")
    add = tls_args(cluster, name="learner", peer_urls=[new.peer_url], learner=True)

    # check mode: reports the addition, adds nothing
    result = run_module(etcd_member, dict(add, _ansible_check_mode=True, _ansible_diff=True))
    assert result["changed"] is True and result["member"]["id"] is None, result
    assert len(truth(cluster)) == 1 and len(result["diff"]["after"]["members"]) == 2

    result = run_module(etcd_member, add)
    assert result["changed"] is True and result["failed"] is False, result
    member = result["member"]
    assert member["is_learner"] is True and member["peer_urls"] == [new.peer_url]
    assert member["name"] == "learner"
    listed = {format_id(m["id"]): m for m in truth(cluster)}
    assert listed[member["id"]]["is_learner"] is True and listed[member["id"]]["name"] == ""  # not started
    assert len(result["members"]) == 2 and result["actions"]

    again = run_module(etcd_member, add)
    assert again["changed"] is False and again["member"]["id"] == member["id"], again

    # the peer URLs of an existing member under another name: a clear error, nothing added
    clash = run_module(etcd_member, tls_args(cluster, name="other", peer_urls=[first.peer_url]))
    assert clash["failed"] is True and "already belong to member etcd-0" in clash["msg"], clash
    assert len(truth(cluster)) == 2

    # a learner that is not running cannot catch up: promotion gives up at wait_timeout
    stuck = run_module(etcd_member, tls_args(cluster, state="promoted", id=member["id"], wait_timeout=1))
    assert stuck["failed"] is True and "did not catch up" in stuck["msg"], stuck

    early = run_module(etcd_member, tls_args(cluster, state="promoted", name="learner"))
    assert early["failed"] is True and f"select them by id or peer_urls: {member['id']}" in early["msg"]
    launch(cluster, new, f"{first.name}={first.peer_url},learner={new.peer_url}", state="existing")
    deadline = time.monotonic() + 15  # the learner publishes its name once it has joined
    while not any(m["name"] == "learner" for m in truth(cluster)) and time.monotonic() < deadline:
        time.sleep(0.1)
    promote = tls_args(cluster, state="promoted", name="learner")
    result = run_module(etcd_member, dict(promote, _ansible_check_mode=True))
    assert result["changed"] is True and result["member"]["is_learner"] is False, result
    assert {format_id(m["id"]): m for m in truth(cluster)}[member["id"]]["is_learner"] is True

    result = run_module(etcd_member, promote)
    assert result["changed"] is True and result["failed"] is False, result
    assert result["member"] == {"id": member["id"], "name": "learner", "peer_urls": [new.peer_url],
                                "is_learner": False}
    assert not any(m["is_learner"] for m in truth(cluster, new))  # as the new member sees it
    cluster.wait_ready()
    assert run_module(etcd_member, promote)["changed"] is False

    # remove by name (two healthy voters: one is left, which is a quorum of one)
    remove = tls_args(cluster, state="absent", name="learner")
    result = run_module(etcd_member, dict(remove, _ansible_check_mode=True))
    assert result["changed"] is True and len(truth(cluster)) == 2, result
    result = run_module(etcd_member, remove)
    assert result["changed"] is True and result["failed"] is False, result
    assert [m["name"] for m in truth(cluster)] == ["etcd-0"]
    assert [m["name"] for m in result["members"]] == ["etcd-0"]
    assert run_module(etcd_member, remove)["changed"] is False

    # the last voting member is not removed without force
    last = run_module(etcd_member, tls_args(cluster, state="absent", name="etcd-0"))
    assert last["failed"] is True and "last voting member" in last["msg"], last
    assert len(truth(cluster)) == 1


def test_remove_refused_when_quorum_would_break(run_module, etcd_trio_disposable):
    cluster = etcd_trio_disposable
    m0, m1, m2 = cluster.members
    m2.stop()

    # 3 voters, m2 down: removing healthy m1 would leave m0 + dead m2, one healthy of two
    refused = run_module(etcd_member, tls_args(cluster, state="absent", name=m1.name))
    assert refused["failed"] is True and "would leave 1 healthy of 2" in refused["msg"], refused
    assert m2.name in refused["msg"] and "force=true" in refused["msg"]
    assert len(truth(cluster)) == 3

    # removing the dead member is safe; through m0 the request goes elsewhere when it removes m0 itself
    result = run_module(etcd_member, tls_args(cluster, state="absent", name=m2.name))
    assert result["changed"] is True and result["failed"] is False, result
    assert sorted(m["name"] for m in truth(cluster)) == [m0.name, m1.name]

    # bad selectors: clear errors before anything changes
    both = run_module(etcd_member, tls_args(cluster, state="absent", name=m0.name, peer_urls=[m1.peer_url]))
    assert both["failed"] is True and "select different members" in both["msg"], both
    bad = run_module(etcd_member, tls_args(cluster, state="absent", id="xyz"))
    assert bad["failed"] is True and "hexadecimal" in bad["msg"]
    assert len(truth(cluster)) == 2


@pytest.mark.parametrize("args, needle", [
    ({"state": "present"}, "peer_urls"),
    ({"state": "absent"}, "name, id, peer_urls"),
    ({"state": "promoted", "peer_urls": ["https://127.0.0.1:1"], "id": "1"}, "no member matches"),
])
def test_argument_errors(run_module, etcd_single, args, needle):
    result = run_module(etcd_member, tls_args(etcd_single, **args))
    assert result["failed"] is True and needle in result["msg"], result
