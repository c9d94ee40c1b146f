"""cluster_group (filter): the one rule naming a cluster's groups, the same rule the lab's inventory and
the example inventory follow."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.kubedr.kubeadm.plugins.filter.cluster_group import cluster_group

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("cluster", "role", "group"),
    [
        ("prod-fra", "control_plane", "prod_fra_control_plane"),
        ("prod-fra", "workers", "prod_fra_workers"),
        ("prod-fra", "", "cluster_prod_fra"),
        ("lab", "control_plane", "lab_control_plane"),
        ("", "control_plane", "control_plane"),  # no cluster named: every cluster's
        (None, "workers", "workers"),
        ("", "", "all"),
    ],
)
def test_group_names(cluster, role, group):
    assert cluster_group(cluster, role) == group


@pytest.mark.parametrize(("cluster", "role"), [("lab", "backup"), (3, "workers")])
def test_bad_input_is_named(cluster, role):
    with pytest.raises(AnsibleFilterError, match="cluster_group: a cluster name and a role of"):
        cluster_group(cluster, role)


def groups(tree, out=None):
    """Every group of an inventory tree with its direct children and hosts."""
    out = {} if out is None else out
    for name, body in (tree or {}).items():
        body = body or {}
        members = [*(body.get("children") or {}), *(body.get("hosts") or {})]
        out.setdefault(name, set()).update(members)
        groups(body.get("children"), out)
    return out


def test_the_example_inventory_follows_the_rule():
    tree = groups(yaml.safe_load((REPO / "inventories/example/hosts.yml").read_text())["all"]["children"])
    for cluster in ("prod-fra", "prod-ams"):
        for role in ("control_plane", "workers"):
            own = cluster_group(cluster, role)
            assert own in tree[cluster_group(cluster)], (cluster, role)
            assert own in tree[cluster_group("", role)], (cluster, role)


def test_the_lab_inventory_follows_the_rule():
    from lab.inventory import render
    from lab.state import load_spec

    spec = load_spec(REPO / "lab" / "spec.toml")
    hosts, _vars = render(spec)
    tree = groups(hosts["all"]["children"])
    for role in ("control_plane", "workers"):
        assert cluster_group(spec.cluster, role) in tree[cluster_group(spec.cluster)]
        assert cluster_group(spec.cluster, role) in tree[cluster_group("", role)]
