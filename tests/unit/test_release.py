"""tools/release.py (`make release`) refuses a galaxy.yml version the changelog does not release, notes
no release holds, and a CHANGELOG.rst that is not generated; on a copy of the release files, never the
checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "release.py"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """galaxy.yml, changelogs/ and CHANGELOG.rst of the checkout, as they are."""
    for name in ("galaxy.yml", "CHANGELOG.rst"):
        shutil.copy2(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "changelogs", tmp_path / "changelogs",
                    ignore=shutil.ignore_patterns(".plugin-cache.yaml"))
    return tmp_path


def release_check(repo: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--repo", str(repo), "--check-only"],
                          capture_output=True, text=True, timeout=120, check=False)


def released(repo: Path) -> dict:
    return yaml.safe_load((repo / "changelogs" / "changelog.yaml").read_text())["releases"]


def set_version(repo: Path, version: str) -> None:
    text = (repo / "galaxy.yml").read_text()
    current = yaml.safe_load(text)["version"]
    (repo / "galaxy.yml").write_text(text.replace(f"\nversion: {current}\n", f"\nversion: {version}\n"))
    assert yaml.safe_load((repo / "galaxy.yml").read_text())["version"] == version


def newest_release(repo: Path) -> str:
    from packaging.version import Version

    return max(released(repo), key=Version)


def make_consistent(repo: Path) -> None:
    """The copy as a release needs it: galaxy.yml at the newest release, no fragment outside a release."""
    set_version(repo, newest_release(repo))
    known = {f for release in released(repo).values() for f in release.get("fragments", [])}
    for fragment in (repo / "changelogs" / "fragments").glob("*.y*ml"):
        if fragment.name not in known:
            fragment.unlink()


def test_agreeing_files_pass(copy: Path) -> None:
    make_consistent(copy)
    result = release_check(copy)
    assert result.returncode == 0, result.stderr
    assert f"release {newest_release(copy)}: " in result.stdout


def test_a_version_the_changelog_does_not_release_is_refused(copy: Path) -> None:
    make_consistent(copy)
    set_version(copy, "9.9.9")
    result = release_check(copy)
    assert result.returncode == 1
    assert "galaxy.yml's version 9.9.9 is not a release in changelogs/changelog.yaml" in result.stderr
    assert "antsibull-changelog release --version 9.9.9" in result.stderr


def test_a_version_older_than_the_newest_release_is_refused(copy: Path) -> None:
    make_consistent(copy)
    data = yaml.safe_load((copy / "changelogs" / "changelog.yaml").read_text())
    newest = newest_release(copy)
    data["releases"]["0.0.1"] = {"release_date": "2026-01-01",
                                 "changes": {"release_summary": "An older one."}}
    (copy / "changelogs" / "changelog.yaml").write_text(yaml.safe_dump(data))
    set_version(copy, "0.0.1")
    result = release_check(copy)
    assert result.returncode == 1
    assert f"older than the newest release in changelogs/changelog.yaml ({newest})" in result.stderr


def test_a_note_no_release_holds_is_refused(copy: Path) -> None:
    make_consistent(copy)
    fragment = copy / "changelogs" / "fragments" / "later-change.yml"
    fragment.write_text("minor_changes:\n  - Something new.\n")
    result = release_check(copy)
    assert result.returncode == 1
    assert "notes that no release holds yet: later-change.yml" in result.stderr


def test_a_changelog_rst_not_generated_is_refused(copy: Path) -> None:
    make_consistent(copy)
    with (copy / "CHANGELOG.rst").open("a") as rst:
        rst.write("\nA line written by hand.\n")
    result = release_check(copy)
    assert result.returncode == 1
    assert "CHANGELOG.rst is not what changelogs/changelog.yaml gives" in result.stderr


def test_a_module_added_in_the_release_but_not_in_its_notes_is_refused(copy: Path) -> None:
    make_consistent(copy)
    version = newest_release(copy)
    listed = next(m["name"] for m in released(copy)[version]["modules"])
    modules = copy / "plugins" / "modules"
    modules.mkdir(parents=True)
    for name in (listed, "brand_new"):
        doc = f'module: {name}\nshort_description: A module.\nversion_added: "{version}"\n'
        (modules / f"{name}.py").write_text(f'DOCUMENTATION = r"""\n{doc}"""\n')
    result = release_check(copy)
    assert result.returncode == 1
    assert f"version_added {version}, but not among {version}'s new modules" in result.stderr
    assert "brand_new (module)" in result.stderr and f"{listed} (module)" not in result.stderr
    refresh = f"antsibull-changelog release --version {version} --update-existing --reload-plugins"
    assert refresh in result.stderr
