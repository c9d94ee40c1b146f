"""The collection's documentation with antsibull-docs: `lint` for `make lint`, `build` for `make docs`.

lint   antsibull-docs lint-collection-docs --plugin-docs on the checkout: every module's, plugin's and
       role's documentation (schema, markup, references to other plugins, options and roles, those of
       ansible.builtin included).
build  an HTML site of every module, plugin and role with its options: `antsibull-docs sphinx-init`
       into DEST/site, `antsibull-docs collection` (the checkout, seen through a collections path in
       DEST), then `sphinx-build`; the site is DEST/site/build/html (index.html).

Both run offline. Links into the Ansible documentation site (docs.ansible.com: ansible.builtin's
modules, "common return values", ...) are resolved from a small intersphinx inventory written here
(DOCSITE_LABELS) instead of the site's own, which would be downloaded; the build fails on any Sphinx
warning, a reference neither this site nor that inventory knows included, except KNOWN_ISSUES.

Usage: tools/docs.py lint
       tools/docs.py build [DEST]   (default build/docs)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv's antsibull-docs, sphinx-build and ansible-doc
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
COLLECTION = f"{GALAXY['namespace']}.{GALAXY['name']}"

DOCSITE = "https://docs.ansible.com/projects/ansible/devel/"
# Labels of the Ansible documentation site that antsibull-docs' pages refer to: label -> (page#anchor, title).
DOCSITE_LABELS = {
    "common_return_values": ("reference_appendices/common_return_values.html#common-return-values",
                             "Return Values"),
    "action_plugins": ("plugins/action.html#action-plugins", "Action plugins"),
    "ansible_configuration_settings": ("reference_appendices/config.html#ansible-configuration-settings",
                                       "Ansible Configuration Settings"),
}
# A page of ansible.builtin's: ansible_collections.ansible.builtin.<name>_<type>
BUILTIN_LABEL = re.compile(r"ansible_collections\.ansible\.builtin\.(\w+)_([a-z]+)$")


@dataclasses.dataclass(frozen=True)
class KnownIssue:
    path: str  # the file, relative to the collection
    lint: str  # what lint-collection-docs says (a part of its message)
    sphinx: str  # what sphinx-build then warns (a part of the warning); empty when it does not
    fix: str


# Documentation problems that are known and not fixed yet, each with its fix. `lint` and `build` fail on
# any other problem, and `lint` also on a listed one that is no longer reported: remove it here then.
KNOWN_ISSUES: list[KnownIssue] = []


class DocsError(Exception):
    """A check failed; the message says what."""


def tool(name: str) -> str:
    return str(BIN / name)


def run(argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
        ok_codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode not in ok_codes:
        raise DocsError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def lint() -> list[str]:
    """Problems lint-collection-docs reports beyond KNOWN_ISSUES, and known issues it no longer reports."""
    result = run([tool("antsibull-docs"), "lint-collection-docs", "--plugin-docs",
                  "--validate-collection-refs", "all", "--disallow-unknown-collection-refs",
                  "--message-format", "json", str(REPO)], env=ansible_env(None), ok_codes=(0, 3))
    messages = json.loads(result.stdout)["messages"]
    problems, seen = [], set()
    for m in messages:
        path = m["path"] = os.path.relpath(m["path"], REPO) if os.path.isabs(m["path"]) else m["path"]
        known = [k for k in KNOWN_ISSUES if path == k.path and k.lint in m["message"]]
        if known:
            seen.update(known)
        else:
            problems.append(f"{m['path']}:{m['row'] or 0}:{m['column'] or 0}: {m['message']}")
    for issue in KNOWN_ISSUES:
        if issue not in seen:
            problems.append(f"{issue.path}: fixed ({issue.lint!r} is no longer reported): remove it from "
                            "KNOWN_ISSUES in tools/docs.py")
    return problems


def ansible_env(collections: Path | None, home: Path | None = None) -> dict[str, str]:
    """The environment without the caller's ANSIBLE_* settings; only `collections` when given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', os.defpath)}"
    env["ANSIBLE_NOCOLOR"] = "1"
    if collections is not None:
        env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
        env["ANSIBLE_COLLECTIONS_SCAN_SYS_PATH"] = "false"
    if home is not None:
        env["ANSIBLE_HOME"] = str(home)
    return env


def write_inventory(path: Path, labels: dict[str, tuple[str, str]]) -> None:
    """A Sphinx (intersphinx) inventory, version 2, of std:label entries: label -> (uri, title)."""
    lines = "".join(f"{label} std:label -1 {uri} {title}\n" for label, (uri, title) in sorted(labels.items()))
    header = ("# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n"
              "# The remainder of this file is compressed using zlib.\n")
    path.write_bytes(header.encode() + zlib.compress(lines.encode()))


