"""`make release`: the collection tarball, built when galaxy.yml's version is the changelog's newest release.

Before building, each of these must hold, or the script exits 1 naming what to do:
  - changelogs/changelog.yaml has a release of galaxy.yml's version, and no newer one;
  - every fragment in changelogs/fragments/ belongs to a release (a change made after the last release
    has its note in no release yet: the tarball would ship it without one);
  - every module, plugin and role whose version_added is this version is among the release's new ones;
  - CHANGELOG.rst is what `antsibull-changelog generate` makes from changelog.yaml (not edited by hand,
    not left behind after a release).
Then `ansible-galaxy collection build` writes the tarball into build/release/ (or --output-dir), and the
tarball's MANIFEST.json must carry the same version and the release notes must be in it.

Usage: tools/release.py [--check-only] [--output-dir DIR]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import yaml
from packaging.version import InvalidVersion, Version

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv's antsibull-changelog and ansible-galaxy


class ReleaseError(Exception):
    """A check failed; the message says what to do."""


def galaxy_version(repo: Path) -> str:
    return str(yaml.safe_load((repo / "galaxy.yml").read_text())["version"])


def changelog_releases(repo: Path) -> dict[str, dict]:
    data = yaml.safe_load((repo / "changelogs" / "changelog.yaml").read_text()) or {}
    return data.get("releases") or {}


def check_version(repo: Path) -> str:
    """galaxy.yml's version, when it is changelog.yaml's newest release."""
    version = galaxy_version(repo)
    releases = changelog_releases(repo)
    if version not in releases:
        known = ", ".join(sorted(releases, key=Version)) or "none"
        raise ReleaseError(
            f"galaxy.yml's version {version} is not a release in changelogs/changelog.yaml (releases there: "
            f"{known}). Write the release notes first: antsibull-changelog release --version {version}")
    try:
        newest = max(releases, key=Version)
    except InvalidVersion as e:
        raise ReleaseError(f"changelogs/changelog.yaml: {e}") from e
    if newest != version:
        raise ReleaseError(
            f"galaxy.yml's version {version} is older than the newest release in changelogs/changelog.yaml "
            f"({newest}): set galaxy.yml's version to {newest}, or remove that release if it was a mistake")
    return version


def check_fragments(repo: Path) -> None:
    """Every fragment file is in some release (changelog.yaml lists each release's fragments)."""
    releases = changelog_releases(repo).values()
    released = {name for release in releases for name in release.get("fragments", [])}
    fragments = (repo / "changelogs" / "fragments").glob("*.y*ml")
    pending = sorted(p.name for p in fragments if p.name not in released)
    if pending:
        raise ReleaseError(
            f"changelogs/fragments/ has notes that no release holds yet: {', '.join(pending)}. "
            "Set galaxy.yml's version to the next one and run antsibull-changelog release --version <it>")


# plugins/<directory> -> the plugin type antsibull-changelog files it under (action plugins share their
# module's documentation; module_utils and doc_fragments are no plugins of their own)
PLUGIN_DIRS = {"modules": "module", "filter": "filter", "test": "test", "lookup": "lookup",
               "inventory": "inventory", "callback": "callback", "connection": "connection",
               "become": "become", "cache": "cache", "vars": "vars", "strategy": "strategy", "shell": "shell"}


def documentation(path: Path) -> dict | None:
    """A plugin file's DOCUMENTATION, parsed; None when it has none."""
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        if (isinstance(node, ast.Assign)
                and any(getattr(t, "id", None) == "DOCUMENTATION" for t in node.targets)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            return yaml.safe_load(node.value.value)
    return None


def added_in(repo: Path, version: str) -> set[tuple[str, str]]:
    """(type, name) of every module, plugin and role whose version_added is `version`."""
    found = set()
    for directory, kind in PLUGIN_DIRS.items():
        for path in sorted((repo / "plugins" / directory).glob("*.py")):
            doc = documentation(path)
            if doc and str(doc.get("version_added")) == version:
                found.add((kind, path.stem if kind == "module" else doc.get("name", path.stem)))
    for specs in sorted((repo / "roles").glob("*/meta/argument_specs.yml")):
        main = (yaml.safe_load(specs.read_text()) or {}).get("argument_specs", {}).get("main", {})
        if str(main.get("version_added")) == version:
            found.add(("role", specs.parent.parent.name))
    return found


def check_new_plugins(repo: Path, version: str) -> None:
    """The release lists every module, plugin and role that says it was added in it."""
    release = changelog_releases(repo)[version]
    listed = {("module", m["name"]) for m in release.get("modules", [])}
    listed |= {(kind, p["name"]) for kind, plugins in release.get("plugins", {}).items() for p in plugins}
    listed |= {(kind, o["name"]) for kind, objects in release.get("objects", {}).items() for o in objects}
    missing = sorted(added_in(repo, version) - listed)
    if missing:
        names = ", ".join(f"{name} ({kind})" for kind, name in missing)
        raise ReleaseError(
            f"version_added {version}, but not among {version}'s new modules, plugins and roles in "
            f"changelogs/changelog.yaml: {names}. If {version} is not published yet: antsibull-changelog "
            f"release --version {version} --update-existing --reload-plugins; else set their version_added "
            "to the next version")


def check_changelog_rst(repo: Path) -> None:
    """CHANGELOG.rst is what antsibull-changelog generates from changelog.yaml."""
    with tempfile.TemporaryDirectory(prefix="kubedr-release-") as tmp:
        expected = Path(tmp) / "CHANGELOG.rst"
        run([str(BIN / "antsibull-changelog"), "generate", "--output", str(expected),
             "--output-format", "rst"], cwd=repo)
        current = repo / "CHANGELOG.rst"
        if not current.is_file() or current.read_text() != expected.read_text():
            raise ReleaseError(
                "CHANGELOG.rst is not what changelogs/changelog.yaml gives (edited by hand, or not "
                "regenerated): run antsibull-changelog generate")


def build(repo: Path, output_dir: Path, version: str) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    run([str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(output_dir),
         str(repo)], cwd=repo)
    galaxy = yaml.safe_load((repo / "galaxy.yml").read_text())
    tarball = output_dir / f"{galaxy['namespace']}-{galaxy['name']}-{version}.tar.gz"
    with tarfile.open(tarball) as tar:
        names = {m.name.removeprefix("./") for m in tar.getmembers()}
        shipped = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]["version"]
    if shipped != version:
        raise ReleaseError(f"{tarball} says version {shipped}, galaxy.yml {version}")
    missing = sorted({"CHANGELOG.rst", "changelogs/changelog.yaml"} - names)
    if missing:
        raise ReleaseError(f"{tarball} lacks the release notes {missing}: see build_ignore in galaxy.yml")
    return tarball


def run(argv: list[str], cwd: Path) -> None:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', os.defpath)}")
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise ReleaseError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}{result.stderr}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check-only", action="store_true", help="check the changelog, build nothing")
    parser.add_argument("--output-dir", type=Path, default=REPO / "build" / "release")
    parser.add_argument("--repo", type=Path, default=REPO, help=argparse.SUPPRESS)  # tests point it at a copy
    args = parser.parse_args(argv)
    try:
        version = check_version(args.repo)
        check_fragments(args.repo)
        check_new_plugins(args.repo, version)
        check_changelog_rst(args.repo)
        if args.check_only:
            print(f"release {version}: galaxy.yml, changelogs/changelog.yaml and CHANGELOG.rst agree")
            return 0
        tarball = build(args.repo, args.output_dir, version)
    except ReleaseError as e:
        print(f"release: {e}", file=sys.stderr)
        return 1
    print(f"release {version}: {tarball}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
