"""rebuild_set: which backup set a rebuild takes from the names under the backup host's directory (the
etcd_backup role's <UTC time>Z-r<revision>), and the ClusterConfiguration document of the set's kubeadm
configuration (a kubeadm-config ConfigMap's, or a multi-document kubeadm file)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.kubedr.kubeadm.plugins.filter.backup_set_select import backup_set_select
from ansible_collections.kubedr.kubeadm.plugins.filter.kubeadm_cluster_configuration import (
    kubeadm_cluster_configuration,
)
from ansible_collections.kubedr.kubeadm.plugins.module_utils import rebuild_set as m

WHERE = "vault:/srv/kubedr/etcd-backup/lab"


def test_the_newest_by_time_then_revision():
    names = [
        "20261201T070437Z-r653",
        "20261130T070437Z-r9999",
        "20261201T070437Z-r1200",
        "20261201T070437Z-r99",
    ]
    assert m.choose_set(names) == {"set": "20261201T070437Z-r1200", "problem": None, "ignored": []}


def test_names_that_are_not_sets_are_left_out_and_named():
    names = [
        "20261201T070437Z-r653",
        "zz-r999",
        "20261201T070437Z-r653.old",
        "latest-r1",
        "x-r1",
        "20269999T999999Z-r1",
        "20261201T070437-r700",
        "20261202T000000Z-r",
    ]
    chosen = m.choose_set(names)
    assert chosen["set"] == "20261201T070437Z-r653" and chosen["problem"] is None
    assert chosen["ignored"] == sorted(set(names) - {"20261201T070437Z-r653"})


def test_the_set_asked_for_must_exist_and_be_a_set_name():
    names = ["20261130T070437Z-r600", "20261201T070437Z-r653"]
    assert m.choose_set(names, "20261130T070437Z-r600")["set"] == "20261130T070437Z-r600"
    missing = m.choose_set(names, "20261129T070437Z-r500", WHERE)
    assert missing["set"] is None
    assert "20261129T070437Z-r500" in missing["problem"] and WHERE in missing["problem"]
    assert "20261201T070437Z-r653, 20261130T070437Z-r600" in missing["problem"]  # newest first
    for wrong in ("latest", "../other-cluster/20261201T070437Z-r653", "20261201T070437Z-r653/"):
        problem = m.choose_set(names + [wrong], wrong)["problem"]
        assert problem and "<UTC time>Z-r<revision>" in problem, wrong


def test_no_set_names_the_place_and_the_fix():
    chosen = m.choose_set(["lost+found", "tmp-r1"], where=WHERE)
    assert chosen["set"] is None
    assert WHERE in chosen["problem"] and "playbooks/backup.yml" in chosen["problem"]
    assert "lost+found" in chosen["problem"]  # what was there instead


def test_the_filter_is_the_function_and_checks_its_input():
    assert backup_set_select(["20261201T070437Z-r653"])["set"] == "20261201T070437Z-r653"
    with pytest.raises(AnsibleFilterError):
        backup_set_select("20261201T070437Z-r653")


CLUSTER = (
    "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.36.3\n"
    "clusterName: lab\napiServer:\n  extraArgs:\n  - name: kind\n    value: x\n"
)
INIT = (
    "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n"
    "- token: abcdef.0123456789abcdef\ncertificateKey: " + "k" * 64 + "\n"
)
KUBELET = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\n"


def test_a_configmap_document_is_itself():
    assert m.cluster_configuration_document(CLUSTER) == CLUSTER


@pytest.mark.parametrize(
    "text",
    [
        f"{INIT}---\n{CLUSTER}---\n{KUBELET}",
        f"---\n{INIT}--- # the cluster\n{CLUSTER}...\n---\n{KUBELET}",
        f"# kubeadm init --config\n{KUBELET}\n---\n\n{CLUSTER}\n---\n{INIT}",
    ],
)
def test_the_cluster_configuration_out_of_a_kubeadm_file(text):
    assert m.cluster_configuration_document(text) == CLUSTER


def test_a_file_without_or_with_two_is_refused_without_quoting_it():
    for text in (f"{INIT}---\n{KUBELET}", "", f"{CLUSTER}---\n{CLUSTER}", "kind: ClusterConfigurationX\n"):
        with pytest.raises(m.RebuildSetError) as error:
            m.cluster_configuration_document(text, "config/kubeadm-config.yaml")
        message = str(error.value)
        assert "config/kubeadm-config.yaml" in message and "kind: ClusterConfiguration" in message
        assert "abcdef.0123456789abcdef" not in message and "k" * 64 not in message


def test_the_cluster_configuration_filter():
    assert kubeadm_cluster_configuration(f"{INIT}---\n{CLUSTER}") == CLUSTER
    with pytest.raises(AnsibleFilterError, match="kind: ClusterConfiguration"):
        kubeadm_cluster_configuration(INIT, "set/config/kubeadm-config.yaml")
