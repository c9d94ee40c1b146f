"""kube_object_check against a stand-in kubectl (fake_kube_objects): every object not as expected is named,
an unreadable one apart, bad entries refused; nothing is ever changed."""

from __future__ import annotations

import pytest
from ansible_collections.kubedr.kubeadm.plugins.modules import kube_object_check
from fake_kube_objects import FakeKubeObjects


@pytest.fixture
def kube(tmp_path):
    return FakeKubeObjects(tmp_path, [{"kind": "configmap", "name": "before", "namespace": "default"},
                                      {"kind": "node", "name": "cp1"}])


def run(run_module, kube, **params):
    return run_module(kube_object_check, {"kubectl_path": str(kube.path), "kubeconfig": "", **params})


def cm(name):
    return {"kind": "configmap", "namespace": "default", "name": name}


def test_as_expected(run_module, kube):
    node = {"kind": "node", "name": "cp1"}
    result = run(run_module, kube, present=[cm("before"), node], absent=[cm("after")])
    assert not result["failed"] and not result["changed"] and result["checked"] == 3
    assert result["missing"] == result["unexpected"] == result["unreadable"] == []
    assert kube.changes() == []


def test_every_object_not_as_expected_is_named(run_module, kube):
    node = {"kind": "node", "name": "cp2"}
    result = run(run_module, kube, present=[cm("gone"), node], absent=[cm("before")])
    assert result["failed"]
    assert result["missing"] == ["configmap default/gone", "node cp2"]
    assert result["unexpected"] == ["configmap default/before"]
    assert result["msg"] == ("Kubernetes objects not as expected: expected, not found: configmap "
                             "default/gone, node cp2; found, expected gone: configmap default/before")


def test_an_api_that_does_not_answer_is_not_taken_for_absent(run_module, kube):
    kube.update(down=True)
    result = run(run_module, kube, absent=[cm("after")])
    assert result["failed"] and result["unexpected"] == [] and len(result["unreadable"]) == 1
    expected = "could not be read: configmap default/after: kubectl get configmap after -n default"
    assert expected in result["msg"], result["msg"]


@pytest.mark.parametrize(("entry", "why"), [
    ({"kind": "configmap"}, "names no object: give kind, name and, for a namespaced kind, namespace"),
    ({"name": "x"}, "names no object: give kind, name and, for a namespaced kind, namespace"),
    ({"kind": "configmap", "name": "x", "namespace": 3}, "namespace must be a name"),
])
def test_an_entry_that_names_no_object_is_refused(run_module, kube, entry, why):
    result = run(run_module, kube, present=[entry])
    assert result["failed"] and why in result["msg"], result["msg"]
    assert kube.state["calls"] == []
