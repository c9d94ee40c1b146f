"""The collection as an execution environment (ansible-builder) gets it: meta/execution-environment.yml,
requirements.txt and bindep.txt, shipped in the tarball and found by ansible-builder.

requirements.txt holds the controller's Python packages with the ranges pyproject.toml chooses (the one
place they are chosen), and exactly those that the collection's plugins import and that run on the
controller. The build context test does what `ansible-builder build` does up to the container: the
tarball built, `ansible-builder create` on a definition that installs it, then the context's galaxy and
introspection steps run here (no container engine: `create` needs none, and the two steps are Python).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
FQCN = f"{GALAXY['namespace']}.{GALAXY['name']}"
TARBALL = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

# Every package the plugins import beyond the standard library and ansible-core, with where it runs.
# Those marked "controller" must be in requirements.txt; the others must not.
THIRD_PARTY_IMPORTS = {
    "kubernetes": ("kubernetes", "controller"),  # k8s_local_pv_info, delegated to the controller by the roles
    "yaml": ("pyyaml", "ansible-core's own dependency"),
    "grpc": ("grpcio", "managed host, optional (etcd_snapshot's gRPC transport)"),
    "cryptography": ("cryptography", "managed host, optional (kubeadm_node_identity_info's signature check)"),
}
# The system packages bindep.txt must give, per platform of a base image.
SYSTEM_PACKAGES = {
    "dpkg": {"openssh-client", "tar"},
    "rpm": {"openssh-clients", "tar"},
}


def requirement_lines(path: Path) -> list[str]:
    """A requirements file's requirements, as written (comments and blank lines left out)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def read_requirements(path: Path) -> list[Requirement]:
    return [Requirement(line) for line in requirement_lines(path)]


def pyproject_requirements() -> dict[str, str]:
    """pyproject.toml's dependencies by canonical name, as written there."""
    return {canonicalize_name(Requirement(r).name): r for r in PYPROJECT["project"]["dependencies"]}


def plugin_imports() -> dict[str, list[str]]:
    """Top-level names the plugins import that are neither the standard library nor Ansible's."""
    found: dict[str, list[str]] = {}
    for path in sorted((REPO / "plugins").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in ("ansible", "ansible_collections", "__future__"):
                    continue
                found.setdefault(top, []).append(str(path.relative_to(REPO)))
    return found


def test_requirements_have_pyproject_ranges() -> None:
    pinned = pyproject_requirements()
    for req in read_requirements(REPO / "requirements.txt"):
        name = canonicalize_name(req.name)
        assert name in pinned, f"requirements.txt: {req.name} is not in pyproject.toml's dependencies"
        assert req.specifier == Requirement(pinned[name]).specifier, (
            f"requirements.txt says {req}, pyproject.toml {pinned[name]}: "
            f"write `{pinned[name]}` in requirements.txt")
        assert not req.marker and not req.extras, f"{req}: plain name and range only, as in pyproject.toml"


def test_requirements_are_what_the_controller_side_imports() -> None:
    imports = plugin_imports()
    unknown = sorted(set(imports) - set(THIRD_PARTY_IMPORTS))
    assert not unknown, (
        f"plugins import {unknown} ({[imports[u] for u in unknown]}): say in THIRD_PARTY_IMPORTS where each "
        "runs, and add the controller's to requirements.txt with pyproject.toml's range")
    controller = {canonicalize_name(dist) for top, (dist, where) in THIRD_PARTY_IMPORTS.items()
                  if where == "controller" and top in imports}
    listed = {canonicalize_name(r.name) for r in read_requirements(REPO / "requirements.txt")}
    assert listed == controller, (
        f"requirements.txt lists {sorted(listed)}; the controller imports {sorted(controller)}")
    assert "ansible-core" not in listed, "the execution environment's ansible-core comes from its definition"


def test_requires_ansible_is_the_range_pyproject_installs() -> None:
    """meta/runtime.yml claims the ansible-core range the venv, and so CI, has (and an EE definition uses)."""
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
    core = Requirement(pyproject_requirements()["ansible-core"])
    assert SpecifierSet(runtime["requires_ansible"]) == core.specifier, (
        f"meta/runtime.yml requires_ansible {runtime['requires_ansible']!r}, pyproject.toml {core}")


def test_bindep_gives_each_platform_its_packages() -> None:
    from bindep.depends import Depends

    depends = Depends((REPO / "bindep.txt").read_text())
    for platform, expected in SYSTEM_PACKAGES.items():
        active = {rule[0] for rule in depends.active_rules(["default", f"platform:{platform}"])}
        assert active == expected, (
            f"bindep.txt on a {platform} image: {sorted(active)}, want {sorted(expected)}")


def test_meta_execution_environment_names_both_files() -> None:
    meta = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text())
    assert meta["version"] == 1
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}


