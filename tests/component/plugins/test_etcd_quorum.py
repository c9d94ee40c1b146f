"""etcd_quorum and the etcd_quorum_probe_plan / etcd_quorum_verdict filters (issue 12, case 9): before a
full rebuild, any old etcd member that still answers with a leader refuses it; nothing answering (refused,
timed out, no route) lets it go on; a probe that cannot run or cannot tell refuses unless overridden.
The verdicts are checked on plain data and on etcd_cluster_info's real results against TLS etcd 3.5/3.6."""

from __future__ import annotations

import base64
import socket
import time

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.kubedr.kubeadm.plugins.filter.etcd_quorum_probe_plan import etcd_quorum_probe_plan
from ansible_collections.kubedr.kubeadm.plugins.filter.etcd_quorum_verdict import etcd_quorum_verdict
from ansible_collections.kubedr.kubeadm.plugins.module_utils import etcd_quorum as q
from ansible_collections.kubedr.kubeadm.plugins.modules import etcd_cluster_info
from etcd_fixtures import EtcdCluster, free_ports
from etcd_manifests import kubeadm_manifest

from lab import pki

REFUSED = (
    "etcd at https://10.0.0.12:2379 (/v3/maintenance/status): connection refused: is etcd running on"
    " 10.0.0.12:2379?"
)
TIMED_OUT = (
    "etcd at https://10.0.0.11:2379 (/v3/maintenance/status): no answer within 3s: is the member up"
    " and reachable?"
)
NO_ROUTE = "etcd at https://10.0.0.13:2379 (/v3/maintenance/status): OSError: [Errno 113] No route to host"
TLS = (
    "etcd at https://10.0.0.13:2379 (/v3/maintenance/status): TLS failure, server certificate not trusted by"
    " ca_cert /x/ca.crt: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: check ca/cert/key paths"
)


def pki_dir(tmp_path, *pairs: str, ca: bool = True):
    root = tmp_path / "pki"
    (root / "etcd").mkdir(parents=True)
    if ca:
        (root / "etcd/ca.crt").write_text("ca")
    for pair in pairs:
        for suffix in (".crt", ".key"):
            (root / (pair + suffix)).write_text(pair)
    return str(root)


def plan_for(urls, root) -> dict:
    return q.probe_plan(urls=urls, pki_dir=root)


def none_answered(*errors: str) -> dict:
    urls = [e.split()[2] for e in errors]
    return {"failed": True, "msg": f"no etcd endpoint answered ({', '.join(urls)}): {'; '.join(errors)}"}


# --- the plan -----------------------------------------------------------------------------------------


def test_plan_takes_the_manifest_the_etcd_yaml_and_the_inventory_without_loopback(tmp_path):
    manifest = {
        "members": [
            {"name": "cp1", "client_urls": ["https://10.0.0.11:2379"]},
            {"name": "cp2", "client_urls": ["https://10.0.0.12:2379", "https://127.0.0.1:2379"]},
        ]
    }
    yaml_cp3 = kubeadm_manifest(
        "https://127.0.0.1:2379,https://10.0.0.13:2379", name="cp3", address="10.0.0.13"
    )
    yaml_cp3 = yaml_cp3.replace(
        "--initial-cluster=cp3=https://10.0.0.13:2380",
        "--initial-cluster=cp1=https://10.0.0.11:2380,cp4=https://10.0.0.14:2380,cp3=https://10.0.0.13:2380",
    )
    slurped = {"content": base64.b64encode(yaml_cp3.encode()).decode(), "encoding": "base64"}
    plan = etcd_quorum_probe_plan(
        manifest,
        {"cp3": slurped, "cp2": {"failed": True, "msg": "not found"}},
        {"cp1": "10.0.0.11", "cp5": None},
        [],
        pki_dir(tmp_path, "etcd/healthcheck-client"),
    )
    assert plan["problem"] is None
    assert plan["urls"] == [
        "https://10.0.0.11:2379",
        "https://10.0.0.12:2379",
        "https://10.0.0.13:2379",
        "https://10.0.0.14:2379",
        "https://cp5:2379",
    ]
    assert plan["labels"]["https://10.0.0.11:2379"] == [
        "member cp1 in the backup set's manifest",
        "member cp1 in cp3's etcd.yaml --initial-cluster",
        "cp1's inventory address",
    ]
    assert plan["labels"]["https://10.0.0.13:2379"] == [
        "cp3's etcd.yaml",
        "member cp3 in cp3's etcd.yaml --initial-cluster",
    ]
    assert plan["client_cert"].endswith("pki/etcd/healthcheck-client.crt")
    assert plan["ca_cert"].endswith("pki/etcd/ca.crt")


