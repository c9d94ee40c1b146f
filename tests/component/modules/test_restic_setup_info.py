"""restic_setup_info, the restic role's fast path, against a real restic binary and local repository.
Each way a set-up can be incomplete is made on purpose and must be named; a complete one is ready."""

from __future__ import annotations

import json
import os

import pytest
import restic_fixtures
from ansible_collections.kubedr.kubeadm.plugins.modules import restic_setup_info
from restic_fixtures import PASSWORD

restic_bin = restic_fixtures.restic_bin
local_repo = restic_fixtures.local_repo
empty_repo_location = restic_fixtures.empty_repo_location

MARKER = "# {mark} kubedr restic sftp 127.0.0.1"
BLOCK = "Host 127.0.0.1\n  User root\n  IdentityFile /k\n  BatchMode yes\n"


def setup_args(repo, tmp_path, **extra):
    password_file = tmp_path / "password"
    if not password_file.exists():
        password_file.write_text(PASSWORD + "\n")
        password_file.chmod(0o400)
    args = {"repository": repo.repository, "password_file": str(password_file),
            "restic_path": str(repo.restic), "expected_password": PASSWORD, "version": "0.19.1"}
    args.update(extra)
    return args


def ssh_args(tmp_path, block=BLOCK):
    config, key = tmp_path / "ssh_config", tmp_path / "key"
    config.write_text(f"Host other\n  User x\n{MARKER.replace('{mark}', 'BEGIN')}\n{block}"
                      f"{MARKER.replace('{mark}', 'END')}\n")
    key.write_text("private\n")
    (tmp_path / "key.pub").write_text("public\n")
    return {"ssh_config_file": str(config), "ssh_config_marker": MARKER, "ssh_config_block": BLOCK,
            "ssh_key_path": str(key)}


@pytest.fixture(autouse=True)
def as_root():
    if os.geteuid() != 0:
        pytest.skip("the password file must be owned by root, as the role writes it")


def test_a_complete_set_up_is_ready_and_changes_nothing(run_module, local_repo, tmp_path):
    for check_mode in (False, True):
        result = run_module(restic_setup_info, dict(setup_args(local_repo, tmp_path, **ssh_args(tmp_path)),
                                                    _ansible_check_mode=check_mode))
        assert result["ready"] and result["problems"] == [] and not result["changed"]
        assert result["found_version"] == "0.19.1"
        assert PASSWORD not in json.dumps(result)


def test_another_version_is_named(run_module, local_repo, tmp_path):
    result = run_module(restic_setup_info, setup_args(local_repo, tmp_path, version="0.14.0"))
    assert not result["ready"]
    assert result["problems"] == [f"{local_repo.restic} is restic 0.19.1, not 0.14.0"]


def test_no_binary_is_named(run_module, local_repo, tmp_path):
    args = setup_args(local_repo, tmp_path, restic_path=str(tmp_path / "nope"))
    result = run_module(restic_setup_info, args)
    assert result["problems"][0] == f"restic is not installed at {tmp_path / 'nope'}"
    assert result["found_version"] is None


def test_password_file_mode_owner_and_content(run_module, local_repo, tmp_path):
    args = setup_args(local_repo, tmp_path)
    os.chmod(args["password_file"], 0o644)
    os.chown(args["password_file"], 1, -1)
    result = run_module(restic_setup_info, dict(args, expected_password="rotated-password-2"))
    assert not result["ready"]
    assert result["problems"] == [
        f"the password file {args['password_file']} is owned by 1:0, not root:root",
        f"the password file {args['password_file']} has mode 0644, not 0400",
        f"the password file {args['password_file']} holds another password than restic_password",
    ]
    assert "rotated-password-2" not in json.dumps(result) and PASSWORD not in json.dumps(result)


def test_missing_password_file(run_module, local_repo, tmp_path):
    args = setup_args(local_repo, tmp_path, password_file=str(tmp_path / "none"))
    result = run_module(restic_setup_info, args)
    assert result["problems"] == [f"the password file {tmp_path / 'none'} is missing"]


def test_ssh_block_missing_changed_or_key_gone(run_module, local_repo, tmp_path):
    args = setup_args(local_repo, tmp_path)
    ssh = ssh_args(tmp_path, block=BLOCK.replace("BatchMode yes", "BatchMode no"))
    result = run_module(restic_setup_info, dict(args, **ssh))
    assert result["problems"] == [
        f"the '# BEGIN kubedr restic sftp 127.0.0.1' block in {ssh['ssh_config_file']}"
        " differs from the role's"]
    os.unlink(ssh["ssh_key_path"] + ".pub")
    open(ssh["ssh_config_file"], "w").close()
    result = run_module(restic_setup_info, dict(args, **ssh))
    assert result["problems"] == [
        f"{ssh['ssh_config_file']} has no '# BEGIN kubedr restic sftp 127.0.0.1' block",
        f"the SSH key file {ssh['ssh_key_path']}.pub is missing"]


def test_a_repository_not_initialised_is_named(run_module, empty_repo_location, tmp_path):
    result = run_module(restic_setup_info, setup_args(empty_repo_location, tmp_path))
    assert result["problems"] == [f"the repository {empty_repo_location.repository} is not initialised"]


def test_a_repository_that_does_not_open_with_the_file_is_named(run_module, local_repo, tmp_path):
    args = setup_args(local_repo, tmp_path, expected_password="not-the-repository-password")
    os.chmod(args["password_file"], 0o600)
    with open(args["password_file"], "w") as fh:
        fh.write("not-the-repository-password\n")
    os.chmod(args["password_file"], 0o400)
    result = run_module(restic_setup_info, args)
    assert len(result["problems"]) == 1
    assert result["problems"][0].startswith(f"the repository {local_repo.repository} does not open: ")


def test_password_with_password_file_is_refused(run_module, local_repo, tmp_path):
    result = run_module(restic_setup_info, dict(setup_args(local_repo, tmp_path), password=PASSWORD))
    assert result["failed"] and "mutually exclusive" in result["msg"]
