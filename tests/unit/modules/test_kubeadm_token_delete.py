"""kubeadm_token_delete against a stand-in kubectl (prints the token Secrets it is given, or fails like an
API server that does not answer) and a stand-in kubeadm that logs what it is asked to delete."""

from __future__ import annotations

import base64
import json
import sys
import textwrap

import pytest
from ansible_collections.kubedr.kubeadm.plugins.modules import kubeadm_token_delete

RUN = "kubedr control_plane_rebuild full-0d3f5e6a7b8c9d01"
SECRET = "0123456789abcdef"  # the secret half of every token here: never in a result


def b64(text):
    return base64.b64encode(text.encode()).decode()


def token(token_id, description=None):
    data = {"token-id": b64(token_id), "token-secret": b64(SECRET)}
    if description:
        data["description"] = b64(description)
    return {"metadata": {"name": f"bootstrap-token-{token_id}"}, "type": "bootstrap.kubernetes.io/token",
            "data": data}


@pytest.fixture
def host(tmp_path, monkeypatch):
    (tmp_path / "secrets.json").write_text(json.dumps({"items": [token("aaaaaa", RUN), token("bbbbbb")]}))
    (tmp_path / "admin.conf").write_text("apiVersion: v1\n")
    for name, body in {
        "kubectl": f"""
            import pathlib, sys
            root = pathlib.Path({str(tmp_path)!r})
            if (root / "down").exists():
                sys.exit("The connection to the server 127.0.0.1:6443 was refused")
            assert "--field-selector" in sys.argv and "kube-system" in sys.argv, sys.argv
            print((root / "secrets.json").read_text())
            """,
        "kubeadm": f"""
            import json, pathlib, sys
            with open(pathlib.Path({str(tmp_path)!r}) / "kubeadm.log", "a") as log:
                log.write(json.dumps(sys.argv[1:]) + "\\n")
            """,
    }.items():
        script = tmp_path / name
        script.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    return tmp_path


def run(run_module, host, **args):
    return run_module(kubeadm_token_delete, {"kubeconfig": str(host / "admin.conf"), **args})


def deletions(host):
    log = host / "kubeadm.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_deletes_the_runs_tokens_by_description_and_id_never_printing_a_secret(run_module, host):
    result = run(run_module, host, description=RUN, token_ids=["bbbbbb", "cccccc"])
    assert result["changed"] and result["deleted"] == ["aaaaaa", "bbbbbb"]
    kubeconfig = str(host / "admin.conf")
    assert deletions(host) == [["token", "delete", "--kubeconfig", kubeconfig, "aaaaaa", "bbbbbb"]]
    assert SECRET not in json.dumps(result) and b64(SECRET) not in json.dumps(result)


def test_nothing_asked_nothing_found_and_check_mode_delete_nothing(run_module, host):
    assert run(run_module, host)["deleted"] == []
    assert not run(run_module, host, token_ids=["cccccc"])["changed"]
    result = run(run_module, host, description=RUN, _ansible_check_mode=True)
    assert result["changed"] and result["deleted"] == ["aaaaaa"]
    assert deletions(host) == []


def test_an_api_that_does_not_answer_and_a_bad_id_are_named(run_module, host):
    (host / "down").write_text("")
    result = run(run_module, host, description=RUN)
    assert result["failed"] and result["msg"].startswith("listing the bootstrap tokens failed: kubectl")
    assert "refused" in result["msg"] and "ttl" in result["msg"]
    (host / "down").unlink()
    result = run(run_module, host, token_ids=["--all"])
    assert result["failed"] and "is not a bootstrap token id" in result["msg"] and deletions(host) == []
