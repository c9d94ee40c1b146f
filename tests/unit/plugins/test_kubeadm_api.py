"""The kubeadm configuration API the rebuild writes: the filters, and the rebuild's kubeadm init template
rendered by ansible-playbook for a cluster whose ClusterConfiguration is v1beta3 (kubeadm up to 1.30) and
for one that is v1beta4. kubeadm 1.30 itself is not built here; the lab runs v1beta4 for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.kubedr.kubeadm.plugins.filter.kubeadm_api_version import kubeadm_api_version
from ansible_collections.kubedr.kubeadm.plugins.filter.kubeadm_node_registration import (
    kubeadm_node_registration,
)

REPO = Path(__file__).resolve().parents[3]
REGISTRATION = {"criSocket": "unix:///run/containerd/containerd.sock",
                "kubeletExtraArgs": [{"name": "node-ip", "value": "198.18.0.11"}]}


def test_filters():
    assert kubeadm_api_version({"apiVersion": "kubeadm.k8s.io/v1beta3"}) == "kubeadm.k8s.io/v1beta3"
    assert kubeadm_api_version({"kubernetesVersion": "v1.30.2"}) == "kubeadm.k8s.io/v1beta3"
    assert kubeadm_node_registration(REGISTRATION, "kubeadm.k8s.io/v1beta3")["kubeletExtraArgs"] == {
        "node-ip": "198.18.0.11"}
    with pytest.raises(AnsibleFilterError, match="a parsed ClusterConfiguration"):
        kubeadm_api_version("apiVersion: kubeadm.k8s.io/v1beta3")
    with pytest.raises(AnsibleFilterError, match="a mapping or a list of name/value pairs"):
        kubeadm_node_registration({"kubeletExtraArgs": ["node-ip=1"]}, "kubeadm.k8s.io/v1beta3")


@pytest.mark.parametrize(("version", "kubernetes", "kubelet_args"), [
    ("kubeadm.k8s.io/v1beta3", "v1.30.14", {"node-ip": "198.18.0.11"}),
    ("kubeadm.k8s.io/v1beta4", "v1.36.3", [{"name": "node-ip", "value": "198.18.0.11"}]),
])
def test_the_init_configuration_is_written_in_the_clusters_api(tmp_path, version, kubernetes, kubelet_args):
    cluster = {"apiVersion": version, "kind": "ClusterConfiguration", "kubernetesVersion": kubernetes,
               "controlPlaneEndpoint": "198.18.0.16:6443"}
    out = tmp_path / "init.yaml"
    play = [{"hosts": "localhost", "gather_facts": False, "vars": {
        "_control_plane_rebuild_cluster_configuration": cluster,
        "_control_plane_rebuild_kubelet_configuration": {},
        "_control_plane_rebuild_address": "198.18.0.11",
        "_control_plane_rebuild_token_description": "kubedr control_plane_rebuild r1",
        "_control_plane_rebuild_node_name": "cp1",
        "control_plane_rebuild_node_registration": REGISTRATION,
        "control_plane_rebuild_skip_phases": [],
    }, "tasks": [{"ansible.builtin.template": {
        "src": str(REPO / "roles/control_plane_rebuild/templates/kubeadm-init.yaml.j2"), "dest": str(out)}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    run = subprocess.run([str(REPO / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-c", "local",
                          "-e", f"ansible_python_interpreter={sys.executable}", str(tmp_path / "play.yml")],
                         cwd=REPO, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")), check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    init, written = list(yaml.safe_load_all(out.read_text()))
    assert init["apiVersion"] == written["apiVersion"] == version
    assert init["kind"] == "InitConfiguration" and written["kubernetesVersion"] == kubernetes
    assert init["nodeRegistration"]["kubeletExtraArgs"] == kubelet_args
    assert init["nodeRegistration"]["name"] == "cp1"
