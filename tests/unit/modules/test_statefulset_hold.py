"""statefulset_hold: the hold and release rules against a stand-in kubectl (fake_kubectl: one StatefulSet
and its pods, scaled, annotated and deleted as the API server and the StatefulSet controller would)."""

from __future__ import annotations

import pytest
from ansible_collections.kubedr.kubeadm.plugins.modules import statefulset_hold
from fake_kubectl import FakeKubectl

ANNOTATION = "kubedr.io/replicas-before-scale"


@pytest.fixture
def kube(tmp_path):
    return FakeKubectl(tmp_path)


def run(run_module, kube, **extra):
    return run_module(statefulset_hold, {"name": "data", "namespace": "apps", "kubectl_path": str(kube.path),
                                         "kubeconfig": "/nonexistent/admin.conf", **extra})


def sts(kube):
    return kube.state["sts"]


def test_hold_remembers_scales_to_zero_and_deletes_the_pods_then_a_rerun_changes_nothing(run_module, kube):
    result = run(run_module, kube)
    assert result["changed"] and result["replicas"] == 3 and result["found"]
    assert result["pods_deleted"] == ["data-0", "data-1", "data-2"]
    assert sts(kube)["spec"]["replicas"] == 0 and sts(kube)["metadata"]["annotations"] == {ANNOTATION: "3"}
    assert kube.pods() == []
    kube.update(calls=[])
    again = run(run_module, kube)
    assert not again["changed"] and again["replicas"] == 3 and again["pods_deleted"] == []
    assert kube.changes() == []


def test_hold_deletes_pods_an_ordered_scale_down_stops_at(run_module, kube):
    state = kube.state
    state["pods"][2]["ready"] = False  # OrderedReady: the controller stops at a pod that is not Ready
    kube.state = state
    result = run(run_module, kube)
    assert result["pods_deleted"] == ["data-0", "data-1", "data-2"] and kube.pods() == []


def test_an_interrupted_hold_keeps_the_remembered_replicas(run_module, kube):
    state = kube.state
    state["sts"]["metadata"]["annotations"] = {ANNOTATION: "3"}
    state["sts"]["spec"]["replicas"] = 0
    state["pods"] = [{"name": "data-2", "ready": False}]  # left over by the interrupted run
    kube.state = state
    result = run(run_module, kube)
    assert result["replicas"] == 3 and result["pods_deleted"] == ["data-2"]
    assert sts(kube)["metadata"]["annotations"] == {ANNOTATION: "3"}
    assert not any(c[0] in ("annotate", "scale") for c in kube.changes())


def test_a_pod_that_stays_terminating_fails_the_wait_naming_it_or_is_left_without_wait(run_module, kube):
    kube.update(terminating=["data-1"])  # on a node whose kubelet is down
    result = run(run_module, kube, wait_timeout=1)
    assert result["failed"] and "data-1" in result["msg"] and "wait_timeout" in result["msg"]
    assert result["replicas"] == 3 and sts(kube)["spec"]["replicas"] == 0
    result = run(run_module, kube, wait=False)
    assert not result["failed"] and result["pods_deleted"] == ["data-1"]


def test_check_mode_reports_the_change_and_makes_none(run_module, kube):
    before = kube.state
    result = run(run_module, kube, _ansible_check_mode=True)
    assert result["changed"] and result["replicas"] == 3
    after = kube.state
    assert after["sts"]["spec"] == before["sts"]["spec"] and after["pods"] == before["pods"]
    assert kube.changes() == []


@pytest.mark.parametrize("ordered", [False, True])
def test_release_scales_back_waits_for_ready_and_forgets(run_module, kube, ordered):
    run(run_module, kube)
    kube.update(calls=[])
    result = run(run_module, kube, state="released", ordered=ordered)
    assert result["changed"] and result["replicas"] == 3
    assert sts(kube)["spec"]["replicas"] == 3 and ANNOTATION not in sts(kube)["metadata"]["annotations"]
    assert sts(kube)["status"]["readyReplicas"] == 3
    scales = [c[3] for c in kube.changes() if c[0] == "scale"]
    assert scales == (["--replicas=1", "--replicas=2", "--replicas=3"] if ordered else ["--replicas=3"])
    kube.update(calls=[])
    again = run(run_module, kube, state="released")
    assert not again["changed"] and again["replicas"] is None and kube.changes() == []


def test_a_release_that_never_gets_ready_fails_and_keeps_the_annotation(run_module, kube):
    run(run_module, kube)
    kube.update(never_ready=True)
    result = run(run_module, kube, state="released", ordered=True, wait_timeout=1)
    assert result["failed"] and "scaled to 1 of 3" in result["msg"]
    assert "0 of 1 replicas Ready" in result["msg"]
    assert f"annotation {ANNOTATION} still holds 3" in result["msg"]
    assert sts(kube)["metadata"]["annotations"] == {ANNOTATION: "3"}


def test_an_interrupted_release_waits_then_forgets(run_module, kube):
    state = kube.state
    state["sts"]["metadata"]["annotations"] = {ANNOTATION: "3"}  # scaled back, annotation not yet removed
    kube.state = state
    result = run(run_module, kube, state="released", ordered=True)
    assert result["changed"] and not [c for c in kube.changes() if c[0] == "scale"]
    assert ANNOTATION not in sts(kube)["metadata"]["annotations"]


def test_a_missing_statefulset_is_named_or_reported_with_missing_ok(run_module, kube):
    result = run(run_module, kube, name="other")
    assert result["failed"] and "StatefulSet apps/other does not exist" in result["msg"]
    result = run(run_module, kube, name="other", missing_ok=True)
    assert not result["failed"] and not result["found"] and not result["changed"]


def test_a_bad_annotation_and_an_api_that_does_not_answer_are_named(run_module, kube):
    state = kube.state
    state["sts"]["metadata"]["annotations"] = {ANNOTATION: "three"}
    kube.state = state
    result = run(run_module, kube)
    assert result["failed"] and "'three' is not a number of replicas" in result["msg"]
    assert sts(kube)["spec"]["replicas"] == 3  # nothing changed
    kube.update(down=True)
    result = run(run_module, kube)
    assert result["failed"] and "cannot read StatefulSet apps/data" in result["msg"]
    assert "refused" in result["msg"]
