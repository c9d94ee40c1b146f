"""restic_repository against real restic repositories on the local path backend."""

from __future__ import annotations

import json

import restic_fixtures
from ansible_collections.kubedr.kubeadm.plugins.modules import (
    restic_backup,
    restic_repository,
    restic_snapshots,
)
from restic_fixtures import PASSWORD

# shared fixtures, found by pytest as module globals
restic_bin = restic_fixtures.restic_bin
local_repo = restic_fixtures.local_repo
empty_repo_location = restic_fixtures.empty_repo_location


def assert_no_secret(result, *secrets):
    text = json.dumps(result)
    for secret in secrets:
        assert secret not in text
    for command in result.get("commands", []):
        for secret in secrets:
            assert secret not in command


def test_check_mode_then_create_then_idempotent(run_module, empty_repo_location, tmp_path):
    repo = empty_repo_location
    checked = run_module(restic_repository, dict(repo.args(), _ansible_check_mode=True))
    assert checked["changed"] and checked["repository"]["created"]
    assert not (tmp_path / "repo").exists(), "check mode must not create the repository"

    created = run_module(restic_repository, repo.args())
    assert created["changed"] and created["repository"]["created"]
    assert len(created["repository"]["id"]) == 64 and created["repository"]["version"] == 2
    assert (tmp_path / "repo" / "config").is_file()
    assert any(c.endswith(" init") for c in created["commands"])

    again = run_module(restic_repository, repo.args())
    assert not again["changed"] and not again["repository"]["created"]
    assert again["repository"]["id"] == created["repository"]["id"]
    assert not any(c.endswith(" init") for c in again["commands"])
    for result in (checked, created, again):
        assert_no_secret(result, PASSWORD)


def test_password_file(run_module, empty_repo_location, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    args = dict(empty_repo_location.args(), password_file=str(pw))
    del args["password"]
    assert run_module(restic_repository, args)["changed"]
    assert empty_repo_location.cli("cat", "config").returncode == 0  # the same password opens it
    assert not run_module(restic_repository, args)["changed"]


def test_wrong_password_fails_clearly_and_never_reinitialises(run_module, local_repo, tmp_path):
    config_before = (tmp_path / "repo" / "config").read_bytes()
    keys_before = sorted(p.name for p in (tmp_path / "repo" / "keys").iterdir())
    result = run_module(restic_repository, local_repo.args(password="not-the-password"))
    assert result["failed"]
    assert result["rc"] == 12
    assert "wrong password" in result["msg"] and "password_file" in result["msg"]
    assert (tmp_path / "repo" / "config").read_bytes() == config_before
    assert sorted(p.name for p in (tmp_path / "repo" / "keys").iterdir()) == keys_before
    assert not any(c.endswith(" init") for c in result["commands"])
    assert_no_secret(result, "not-the-password", PASSWORD)


def test_missing_repository_is_named_with_the_fix(run_module, empty_repo_location, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for module, extra in ((restic_snapshots, {}), (restic_backup, {"paths": [str(src)]})):
        result = run_module(module, empty_repo_location.args(**extra))
        assert result["failed"] and result["rc"] == 10
        assert "does not exist" in result["msg"]
        assert "restic_repository" in result["msg"]
    assert not (tmp_path / "repo").exists()


def test_password_required_and_exclusive(run_module, empty_repo_location, tmp_path):
    args = empty_repo_location.args()
    del args["password"]
    result = run_module(restic_repository, args)
    assert result["failed"] and "password" in result["msg"]
    both = dict(empty_repo_location.args(), password_file=str(tmp_path / "f"))
    result = run_module(restic_repository, both)
    assert result["failed"] and "mutually exclusive" in result["msg"]
