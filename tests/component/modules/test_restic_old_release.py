"""A restic older than the collection's floor (0.17.0), as Debian 12 packages it (0.14.0, unpacked by
`make deps` from the distro's own package): the set-up check refuses it naming the release, and a module
run with it fails naming the option it lacks and the fix, instead of misreading its exit codes."""

from __future__ import annotations

import glob
import subprocess
from pathlib import Path

import pytest
import restic_fixtures
from ansible_collections.kubedr.kubeadm.plugins.modules import restic_setup_info, restic_snapshots
from restic_fixtures import PASSWORD

restic_bin = restic_fixtures.restic_bin


@pytest.fixture
def debian_restic() -> Path:
    found = sorted(glob.glob("/var/cache/kubedr/debian-restic/*/usr/bin/restic"))
    if not found:
        pytest.skip("Debian's restic package is not unpacked: run `make deps` (lab/install-packages.sh)")
    return Path(found[-1])


@pytest.fixture
def old_repo(debian_restic, tmp_path):
    """A repository the old release made itself, so only the options, not the format, can differ."""
    location = tmp_path / "repo"
    subprocess.run([debian_restic, "-r", location, "init"], env={"RESTIC_PASSWORD": PASSWORD}, check=True,
                   capture_output=True)
    return location


def test_debian_12s_restic_is_older_than_the_floor(debian_restic):
    out = subprocess.run([debian_restic, "version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("restic 0.14."), out


def test_the_set_up_check_refuses_it_naming_the_release(run_module, debian_restic, old_repo, tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o400)
    result = run_module(restic_setup_info, {"repository": str(old_repo), "password_file": str(password_file),
                                            "restic_path": str(debian_restic), "expected_password": PASSWORD})
    assert result["ready"] is False and result["found_version"].startswith("0.14.")
    refusal = f"{debian_restic} is restic 0.14.0, older than 0.17.0"
    assert any(p.startswith(refusal) for p in result["problems"]), result["problems"]


def test_a_module_run_with_it_names_the_missing_option_and_the_fix(run_module, debian_restic, old_repo):
    result = run_module(restic_snapshots, {"repository": str(old_repo), "password": PASSWORD,
                                           "restic_path": str(debian_restic), "retry_lock": "2s"})
    assert result["failed"]
    refusal = f"{debian_restic} does not know the option --retry-lock: it is older than restic 0.17.0"
    assert result["msg"].startswith(refusal), result["msg"]
    assert PASSWORD not in str(result)


def test_without_a_pinned_release_a_newer_one_passes(run_module, restic_bin, tmp_path):
    repo = restic_fixtures.Repo(restic_bin, str(tmp_path / "repo"), cache_dir=str(tmp_path / "cache")).init()
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o400)
    args = {"repository": repo.repository, "password_file": str(password_file),
            "restic_path": str(restic_bin), "expected_password": PASSWORD, "cache_dir": repo.cache_dir}
    result = run_module(restic_setup_info, args)
    assert result["problems"] == [] and result["ready"] is True
