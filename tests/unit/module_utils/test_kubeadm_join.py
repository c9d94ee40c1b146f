"""kubeadm_join: the configuration kubeadm's upload-certs and token create read, and the join command
they print, on text shaped as kubeadm 1.36 writes and prints it; the JoinConfiguration, and the
kubeadm_join module's refusals and reruns (the join itself runs in the lab's rebuild tests)."""

from __future__ import annotations

import base64
import json
import os

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


# Bootstrap tokens the rebuild makes: each one's id, and which of the cluster's token Secrets go.
def token_secret(token_id, description=None, secret="0123456789abcdef", kind="bootstrap.kubernetes.io/token"):
    def b64(text):
        return base64.b64encode(text.encode()).decode()

    data = {"token-id": b64(token_id), "token-secret": b64(secret), "usage-bootstrap-signing": b64("true")}
    if description is not None:
        data["description"] = b64(description)
    return {
        "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
        "type": kind,
        "data": data,
    }


RUN = "kubedr control_plane_rebuild full-0d3f5e6a7b8c9d01"


def test_token_id_is_the_public_half():
    assert m.token_id("abcdef.0123456789abcdef") == "abcdef"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abcdef",
        "abcdef.0123",
        "ABCDEF.0123456789abcdef",
        "abcdef.0123456789abcdef ",
        "abcdefg.0123456789abcdef",
        None,
    ],
)
def test_a_malformed_token_is_refused_without_quoting_it(token):
    with pytest.raises(m.JoinMaterialError) as error:
        m.token_id(token)
    assert "0123456789abcdef" not in str(error.value)
    assert "[a-z0-9]{6}.[a-z0-9]{16}" in str(error.value)


def test_the_configuration_describes_the_token():
    text = m.configuration(CLUSTER_CONFIGURATION, "198.18.0.11", ttl="10m", description=RUN)
    assert f"  description: {json.dumps(RUN)}\n" in text.split("---\n")[0]
    assert "description" not in m.configuration(CLUSTER_CONFIGURATION, "198.18.0.11")


def test_tokens_to_delete_are_this_runs_by_description_or_id():
    secrets = [
        token_secret("aaaaaa", RUN),  # kubeadm init's, described by the role's InitConfiguration
        token_secret("bbbbbb", RUN),  # a join's
        token_secret("cccccc", "kubedr control_plane_rebuild full-ffffffffffffffff"),  # another run's
        token_secret("dddddd"),  # the operator's own, no description
        token_secret("eeeeee", "Proxy for managing TTL for the kubeadm-certs secret"),
        token_secret("ffffff", RUN, kind="Opaque"),  # not a bootstrap token at all
    ]
    assert m.tokens_to_delete(secrets, description=RUN) == ["aaaaaa", "bbbbbb"]
    assert m.tokens_to_delete(secrets, token_ids=["dddddd"]) == ["dddddd"]
    assert m.tokens_to_delete(secrets, description=RUN, token_ids=["bbbbbb", "zzzzzz"]) == [
        "aaaaaa",
        "bbbbbb",
    ]
    assert m.tokens_to_delete(secrets) == []  # neither given: nothing, never everything
    assert m.tokens_to_delete([], description=RUN, token_ids=["aaaaaa"]) == []


def test_the_id_comes_from_the_secret_name_when_its_data_has_none():
    secret = token_secret("aaaaaa", RUN)
    del secret["data"]["token-id"]
    assert m.tokens_to_delete([secret], description=RUN) == ["aaaaaa"]
    secret["metadata"]["name"] = "bootstrap-token-../../x"
    assert m.tokens_to_delete([secret], description=RUN) == []


def test_an_id_that_is_not_one_is_refused():
    with pytest.raises(m.JoinMaterialError, match="token id"):
        m.tokens_to_delete([], token_ids=["--all"])


@pytest.mark.parametrize(("written", "kubernetes", "expected"), [
    ("kubeadm.k8s.io/v1beta3", "v1.36.3", "kubeadm.k8s.io/v1beta3"),  # what the cluster wrote wins
    ("kubeadm.k8s.io/v1beta4", None, "kubeadm.k8s.io/v1beta4"),
    (None, "v1.30.14", "kubeadm.k8s.io/v1beta3"),
    (None, "1.29.0", "kubeadm.k8s.io/v1beta3"),
    (None, "v1.31.0", "kubeadm.k8s.io/v1beta4"),
    ("kubeadm.k8s.io/v1beta2", "v1.33.1", "kubeadm.k8s.io/v1beta4"),  # unknown: by the release
    (None, None, "kubeadm.k8s.io/v1beta4"),
])
def test_the_api_version_is_the_clusters_else_its_releases(written, kubernetes, expected):
    assert m.api_version_for(written, kubernetes) == expected
    text = (f"apiVersion: {written}\n" if written else "") + "kind: ClusterConfiguration\n" + (
        f"kubernetesVersion: {kubernetes}\n" if kubernetes else "")
    assert m.cluster_api_version(text) == expected


