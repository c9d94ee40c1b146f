"""Container images for the kubeadm lab, built here: the machine has no registry and no internet.

Every image is one uncompressed layer in the docker-archive (`docker save`) layout, which
`ctr -n k8s.io images import` reads. The archives are deterministic (sorted entries, fixed mtimes,
root ownership), so equal inputs give equal bytes and so equal image IDs. The binaries going in
are static (CGO_ENABLED=0 Go builds, busybox-static, a `gcc -static` pause), so the images need
no libc and hold nothing else.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import build

# bump when what an image holds or how it is written changes for the same inputs
LAYOUT_VERSION = 1
REPO = "kubedr.lab"
PATH_ENV = "PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CREATED = "1970-01-01T00:00:00Z"  # matches the fixed tar mtime below
MTIME = 0
# what the lab builds of kubeadm's list; kube-proxy and coredns are addons the lab skips
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
KEPT = (*COMPONENTS, "etcd", "pause")
SKIPPED = ("kube-proxy", "coredns")
ETCD_TOOLS = ("etcd", "etcdctl", "etcdutl")
PAUSE_SOURCE = Path(__file__).with_name("pause.c")
PAUSE_CFLAGS = ("-static", "-Os", "-s", "-Wall", "-Werror")
BUSYBOX = Path("/bin/busybox")
BUSYBOX_PACKAGE = "busybox-static"
TMP_DIR = (("tmp", 0o1777),)  # Go's os.TempDir and sh heredocs want a /tmp

Source = Path | bytes
FileEntry = tuple[str, Source, int]  # path in the image, content, mode


def _arcname(name: str) -> str:
    """The layer's spelling of an image path: relative, no '.' or '..' parts."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"bad path for an image: {name!r}")
    return "/".join(parts)


