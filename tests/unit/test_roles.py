"""Every role's meta/argument_specs.yml documents its defaults key for key, with the same defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = sorted(p for p in (Path(__file__).resolve().parents[2] / "roles").iterdir() if p.is_dir())


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_argument_specs_mirror_defaults(role):
    defaults = yaml.safe_load((role / "defaults/main.yml").read_text()) or {}
    specs = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]
    options = specs["main"]["options"]
    assert sorted(options) == sorted(defaults)
    assert all(name.startswith(f"{role.name}_") for name in defaults), "defaults carry the role's prefix"
    for name, value in defaults.items():
        if "default" in options[name] and "{{" not in str(value):
            assert options[name]["default"] == value, name