def test_plan_with_urls_given_takes_only_those(tmp_path):
    plan = etcd_quorum_probe_plan(
        {"members": [{"name": "cp1", "client_urls": ["https://10.0.0.11:2379"]}]},
        {},
        {"cp1": "10.0.0.11"},
        ["https://127.0.0.1:32379", "http://x:1", "https://127.0.0.1:32379"],
        pki_dir(tmp_path, "apiserver-etcd-client"),
    )
    assert plan["urls"] == ["https://127.0.0.1:32379"]
    assert plan["labels"] == {"https://127.0.0.1:32379": ["control_plane_rebuild_quorum_probe_urls"]}
    assert plan["client_cert"].endswith("pki/apiserver-etcd-client.crt")  # the fallback pair


def test_plan_says_why_the_probe_cannot_run(tmp_path):
    urls = ["https://10.0.0.11:2379"]
    assert (
        "no config/pki/etcd/ca.crt"
        in plan_for(urls, pki_dir(tmp_path / "a", "etcd/healthcheck-client", ca=False))["problem"]
    )
    assert "no etcd client certificate and key" in plan_for(urls, pki_dir(tmp_path / "b"))["problem"]
    assert (
        "control_plane_rebuild_quorum_probe_urls"
        in plan_for([], pki_dir(tmp_path / "c", "etcd/healthcheck-client"))["problem"]
    )
    assert "no config/pki/etcd/ca.crt" in plan_for(urls, "")["problem"]
    with pytest.raises(AnsibleFilterError):
        etcd_quorum_probe_plan("manifest")
    with pytest.raises(AnsibleFilterError):
        etcd_quorum_probe_plan({}, [], {})


# --- the verdict on plain data --------------------------------------------------------------------------


def test_errors_that_mean_down_and_those_that_cannot_tell():
    for error in (REFUSED, TIMED_OUT, NO_ROUTE, "member has not started yet (it advertises no client URLs)"):
        assert q.classify(error.split("): ", 1)[-1]) == "down", error
    for error in (
        TLS,
        "etcd at https://x:2379 (/v3/maintenance/status): HTTP 404 with a non-JSON body b'x'",
        "https://x:2379 belongs to another etcd cluster (1, not 2)",
        "ConnectionResetError: reset",
    ):
        assert q.classify(error) == "unclear", error


def test_nothing_answering_lets_the_rebuild_go_on(tmp_path):
    plan = plan_for(
        ["https://10.0.0.11:2379", "https://10.0.0.12:2379", "https://10.0.0.13:2379"],
        pki_dir(tmp_path, "etcd/healthcheck-client"),
    )
    # cp1 (10.0.0.11) dead: its URL timed out; cp2 and cp3 answer over SSH, wiped: nothing listens
    got = etcd_quorum_verdict(
        none_answered(TIMED_OUT, REFUSED, NO_ROUTE), plan, {"cp2": "10.0.0.12", "cp3": "10.0.0.13"}, False
    )
    assert got["verdict"] == "down" and got["again"] is False and len(got["down"]) == 3
    assert got["message"].startswith("no etcd member answers with a leader, the full rebuild may go on")
    assert got["reason"].startswith("down: https://10.0.0.11:2379 (control_plane_rebuild_quorum_probe_urls)")
    # as the role registers it (failed_when: false): failed is false, the message is the same
    registered = dict(none_answered(TIMED_OUT, REFUSED, NO_ROUTE), failed=False, failed_when_result=False)
    assert etcd_quorum_verdict(registered, plan, {"cp2": "10.0.0.12", "cp3": ""}, False) == got
    with pytest.raises(AnsibleFilterError):
        etcd_quorum_verdict({}, plan, "10.0.0.12")


def test_a_timeout_at_a_host_that_answers_ssh_cannot_tell(tmp_path):
    plan = plan_for(["https://10.0.0.11:2379"], pki_dir(tmp_path, "etcd/healthcheck-client"))
    got = etcd_quorum_verdict(none_answered(TIMED_OUT), plan, {"cp1": None, "10.0.0.11": None})
    assert got["verdict"] == "unknown"
    assert got["reason"].startswith("the quorum check ran but cannot tell") and "Refused" not in got["reason"]
    assert "drops the controller's packets" in got["message"]
    assert "cannot tell for https://10.0.0.11:2379" in got["message"]
    assert "control_plane_rebuild_allow_quorum_unknown=true" in got["message"]


