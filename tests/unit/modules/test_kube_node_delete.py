"""kube_node_delete against a stand-in kubectl (fake_kube_objects): named and selected Nodes go, kept ones
stay, a missing one is no error and no change, check mode deletes nothing, an API that does not answer
fails naming it."""

from __future__ import annotations

import pytest
from ansible_collections.kubedr.kubeadm.plugins.modules import kube_node_delete
from fake_kube_objects import FakeKubeObjects

CONTROL_PLANE = {"node-role.kubernetes.io/control-plane": ""}


@pytest.fixture
def kube(tmp_path):
    nodes = [{"kind": "node", "name": n, "labels": CONTROL_PLANE} for n in ("cp1", "cp2", "cp3")]
    nodes += [{"kind": "node", "name": n} for n in ("w1", "w2")]
    return FakeKubeObjects(tmp_path, nodes + [{"kind": "configmap", "name": "cp2", "namespace": "default"}])


def run(run_module, kube, **params):
    return run_module(kube_node_delete, {"kubectl_path": str(kube.path), "kubeconfig": "", **params})


def test_selected_nodes_but_the_kept_ones_go_then_a_rerun_changes_nothing(run_module, kube):
    result = run(run_module, kube, selector="node-role.kubernetes.io/control-plane", keep=["cp1"])
    assert result["changed"] and result["deleted"] == ["cp2", "cp3"]
    assert kube.names("node") == ["cp1", "w1", "w2"] and kube.names("configmap") == ["cp2"]
    again = run(run_module, kube, selector="node-role.kubernetes.io/control-plane", keep=["cp1"])
    assert not again["changed"] and again["deleted"] == []


def test_named_nodes_with_selected_ones_and_a_missing_name(run_module, kube):
    result = run(run_module, kube, names=["w2", "gone"], selector="node-role.kubernetes.io/control-plane",
                 keep=["cp1", "cp2"])
    assert result["deleted"] == ["cp3", "w2"]
    assert kube.names("node") == ["cp1", "cp2", "w1"]


def test_a_node_already_gone_is_no_change(run_module, kube):
    result = run(run_module, kube, names=["w9"])
    assert not result["changed"] and result["deleted"] == []
    assert kube.changes() == []


def test_check_mode_lists_and_deletes_nothing(run_module, kube):
    result = run(run_module, kube, names=["w1"], _ansible_check_mode=True)
    assert result["changed"] and result["deleted"] == ["w1"]
    assert kube.changes() == [] and "w1" in kube.names("node")


def test_an_api_that_does_not_answer_is_named(run_module, kube):
    kube.update(down=True)
    result = run(run_module, kube, names=["w1"])
    assert result["failed"]
    assert result["msg"].startswith("listing the Nodes failed: kubectl get nodes -o json failed (rc 1):")
    assert "127.0.0.1:6443 was refused" in result["msg"]
