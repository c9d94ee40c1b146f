"""Build the lab's pinned upstream binaries through the Go module proxy, cached per version.

`go install pkg@version` refuses modules whose go.mod has replace directives (etcd does),
so every tool is built from a small generated wrapper module that requires the pinned
release; replace directives of dependencies are ignored there, as Go intends.

Kubernetes needs more: its go.mod requires its staging modules (k8s.io/api, client-go, ...) at
v0.0.0 and replaces them with ./staging/src/k8s.io/*, which a dependency's replaces cannot do.
Its recipe names k8s.io/kubernetes as `upstream`: at build time the wrapper gets one replace per
staging module, read from the downloaded upstream go.mod, pointing at the published v0.Y.Z tag.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

PINS_FILE = Path(__file__).with_name("pins.toml")


def cache_dir() -> Path:
    return Path(os.environ.get("KUBEDR_CACHE", "/var/cache/kubedr"))


def load_pins() -> dict:
    with PINS_FILE.open("rb") as fh:
        return tomllib.load(fh)


@dataclass(frozen=True)
class Recipe:
    """One wrapper module and the binaries built from it."""

    name: str
    version: str
    requires: dict[str, str]
    # binary name -> Go package path of its main package (inside the wrapper when it starts with "./")
    binaries: dict[str, str]
    ldflags: str = ""
    main_sources: dict[str, str] = field(default_factory=dict)
    # module@version whose go.mod replaces k8s.io/* with ./staging/src: the wrapper replaces each
    # with its published tag and copies the godebug lines; "{release_date}" in ldflags becomes
    # the upstream release's time from the proxy (reproducible, unlike the build time)
    upstream: str = ""
    tags: str = ""
    # built only when named (`python -m lab build kubernetes`), not by a bare `lab build`
    explicit: bool = False

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"

    def digest(self) -> str:
        parts: list = [self.requires, self.binaries, self.ldflags, self.main_sources, GO_ENV]
        if self.upstream or self.tags:  # only then, so older recipes keep their digests
            parts.append({"upstream": self.upstream, "tags": self.tags})
        blob = json.dumps(parts, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


GO_ENV = {"CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod -trimpath"}

ETCD_MAIN = """package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
"""


KUBE_BINARIES = (
    "kubeadm",
    "kubelet",
    "kubectl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
)


def kube_ldflags(version: str) -> str:
    """What hack/lib/version.sh stamps (kubeadm refuses an unstamped v0.0.0 build), plus -s -w.

    gitCommit is stamped empty (else it reads "$Format:%H$"): the proxy has no commit for
    k8s.io/kubernetes releases. buildDate is the release's time, to keep the digest stable.
    """
    major, minor = version.split(".")[:2]
    values = {
        "gitVersion": f"v{version}",
        "gitCommit": "",
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": "{release_date}",
    }
    flags = [
        f"-X {pkg}.{key}={val}"
        for pkg in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version")
        for key, val in values.items()
    ]
    return " ".join(["-s", "-w", *flags])


def kube_recipe(version: str) -> Recipe:
    tag = f"v{version}"
    return Recipe(
        name="kubernetes",
        version=version,
        requires={"k8s.io/kubernetes": tag},
        binaries={tool: f"k8s.io/kubernetes/cmd/{tool}" for tool in KUBE_BINARIES},
        ldflags=kube_ldflags(version),
        upstream=f"k8s.io/kubernetes@{tag}",
        # hack/lib/golang.sh's tags for non-debug builds
        tags="selinux,notest,grpcnotrace",
        explicit=True,
    )


def recipes(pins: dict | None = None) -> list[Recipe]:
    pins = pins or load_pins()
    out = []
    for version in pins["etcd"]["versions"]:
        tag = f"v{version}"
        out.append(
            Recipe(
                name="etcd",
                version=version,
                requires={
                    "go.etcd.io/etcd/server/v3": tag,
                    "go.etcd.io/etcd/etcdctl/v3": tag,
                    "go.etcd.io/etcd/etcdutl/v3": tag,
                },
                binaries={
                    "etcd": "./cmd/etcd",
                    "etcdctl": "go.etcd.io/etcd/etcdctl/v3",
                    "etcdutl": "go.etcd.io/etcd/etcdutl/v3",
                },
                ldflags=f"-X go.etcd.io/etcd/api/v3/version.GitSHA={tag}",
                main_sources={"cmd/etcd/main.go": ETCD_MAIN},
            )
        )
    restic = pins["restic"]["version"]
    out.append(
        Recipe(
            name="restic",
            version=restic,
            requires={"github.com/restic/restic": f"v{restic}"},
            binaries={"restic": "github.com/restic/restic/cmd/restic"},
            ldflags=f"-X main.version={restic}",
        )
    )
    rest_server = pins["rest-server"]["version"]
    out.append(
        Recipe(
            name="rest-server",
            version=rest_server,
            requires={"github.com/restic/rest-server": f"v{rest_server}"},
            binaries={"rest-server": "github.com/restic/rest-server/cmd/rest-server"},
            ldflags=f"-X main.version={rest_server}",
        )
    )
    if "kubernetes" in pins:
        out.append(kube_recipe(pins["kubernetes"]["version"]))
    return out


def bin_dir(name: str, version: str) -> Path:
    return cache_dir() / "bin" / f"{name}-{version}"


def binary(name: str, version: str, tool: str | None = None) -> Path:
    """Path of a built tool; raises with the fix when it is not built yet."""
    path = bin_dir(name, version) / (tool or name)
    if not path.exists():
        raise FileNotFoundError(f"{path} is not built; run: python -m lab build")
    return path


def _stamp(recipe: Recipe) -> Path:
    return bin_dir(recipe.name, recipe.version) / ".recipe"


def is_built(recipe: Recipe) -> bool:
    stamp = _stamp(recipe)
    return stamp.exists() and stamp.read_text().strip() == recipe.digest()


def _write_wrapper(recipe: Recipe, src: Path, extra_gomod: str = "") -> None:
    module = f"kubedr.invalid/labbuild/{recipe.name}"
    requires = "\n".join(f"\t{mod} {ver}" for mod, ver in sorted(recipe.requires.items()))
    (src / "go.mod").write_text(f"module {module}\n\ngo 1.24\n\nrequire (\n{requires}\n)\n{extra_gomod}")
    imports = "\n".join(
        f'\t_ "{pkg}"' for pkg in sorted(recipe.binaries.values()) if not pkg.startswith("./")
    )
    # Blank imports of the upstream main packages keep them in the module graph (tools.go idiom).
    (src / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n")
    for rel, text in recipe.main_sources.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _go(args: list[str], cwd: Path, log) -> str:
    env = {**os.environ, **GO_ENV}
    log(f"  $ go {' '.join(args)}")
    proc = subprocess.run(["go", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"go {' '.join(args)} failed in {cwd}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def staging_tag(version: str) -> str:
    """k8s.io/kubernetes v1.Y.Z[-pre] publishes its staging modules as v0.Y.Z[-pre]."""
    match = re.fullmatch(r"v1\.(\d+\.\d+(?:-[0-9A-Za-z.-]+)?)", version)
    if not match:
        raise ValueError(f"not a Kubernetes release version: {version}")
    return f"v0.{match.group(1)}"


def _upstream_gomod(recipe: Recipe, work: Path, log) -> tuple[str, str]:
    """The wrapper's go.mod additions for recipe.upstream, and the upstream release date."""
    path, version = recipe.upstream.split("@")
    info = json.loads(_go(["mod", "download", "-json", recipe.upstream], work, log))
    gomod = json.loads(_go(["mod", "edit", "-json", info["GoMod"]], work, log))
    tag = staging_tag(version)
    replaces = sorted(
        rep["Old"]["Path"]
        for rep in gomod.get("Replace") or []
        if rep["New"]["Path"].startswith("./staging/")
    )
    if not replaces:
        raise RuntimeError(f"{recipe.upstream}: no ./staging replace directives in its go.mod")
    lines = "\n".join(f"\t{mod} => {mod} {tag}" for mod in replaces)
    extra = f"\nreplace (\n{lines}\n)\n"
    godebug = [f"\t{d['Key']}={d['Value']}" for d in gomod.get("Godebug") or []]
    if godebug:
        extra += "\ngodebug (\n" + "\n".join(godebug) + "\n)\n"
    with open(info["Info"]) as fh:
        released = json.load(fh)["Time"]
    log(f"  {path} {version}: {len(replaces)} staging modules replaced with {tag}")
    return extra, released