def test_what_cannot_be_judged_or_run_refuses_with_the_override_named(tmp_path):
    plan = plan_for(["https://10.0.0.13:2379"], pki_dir(tmp_path, "etcd/healthcheck-client"))
    tls = q.quorum_verdict(none_answered(TLS), plan)
    assert tls["verdict"] == "unknown" and "the quorum check ran but cannot tell" in tls["message"]
    assert "TLS failure" in tls["message"]
    failed = q.quorum_verdict({"failed": True, "msg": "cannot load TLS files (ca x): bad"}, plan)
    assert (
        failed["verdict"] == "unknown" and "cannot run at all: etcd_cluster_info failed" in failed["message"]
    )
    noplan = q.quorum_verdict({"skipped": True}, plan_for([], ""))
    assert noplan["verdict"] == "unknown" and "cannot run at all: the backup set has no" in noplan["message"]
    for got in (tls, failed, noplan):
        assert "control_plane_rebuild_allow_quorum_unknown=true" in got["message"]
        assert "never a member that answers with a leader" in got["message"]


def member(name, healthy=False, endpoint=None, error=None, urls=None):
    return {
        "name": name,
        "id": name,
        "healthy": healthy,
        "endpoint": endpoint,
        "error": error,
        "client_urls": urls or [f"https://{name}:2379"],
    }


def test_a_member_answering_with_a_leader_refuses_without_override(tmp_path):
    plan = plan_for(["https://cp2:2379", "https://cp1:2379"], pki_dir(tmp_path, "etcd/healthcheck-client"))
    result = {
        "cluster": {
            "cluster_id": "c0ffee",
            "leader": {"name": "cp3"},
            "members": [
                member("cp1", error=TIMED_OUT.replace("10.0.0.11", "cp1")),
                member("cp2", True, "https://cp2:2379"),
                member("cp3", True, "https://cp3:2379"),
            ],
        }
    }
    got = q.quorum_verdict(result, plan, final=False)
    assert got["verdict"] == "quorum" and got["again"] is False
    message = got["message"]
    assert message.startswith(
        "Refused, nothing touched: member cp2 (https://cp2:2379), member cp3 (https://cp3:2379)"
        " answer with a leader (leader cp3, etcd cluster c0ffee of members cp1, cp2, cp3)"
    )
    assert got["healthy"] == ["member cp2 (https://cp2:2379)", "member cp3 (https://cp3:2379)"]
    assert (
        "replace_member" in message and "playbooks/restore_etcd.yml" in message and "split brain" in message
    )
    assert "control_plane_rebuild_allow_quorum_unknown does not override" in message
    assert "down: member cp1 at https://cp1:2379" in message


def test_a_member_without_a_leader_is_asked_again_then_counts_as_no_quorum(tmp_path):
    plan = plan_for(["https://cp1:2379", "https://cp2:2379"], pki_dir(tmp_path, "etcd/healthcheck-client"))
    result = {
        "cluster": {
            "cluster_id": "c0ffee",
            "leader": None,
            "members": [
                member("cp1", endpoint="https://cp1:2379", error="answered but has no leader"),
                member("cp2", error=REFUSED.replace("10.0.0.12", "cp2")),
            ],
        }
    }
    first = q.quorum_verdict(result, plan, final=False)
    assert first["verdict"] == "down" and first["again"] is True and first["urls"] == plan["urls"]
    last = q.quorum_verdict(result, plan, final=True)
    assert last["verdict"] == "down" and last["again"] is False
    assert "without a leader (no quorum): member cp1 (https://cp1:2379)" in last["message"]


def test_members_not_probed_are_probed_on_the_second_round(tmp_path):
    plan = plan_for(["https://cp1:2379"], pki_dir(tmp_path, "etcd/healthcheck-client"))
    result = {
        "cluster": {
            "cluster_id": "c0ffee",
            "leader": None,
            "members": [
                member("cp1", endpoint="https://cp1:2379", error="answered but has no leader"),
                member("cp9", error=q._NOT_QUERIED, urls=["https://10.9.9.9:2379"]),
            ],
        }
    }
    first = q.quorum_verdict(result, plan, final=False)
    assert first["again"] is True and first["urls"] == ["https://cp1:2379", "https://10.9.9.9:2379"]
    last = q.quorum_verdict(result, plan, final=True)
    assert last["verdict"] == "unknown" and "member cp9: not probed" in last["message"]


