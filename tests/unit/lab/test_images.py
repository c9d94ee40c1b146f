"""The lab's locally built images: docker-archive layout read back, determinism, pause, caching."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from lab import images

REF = "kubedr.lab/demo:v1.2.3"


def read_archive(path: Path) -> tuple[dict, dict, bytes, list[str]]:
    """(manifest entry, config, layer bytes, outer member names), checking the names' digests."""
    with tarfile.open(path) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())
        assert len(manifest) == 1
        entry = manifest[0]
        config_bytes = tar.extractfile(entry["Config"]).read()
        (layer_name,) = entry["Layers"]
        layer = tar.extractfile(layer_name).read()
    config = json.loads(config_bytes)
    assert entry["Config"] == hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_hex = hashlib.sha256(layer).hexdigest()
    assert layer_name == f"{layer_hex}/layer.tar"
    assert config["rootfs"] == {"type": "layers", "diff_ids": [f"sha256:{layer_hex}"]}
    return entry, config, layer, names


def layer_members(layer: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        return tar.getmembers()


def demo_archive(path: Path, binary: Path, **overrides) -> None:
    kwargs = dict(
        layer_files=[("/usr/local/bin/tool", binary, 0o755), ("etc/motd", b"hello\n", 0o644)],
        symlinks={"bin/sh": "/usr/local/bin/tool", "bin/ls": "/usr/local/bin/tool"},
        entrypoint=None, cmd=["sh"], env=[images.PATH_ENV], dirs=[("tmp", 0o1777)],
    )
    images.write_docker_archive(path, REF, **(kwargs | overrides))


@pytest.fixture
def binary(tmp_path) -> Path:
    path = tmp_path / "src" / "tool"
    path.parent.mkdir()
    path.write_bytes(os.urandom(300_000))
    return path


def test_archive_is_docker_save_layout_with_parents_and_symlinks(tmp_path, binary):
    out = tmp_path / "out" / "demo.tar"
    demo_archive(out, binary)
    assert sorted(p.name for p in out.parent.iterdir()) == ["demo.tar"]  # no .part left over

    entry, config, layer, names = read_archive(out)
    assert entry["RepoTags"] == [REF]
    assert names[-1] == "manifest.json"
    assert config["architecture"] == "amd64" and config["os"] == "linux"
    assert config["config"] == {
        "Entrypoint": None, "Cmd": ["sh"], "Env": [images.PATH_ENV], "WorkingDir": "/"}

    members = layer_members(layer)
    by_name = {m.name: m for m in members}
    assert [m.name for m in members] == [
        "bin", "bin/ls", "bin/sh", "etc", "etc/motd", "tmp", "usr", "usr/local", "usr/local/bin",
        "usr/local/bin/tool",
    ]
    for name in ("bin", "etc", "usr", "usr/local", "usr/local/bin"):
        assert by_name[name].isdir() and by_name[name].mode == 0o755
    assert by_name["tmp"].isdir() and by_name["tmp"].mode == 0o1777
    assert by_name["bin/sh"].issym() and by_name["bin/sh"].linkname == "/usr/local/bin/tool"
    assert by_name["usr/local/bin/tool"].isreg() and by_name["usr/local/bin/tool"].mode == 0o755
    assert all(m.uid == 0 and m.gid == 0 and m.mtime == images.MTIME for m in members)
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        assert tar.extractfile("usr/local/bin/tool").read() == binary.read_bytes()
        assert tar.extractfile("etc/motd").read() == b"hello\n"


def test_same_inputs_give_the_same_bytes(tmp_path, binary):
    demo_archive(tmp_path / "a.tar", binary)
    os.utime(binary, (1_000_000, 1_000_000))  # a source's own mtime does not leak into the layer
    demo_archive(tmp_path / "b.tar", binary)
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()

    binary.write_bytes(binary.read_bytes() + b"x")
    demo_archive(tmp_path / "c.tar", binary)
    assert (tmp_path / "c.tar").read_bytes() != (tmp_path / "a.tar").read_bytes()


@pytest.mark.parametrize("overrides, message", [
    ({"symlinks": {"usr/local": "/opt"}}, "usr/local is a symlink"),
    ({"symlinks": {"etc/motd": "/x"}}, "etc/motd is in the image twice"),
    ({"layer_files": [("../escape", b"", 0o644)]}, "bad path"),
])
def test_conflicting_or_escaping_paths_are_refused(tmp_path, binary, overrides, message):
    with pytest.raises(ValueError, match=message):
        demo_archive(tmp_path / "bad.tar", binary, **overrides)
    assert list(tmp_path.glob("bad.tar*")) == []


@pytest.mark.parametrize("ref", ["kubedr.lab/demo", "kubedr.lab/Demo:1", "kubedr.lab/demo:-1", "demo:a/b"])
def test_bad_references_are_refused(tmp_path, ref):
    with pytest.raises(ValueError):
        images.write_docker_archive(tmp_path / "x.tar", ref, [("a", b"", 0o644)])


def test_kubeadm_list_is_narrowed_and_etcd_retagged():
    listed = [
        "kubedr.lab/kube-apiserver:v1.36.3", "kubedr.lab/kube-controller-manager:v1.36.3",
        "kubedr.lab/kube-scheduler:v1.36.3", "kubedr.lab/kube-proxy:v1.36.3",
        "kubedr.lab/coredns:v1.12.1", "kubedr.lab/pause:3.10.1", "kubedr.lab/etcd:3.6.8-0",
    ]
    assert images.select_images(listed, "3.6.16") == {
        "kube-apiserver": "kubedr.lab/kube-apiserver:v1.36.3",
        "kube-controller-manager": "kubedr.lab/kube-controller-manager:v1.36.3",
        "kube-scheduler": "kubedr.lab/kube-scheduler:v1.36.3",
        "pause": "kubedr.lab/pause:3.10.1",
        "etcd": "kubedr.lab/etcd:3.6.16-0",
    }
    with pytest.raises(RuntimeError, match="lacks pause"):
        images.select_images([r for r in listed if "pause" not in r], "3.6.16")
    with pytest.raises(RuntimeError, match="cannot build"):
        images.select_images([*listed, "kubedr.lab/something-new:v1"], "3.6.16")


def test_debian_versions_become_valid_tags():
    assert images.sanitize_tag("1:1.35.0-4+deb12u1+b1") == "1_1.35.0-4_deb12u1_b1"
    assert images.sanitize_tag("~rc1") == "_rc1"
    assert images.sanitize_tag(".x") == "_.x"
    assert len(images.sanitize_tag("9" * 300)) == 128


@pytest.fixture(scope="module")
def pause(tmp_path_factory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KUBEDR_CACHE", str(tmp_path_factory.mktemp("cache")))
        return images.pause_binary(log=lambda _: None)


def wait_signals_blocked(pid: int) -> None:
    """Wait until pause sits in sigwaitinfo: signalled earlier, it dies of the default action."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if "sigtimedwait" in Path(f"/proc/{pid}/wchan").read_text():
            return
        time.sleep(0.01)
    raise AssertionError("pause never waited for signals")


def test_pause_is_static_and_prints_its_version(pause):
    images.require_static(pause)
    proc = subprocess.run([pause, "-v"], capture_output=True, text=True, timeout=5, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("pause ")
    assert subprocess.run([pause, "--bogus"], capture_output=True, timeout=5, check=False).returncode == 2


def dynamic_executable() -> Path:
    python = Path(sys.executable).resolve()
    if subprocess.run(["ldd", python], capture_output=True, check=False).returncode != 0:
        pytest.skip(f"{python} is not dynamically linked")
    return python


def test_a_dynamic_executable_is_refused():
    with pytest.raises(ValueError, match="dynamically linked"):
        images.require_static(dynamic_executable())
    with pytest.raises(ValueError, match="not a 64-bit"):
        images.require_static(Path(images.__file__))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_pause_exits_0_on_sigterm_and_sigint(pause, sig):
    proc = subprocess.Popen([pause])
    try:
        wait_signals_blocked(proc.pid)
        time.sleep(0.1)
        assert proc.poll() is None  # still waiting
        proc.send_signal(sig)
        assert proc.wait(timeout=1) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_pause_reaps_children_it_inherits(pause):
    # sh forks a child, then becomes pause: the child is pause's when it exits
    proc = subprocess.Popen(["sh", "-c", f"sleep 0.3 & exec {pause}"])
    try:
        wait_signals_blocked(proc.pid)
        deadline = time.monotonic() + 5
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        seen = False
        while time.monotonic() < deadline:
            kids = children.read_text().split()
            seen = seen or bool(kids)
            if seen and not kids:
                break
            time.sleep(0.02)
        assert seen and not children.read_text().split()  # a zombie would stay listed
        proc.terminate()
        assert proc.wait(timeout=1) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


KUBEADM_LIST = """#!/bin/sh
echo "$@" > "$(dirname "$0")/args"
for name in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do echo "$7/$name:v9.9.9"; done
echo "$7/coredns:v1.12.1"; echo "$7/pause:3.10.1"; echo "$7/etcd:3.6.8-0"
"""


@pytest.fixture
def fake_cache(tmp_path, monkeypatch, pause) -> Path:
    """A cache with a fake kubeadm and copies of the static pause as every control-plane binary."""
    if not images.BUSYBOX.exists() or subprocess.run(
            ["dpkg-query", "-W", images.BUSYBOX_PACKAGE], capture_output=True, check=False).returncode != 0:
        pytest.skip("busybox-static is not installed")
    cache = tmp_path / "cache"
    kube = cache / "bin" / "kubernetes-9.9.9"
    etcd = cache / "bin" / "etcd-3.9.9"
    for directory, tools in ((kube, images.COMPONENTS), (etcd, images.ETCD_TOOLS)):
        directory.mkdir(parents=True)
        for tool in tools:
            shutil.copy(pause, directory / tool)
    (kube / "kubeadm").write_text(KUBEADM_LIST)
    (kube / "kubeadm").chmod(0o755)
    monkeypatch.setenv("KUBEDR_CACHE", str(cache))
    return cache


def test_build_images_builds_once_and_again_when_an_input_changes(fake_cache):
    logs: list[str] = []
    built = images.build_images("9.9.9", "3.9.9", log=logs.append)
    args = (fake_cache / "bin" / "kubernetes-9.9.9" / "args").read_text().split()
    assert args == ["config", "images", "list", "--kubernetes-version", "v9.9.9",
                    "--image-repository", "kubedr.lab"]
    busybox_tag = images.sanitize_tag(images.busybox_version())
    assert sorted(built) == sorted([
        "kubedr.lab/kube-apiserver:v9.9.9", "kubedr.lab/kube-controller-manager:v9.9.9",
        "kubedr.lab/kube-scheduler:v9.9.9", "kubedr.lab/etcd:3.9.9-0", "kubedr.lab/pause:3.10.1",
        f"kubedr.lab/workload:busybox-{busybox_tag}",
    ])
    assert sum(" built in " in line for line in logs) == 6
    for ref, path in built.items():
        assert path.parent == fake_cache / "images"
        assert read_archive(path)[0]["RepoTags"] == [ref]

    _manifest, config, layer, _files = read_archive(built["kubedr.lab/etcd:3.9.9-0"])
    assert config["config"]["Entrypoint"] is None and config["config"]["Env"] == [images.PATH_ENV]
    assert {"usr/local/bin/etcd", "usr/local/bin/etcdctl", "usr/local/bin/etcdutl"} <= {
        m.name for m in layer_members(layer)}
    _manifest, config, layer, _files = read_archive(built["kubedr.lab/pause:3.10.1"])
    assert config["config"]["Entrypoint"] == ["/pause"]
    assert [m.name for m in layer_members(layer)] == ["pause"]
    _manifest, config, layer, _files = read_archive(built[f"kubedr.lab/workload:busybox-{busybox_tag}"])
    assert config["config"]["Cmd"] == ["sh"] and config["config"]["Entrypoint"] is None
    links = {m.name: m.linkname for m in layer_members(layer) if m.issym()}
    assert links["bin/sh"] == "/bin/busybox" and len(links) == len(images.busybox_applets()) > 100

    logs.clear()
    assert images.build_images("9.9.9", "3.9.9", log=logs.append) == built
    assert sum(" cached in " in line for line in logs) == 6

    apiserver = fake_cache / "bin" / "kubernetes-9.9.9" / "kube-apiserver"
    shutil.copy(apiserver, apiserver.with_name("new"))
    apiserver.with_name("new").rename(apiserver)  # how a rebuild replaces a binary
    logs.clear()
    rebuilt = images.build_images("9.9.9", "3.9.9", log=logs.append)
    old, new = built["kubedr.lab/kube-apiserver:v9.9.9"], rebuilt["kubedr.lab/kube-apiserver:v9.9.9"]
    assert new != old and new.exists() and not old.exists()
    assert [line.split(": ")[0] for line in logs if " built in " in line] == [
        "kubedr.lab/kube-apiserver:v9.9.9"]
    on_disk = sorted(p.name for p in (fake_cache / "images").iterdir())
    assert on_disk == sorted(p.name for p in rebuilt.values())


def test_a_dynamic_binary_never_gets_into_an_image(fake_cache):
    shutil.copy(dynamic_executable(), fake_cache / "bin" / "kubernetes-9.9.9" / "kube-scheduler")
    with pytest.raises(ValueError, match="kube-scheduler is dynamically linked"):
        images.build_images("9.9.9", "3.9.9", log=lambda _: None)
