"""kube_ready: the waits against a stand-in kubectl that answers "not ready" a given number of times, then
from files (readyz, nodes, pods); every call logged."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from ansible_collections.kubedr.kubeadm.plugins.modules import kube_ready


@pytest.fixture
def api(tmp_path, monkeypatch):
    monkeypatch.setattr(kube_ready, "POLL_INTERVAL", 0.05)
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, pathlib, sys
        root = pathlib.Path({str(tmp_path)!r})
        calls = json.loads((root / "calls").read_text()) if (root / "calls").exists() else []
        calls.append(sys.argv[1:])
        (root / "calls").write_text(json.dumps(calls))
        busy = int((root / "busy").read_text()) if (root / "busy").exists() else 0
        if len(calls) <= busy:
            sys.exit("Error from server (ServiceUnavailable): the server is unable to handle the request")
        if "--raw" in sys.argv:
            sys.exit(0 if (root / "readyz").exists() else "readyz check failed: [-]etcd failed")
        print((root / sys.argv[sys.argv.index("get") + 1]).read_text())
        """))
    kubectl.chmod(0o755)

    class Api:
        root = tmp_path

        def write(self, name, value):
            (tmp_path / name).write_text(value if isinstance(value, str) else json.dumps(value))

        def calls(self):
            return json.loads((tmp_path / "calls").read_text())

    return Api()


def run(run_module, api, **args):
    return run_module(kube_ready, {"kubectl_path": str(api.root / "kubectl"), "kubeconfig": "/none", **args})


def node(name, status):
    return {"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": status}]}}


def test_api_waits_through_unavailable_answers_and_asks_the_server_given(run_module, api):
    api.write("busy", "2")
    api.write("readyz", "ok")
    result = run(run_module, api, what="api", server="https://198.18.19.11:6443", wait_timeout=30)
    assert not result["failed"] and not result["changed"] and result["detail"] == "the API server is ready"
    assert len(api.calls()) == 3
    assert all("--server" in c and "https://198.18.19.11:6443" in c for c in api.calls())


def test_api_not_ready_fails_with_the_last_answer(run_module, api):
    result = run(run_module, api, what="api", wait_timeout=1)
    assert result["failed"] and result["msg"].startswith("api not ready after 1 s:")
    assert "[-]etcd failed" in result["msg"] and len(api.calls()) > 1


def test_nodes_named_or_all(run_module, api):
    api.write("nodes", {"items": [node("cp1", "True"), node("w1", "False")]})
    result = run(run_module, api, what="nodes", nodes=["cp1"])
    assert result["detail"] == "1 of 1 Nodes Ready" and result["names"] == ["cp1", "w1"]
    result = run(run_module, api, what="nodes", wait_timeout=1)
    assert result["failed"] and "w1 Ready=False" in result["msg"]


def test_control_plane_pods_need_the_node_names(run_module, api):
    result = run(run_module, api, what="control_plane_pods")
    assert result["failed"] and "nodes" in result["msg"]
    pods = [{"metadata": {"name": f"{c}-cp1"},
             "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
            for c in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")]
    api.write("pods", {"items": pods})
    result = run(run_module, api, what="control_plane_pods", nodes=["cp1"])
    assert result["detail"] == "4 control-plane pods Ready"
    assert "tier=control-plane" in api.calls()[-1] and "kube-system" in api.calls()[-1]


def test_check_mode_looks_once_and_does_not_fail(run_module, api):
    result = run(run_module, api, what="api", wait_timeout=30, _ansible_check_mode=True)
    assert not result["failed"] and result["ready"] is False and len(api.calls()) == 1