def build(recipe: Recipe, log=print) -> float:
    """Build one recipe into the cache; returns seconds spent (0 when cached)."""
    if is_built(recipe):
        return 0.0
    if shutil.which("go") is None:
        raise RuntimeError("the Go toolchain is required to build the lab binaries (install Go 1.26+)")
    started = time.monotonic()
    work = cache_dir() / "src" / recipe.key
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log(f"building {recipe.key}")
    extra_gomod, ldflags = "", recipe.ldflags
    if recipe.upstream:
        extra_gomod, released = _upstream_gomod(recipe, work, log)
        ldflags = ldflags.replace("{release_date}", released)
    _write_wrapper(recipe, work, extra_gomod)
    _go(["mod", "tidy"], work, log)
    staging = Path(f"{bin_dir(recipe.name, recipe.version)}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    tags = ["-tags", recipe.tags] if recipe.tags else []
    for tool, pkg in recipe.binaries.items():
        tool_started = time.monotonic()
        _go(["build", *tags, "-ldflags", ldflags, "-o", str(staging / tool), pkg], work, log)
        log(f"  {tool}: {time.monotonic() - tool_started:.0f}s")
    (staging / ".recipe").write_text(recipe.digest() + "\n")
    final = bin_dir(recipe.name, recipe.version)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return time.monotonic() - started


def host_python(log=print) -> Path:
    """A Python for the lab hosts with grpcio importable: the machine's /usr/bin/python3 in a venv."""
    version = load_pins()["host-python"]["grpcio"]
    root = cache_dir() / "host-python" / f"grpcio-{version}"
    python = root / "bin" / "python"
    if (root / ".complete").exists():
        return python
    log(f"building host-python with grpcio {version}")
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(root)], check=True)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # the project venv's pip installs for the same CPython minor version
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", site, f"grpcio=={version}"],
                   check=True)
    subprocess.run([str(python), "-c", "import grpc"], check=True)
    (root / ".complete").write_text(version + "\n")
    return python


def build_all(names: list[str] | None = None, log=print) -> dict[str, float]:
    spent = {}
    if not names or "host-python" in names:
        log(f"host-python: {host_python(log)}")
    for recipe in recipes():
        if names and recipe.name not in names and recipe.key not in names:
            continue
        if not names and recipe.explicit:
            continue
        spent[recipe.key] = build(recipe, log=log)
        state = "cached" if spent[recipe.key] == 0 else f"built in {spent[recipe.key]:.0f}s"
        log(f"{recipe.key}: {state} -> {bin_dir(recipe.name, recipe.version)}")
    if names and "images" in names:  # after the recipes, so `build kubernetes images` works cold
        from . import images  # imports this module

        pins = load_pins()
        started = time.monotonic()
        images.build_images(pins["kubernetes"]["version"], pins["etcd"]["default"], log=log)
        spent["images"] = time.monotonic() - started
    return spent


if __name__ == "__main__":
    build_all(sys.argv[1:])
