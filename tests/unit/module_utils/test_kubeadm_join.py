"""kubeadm_join: the configuration kubeadm's upload-certs and token create read, and the join command
they print, on text shaped as kubeadm 1.36 writes and prints it; the JoinConfiguration, and the
kubeadm_join module's refusals and reruns (the join itself runs in the lab's rebuild tests)."""

from __future__ import annotations

import json

import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils import kubeadm_join as m

CLUSTER_CONFIGURATION = """apiServer: {}
apiVersion: kubeadm.k8s.io/v1beta4
controlPlaneEndpoint: 198.18.0.16:6443
kind: ClusterConfiguration
kubernetesVersion: v1.36.3
"""
JOIN = (
    "kubeadm join 198.18.0.16:6443 --token abcdef.0123456789abcdef "
    "--discovery-token-ca-cert-hash sha256:" + "ab" * 32 + " \n"
)


def test_configuration_carries_the_key_the_ttl_and_the_cluster_configuration():
    key = m.certificate_key()
    text = m.configuration(CLUSTER_CONFIGURATION, "198.18.0.11", key, "15m")
    first, second = text.split("---\n")
    assert first.startswith("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n")
    assert f"certificateKey: {key}\n" in first and "- ttl: 15m\n" in first
    assert "localAPIEndpoint:\n  advertiseAddress: 198.18.0.11\n" in first
    assert second == CLUSTER_CONFIGURATION
    assert len(key) == 64 and int(key, 16) >= 0 and key != m.certificate_key()


def test_a_worker_join_has_no_certificate_key():
    assert "certificateKey" not in m.configuration(CLUSTER_CONFIGURATION, "198.18.0.11")


def test_the_init_configuration_follows_the_cluster_api_version():
    older = CLUSTER_CONFIGURATION.replace("v1beta4", "v1beta3")
    assert m.configuration(older, "198.18.0.11").startswith("apiVersion: kubeadm.k8s.io/v1beta3\n")


def test_no_cluster_configuration_is_refused():
    with pytest.raises(m.JoinMaterialError, match="no ClusterConfiguration"):
        m.configuration("", "198.18.0.11")


def test_parse_join_command():
    assert m.parse_join_command(JOIN) == {
        "endpoint": "198.18.0.16:6443",
        "token": "abcdef.0123456789abcdef",
        "ca_cert_hash": "sha256:" + "ab" * 32,
    }


def test_an_incomplete_join_command_is_refused_without_quoting_it():
    with pytest.raises(m.JoinMaterialError) as error:
        m.parse_join_command(JOIN.split(" --discovery", maxsplit=1)[0])
    assert "abcdef.0123456789abcdef" not in str(error.value)


def test_advertise_address_from_the_api_server_manifest():
    manifest = (
        "spec:\n  containers:\n  - command:\n    - kube-apiserver\n"
        "    - --advertise-address=198.18.0.11\n    - --allow-privileged=true\n"
    )
    assert m.advertise_address(manifest) == "198.18.0.11"
    assert m.advertise_address("spec: {}\n") == ""


def test_join_configuration_for_a_control_plane_host_and_for_a_worker():
    hash_ = "sha256:" + "ab" * 32
    control_plane = json.loads(
        m.join_configuration(
            "198.18.0.16:6443", "abcdef.0123456789abcdef", hash_, {"name": "cp2"}, "k" * 64, "198.18.0.12"
        )
    )
    assert (
        control_plane["kind"] == "JoinConfiguration"
        and control_plane["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    )
    assert control_plane["discovery"]["bootstrapToken"] == {
        "apiServerEndpoint": "198.18.0.16:6443",
        "token": "abcdef.0123456789abcdef",
        "caCertHashes": [hash_],
    }
    assert control_plane["nodeRegistration"] == {"name": "cp2"}
    assert control_plane["controlPlane"] == {
        "localAPIEndpoint": {"advertiseAddress": "198.18.0.12", "bindPort": 6443},
        "certificateKey": "k" * 64,
    }
    worker = json.loads(m.join_configuration("198.18.0.16:6443", "abcdef.0123456789abcdef", hash_))
    assert "controlPlane" not in worker and worker["nodeRegistration"] == {}


def test_a_control_plane_join_without_its_address_is_refused():
    with pytest.raises(m.JoinMaterialError, match="needs advertise_address"):
        m.join_configuration("198.18.0.16:6443", "t", "sha256:x", certificate_key="k" * 64)


ARGS = {
    "endpoint": "198.18.0.16:6443",
    "token": "abcdef.0123456789abcdef",
    "ca_cert_hash": "sha256:" + "ab" * 32,
}


def test_the_module_leaves_a_joined_host_alone(run_module, monkeypatch, tmp_path):
    from ansible_collections.kubedr.kubeadm.plugins.modules import kubeadm_join

    monkeypatch.setattr(kubeadm_join, "KUBERNETES_DIR", str(tmp_path))
    (tmp_path / "kubelet.conf").write_text("")
    worker = run_module(kubeadm_join, ARGS)
    assert worker["changed"] is False and worker["joined_before"] is True and worker["control_plane"] is False
    # a control-plane join counts as done only once admin.conf is there too (kubeadm writes it last)
    control_plane = {**ARGS, "certificate_key": "k" * 64, "advertise_address": "198.18.0.12"}
    monkeypatch.setenv("PATH", str(tmp_path))  # no kubeadm: the module must say so rather than run
    missing = run_module(kubeadm_join, control_plane)
    assert missing["failed"] and "kubeadm" in missing["msg"]
    (tmp_path / "admin.conf").write_text("")
    assert run_module(kubeadm_join, control_plane)["changed"] is False


def test_the_module_names_a_missing_address_and_never_shows_the_secrets(run_module):
    from ansible_collections.kubedr.kubeadm.plugins.modules import kubeadm_join

    result = run_module(kubeadm_join, {**ARGS, "certificate_key": "k" * 64})
    assert result["failed"] and "needs advertise_address" in result["msg"]
    assert ARGS["token"] not in json.dumps(result) and "k" * 64 not in json.dumps(result)
