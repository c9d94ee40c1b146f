"""The documentation site `make docs` builds (tools/docs.py), looked at in a real headless browser.

The site is built once for this module, as `make docs` builds it, into a temporary directory; a page for
every module, plugin and role must be there, and Debian's chromium opens the etcd_snapshot module's page
from the file system: its options table must render with a row for every option ansible-doc knows, and
every stylesheet and script it loads must be a file of the site (the page renders offline, as built).

chromium comes from `make deps`; where it is missing the test fails under CI (CI=true) and is skipped
elsewhere. The browser gets no network: a fresh profile, background services off, every host name
unresolvable and any connection sent to a closed port on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

pytestmark = pytest.mark.docs

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
FQCN = f"{GALAXY['namespace']}.{GALAXY['name']}"
CHROMIUM = "/usr/bin/chromium"
# No network for the browser: see the module's docstring.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
    "--no-pings", "--metrics-recording-only", "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
]


def chromium() -> str:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    message = f"{CHROMIUM} is missing: `make deps` installs Debian's chromium"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict:
    dest = tmp_path_factory.mktemp("docs")
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(REPO / "tools" / "docs.py"), "build", str(dest)],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, f"tools/docs.py build failed\n{result.stdout}\n{result.stderr}"
    print(f"docs built in {time.monotonic() - started:.1f} s")
    return {"html": dest / "site" / "build" / "html"}


def test_every_module_plugin_and_role_has_a_page(site: dict) -> None:
    html = site["html"]
    expected = [f"{p.stem}_module.html" for p in (REPO / "plugins" / "modules").glob("*.py")]
    expected += [f"{p.stem}_filter.html" for p in (REPO / "plugins" / "filter").glob("*.py")]
    expected += [f"{p.name}_role.html" for p in (REPO / "roles").iterdir() if (p / "meta").is_dir()]
    missing = sorted(name for name in expected if not (html / name).is_file())
    assert not missing, f"no page in {html} for {missing}"
    index = (html / "index.html").read_text()
    unlinked = sorted(name for name in expected if f'href="{name}' not in index)
    assert not unlinked, f"index.html does not link {unlinked}"


class OptionTables(HTMLParser):
    """The ansible-option-table tables of a page: per table, the option anchors (parameter-<name>) and
    their rows; and every stylesheet and script the page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.depth = 0  # of <table> inside an option table
        self.loads: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag == "link" and "stylesheet" in attr.get("rel", "").split():
            self.loads.append(attr.get("href", ""))
        if tag in ("script", "img", "iframe") and attr.get("src"):
            self.loads.append(attr["src"])
        if tag == "table":
            if self.depth:
                self.depth += 1
            elif "ansible-option-table" in attr.get("class", "").split():
                self.depth = 1
                self.tables.append({"anchors": [], "rows": 0})
            return
        if not self.depth:
            return
        if tag == "tr":
            self.tables[-1]["rows"] += 1
        if attr.get("id", "").startswith("parameter-"):
            self.tables[-1]["anchors"].append(attr["id"].removeprefix("parameter-"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1


def module_options(module: str, tmp_path: Path) -> list[str]:
    """The module's top-level options as ansible-doc reads them from the checkout (doc fragments merged)."""
    link = tmp_path / "collections" / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"),
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false", ANSIBLE_HOME=str(tmp_path / "ansible-home"),
               ANSIBLE_NOCOLOR="1")
    result = subprocess.run([str(BIN / "ansible-doc"), "--json", "-t", "module", f"{FQCN}.{module}"],
                            env=env, capture_output=True, text=True, timeout=120, check=True)
    return sorted(json.loads(result.stdout)[f"{FQCN}.{module}"]["doc"]["options"])


def test_etcd_snapshot_page_renders_its_options_table_in_chromium(site: dict, tmp_path: Path) -> None:
    browser = chromium()
    page = site["html"] / "etcd_snapshot_module.html"
    options = module_options("etcd_snapshot", tmp_path)
    assert options, "ansible-doc lists no option for etcd_snapshot"

    started = time.monotonic()
    result = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
        env={**os.environ, "HOME": str(tmp_path)}, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"chromium exited {result.returncode}\n{result.stderr[-3000:]}"
    print(f"chromium rendered {page.name} in {time.monotonic() - started:.1f} s")

    dom = OptionTables()
    dom.feed(result.stdout)
    assert dom.tables, f"no options table (table.ansible-option-table) in the page chromium rendered:\n" \
                       f"{result.stdout[:2000]}"
    parameters = dom.tables[0]
    assert sorted(parameters["anchors"]) == options, (
        f"the options table has rows for {sorted(parameters['anchors'])}; ansible-doc lists {options}")
    assert parameters["rows"] >= len(options) + 1, parameters  # a header row and one row per option at least

    external = [url for url in dom.loads if urlsplit(url).scheme not in ("", "file")]
    assert not external, f"the page loads from the network: {external}"
    missing = [url for url in dom.loads
               if not (page.parent / unquote(urlsplit(url).path)).resolve().is_file()]
    assert not missing, f"the page loads files the site lacks: {missing}"
    assert any(url.endswith(".css") for url in dom.loads), f"no stylesheet loaded: {dom.loads}"
