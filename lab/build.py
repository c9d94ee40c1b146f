"""Build the lab's pinned upstream binaries through the Go module proxy, cached per version.

`go install pkg@version` refuses modules whose go.mod has replace directives (etcd does),
so every tool is built from a small generated wrapper module that requires the pinned
release; replace directives of dependencies are ignored there, as Go intends.
"""

from __future__ import annotations

import hashlib
import json
import os
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

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"

    def digest(self) -> str:
        blob = json.dumps(
            [self.requires, self.binaries, self.ldflags, self.main_sources, GO_ENV], sort_keys=True
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


GO_ENV = {"CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod -trimpath"}

ETCD_MAIN = """package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
"""


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


def _write_wrapper(recipe: Recipe, src: Path) -> None:
    module = f"kubedr.invalid/labbuild/{recipe.name}"
    requires = "\n".join(f"\t{mod} {ver}" for mod, ver in sorted(recipe.requires.items()))
    (src / "go.mod").write_text(f"module {module}\n\ngo 1.24\n\nrequire (\n{requires}\n)\n")
    imports = "\n".join(
        f'\t_ "{pkg}"' for pkg in sorted(recipe.binaries.values()) if not pkg.startswith("./")
    )
    # Blank imports of the upstream main packages keep them in the module graph (tools.go idiom).
    (src / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n")
    for rel, text in recipe.main_sources.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _go(args: list[str], cwd: Path, log) -> None:
    env = {**os.environ, **GO_ENV}
    log(f"  $ go {' '.join(args)}")
    proc = subprocess.run(["go", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"go {' '.join(args)} failed in {cwd}:\n{proc.stdout}{proc.stderr}")


def build(recipe: Recipe, log=print) -> float:
    """Build one recipe into the cache; returns seconds spent (0 when cached)."""
    if is_built(recipe):
        return 0.0
    if shutil.which("go") is None:
        raise RuntimeError("the Go toolchain is required to build the lab binaries (install Go 1.24+)")
    started = time.monotonic()
    work = cache_dir() / "src" / recipe.key
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    _write_wrapper(recipe, work)
    log(f"building {recipe.key}")
    _go(["mod", "tidy"], work, log)
    staging = Path(f"{bin_dir(recipe.name, recipe.version)}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for tool, pkg in recipe.binaries.items():
        _go(["build", "-ldflags", recipe.ldflags, "-o", str(staging / tool), pkg], work, log)
    (staging / ".recipe").write_text(recipe.digest() + "\n")
    final = bin_dir(recipe.name, recipe.version)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return time.monotonic() - started


def build_all(names: list[str] | None = None, log=print) -> dict[str, float]:
    spent = {}
    for recipe in recipes():
        if names and recipe.name not in names and recipe.key not in names:
            continue
        spent[recipe.key] = build(recipe, log=log)
        state = "cached" if spent[recipe.key] == 0 else f"built in {spent[recipe.key]:.0f}s"
        log(f"{recipe.key}: {state} -> {bin_dir(recipe.name, recipe.version)}")
    return spent


if __name__ == "__main__":
    build_all(sys.argv[1:])
