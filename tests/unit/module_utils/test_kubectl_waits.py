"""_kubectl: the readiness predicates (data, read without a cluster) and the one wait loop."""

from __future__ import annotations

from ansible_collections.kubedr.kubeadm.plugins.module_utils._kubectl import (
    CONTROL_PLANE_COMPONENTS,
    control_plane_pods_ready,
    node_ready,
    nodes_ready,
    statefulset_ready,
    wait_for,
)


def test_statefulset_ready_needs_the_new_spec_seen_and_enough_pods_ready():
    sts = {"metadata": {"generation": 4}, "status": {"observedGeneration": 3, "readyReplicas": 3}}
    assert statefulset_ready(sts, 3) == (False, "its controller has not seen the new spec yet")
    sts["status"]["observedGeneration"] = 4
    assert statefulset_ready(sts, 3) == (True, "3 of 3 replicas Ready")
    assert statefulset_ready(sts, 4) == (False, "3 of 4 replicas Ready")
    assert statefulset_ready({"metadata": {"generation": 1}, "status": {"observedGeneration": 1}}, 0)[0]


def test_node_ready_reads_the_ready_condition():
    node = {"metadata": {"name": "w1"}, "status": {"conditions": [
        {"type": "MemoryPressure", "status": "False"},
        {"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]}}
    assert node_ready(node) == (False, "w1 Ready=False (KubeletNotReady)")
    node["status"]["conditions"][1].update(status="True", reason="KubeletReady")
    assert node_ready(node)[0]
    assert node_ready({"metadata": {"name": "w2"}, "status": {}}) == (False, "w2 reports no Ready condition")


class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_for_polls_until_done_and_stops_at_the_timeout_with_the_last_detail():
    clock = Clock()
    answers = iter([(False, "0 of 2"), (False, "1 of 2"), (True, "2 of 2")])
    assert wait_for(lambda: next(answers), 10, 2, clock, clock.sleep) == (True, "2 of 2")
    assert clock.sleeps == [2, 2]
    clock = Clock()
    assert wait_for(lambda: (False, "never"), 5, 2, clock, clock.sleep) == (False, "never")
    assert clock.sleeps == [2, 2, 1] and clock.now == 5  # the last sleep ends at the deadline


def node(name, status="True"):
    return {"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": status}]}}


def test_nodes_ready_wants_every_node_or_each_named_one():
    assert nodes_ready([]) == (False, "the cluster has no Node yet")
    assert nodes_ready([node("cp1"), node("w1")]) == (True, "2 of 2 Nodes Ready")
    assert nodes_ready([node("cp1"), node("w1", "Unknown")]) == (False, "w1 Ready=Unknown ()")
    assert nodes_ready([node("cp1"), node("w1", "False")], ["cp1"]) == (True, "1 of 1 Nodes Ready")
    assert nodes_ready([node("cp1")], ["cp1", "w2"]) == (False, "no Node w2")


def pod(name, phase="Running", ready="True"):
    return {"metadata": {"name": name},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]}}


def test_control_plane_pods_ready_names_each_pod_not_running_and_ready():
    pods = [pod(f"{c}-cp1") for c in CONTROL_PLANE_COMPONENTS]
    assert control_plane_pods_ready(pods, ["cp1"]) == (True, "4 control-plane pods Ready")
    pods[2] = pod("kube-controller-manager-cp1", ready="False")
    pods.append(pod("etcd-cp2", phase="Pending"))
    ready, detail = control_plane_pods_ready(pods, ["cp1", "cp2"])
    assert not ready
    assert detail.startswith("not Running and Ready yet: kube-controller-manager-cp1, etcd-cp2,")
    assert "kube-scheduler-cp2" in detail
