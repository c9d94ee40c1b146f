"""The rebuild's decisions (_rebuild_plan), every rule as data: the request, the probes, the backup set,
the worker the PVs come back through, the choice of first host and joiners, the PV plan."""

from __future__ import annotations

import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils import _rebuild_plan as plan
from rebuild_fixtures import probe, snap, write_set

HOSTS = ["cp1", "cp2", "cp3"]
READY = {
    "kubeadm": "v1.36.3",
    "kubelet": "v1.36.3",
    "etcdutl": "3.6.5",
    "cri": True,
    "cri_socket": "/run/containerd/containerd.sock",
    "markers": [],
    "joined": False,
}


@pytest.mark.parametrize(
    ("mode", "confirm", "replace", "expected"),
    [
        ("full", "rebuild lab", "", []),
        ("replace_member", "replace cp2 in lab", "cp2", []),
        (
            "full",
            "rebuild lab2",
            "",
            ['set control_plane_rebuild_confirm to "rebuild lab" to let the full go ahead'],
        ),
        ("full", "", "", ['set control_plane_rebuild_confirm to "rebuild lab" to let the full go ahead']),
        (
            "replace_member",
            "replace cp9 in lab",
            "cp9",
            ["control_plane_rebuild_replace is 'cp9': set it to one of cp1, cp2, cp3"],
        ),
        (
            "replace_member",
            "rebuild lab",
            "cp2",
            ['set control_plane_rebuild_confirm to "replace cp2 in lab" to let the replace_member go ahead'],
        ),
        (
            "rebuild",
            "rebuild lab",
            "",
            ["control_plane_rebuild_mode is 'rebuild': set it to one of full, replace_member"],
        ),
    ],
)
def test_request(mode, confirm, replace, expected):
    assert plan.request_problems(mode, confirm, "lab", replace, HOSTS) == expected


def test_probe_keeps_this_runs_markers_only():
    state = plan.parse_probe(probe(["full-aaaa/reset", "full-bbbb/init", "full-aaaa/joined"]), "full-aaaa")
    probed = {k: v for k, v in READY.items() if k != "etcdutl"}  # etcdutl comes from etcdutl_binary
    assert state == {**probed, "markers": ["joined", "reset"], "joined": True}


@pytest.mark.parametrize(
    ("markers", "admin_conf", "joined"),
    [
        ([], "yes", False),  # an admin.conf of an earlier life: not joined in this run
        (["r/reset"], "yes", True),  # kubeadm join wrote it after this run's reset, the marker was lost
        (["r/reset"], "no", False),
        (["r/joined"], "no", True),
        (["other/reset"], "yes", False),
    ],
)
def test_joined_in_this_run(markers, admin_conf, joined):
    assert plan.parse_probe(probe(markers, admin_conf), "r")["joined"] is joined


def test_probe_of_a_bare_host():
    state = plan.parse_probe(
        "kubeadm=\nkubelet=\ncri_socket=/run/x.sock\ncri=no\nadmin_conf=no\n", "r"
    )
    assert state == {
        "kubeadm": "",
        "kubelet": "",
        "cri": False,
        "cri_socket": "/run/x.sock",
        "markers": [],
        "joined": False,
    }


def test_etcdutl_found_or_why_not():
    states = {h: plan.parse_probe(probe(), "r") for h in HOSTS}
    plan.with_etcdutl(states, {
        "cp1": {"changed": True, "etcdutl": {"version": "3.6.16", "source": "image"}},
        "cp2": {"failed": True, "msg": "no etcdutl for this host (no ctr)"},
        "cp3": {"skipped": True},
        "gone": {"etcdutl": {"version": "3.6.16"}},
    })
    assert states["cp1"]["etcdutl"] == "3.6.16" and "etcdutl" not in states["cp3"] and "gone" not in states
    assert plan.host_problems(states, "v1.36.3", "full") == [
        "cp2: no etcdutl to restore the snapshot with (no etcdutl for this host (no ctr))",
        "cp3: no etcdutl to restore the snapshot with",
    ]


def test_hosts_ready():
    assert plan.host_problems({"cp1": READY, "cp2": READY}, "v1.36.3", "full") == []