LIST_ARGS = [{"name": "node-ip", "value": "10.0.0.1"}, {"name": "cgroup-root", "value": "/kubedr"}]
MAP_ARGS = {"node-ip": "10.0.0.1", "cgroup-root": "/kubedr"}


@pytest.mark.parametrize("given", [LIST_ARGS, MAP_ARGS])
def test_kubelet_extra_args_take_each_versions_shape_from_either(given):
    registration = {"name": "w1", "kubeletExtraArgs": given, "ignorePreflightErrors": ["SystemVerification"]}
    v3 = m.node_registration_for("kubeadm.k8s.io/v1beta3", registration)
    v4 = m.node_registration_for("kubeadm.k8s.io/v1beta4", registration)
    assert v3["kubeletExtraArgs"] == MAP_ARGS and v4["kubeletExtraArgs"] == LIST_ARGS
    assert v3["ignorePreflightErrors"] == v4["ignorePreflightErrors"] == ["SystemVerification"]
    assert registration["kubeletExtraArgs"] is given  # the caller's dict is left alone
    assert m.node_registration_for("kubeadm.k8s.io/v1beta3", {"name": "w1"}) == {"name": "w1"}


def test_a_v1beta3_join_configuration_has_a_map_of_kubelet_args():
    config = json.loads(m.join_configuration("198.18.0.16:6443", "abcdef.0123456789abcdef",
                                             "sha256:" + "ab" * 32, {"kubeletExtraArgs": LIST_ARGS},
                                             api_version="kubeadm.k8s.io/v1beta3"))
    assert config["apiVersion"] == "kubeadm.k8s.io/v1beta3"
    assert config["nodeRegistration"]["kubeletExtraArgs"] == MAP_ARGS


@pytest.mark.parametrize(("entries", "control_plane", "skipped"), [
    ([], True, []),  # empty: kubeadm's check passes
    (None, True, []),  # missing: kubeadm creates it
    ([".kubedr-moved-20261204T030000Z"], True, ["DirAvailable--var-lib-etcd"]),
    ([".kubedr-aside-20261204T030000Z", ".kubedr-moved-20261204T040000Z"], True,
     ["DirAvailable--var-lib-etcd"]),  # kubeadm_reset's, then a restore's
    ([".kubedr-restore-20261204T030000Z"], True, []),  # a restore's unfinished scratch copy is no kept data
    ([".kubedr-moved-20261204T030000Z", "member"], True, []),  # real data beside it: kubeadm refuses
    (["member"], True, []),
    ([".kubedr-moved-20261204T030000Z"], False, []),  # a worker runs no etcd
])
def test_the_etcd_dir_check_is_skipped_only_for_moved_aside_data(tmp_path, entries, control_plane, skipped):
    data_dir = tmp_path / "var" / "lib" / "etcd"
    if entries is not None:
        data_dir.mkdir(parents=True)
        for name in entries:
            (data_dir / name).mkdir()
    found = m.preflight_to_skip(control_plane, str(data_dir))
    assert found == ([f"DirAvailable-{str(data_dir).replace('/', '-')}"] if skipped else [])
    assert m.etcd_dir_check("/var/lib/etcd/") == "DirAvailable--var-lib-etcd"


def test_the_join_reports_the_checks_it_skips(run_module, tmp_path, monkeypatch):
    from ansible_collections.kubedr.kubeadm.plugins.modules import kubeadm_join

    if os.path.exists("/etc/kubernetes/admin.conf"):
        pytest.skip("this host has joined a cluster: kubeadm_join would not run")
    kubeadm = tmp_path / "bin" / "kubeadm"  # found, never run in check mode
    kubeadm.parent.mkdir()
    kubeadm.write_text("#!/bin/sh\necho 'kubeadm ran in check mode' >&2; exit 1\n")
    kubeadm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{kubeadm.parent}:{os.environ['PATH']}")
    data_dir = tmp_path / "etcd"
    (data_dir / ".kubedr-aside-20261204T030000Z" / "member").mkdir(parents=True)
    args = {"endpoint": "127.0.0.1:6443", "token": "abcdef.0123456789abcdef",
            "ca_cert_hash": "sha256:" + "0" * 64,
            "certificate_key": "ab" * 32, "advertise_address": "10.0.0.1", "etcd_data_dir": str(data_dir),
            "ignore_preflight_errors": ["ImagePull"], "_ansible_check_mode": True}
    result = run_module(kubeadm_join, args)
    assert result.get("changed"), result
    assert result["ignored_preflight_errors"] == [
        "ImagePull", "DirAvailable-" + str(data_dir).replace("/", "-")], result