def docsite_labels(rst_dir: Path) -> dict[str, tuple[str, str]]:
    """The Ansible docsite labels the generated pages refer to, with their page on docs.ansible.com."""
    text = "\n".join(p.read_text() for p in rst_dir.rglob("*.rst"))
    defined = set(re.findall(r"^\.\. _([^:\n]+):$", text, flags=re.M))
    # :ref:`label` or :ref:`title <label>`
    refs = re.finditer(r":ref:`(?:[^`<]*<([^`>]+)>|([^`<]+))`", text)
    referred = {(m.group(1) or m.group(2)).strip() for m in refs}
    labels = {}
    for label in sorted(referred - defined):
        builtin = BUILTIN_LABEL.match(label)
        if label in DOCSITE_LABELS:
            labels[label] = DOCSITE_LABELS[label]
        elif builtin:
            name, kind = builtin.groups()
            anchor = label.replace(".", "-").replace("_", "-")
            labels[label] = (f"collections/ansible/builtin/{name}_{kind}.html#{anchor}",
                             f"ansible.builtin.{name} {kind}")
    return labels


def build(dest: Path) -> Path:
    """The HTML site in dest/site/build/html; returns that directory."""
    dest = dest.resolve()
    dest.mkdir(parents=True, exist_ok=True)
    # The checkout as ansible_collections/<namespace>/<name>, for antsibull-docs --use-current; removed
    # afterwards, so nothing under build/ points back into the checkout.
    collections = dest / "collections"
    shutil.rmtree(collections, ignore_errors=True)
    link = collections / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO, target_is_directory=True)
    try:
        return _build(dest, ansible_env(collections, home=dest / "ansible-home"))
    finally:
        link.unlink()
        shutil.rmtree(collections, ignore_errors=True)


def _build(dest: Path, env: dict[str, str]) -> Path:
    """sphinx-init, antsibull-docs collection and sphinx-build in dest/site, with the collection in env."""
    site = dest / "site"
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir(mode=0o755)
    site.chmod(0o755)  # antsibull-docs wants it writable by its owner only, whatever the umask
    run([tool("antsibull-docs"), "sphinx-init", "--use-current", "--squash-hierarchy", "--fail-on-error",
         "--dest-dir", str(site), "--project", COLLECTION, "--title", f"{COLLECTION} documentation",
         "--copyright", "kubedr contributors", COLLECTION], env=env)
    rst = site / "rst"
    rst.mkdir(exist_ok=True)
    rst.chmod(0o755)
    run([tool("antsibull-docs"), "--config-file", str(site / "antsibull-docs.cfg"), "collection",
         "--cleanup", "everything", "--fail-on-error", "--use-current", "--squash-hierarchy",
         "--dest-dir", str(rst), COLLECTION], env=env, cwd=site)

    inventory = site / "ansible_devel.inv"
    write_inventory(inventory, docsite_labels(rst))
    with (site / "conf.py").open("a") as conf:
        conf.write("\n# tools/docs.py: offline, the Ansible docsite's labels from a local inventory only\n"
                   f"intersphinx_mapping = {{'ansible_devel': ({DOCSITE!r}, {str(inventory)!r})}}\n")
    warnings = site / "sphinx-warnings.txt"
    run([tool("sphinx-build"), "-M", "html", str(rst), str(site / "build"), "-c", str(site), "-q",
         "--keep-going", "-w", str(warnings)], env=env, cwd=site)
    unexpected = [line for line in warnings.read_text().splitlines()
                  if re.search(r"\b(WARNING|ERROR|CRITICAL|SEVERE):", line)
                  and not any(k.sphinx and k.sphinx in line for k in KNOWN_ISSUES)]
    if unexpected:
        raise DocsError("sphinx-build warned:\n" + "\n".join(unexpected))
    html = site / "build" / "html"
    if not (html / "index.html").is_file():
        raise DocsError(f"no {html / 'index.html'}")
    return html


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("lint")
    build_parser = sub.add_parser("build")
    build_parser.add_argument("dest", nargs="?", type=Path, default=REPO / "build" / "docs")
    args = parser.parse_args(argv)
    try:
        if args.command == "lint":
            problems = lint()
            if problems:
                print("\n".join(problems), file=sys.stderr)
                return 1
            print(f"lint-collection-docs: {COLLECTION}'s modules, plugins and roles have no documentation "
                  f"problem beyond the {len(KNOWN_ISSUES)} known in tools/docs.py")
        else:
            html = build(args.dest)
            print(f"{COLLECTION} documentation: {html / 'index.html'}")
    except DocsError as e:
        print(f"docs: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
