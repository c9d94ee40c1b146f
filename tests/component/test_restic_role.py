"""The restic role run by ansible-playbook on this machine with the local backend and a real restic binary:
the first run sets everything up; the next finds it complete with one restic_setup_info task and runs no
set-up task; a password file made loose (mode) or a binary of another version sends it through the set-up
again, which mends it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import restic_fixtures
import yaml
from playbook_run import on_localhost

REPO = Path(__file__).resolve().parents[2]
restic_bin = restic_fixtures.restic_bin
SET_UP = ("Install the restic binary shipped from the controller", "Write the repository password file",
          "Initialize each repository from the first host that uses it")


@pytest.fixture
def role(tmp_path, restic_bin):
    if os.geteuid() != 0:
        pytest.skip("the role writes root-owned files")
    playbook = tmp_path / "restic.yml"
    binary = tmp_path / "bin" / "restic"
    password_file = tmp_path / "etc" / "password"
    binary.parent.mkdir()  # as /usr/local/bin is there on a host
    playbook.write_text(yaml.safe_dump([{
        "name": "restic role", "hosts": "localhost", "gather_facts": False,
        "vars": {"restic_binary_src": str(restic_bin), "restic_binary_path": str(binary),
                 "restic_password": "role-test-Pw-4b1d9e", "restic_password_file": str(password_file),
                 "restic_backend": "local", "restic_local_path": str(tmp_path / "repo")},
        "roles": ["kubedr.kubeadm.restic"]}]))

    def run(*extra):
        proc = on_localhost(playbook, *extra, env={"RESTIC_CACHE_DIR": str(tmp_path / "cache")}, timeout=600)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        assert "role-test-Pw-4b1d9e" not in proc.stdout + proc.stderr
        # a task ran when its block of output reports a host ok or changed (an empty loop prints the header)
        blocks = {b.split("]", 1)[0]: b for b in proc.stdout.split("TASK [kubedr.kubeadm.restic : ")[1:]}
        proc.ran = {t for t in SET_UP if re.search(r"^(ok|changed): \[", blocks.get(t, ""), re.M)}
        proc.changed = int(re.search(r"changed=(\d+)", proc.stdout).group(1))
        return proc

    return type("Role", (), {"run": staticmethod(run), "binary": binary, "password_file": password_file})


def test_a_complete_set_up_is_checked_once_and_skipped(role):
    first = role.run()
    assert first.ran == set(SET_UP) and first.changed > 0
    again = role.run()
    assert again.ran == set() and again.changed == 0
    assert "Check whether the set-up is already complete" in again.stdout
    # with the check off, every set-up task runs (and finds nothing to change)
    full = role.run("-e", "restic_setup_check=false")
    assert full.ran == set(SET_UP) and full.changed == 0


def test_a_loose_password_file_or_another_binary_goes_through_the_set_up_again(role):
    role.run()
    role.password_file.chmod(0o644)
    mended = role.run()
    assert mended.ran == set(SET_UP) and mended.changed > 0
    assert oct(role.password_file.stat().st_mode & 0o777) == "0o400"
    role.binary.write_text("#!/bin/sh\necho 'restic 0.14.0 compiled with go1.20 on linux/amd64'\n")
    mended = role.run()
    assert "Install the restic binary shipped from the controller" in mended.ran and mended.changed > 0
    assert role.run().changed == 0
