"""etcd_membership and the etcd_restore_membership filter (issue 12, case 9): an etcd restore must cover
every member of the cluster's etcd membership, or a left-out quorum serves the old cluster beside the
restored one. The membership: the running member list when etcd answers; else the backup set's manifest
(of this very snapshot) and every play host's etcd.yaml --initial-cluster."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.kubedr.kubeadm.plugins.filter.etcd_restore_membership import etcd_restore_membership
from ansible_collections.kubedr.kubeadm.plugins.module_utils import etcd_membership as m
from etcd_manifests import kubeadm_manifest

SHA = "ab" * 32
PEER = {f"cp{i}": f"https://10.0.0.1{i}:2380" for i in (1, 2, 3)}


def etcd_yaml(name: str, *initial: str) -> str:
    """etcd.yaml as kubeadm writes it on `name`: --initial-cluster lists the members known when it joined."""
    text = kubeadm_manifest("https://127.0.0.1:2379", name=name, address=PEER[name].split("//")[1][:-5])
    entry = f"--initial-cluster={name}={PEER[name]}"
    assert entry in text
    return text.replace(entry, "--initial-cluster=" + ",".join(f"{n}={PEER[n]}" for n in initial))


# kubeadm init on cp1, then cp2 and cp3 joined in that order
YAML = {
    "cp1": etcd_yaml("cp1", "cp1"),
    "cp2": etcd_yaml("cp2", "cp1", "cp2"),
    "cp3": etcd_yaml("cp3", "cp1", "cp2", "cp3"),
}


def backup(names=("cp1", "cp2", "cp3"), sha=SHA) -> dict:
    return {
        "format": 1,
        "kind": "kubedr.kubeadm/etcd-backup",
        "snapshot": {"sha256": sha},
        "members": [
            {"name": n, "id": str(i), "peer_urls": [PEER[n]], "client_urls": [], "is_learner": False}
            for i, n in enumerate(names)
        ],
    }


def test_initial_cluster_parsed_in_order_with_several_peer_urls():
    parsed = m.parse_initial_cluster(
        "b=https://10.0.0.2:2380, a=https://10.0.0.1:2380,a=https://[fd00::1]:2380,"
    )
    assert parsed == {
        "b": ["https://10.0.0.2:2380"],
        "a": ["https://10.0.0.1:2380", "https://[fd00::1]:2380"],
    }
    assert list(parsed) == ["b", "a"]
    assert m.parse_initial_cluster("") == {}
    for wrong in ("cp1", "=https://x:2380", "cp1=10.0.0.1:2380"):
        with pytest.raises(m.MembershipError, match="name=peerURL"):
            m.parse_initial_cluster(wrong)


def test_kubeadm_manifest_read():
    found = m.etcd_manifest_members(YAML["cp3"])
    assert found["name"] == "cp3" and found["problem"] is None
    assert list(found["initial_cluster"]) == ["cp1", "cp2", "cp3"]
    assert found["advertise_client_urls"] == ["https://10.0.0.13:2379"]
    assert m.etcd_manifest_members("apiVersion: v1\nkind: Pod\n")["problem"] == "no etcd command line in it"
    broken = m.etcd_manifest_members(YAML["cp1"].replace(f"cp1={PEER['cp1']}", "cp1"))
    assert "--initial-cluster cannot be read" in broken["problem"] and broken["initial_cluster"] == {}


def test_limit_while_etcd_is_down_is_refused_naming_the_member_and_the_override():
    """--limit cp1,cp2 with etcd down: cp1's and cp2's etcd.yaml never heard of cp3 (it joined later);
    the backup's manifest names it."""
    got = m.restore_membership(
        {"cp1": "cp1", "cp2": "cp2"},
        [],
        {h: YAML[h] for h in ("cp1", "cp2")},
        backup(),
        SHA,
        "backup set 20261201T070437Z-r653",
    )
    assert got["basis"] == "recorded" and got["missing"] == ["cp3"] and got["extra"] == []
    assert got["sources"]["cp3"] == ["the manifest of backup set 20261201T070437Z-r653"]
    problem = got["problem"]
    assert problem.startswith("Refused, nothing touched")
    assert (
        "cp3 (https://10.0.0.13:2380), named by the manifest of backup set 20261201T070437Z-r653" in problem
    )
    assert "etcd_restore_allow_subset=true" in problem and "split brain" in problem
    assert "lost for good and will be replaced afterwards" in problem and "replace_member" in problem
    assert "--limit" in problem


def test_without_a_manifest_the_initial_cluster_of_a_later_joiner_names_the_others():
    got = m.restore_membership({"cp2": "cp2", "cp3": "cp3"}, None, {h: YAML[h] for h in ("cp2", "cp3")})
    assert got["missing"] == ["cp1"]
    assert got["sources"]["cp1"] == ["cp2's etcd.yaml --initial-cluster", "cp3's etcd.yaml --initial-cluster"]
    assert (
        "named by cp2's etcd.yaml --initial-cluster and cp3's etcd.yaml --initial-cluster" in got["problem"]
    )