def test_every_host_problem_is_listed():
    states = {
        "cp1": {**READY, "kubeadm": "", "kubelet": "v1.35.0"},
        "cp2": {**READY, "kubeadm": "v1.35.0", "kubelet": "", "cri": False},
        "cp3": {**READY, "etcdutl": ""},
    }
    assert plan.host_problems(states, "v1.36.3", "full") == [
        "cp1: no kubeadm (install the cluster's release v1.36.3)",
        "cp1: the kubelet is v1.35.0, the cluster runs v1.36.3",
        "cp2: kubeadm is v1.35.0, the cluster runs v1.36.3",
        "cp2: no kubelet (install the cluster's release v1.36.3)",
        "cp2: the container runtime socket /run/containerd/containerd.sock is missing (start containerd)",
        "cp3: no etcdutl to restore the snapshot with",
    ]
    # replace_member restores no snapshot; no release known, any version goes
    assert (
        plan.host_problems({"cp3": {**READY, "etcdutl": "", "kubeadm": "v1.35.0"}}, "", "replace_member")
        == []
    )


def test_no_host_answered():
    assert plan.host_problems({}, "v1.36.3", "full") == ["no control-plane host answered"]


@pytest.mark.parametrize(
    ("worker", "expected"),
    [
        ({"name": "w1", "restic_setup": True, "has_password": True, "repository": ""}, ""),
        ({"name": "w1", "restic_setup": False, "has_password": False, "repository": "/srv/r"}, ""),
        ({"name": "", "restic_setup": True}, "no worker in group lab_workers"),
        ({"name": "w1", "restic_setup": True, "has_password": False}, "no restic_password for the workers"),
        ({"name": "w1", "restic_setup": False, "repository": ""}, "give pv_restore_repository and"),
    ],
)
def test_pv_source(worker, expected):
    problems = plan.pv_source_problems("lab_workers", worker)
    assert (problems == []) if not expected else (len(problems) == 1 and expected in problems[0]), problems
    assert all("control_plane_rebuild_restore_pvs=false" in p for p in problems)


def test_full_mode_chooses_the_first_that_answered():
    assert plan.choose_hosts("full", HOSTS, ["cp2", "cp3"]) == ("cp2", ["cp3"], ["cp2", "cp3"], [])
    assert plan.choose_hosts("full", HOSTS, HOSTS, first_host="cp3") == ("cp3", ["cp1", "cp2"], HOSTS, [])


def test_a_first_host_that_did_not_answer_is_refused():
    first, _joiners, _targets, problems = plan.choose_hosts("full", HOSTS, ["cp2", "cp3"], first_host="cp1")
    assert first == "cp2"
    assert problems == [
        "control_plane_rebuild_first_host cp1 did not answer: name one of cp2, cp3 or leave it empty"
    ]
    problems = plan.choose_hosts("full", HOSTS, HOSTS, first_host="cp7")[3]
    assert problems == [
        "control_plane_rebuild_first_host cp7 is not a host of this play: name one of cp1, cp2, cp3 "
        "or leave it empty"
    ]


def test_replace_member_joins_the_replaced_host_through_a_survivor():
    assert plan.choose_hosts("replace_member", HOSTS, HOSTS, replace="cp1") == ("cp2", ["cp1"], ["cp1"], [])
    problems = plan.choose_hosts("replace_member", HOSTS, HOSTS, replace="cp1", first_host="cp1")[3]
    assert problems == [
        "control_plane_rebuild_first_host cp1 is the member being replaced: name one of cp2, cp3 "
        "or leave it empty"
    ]


def test_replace_member_needs_the_replaced_host_and_a_survivor():
    problems = plan.choose_hosts("replace_member", HOSTS, ["cp2", "cp3"], replace="cp1")[3]
    assert problems == ["cp1, the host to replace, did not answer: reinstall it and reach it over SSH"]
    problems = plan.choose_hosts("replace_member", HOSTS, ["cp1"], replace="cp1")[3]
    assert problems == ["no surviving control-plane member answered to join the replaced host through"]


def test_run_id():
    assert plan.run_id("", "full", "0123456789abcdef0123") == "full-0123456789abcdef"
    assert plan.run_id("", "replace_member", replace="cp2") == "replace-cp2"
    assert plan.run_id("again", "full", "0123456789abcdef") == "again"


