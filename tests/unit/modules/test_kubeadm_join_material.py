"""kubeadm_join_material against a stand-in kubectl (the kubeadm-config ConfigMap, or an API server that
does not answer) and a stand-in kubeadm that logs its calls and the config file it is given."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from ansible_collections.kubedr.kubeadm.plugins.modules import kubeadm_join_material

CLUSTER_CONFIGURATION = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nclusterName: lab\n"
HASH = "sha256:" + "ab" * 32
TOKEN = "abcdef.0123456789abcdef"


@pytest.fixture
def host(tmp_path, monkeypatch):
    configmap = {"data": {"ClusterConfiguration": CLUSTER_CONFIGURATION}}
    (tmp_path / "configmap.json").write_text(json.dumps(configmap))
    (tmp_path / "admin.conf").write_text("apiVersion: v1\n")
    for name, body in {
        "kubectl": f"""
            import pathlib, sys
            root = pathlib.Path({str(tmp_path)!r})
            if (root / "down").exists():
                sys.exit("The connection to the server 127.0.0.1:6443 was refused")
            assert "kubeadm-config" in sys.argv and "kube-system" in sys.argv, sys.argv
            print((root / "configmap.json").read_text())
            """,
        "kubeadm": f"""
            import json, pathlib, sys
            root = pathlib.Path({str(tmp_path)!r})
            config = pathlib.Path(sys.argv[sys.argv.index("--config") + 1]).read_text()
            with open(root / "kubeadm.log", "a") as log:
                log.write(json.dumps({{"argv": sys.argv[1:], "config": config}}) + "\\n")
            if sys.argv[1:3] == ["token", "create"]:
                print("kubeadm join 198.18.19.10:6443 --token {TOKEN}",
                      "--discovery-token-ca-cert-hash {HASH} ")
            """,
    }.items():
        script = tmp_path / name
        script.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    return tmp_path


def run(run_module, host, **args):
    return run_module(kubeadm_join_material, {"kubeconfig": str(host / "admin.conf"),
                                              "advertise_address": "198.18.19.11", **args})


def calls(host):
    log = host / "kubeadm.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_control_plane_material_uploads_certs_then_creates_a_marked_token(run_module, host):
    result = run(run_module, host, control_plane=True, ttl="10m", description="kubedr test run")
    assert result["changed"] and result["endpoint"] == "198.18.19.10:6443"
    assert result["token"] == TOKEN and result["token_id"] == "abcdef" and result["ca_cert_hash"] == HASH
    assert len(result["certificate_key"]) == 64
    assert result["api_version"] == "kubeadm.k8s.io/v1beta4"  # the ConfigMap's, for kubeadm_join
    upload, create = calls(host)
    assert upload["argv"][:3] == ["init", "phase", "upload-certs"]
    assert create["argv"][:2] == ["token", "create"]
    for call in (upload, create):  # the cluster's own configuration, this host's address, the token's marks
        assert "clusterName: lab" in call["config"] and "198.18.19.11" in call["config"]
        assert "kubedr test run" in call["config"] and "10m" in call["config"]
        assert result["certificate_key"] in call["config"]


def test_a_worker_needs_no_certificate_key_and_check_mode_makes_nothing(run_module, host):
    result = run(run_module, host)
    assert result["certificate_key"] == "" and [c["argv"][:2] for c in calls(host)] == [["token", "create"]]
    result = run(run_module, host, _ansible_check_mode=True)
    assert result["changed"] and result["token"] == "" and len(calls(host)) == 1


def test_an_api_that_does_not_answer_is_named_and_nothing_is_created(run_module, host):
    (host / "down").write_text("")
    result = run(run_module, host)
    assert result["failed"]
    assert result["msg"].startswith("reading the kubeadm-config ConfigMap failed: kubectl")
    assert "refused" in result["msg"] and "/readyz" in result["msg"] and calls(host) == []
