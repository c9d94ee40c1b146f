"""meta/runtime.yml's action groups: each holds exactly the modules that use its doc fragment, so a
`module_defaults` group sets the shared options of every module that has them, and no other."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
FRAGMENTS = {"etcd": "etcd_connection", "restic": "restic_repository", "kubectl": "kubectl"}


def modules_using(fragment: str) -> list[str]:
    pattern = re.compile(rf"^\s+- kubedr\.kubeadm\.{fragment}\s*$", re.M)
    modules = (REPO / "plugins" / "modules").glob("*.py")
    return sorted(p.stem for p in modules if pattern.search(p.read_text()))


def test_each_group_is_the_modules_of_its_fragment():
    groups = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())["action_groups"]
    assert set(groups) == set(FRAGMENTS)
    for group, fragment in FRAGMENTS.items():
        assert modules_using(fragment), fragment
        assert sorted(groups[group]) == modules_using(fragment), f"action group {group}"