def test_a_whole_set_of_this_cluster(tmp_path):
    backup, problems = plan.read_set(str(write_set(tmp_path)), "S1", "lab")
    assert problems == []
    assert backup["manifest"]["etcd_cluster_id"] == "9863"
    assert backup["kubernetes_version"] == "v1.36.3"
    # only the ClusterConfiguration document: the InitConfiguration beside it holds a token
    assert backup["cluster_configuration"] == {
        "apiVersion": "kubeadm.k8s.io/v1beta4",
        "kind": "ClusterConfiguration",
        "kubernetesVersion": "v1.36.3",
    }


def test_a_set_lacking_files_lists_each(tmp_path):
    skip = ("config/pki/etcd/ca.key", "etcd/snapshot.db")
    _backup, problems = plan.read_set(str(write_set(tmp_path, skip=skip)), "S1", "lab")
    assert problems == [
        "the backup set S1 lacks etcd/snapshot.db",
        "the backup set S1 lacks config/pki/etcd/ca.key",
    ]


def test_a_set_of_another_cluster_is_refused(tmp_path):
    _backup, problems = plan.read_set(str(write_set(tmp_path, cluster="prod")), "S1", "lab")
    assert len(problems) == 1 and problems[0].startswith(
        "the backup set S1 is of cluster prod (etcd cluster 9863"
    )
    assert "give a set of lab" in problems[0]


def test_a_set_without_a_cluster_configuration_document(tmp_path):
    root = write_set(
        tmp_path,
        configuration="kind: InitConfiguration\nbootstrapTokens:\n- token: abcdef.0123456789abcdef\n",
    )
    backup, problems = plan.read_set(str(root), "S1", "lab")
    assert backup["kubernetes_version"] == ""
    assert len(problems) == 1 and "holds no document(s) of kind: ClusterConfiguration" in problems[0]
    assert "abcdef" not in problems[0]


def test_an_unreadable_manifest(tmp_path):
    root = write_set(tmp_path)
    (root / plan.SET_FILES["manifest"]).write_text("{not json")
    _backup, problems = plan.read_set(str(root), "S1", "lab")
    assert len(problems) == 1 and problems[0].startswith(
        "the backup set S1's etcd/manifest.json cannot be read"
    )


def test_snapshot_verdict():
    assert plan.snapshot_problems(None) == []
    assert plan.snapshot_problems({"valid": True}) == []
    assert plan.snapshot_problems({"valid": False, "problems": ["sha256 mismatch", "short"]}) == [
        "the snapshot does not verify: sha256 mismatch, short"
    ]


def test_pv_plan_groups_pvcs_by_statefulset_with_the_latest_time():
    snapshots = [
        snap("1", "2026-12-01T01:00:00Z"),
        snap("2", "2026-12-01T03:00:00Z", pvc="data-pg-1"),
        snap("3", "2026-12-01T02:00:00Z"),
        snap("4", "2026-12-01T00:00:00Z", "web", "cache", "c-0"),
        {"id": "5", "time": "2026-12-01T04:00:00Z", "tags": ["cluster:lab"]},
    ]
    chosen, missing = plan.pv_plan(snapshots)
    assert chosen == [
        {
            "namespace": "db",
            "statefulset": "pg",
            "pvcs": ["data-pg-0", "data-pg-1"],
            "latest": "2026-12-01T03:00:00Z",
        },
        {"namespace": "web", "statefulset": "cache", "pvcs": ["c-0"], "latest": "2026-12-01T00:00:00Z"},
    ]
    assert missing == []


def test_pv_plan_of_named_statefulsets():
    snapshots = [snap("1", "t1"), snap("2", "t2", "web", "cache", "c-0")]
    chosen, missing = plan.pv_plan(snapshots, ["web/cache", "db/other"])
    assert [s["statefulset"] for s in chosen] == ["cache"] and missing == ["db/other"]
    assert plan.pv_plan([], []) == ([], [])


def test_layout_names_the_set_files():
    layout = plan.set_layout()
    assert layout["snapshot"] == "etcd/snapshot.db" and layout["pki_dir"] == "config/pki"
    assert "etcd/ca.key" in layout["pki"] and not any(name.startswith("apiserver") for name in layout["pki"])