def test_the_whole_membership_passes():
    got = m.restore_membership({h: h for h in YAML}, [], YAML, backup(), SHA)
    assert got["problem"] is None and got["missing"] == [] and got["members"] == ["cp1", "cp2", "cp3"]
    assert "every etcd member (cp1, cp2, cp3" in got["summary"]


def test_a_manifest_of_another_snapshot_or_not_a_backup_manifest_is_not_used():
    got = m.restore_membership(
        {"cp1": "cp1", "cp2": "cp2"}, [], {h: YAML[h] for h in ("cp1", "cp2")}, backup(sha="cd" * 32), SHA
    )
    assert got["problem"] is None and got["members"] == ["cp1", "cp2"]
    assert any("of another snapshot (sha256 cdcdcdcdcdcdcdcd" in n for n in got["notes"])
    other = m.restore_membership({"cp1": "cp1"}, [], {"cp1": YAML["cp1"]}, {"members": [{"name": "x"}]}, SHA)
    assert other["problem"] is None and any("not a kubedr backup manifest" in n for n in other["notes"])


def test_the_running_member_list_decides_when_etcd_answers():
    """The lifecycle case: a rebuild with cp1 dead left cp2 and cp3; a backup from before it names cp1 too."""
    rebuilt = {"cp2": etcd_yaml("cp2", "cp2"), "cp3": etcd_yaml("cp3", "cp2", "cp3")}
    got = m.restore_membership({"cp2": "cp2", "cp3": "cp3"}, ["cp3", "cp2"], rebuilt, backup(), SHA)
    assert got["basis"] == "running" and got["problem"] is None and got["members"] == ["cp2", "cp3"]
    assert any(
        n.startswith("cp1 named by the manifest of the backup set") and "not required" in n
        for n in got["notes"]
    )


def test_running_cluster_with_a_member_left_out_is_refused_with_the_override():
    """cp3 is dead for good but still in the member list: the restore on cp1 and cp2 needs the override."""
    got = m.restore_membership(
        {"cp1": "cp1", "cp2": "cp2"}, ["cp1", "cp2", "cp3"], {h: YAML[h] for h in ("cp1", "cp2")}
    )
    assert got["missing"] == ["cp3"] and got["extra"] == []
    assert "the running etcd cluster's member list" in got["sources"]["cp3"]
    assert "etcd_restore_allow_subset=true" in got["problem"]


def test_a_play_host_the_running_cluster_does_not_have_is_refused_without_override():
    got = m.restore_membership({"cp1": "cp1", "cp2": "cp2", "cp4": "cp4"}, ["cp1", "cp2"])
    assert got["extra"] == ["cp4"]
    assert "cp4 (cp4) is not a member" in got["problem"]
    assert "etcd_restore_allow_subset does not cover this" in got["problem"]


def test_a_learner_never_started_is_not_a_member_to_restore():
    manifest = backup(("cp1", "cp2"))
    manifest["members"].append(
        {"name": "", "id": "9", "peer_urls": ["https://10.0.0.14:2380"], "is_learner": True}
    )
    got = m.restore_membership({"cp1": "cp1", "cp2": "cp2"}, ["cp1", "cp2", ""], {}, manifest, SHA)
    assert got["problem"] is None and got["members"] == ["cp1", "cp2"]


def test_filter_checks_its_input_and_returns_the_decision():
    with pytest.raises(AnsibleFilterError, match="play host: etcd member name"):
        etcd_restore_membership(["cp1"])
    with pytest.raises(AnsibleFilterError, match="etcd_manifests is"):
        etcd_restore_membership({"cp1": "cp1"}, [], ["text"])
    with pytest.raises(AnsibleFilterError, match="backup_manifest is"):
        etcd_restore_membership({"cp1": "cp1"}, [], {}, ["text"])
    got = etcd_restore_membership(
        {"cp2": "cp2", "cp3": "cp3"}, None, {h: YAML[h] for h in ("cp2", "cp3")}, None, ""
    )
    assert got["missing"] == ["cp1"]
    # the manifest as the role passes it: its text (read on the controller, or slurped from a host)
    text = json.dumps(backup())
    got = etcd_restore_membership({"cp1": "cp1", "cp2": "cp2"}, [], {}, text, SHA)
    assert got["missing"] == ["cp3"]
    assert etcd_restore_membership({"cp1": "cp1"}, [], {}, "", SHA)["problem"] is None
    broken = etcd_restore_membership({"cp1": "cp1"}, [], {}, "{not json", SHA)
    assert broken["problem"] is None and broken["notes"][0].startswith(
        "the manifest.json beside the snapshot is not JSON"
    )