def _tarinfo(name: str, kind: bytes, mode: int, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = linkname
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


class _HashingWriter:
    """Write-only file that hashes what passes through; tarfile needs write() and tell()."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.raw.write(data)
        self.sha.update(data)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size


def _layer_entries(
    files: Sequence[FileEntry], symlinks: Mapping[str, str], dirs: Iterable[tuple[str, int]]
) -> list[tuple[str, str, object, int]]:
    """(path, kind, payload, mode) for every entry, parent directories included, in tar order."""
    entries: dict[str, tuple[str, object, int]] = {}

    def put(path: str, kind: str, payload: object, mode: int) -> None:
        if path in entries:
            raise ValueError(f"{path} is in the image twice")
        entries[path] = (kind, payload, mode)

    for path, mode in dirs:
        put(_arcname(path), "dir", None, mode)
    for path, source, mode in files:
        put(_arcname(path), "file", source, mode)
    for path, target in symlinks.items():
        put(_arcname(path), "symlink", target, 0o777)
    for path in list(entries):
        parts = path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            kind = entries.setdefault(parent, ("dir", None, 0o755))[0]
            if kind != "dir":
                raise ValueError(f"{parent} is a {kind} but {path} is under it")
    # parents before children: compare path components, not raw strings
    return [(path, *entries[path]) for path in sorted(entries, key=lambda p: p.split("/"))]


def _write_layer(out: _HashingWriter, entries: list[tuple[str, str, object, int]]) -> None:
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, kind, payload, mode in entries:
            if kind == "dir":
                tar.addfile(_tarinfo(path, tarfile.DIRTYPE, mode))
            elif kind == "symlink":
                tar.addfile(_tarinfo(path, tarfile.SYMTYPE, mode, linkname=str(payload)))
            elif isinstance(payload, bytes):
                tar.addfile(_tarinfo(path, tarfile.REGTYPE, mode, len(payload)), io.BytesIO(payload))
            else:
                with open(payload, "rb") as fh:  # streamed by tarfile in chunks
                    size = os.fstat(fh.fileno()).st_size
                    tar.addfile(_tarinfo(path, tarfile.REGTYPE, mode, size), fh)


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def check_ref(ref: str) -> None:
    """Refuse what containerd would not take as a tagged reference, before writing anything."""
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag):
        raise ValueError(f"not a tagged image reference: {ref!r}")
    if not re.fullmatch(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*", name):
        raise ValueError(f"not a valid image name: {name!r}")


def write_docker_archive(
    path: Path,
    tag: str,
    layer_files: Sequence[FileEntry],
    symlinks: Mapping[str, str] | None = None,
    entrypoint: Sequence[str] | None = None,
    cmd: Sequence[str] | None = None,
    env: Sequence[str] = (),
    dirs: Iterable[tuple[str, int]] = (),
    arch: str = "amd64",
    workdir: str = "/",
) -> None:
    """Write a single-layer image as `docker save` would, to `<path>.part` then renamed.

    `tag` is the full reference (repo/name:tag). Parent directories of every file and symlink
    become directory entries (0755); `dirs` adds or overrides directories with their modes.
    The layer goes to a temp file first: its sha256 names it and must be known before the
    config; file contents are streamed, never held in memory.
    """
    check_ref(tag)
    entries = _layer_entries(layer_files, symlinks or {}, dirs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    layer_part = path.with_name(path.name + ".layer.part")
    try:
        with open(layer_part, "wb") as raw:
            layer = _HashingWriter(raw)
            _write_layer(layer, entries)
        layer_hex = layer.sha.hexdigest()
        config = _json({
            "architecture": arch,
            "os": "linux",
            "created": CREATED,
            "config": {
                "Env": list(env),
                "Entrypoint": list(entrypoint) if entrypoint is not None else None,
                "Cmd": list(cmd) if cmd is not None else None,
                "WorkingDir": workdir,
            },
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_hex}"]},
            "history": [{"created": CREATED, "created_by": "kubedr lab/images.py"}],
        })
        config_name = f"{hashlib.sha256(config).hexdigest()}.json"
        layer_name = f"{layer_hex}/layer.tar"
        manifest = _json([{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}])
        with tarfile.open(part, "w", format=tarfile.PAX_FORMAT) as tar, open(layer_part, "rb") as fh:
            outer = [
                (_tarinfo(layer_hex, tarfile.DIRTYPE, 0o755), None),
                (_tarinfo(layer_name, tarfile.REGTYPE, 0o644, layer.size), fh),
                (_tarinfo(config_name, tarfile.REGTYPE, 0o644, len(config)), io.BytesIO(config)),
                (_tarinfo("manifest.json", tarfile.REGTYPE, 0o644, len(manifest)), io.BytesIO(manifest)),
            ]
            for info, fileobj in sorted(outer, key=lambda item: item[0].name.split("/")):
                tar.addfile(info, fileobj)
        os.replace(part, path)
    finally:
        layer_part.unlink(missing_ok=True)
        part.unlink(missing_ok=True)


def require_static(path: Path) -> None:
    """Refuse an executable that needs a dynamic loader (ELF PT_INTERP): the images have no libc."""
    with open(path, "rb") as fh:
        head = fh.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            raise ValueError(f"{path} is not a 64-bit little-endian ELF executable")
        (phoff,) = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        fh.seek(phoff)
        table = fh.read(phentsize * phnum)
    for i in range(phnum):
        (p_type,) = struct.unpack_from("<I", table, i * phentsize)
        if p_type == 3:  # PT_INTERP
            raise ValueError(f"{path} is dynamically linked; the lab's images hold no libc")


def pause_binary(log: Callable[[str], object] = print) -> Path:
    """lab/pause.c compiled statically into the cache, once per source and flags."""
    key = hashlib.sha256(PAUSE_SOURCE.read_bytes() + _json(PAUSE_CFLAGS)).hexdigest()[:16]
    out = build.cache_dir() / "bin" / f"pause-{key}" / "pause"
    if out.exists():
        return out
    if shutil.which("gcc") is None:
        raise RuntimeError("gcc (with libc6-dev's libc.a) is required to build the pause binary")
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name("pause.part")
    argv = ["gcc", *PAUSE_CFLAGS, "-o", str(part), str(PAUSE_SOURCE)]
    log(f"  $ {' '.join(argv)}")
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        part.unlink(missing_ok=True)
        raise RuntimeError(f"building pause failed:\n{proc.stdout}{proc.stderr}")
    os.replace(part, out)
    return out


def sanitize_tag(text: str) -> str:
    """A Debian version as an image tag: [A-Za-z0-9_.-], not starting with '.' or '-', <= 128."""
    tag = re.sub(r"[^A-Za-z0-9_.-]", "_", text)
    if not tag or tag[0] in ".-":
        tag = "_" + tag
    return tag[:128]


def busybox_version() -> str:
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Version}", BUSYBOX_PACKAGE],
                          capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"{BUSYBOX_PACKAGE} is not installed (apt-get install {BUSYBOX_PACKAGE})")
    return proc.stdout.strip()


def busybox_applets() -> list[str]:
    proc = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True)
    return sorted({a for a in proc.stdout.split() if a != "busybox" and "/" not in a})


def select_images(listed: Iterable[str], etcd_version: str, repo: str = REPO) -> dict[str, str]:
    """kubeadm's image list -> {name: ref} for what the lab runs, etcd retagged to the lab's etcd.

    The lab's ClusterConfiguration sets etcd.local.imageTag to `<etcd_version>-0`.
    """
    out: dict[str, str] = {}
    for ref in listed:
        if not ref.startswith(f"{repo}/"):
            continue
        path, sep, tag = ref[len(repo) + 1:].rpartition(":")
        name = path.rsplit("/", 1)[-1]
        if not sep or name in SKIPPED:
            continue
        if name not in KEPT:
            raise RuntimeError(f"kubeadm asks for an image the lab cannot build: {ref}")
        if name == "etcd":
            tag = f"{etcd_version}-0"
        out[name] = f"{repo}/{name}:{tag}"
    missing = sorted(set(KEPT) - out.keys())
    if missing:
        raise RuntimeError(f"kubeadm's image list lacks {', '.join(missing)}: {sorted(listed)}")
    return out


def kubeadm_image_list(kube_version: str, repo: str = REPO) -> list[str]:
    """What the cached kubeadm would pull; needs no network when the version is given."""
    kubeadm = build.binary("kubernetes", kube_version, "kubeadm")
    argv = [str(kubeadm), "config", "images", "list",
            "--kubernetes-version", f"v{kube_version}", "--image-repository", repo]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout.split()


def images_for(kube_version: str, etcd_version: str, repo: str = REPO) -> dict[str, str]:
    """{name: ref} of every image the lab needs: kubeadm's control plane, pause, the workload."""
    refs = select_images(kubeadm_image_list(kube_version, repo), etcd_version, repo)
    refs["workload"] = f"{repo}/workload:busybox-{sanitize_tag(busybox_version())}"
    return refs


@dataclass(frozen=True)
class ImageSpec:
    """What goes into one image; its digest names the cached archive."""

    ref: str
    files: tuple[FileEntry, ...]
    symlinks: tuple[tuple[str, str], ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[str, ...] = (PATH_ENV,)
    dirs: tuple[tuple[str, int], ...] = ()

    def digest(self) -> str:
        def ident(source: Source) -> dict:
            if isinstance(source, bytes):
                return {"sha256": hashlib.sha256(source).hexdigest()}
            st = source.stat()  # binaries are replaced by rename on rebuild: size+mtime suffice
            return {"path": str(source), "size": st.st_size, "mtime_ns": st.st_mtime_ns}

        blob = _json({
            "layout": LAYOUT_VERSION, "ref": self.ref,
            "files": [[name, ident(source), mode] for name, source, mode in self.files],
            "symlinks": self.symlinks, "entrypoint": self.entrypoint, "cmd": self.cmd,
            "env": self.env, "dirs": self.dirs,
        })
        return hashlib.sha256(blob).hexdigest()[:16]

    @property
    def stem(self) -> str:
        name, _, tag = self.ref.rsplit("/", 1)[-1].rpartition(":")
        return f"{name}-{tag}"

    def archive(self) -> Path:
        return images_dir() / f"{self.stem}-{self.digest()}.tar"

    def write(self, path: Path) -> None:
        for _, source, _ in self.files:
            if isinstance(source, Path):
                require_static(source)
        write_docker_archive(path, self.ref, self.files, dict(self.symlinks), self.entrypoint,
                             self.cmd, self.env, self.dirs)


def images_dir() -> Path:
    return build.cache_dir() / "images"


def image_specs(kube_version: str, etcd_version: str, repo: str = REPO,
                log: Callable[[str], object] = print) -> dict[str, ImageSpec]:
    refs = images_for(kube_version, etcd_version, repo)
    specs = {
        name: ImageSpec(
            refs[name],
            files=((f"usr/local/bin/{name}", build.binary("kubernetes", kube_version, name), 0o755),),
            dirs=TMP_DIR,
        )
        for name in COMPONENTS
    }
    specs["etcd"] = ImageSpec(
        refs["etcd"],
        files=tuple((f"usr/local/bin/{t}", build.binary("etcd", etcd_version, t), 0o755) for t in ETCD_TOOLS),
        dirs=TMP_DIR,
    )
    specs["pause"] = ImageSpec(refs["pause"], files=(("pause", pause_binary(log), 0o755),),
                               entrypoint=("/pause",))
    specs["workload"] = ImageSpec(
        refs["workload"],
        files=(("bin/busybox", BUSYBOX, 0o755),),
        symlinks=tuple((f"bin/{applet}", "/bin/busybox") for applet in busybox_applets()),
        cmd=("sh",),
        dirs=TMP_DIR,
    )
    return specs


def build_images(kube_version: str, etcd_version: str, log: Callable[[str], object] = print,
                 repo: str = REPO) -> dict[str, Path]:
    """Every image the lab needs as a docker-archive under cache_dir()/images: {ref: path}.

    Rebuilt only when an input changes (new digest, new file name); older archives of the
    same image are then removed.
    """
    out: dict[str, Path] = {}
    for spec in image_specs(kube_version, etcd_version, repo, log).values():
        started = time.monotonic()
        path = spec.archive()
        state = "cached"
        if not path.exists():
            spec.write(path)
            state = "built"
            for stale in path.parent.glob(f"{spec.stem}-*.tar"):
                if stale != path and re.fullmatch(r"[0-9a-f]{16}", stale.stem[len(spec.stem) + 1:]):
                    stale.unlink()
        size = path.stat().st_size / 1e6
        log(f"{spec.ref}: {state} in {time.monotonic() - started:.1f}s -> {path} ({size:.1f} MB)")
        out[spec.ref] = path
    return out