# --- against real etcd ------------------------------------------------------------------------------------


def probe(run_module, cluster, urls, timeout=2, root=None):
    root = root or str(cluster.root / "pki")
    plan = q.probe_plan(urls=urls, pki_dir=root)
    assert plan["problem"] is None, plan
    result = run_module(
        etcd_cluster_info,
        {
            "endpoints": plan["urls"],
            "endpoint": plan["urls"][0],
            "ca_cert": plan["ca_cert"],
            "client_cert": plan["client_cert"],
            "client_key": plan["client_key"],
            "timeout": timeout,
        },
    )
    return plan, result


def wait_leaderless(run_module, cluster, urls, seconds=15):
    deadline = time.monotonic() + seconds
    while True:
        plan, result = probe(run_module, cluster, urls)
        members = (result.get("cluster") or {}).get("members") or []
        if members and not any(m["healthy"] for m in members):
            return plan, result
        assert time.monotonic() < deadline, result
        time.sleep(0.5)


def test_real_cluster_healthy_then_leaderless_then_down(run_module, etcd_trio_disposable):
    cluster = etcd_trio_disposable
    refused = f"https://127.0.0.1:{free_ports(1)[0]}"
    urls = [m.client_url for m in cluster.members] + [refused]

    plan, result = probe(run_module, cluster, urls)
    got = q.quorum_verdict(result, plan, ["127.0.0.1"], final=False)
    assert got["verdict"] == "quorum", got
    assert len(got["healthy"]) == 3 and "answers with a leader" in got["message"]

    cluster.members[1].stop()  # one member down: the other two keep quorum
    plan, result = probe(run_module, cluster, urls)
    got = q.quorum_verdict(result, plan, ["127.0.0.1"], final=False)
    assert got["verdict"] == "quorum" and len(got["healthy"]) == 2
    assert any("etcd-1" in d and "connection refused" in d for d in got["down"]), got

    cluster.members[2].stop()  # two down: etcd-0 answers, without a leader once its election timeout passed
    plan, result = wait_leaderless(run_module, cluster, urls)
    first = q.quorum_verdict(result, plan, ["127.0.0.1"], final=False)
    assert first["verdict"] == "down" and first["again"] is True
    last = q.quorum_verdict(result, plan, ["127.0.0.1"], final=True)
    assert last["verdict"] == "down" and last["no_leader"] == [
        f"member etcd-0 ({cluster.members[0].client_url}) answers without a leader"
    ]

    cluster.members[0].stop()  # nothing answers: the module fails, every URL refused
    plan, result = probe(run_module, cluster, urls)
    assert result["failed"] and result["msg"].startswith("no etcd endpoint answered")
    got = q.quorum_verdict(result, plan, ["127.0.0.1"], final=False)
    assert got["verdict"] == "down" and got["again"] is False and len(got["down"]) == 4, got


def test_real_silent_port_times_out_quickly_and_counts_as_down_unless_the_host_answers_ssh(
    run_module, etcd_trio_disposable
):
    cluster = etcd_trio_disposable
    with socket.socket() as silent:  # accepts the connection (backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"https://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        plan, result = probe(run_module, cluster, [url], timeout=1)
        assert time.monotonic() - started < 5
        assert "no answer within 1s" in result["msg"]
        assert q.quorum_verdict(result, plan, [])["verdict"] == "down"
        assert q.quorum_verdict(result, plan, ["127.0.0.1"])["verdict"] == "unknown"


def test_real_cluster_of_another_ca_cannot_be_judged(run_module, etcd_trio_disposable, tmp_path):
    cluster = etcd_trio_disposable
    other = EtcdCluster(cluster.version, tmp_path)
    pki.write_etcd_member_pki(pki.CertificateAuthority.create(), other.root / "pki", "localhost", "127.0.0.1")
    plan, result = probe(run_module, cluster, [cluster.members[0].client_url], root=str(other.root / "pki"))
    got = q.quorum_verdict(result, plan, [])
    assert got["verdict"] == "unknown" and "TLS" in got["message"], got
