"""cluster_hosts (filter): a cluster's hosts out of a play's, in order."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.kubedr.kubeadm.plugins.filter.cluster_hosts import cluster_hosts

HOSTVARS = {
    "a-cp1": {"kubedr_cluster": "a"},
    "b-cp1": {"kubedr_cluster": "b"},
    "a-cp2": {"kubedr_cluster": "a"},
    "vault": {},
}


def test_keeps_the_clusters_hosts_in_input_order():
    assert cluster_hosts(["a-cp2", "b-cp1", "a-cp1", "vault"], HOSTVARS, "a") == ["a-cp2", "a-cp1"]


def test_hosts_of_no_cluster_and_unknown_hosts_are_dropped():
    assert cluster_hosts(["vault", "gone"], HOSTVARS, "a") == []


def test_a_name_that_only_matches_after_dashes_become_underscores_is_another_cluster():
    assert cluster_hosts(["a-cp1"], {"a-cp1": {"kubedr_cluster": "kube-a"}}, "kube_a") == []


@pytest.mark.parametrize("cluster", ["", None, 3])
def test_no_cluster_name_is_an_error_naming_it(cluster):
    with pytest.raises(AnsibleFilterError, match="non-empty name"):
        cluster_hosts(["a-cp1"], HOSTVARS, cluster)
