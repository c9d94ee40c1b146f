"""backup_manifest: a set's manifest.json written whole (temporary file and rename), idempotent."""

from __future__ import annotations

import json
import os
import stat

from ansible_collections.kubedr.kubeadm.plugins.modules import backup_manifest

MANIFEST = {"format": 1, "cluster": "prod", "snapshot": {"revision": 42}}


def test_written_then_unchanged_then_rewritten_when_it_differs(tmp_path, run_module):
    path = tmp_path / "manifest.json"
    result = run_module(backup_manifest, {"path": str(path), "manifest": MANIFEST})
    assert result["changed"] and json.loads(path.read_text()) == MANIFEST
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not run_module(backup_manifest, {"path": str(path), "manifest": MANIFEST})["changed"]
    other = {**MANIFEST, "cluster": "other"}
    assert run_module(backup_manifest, {"path": str(path), "manifest": other})["changed"]
    assert json.loads(path.read_text())["cluster"] == "other"
    assert sorted(os.listdir(tmp_path)) == ["manifest.json"], "no temporary file left"


def test_a_mode_alone_is_a_change(tmp_path, run_module):
    path = tmp_path / "manifest.json"
    run_module(backup_manifest, {"path": str(path), "manifest": MANIFEST})
    path.chmod(0o644)
    assert run_module(backup_manifest, {"path": str(path), "manifest": MANIFEST})["changed"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_check_mode_writes_nothing(tmp_path, run_module):
    path = tmp_path / "manifest.json"
    result = run_module(backup_manifest,
                        {"path": str(path), "manifest": MANIFEST, "_ansible_check_mode": True})
    assert result["changed"] and not path.exists()


def test_a_missing_directory_or_a_bad_mode_names_the_fix(tmp_path, run_module):
    result = run_module(backup_manifest, {"path": str(tmp_path / "nowhere" / "m.json"), "manifest": MANIFEST})
    assert result["failed"] and "does not exist" in result["msg"]
    result = run_module(backup_manifest,
                        {"path": str(tmp_path / "m.json"), "manifest": MANIFEST, "mode": "rw"})
    assert result["failed"] and "octal" in result["msg"] and not (tmp_path / "m.json").exists()


def test_keep_existing_leaves_the_first_runs_record(tmp_path, run_module):
    path = tmp_path / "started.json"
    first = run_module(backup_manifest, {"path": str(path), "manifest": MANIFEST, "keep_existing": True})
    assert first["changed"] and json.loads(path.read_text()) == MANIFEST
    again = run_module(backup_manifest, {"path": str(path), "manifest": {"other": 1}, "keep_existing": True})
    assert not again["changed"] and json.loads(path.read_text()) == MANIFEST