def run(*argv: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, (
        f"{' '.join(argv)} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def build_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("ansible-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_HOME=str(home), ANSIBLE_COLLECTIONS_PATH=str(home / "collections"),
               ANSIBLE_NOCOLOR="1", PATH=f"{BIN}{os.pathsep}{env.get('PATH', os.defpath)}")
    return env


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory, build_env: dict[str, str]) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    run(str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(dist), str(REPO),
        cwd=dist, env=build_env)
    return dist / TARBALL


def test_tarball_ships_the_execution_environment_files(tarball: Path) -> None:
    with tarfile.open(tarball) as tar:
        names = {m.name.removeprefix("./") for m in tar.getmembers()}
        for name in ("meta/execution-environment.yml", "requirements.txt", "bindep.txt"):
            assert name in names, f"{name} is not in {tarball.name}: see build_ignore in galaxy.yml"
            assert tar.extractfile(name).read() == (REPO / name).read_bytes()


def test_ansible_builder_context_installs_the_collections_requirements(
        tarball: Path, tmp_path: Path, build_env: dict[str, str]) -> None:
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / tarball.name).write_bytes(tarball.read_bytes())
    core = next(r for r in PYPROJECT["project"]["dependencies"] if r.startswith("ansible-core"))
    definition = {
        "version": 3,
        "images": {"base_image": {"name": "quay.io/fedora/python-311:latest"}},
        "dependencies": {
            "ansible_core": {"package_pip": core},
            "ansible_runner": {"package_pip": "ansible-runner"},
            "galaxy": {"collections": [{"name": f"dist/{tarball.name}", "type": "file"}]},
        },
        "additional_build_files": [{"src": f"dist/{tarball.name}", "dest": "dist"}],
    }
    (tmp_path / "execution-environment.yml").write_text(yaml.safe_dump(definition, sort_keys=False))
    run(str(BIN / "ansible-builder"), "create", "-f", "execution-environment.yml", "-c", "context",
        "--output-filename", "Containerfile", cwd=tmp_path, env=build_env)

    context = tmp_path / "context"
    containerfile = (context / "Containerfile").read_text()
    assert f'ANSIBLE_INSTALL_REFS="{core} ansible-runner"' in containerfile
    assert "ansible-galaxy collection install" in containerfile and "introspect" in containerfile
    build = context / "_build"
    assert yaml.safe_load((build / "requirements.yml").read_text()) == {
        "collections": [{"name": f"dist/{tarball.name}", "type": "file"}]}
    assert (build / "dist" / tarball.name).read_bytes() == tarball.read_bytes()

    # The image's galaxy stage (WORKDIR /build) and builder stage's introspection, run here.
    collections = tmp_path / "usr-share-ansible" / "collections"
    run(str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "-r", "requirements.yml",
        "--collections-path", str(collections), cwd=build, env=build_env)
    pip_out, bindep_out = tmp_path / "requirements.txt", tmp_path / "bindep.txt"
    run(sys.executable, str(build / "scripts" / "introspect.py"), "introspect",
        f"--write-pip={pip_out}", f"--write-bindep={bindep_out}", str(collections), cwd=build, env=build_env)

    origin = f"  # from collection {FQCN}"
    expected_pip = [line + origin for line in requirement_lines(REPO / "requirements.txt")]
    assert pip_out.read_text().splitlines() == expected_pip
    expected_bindep = [line + origin for line in (REPO / "bindep.txt").read_text().splitlines()
                       if line.strip() and not line.startswith("#")]
    assert bindep_out.read_text().splitlines() == expected_bindep
