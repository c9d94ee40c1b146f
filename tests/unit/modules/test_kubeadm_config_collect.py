"""kubeadm_config_collect: the config part of a backup set staged from a control-plane host's files and a
stand-in kubectl (a script printing the ConfigMaps and nodes it is given, or failing like an API server
that does not answer)."""

from __future__ import annotations

import json
import os
import stat
import textwrap

import pytest
from ansible_collections.kubedr.kubeadm.plugins.modules import kubeadm_config_collect
from module_results import warnings_of

TOKEN = "kdrtst.0123456789abcdef"
CLUSTER_CONFIGURATION = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nclusterName: lab\n"
KUBELET_CONFIGURATION = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
NODES = {"items": [
    {"metadata": {"name": "cp1", "labels": {"node-role.kubernetes.io/control-plane": ""}},
     "status": {"nodeInfo": {"kubeletVersion": "v1.36.3"}}},
    {"metadata": {"name": "w1", "labels": {}}, "status": {"nodeInfo": {"kubeletVersion": "v1.36.3"}}},
]}


@pytest.fixture
def host(tmp_path):
    """A control-plane host's files, a stage directory and a kubectl that answers from files in api/."""
    pki = tmp_path / "pki"
    (pki / "etcd").mkdir(parents=True)
    (pki / "ca.key").write_text("CA KEY\n")
    (pki / "ca.key").chmod(0o600)
    (pki / "ca.crt").write_text("CA CERT\n")
    (pki / "ca.crt").chmod(0o644)
    (pki / "etcd" / "ca.crt").write_text("ETCD CA\n")
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "etcd.yaml").write_text("kind: Pod\n")
    (manifests / "kube-apiserver.yaml").write_text("kind: Pod\n")
    api = tmp_path / "api"
    api.mkdir()
    (api / "kubeadm-config").write_text(json.dumps({"data": {"ClusterConfiguration": CLUSTER_CONFIGURATION}}))
    (api / "kubelet-config").write_text(json.dumps({"data": {"kubelet": KUBELET_CONFIGURATION}}))
    (api / "nodes").write_text(json.dumps(NODES))
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        [ -e {api}/down ] && {{ echo "The connection to the server was refused" >&2; exit 1; }}
        for name in kubeadm-config kubelet-config nodes; do
          case " $* " in *" $name "*) cat {api}/$name; exit 0;; esac
        done
        exit 1
        """))
    kubectl.chmod(0o755)
    stage = tmp_path / "stage"
    stage.mkdir(mode=0o700)
    return tmp_path


def args(root, **extra):
    return {"stage_dir": str(root / "stage"), "pki_dir": str(root / "pki"),
            "manifests_dir": str(root / "manifests"), "kubeadm_config_file": str(root / "kubeadm.yaml"),
            "kubelet_config_file": str(root / "kubelet.yaml"), "kubeconfig": str(root / "admin.conf"),
            "kubectl_path": str(root / "kubectl"), **extra}


def test_stages_the_set_from_the_configmaps_then_an_unchanged_rerun_changes_nothing(host, run_module):
    result = run_module(kubeadm_config_collect, args(host))
    config = host / "stage" / "config"
    assert result["changed"] and result["path"] == str(config)
    assert result["config_source"] == "configmap" and result["cluster_configuration"] == CLUSTER_CONFIGURATION
    assert result["nodes"] == [{"name": "cp1", "control_plane": True, "kubelet_version": "v1.36.3"},
                               {"name": "w1", "control_plane": False, "kubelet_version": "v1.36.3"}]
    assert (config / "pki" / "ca.key").read_text() == "CA KEY\n"
    assert stat.S_IMODE((config / "pki" / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((config / "pki" / "ca.crt").stat().st_mode) == 0o644
    assert (config / "pki" / "etcd" / "ca.crt").exists() and (config / "manifests" / "etcd.yaml").exists()
    assert (config / "kubeadm-config.yaml").read_text() == CLUSTER_CONFIGURATION
    assert (config / "kubelet-config.yaml").read_text() == KUBELET_CONFIGURATION
    assert "CA KEY" not in json.dumps(result)
    inode = config.stat().st_ino

    again = run_module(kubeadm_config_collect, args(host))
    assert not again["changed"] and config.stat().st_ino == inode, "an unchanged copy is left in place"
    assert sorted(os.listdir(host / "stage")) == ["config"]


@pytest.mark.skipif(os.geteuid() != 0, reason="keeping owners needs root")
def test_owners_of_files_directories_and_links_are_kept(host, run_module):
    (host / "pki" / "ca.crt.link").symlink_to("ca.crt")
    for name in ("ca.key", "etcd", "ca.crt.link"):
        os.lchown(host / "pki" / name, 1234, 2345)
    run_module(kubeadm_config_collect, args(host))
    pki = host / "stage" / "config" / "pki"
    for name in ("ca.key", "etcd", "ca.crt.link"):
        st = os.lstat(pki / name)
        assert (st.st_uid, st.st_gid) == (1234, 2345), name
    assert os.readlink(pki / "ca.crt.link") == "ca.crt"


def test_a_changed_key_swaps_a_new_copy_in(host, run_module):
    run_module(kubeadm_config_collect, args(host))
    (host / "pki" / "ca.key").chmod(0o640)  # a mode alone is a change too
    result = run_module(kubeadm_config_collect, args(host))
    assert result["changed"]
    assert stat.S_IMODE((host / "stage" / "config" / "pki" / "ca.key").stat().st_mode) == 0o640
    assert sorted(os.listdir(host / "stage")) == ["config"]


def test_api_down_takes_the_kubeadm_file_and_returns_only_its_cluster_configuration(host, run_module):
    (host / "api" / "down").touch()
    text = ("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n"
            f"bootstrapTokens:\n- token: {TOKEN}\n---\n{CLUSTER_CONFIGURATION}")
    (host / "kubeadm.yaml").write_text(text)
    (host / "kubelet.yaml").write_text(KUBELET_CONFIGURATION)
    result = run_module(kubeadm_config_collect, args(host))
    assert result["config_source"] == "file"
    assert result["cluster_configuration"] == CLUSTER_CONFIGURATION
    assert TOKEN not in json.dumps(result)
    config = host / "stage" / "config"
    assert (config / "kubeadm-config.yaml").read_text() == text, "the set keeps the file kubeadm was given"
    assert (config / "kubelet-config.yaml").read_text() == KUBELET_CONFIGURATION
    assert result["nodes"] == []
    assert any("records no nodes" in w and "refused" in w for w in warnings_of(result)), result["warnings"]


def test_api_down_and_no_file_leaves_kubeadm_config_out_with_a_warning(host, run_module):
    (host / "api" / "down").touch()
    result = run_module(kubeadm_config_collect, args(host))
    assert not result["failed"] and result["config_source"] == "none"
    assert result["cluster_configuration"] == ""
    assert not (host / "stage" / "config" / "kubeadm-config.yaml").exists()
    assert any("no kubeadm-config.yaml" in w for w in warnings_of(result)), result["warnings"]


def test_a_kubeadm_file_without_one_cluster_configuration_fails_and_keeps_the_previous_copy(host, run_module):
    run_module(kubeadm_config_collect, args(host))
    (host / "api" / "down").touch()
    (host / "kubeadm.yaml").write_text(f"kind: InitConfiguration\nbootstrapTokens:\n- token: {TOKEN}\n")
    result = run_module(kubeadm_config_collect, args(host))
    assert result["failed"] and "no document(s) of kind: ClusterConfiguration" in result["msg"]
    assert TOKEN not in json.dumps(result)
    assert sorted(os.listdir(host / "stage")) == ["config"]
    assert (host / "stage" / "config" / "kubeadm-config.yaml").read_text() == CLUSTER_CONFIGURATION


def test_check_mode_tells_a_change_and_leaves_nothing(host, run_module):
    result = run_module(kubeadm_config_collect, args(host, _ansible_check_mode=True))
    assert result["changed"] and os.listdir(host / "stage") == []
    run_module(kubeadm_config_collect, args(host))
    assert not run_module(kubeadm_config_collect, args(host, _ansible_check_mode=True))["changed"]


@pytest.mark.parametrize("missing", ["stage", "pki"])
def test_a_missing_directory_names_the_fix(host, run_module, missing):
    os.rename(host / missing, host / f"{missing}.gone")
    result = run_module(kubeadm_config_collect, args(host))
    assert result["failed"]
    assert ("create it first" if missing == "stage" else "is not a directory") in result["msg"], result["msg"]
