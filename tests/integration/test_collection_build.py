"""The collection as users get it: build the tarball, check what it ships, install it, run it by FQCN.

Needs no lab and no network: `ansible-galaxy collection build` and `install --offline` work from the
working tree, and the module run targets a loopback port where nothing listens.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's ansible-galaxy, ansible-doc, ansible
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.name != "__init__.py")
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
FQCN_PREFIX = f"{GALAXY['namespace']}.{GALAXY['name']}"

# What a tarball may hold at its top level: collection content only.
ALLOWED_TOP_LEVEL = {
    "MANIFEST.json", "FILES.json", "README.md", "COPYING", "LICENSE", "LICENSES", "CHANGELOG.rst",
    "plugins", "meta", "changelogs", "docs", "roles", "playbooks",
    "requirements.txt", "bindep.txt",  # named by meta/execution-environment.yml
}
# Development files that must never ship, matched against every path in the tarball.
FORBIDDEN = [
    "lab", "lab/*", "tests", "tests/*", "bench", "bench/*", "molecule", "molecule/*", ".ci", ".ci/*",
    "inventories/lab", "inventories/lab/*", ".venv", ".venv/*", "Makefile", "pyproject.toml",
    "*.egg-info", "*.egg-info/*", ".git", ".git/*", ".gitignore", ".ansible", ".ansible/*",
    ".ansible-lint", ".cache", ".cache/*", ".pytest_cache", ".pytest_cache/*", ".ruff_cache",
    ".ruff_cache/*", "*/__pycache__", "*/__pycache__/*", "*.pyc", "*.tar.gz", "tools", "tools/*",
    "changelogs/fragments", "changelogs/fragments/*", "changelogs/config.yaml",
    "changelogs/.plugin-cache.yaml",
]


def run(*argv: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def check(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, (
        f"{' '.join(result.args)} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("collection-build")


@pytest.fixture(scope="module")
def ansible_env(workdir: Path) -> dict[str, str]:
    """Ansible that sees only the collection installed under `workdir`, and keeps its state there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_HOME=str(workdir / "ansible-home"),
        ANSIBLE_COLLECTIONS_PATH=str(workdir / "collections"),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_DEPRECATION_WARNINGS="false",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', os.defpath)}",
    )
    return env


@pytest.fixture(scope="module")
def tarball(workdir: Path, ansible_env: dict[str, str]) -> Path:
    dist = workdir / "dist"
    check(run(str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(dist), str(REPO),
              env=ansible_env, cwd=workdir))
    built = list(dist.glob("*.tar.gz"))
    assert [p.name for p in built] == [f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"]
    return built[0]


@pytest.fixture(scope="module")
def members(tarball: Path) -> list[str]:
    with tarfile.open(tarball) as tar:
        return [m.name.removeprefix("./").rstrip("/") for m in tar.getmembers()]


@pytest.fixture(scope="module")
def installed(workdir: Path, tarball: Path, ansible_env: dict[str, str]) -> Path:
    check(run(str(BIN / "ansible-galaxy"), "collection", "install", "--offline",
              "-p", str(workdir / "collections"), str(tarball), env=ansible_env, cwd=workdir))
    path = workdir / "collections" / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    assert (path / "MANIFEST.json").is_file()
    return path


def test_there_are_modules_to_check() -> None:
    assert MODULES, f"no module in {REPO / 'plugins' / 'modules'}"


def test_tarball_ships_no_development_files(members: list[str]) -> None:
    unexpected_top = sorted({m.split("/")[0] for m in members} - ALLOWED_TOP_LEVEL)
    assert not unexpected_top, f"not collection content; add to build_ignore in galaxy.yml: {unexpected_top}"
    leaked = sorted(m for m in members if any(fnmatch.fnmatch(m, pattern) for pattern in FORBIDDEN))
    assert not leaked, f"development files in the tarball: {leaked}"


def test_tarball_ships_the_collection(members: list[str], tarball: Path) -> None:
    expected = {"MANIFEST.json", "FILES.json", "meta/runtime.yml"}
    expected |= {f"plugins/modules/{m}.py" for m in MODULES}
    for sub in ("module_utils", "doc_fragments"):
        expected |= {str(p.relative_to(REPO)) for p in (REPO / "plugins" / sub).glob("*.py")}
    missing = sorted(expected - set(members))
    assert not missing, f"missing from {tarball.name}: {missing}"

    with tarfile.open(tarball) as tar:
        info = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == (
        GALAXY["namespace"], GALAXY["name"], GALAXY["version"])


def test_installed_collection_is_the_one_found(installed: Path, ansible_env: dict[str, str],
                                               workdir: Path) -> None:
    out = check(run(str(BIN / "ansible-galaxy"), "collection", "list", FQCN_PREFIX, "--format", "json",
                    env=ansible_env, cwd=workdir)).stdout
    found = {path: cols for path, cols in json.loads(out).items() if FQCN_PREFIX in cols}
    assert list(found) == [str(installed.parent.parent)], found
    assert found[str(installed.parent.parent)][FQCN_PREFIX]["version"] == GALAXY["version"]


@pytest.mark.parametrize("module", MODULES)
def test_installed_module_documentation(module: str, installed: Path, ansible_env: dict[str, str],
                                        workdir: Path) -> None:
    result = check(run(str(BIN / "ansible-doc"), "--json", "-t", "module", f"{FQCN_PREFIX}.{module}",
                       env=ansible_env, cwd=workdir))
    doc = json.loads(result.stdout)[f"{FQCN_PREFIX}.{module}"]["doc"]
    assert doc["module"] == module
    assert doc["collection"] == FQCN_PREFIX
    assert doc["filename"].startswith(str(installed)), doc["filename"]
    assert "ERROR" not in result.stderr, result.stderr


def _self_signed_pair(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate and key: enough for the module to build its TLS context and dial out."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubedr-build-test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "test.crt", directory / "test.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_installed_module_runs(installed: Path, ansible_env: dict[str, str], workdir: Path) -> None:
    """etcd_cluster_info, resolved by FQCN from the install, reports the dead endpoint cleanly."""
    assert (installed / "plugins" / "modules" / "etcd_cluster_info.py").is_file()
    cert, key = _self_signed_pair(workdir)
    endpoint = "https://127.0.0.1:9"  # discard port on loopback: nothing listens
    module_args = " ".join([
        f"endpoint={endpoint}", f"ca_cert={cert}", f"client_cert={cert}", f"client_key={key}",
        f"manifest_path={workdir / 'no-such-etcd.yaml'}", "timeout=5",
    ])
    result = run(str(BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local",
                 "-e", f"ansible_python_interpreter={sys.executable}",
                 "-m", f"{FQCN_PREFIX}.etcd_cluster_info", "-a", module_args, env=ansible_env, cwd=workdir)
    assert result.returncode == 2, f"expected a failed task (rc 2)\n{result.stdout}\n{result.stderr}"
    # ansible-core 2.19 prints the error, then "localhost | FAILED! => {the result as JSON}".
    marker = "localhost | FAILED! => "
    assert marker in result.stdout, result.stdout
    outcome = json.loads(result.stdout.split(marker, 1)[1])
    # The module's own fail_json, not a crash or a module that could not be found or loaded.
    assert "module_stderr" not in outcome and "exception" not in outcome, outcome
    assert "127.0.0.1:9" in outcome["msg"], outcome["msg"]
