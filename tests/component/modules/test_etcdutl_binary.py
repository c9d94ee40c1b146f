"""etcdutl_binary against a real containerd (private root, state and socket) holding an etcd image built as
the lab builds its images, with the real etcdutl of each pinned etcd version in it."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from ansible_collections.kubedr.kubeadm.plugins.modules import etcdutl_binary

from lab import build, images

CONTAINERD = "/usr/bin/containerd"
CTR = "/usr/bin/ctr"
CONFIG = """\
version = 2
root = "{root}/root"
state = "{root}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{root}/containerd.sock"
"""


@pytest.fixture(scope="module")
def containerd(tmp_path_factory):
    if not (os.path.exists(CONTAINERD) and os.path.exists(CTR)):
        pytest.skip("containerd is not installed (make deps)")
    root = tmp_path_factory.mktemp("containerd")
    (root / "config.toml").write_text(CONFIG.format(root=root))
    sock = root / "containerd.sock"
    with open(root / "log", "wb") as log:
        proc = subprocess.Popen([CONTAINERD, "--config", str(root / "config.toml")], stdout=log, stderr=log,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([CTR, "--address", str(sock), "version"], capture_output=True,
                             check=False).returncode != 0:
            assert proc.poll() is None and time.monotonic() < deadline, (root / "log").read_text()[-2000:]
            time.sleep(0.2)
        yield sock
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(20)


def ctr(sock, *args) -> str:
    return subprocess.run([CTR, "--address", str(sock), "--namespace", "k8s.io", *args], check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def etcd_image(containerd, etcd_version, tmp_path_factory):
    """kubedr.test/etcd:<version>-0 in containerd: etcd's three binaries in /usr/local/bin, as upstream."""
    try:
        files = [(f"usr/local/bin/{t}", build.binary("etcd", etcd_version, t), 0o755)
                 for t in images.ETCD_TOOLS]
    except FileNotFoundError as e:
        pytest.skip(str(e))
    ref = f"kubedr.test/etcd:{etcd_version}-0"
    archive = tmp_path_factory.mktemp("image") / "etcd.tar"
    images.write_docker_archive(archive, ref, files)
    ctr(containerd, "images", "import", str(archive))
    return ref


def params(sock, tmp_path, **extra) -> dict:
    return {"containerd_address": str(sock), "tools_dir": str(tmp_path / "tools"),
            "manifest": str(tmp_path / "manifests/etcd.yaml"), **extra}


def write_manifest(tmp_path, image):
    path = tmp_path / "manifests/etcd.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command:\n    - etcd\n"
                    f"    image: {image}\n    name: etcd\n")


def test_reads_etcdutl_out_of_the_manifests_image_once(run_module, containerd, etcd_image, etcd_version,
                                                       tmp_path):
    write_manifest(tmp_path, etcd_image)
    first = run_module(etcdutl_binary, params(containerd, tmp_path))
    found = first["etcdutl"]
    assert first["changed"] is True, first
    assert found["source"] == "image" and found["image"] == etcd_image and found["version"] == etcd_version
    assert found["path"].startswith(str(tmp_path / "tools") + "/etcdutl-")
    assert oct(os.stat(tmp_path / "tools").st_mode & 0o777) == "0o700"
    with open(found["path"], "rb") as copy:
        assert copy.read() == build.binary("etcd", etcd_version, "etcdutl").read_bytes()
    assert os.listdir(tmp_path / "tools") == [os.path.basename(found["path"])]  # no .part left
    again = run_module(etcdutl_binary, params(containerd, tmp_path))
    assert again["changed"] is False and again["etcdutl"] == found


def test_check_mode_writes_nothing(run_module, containerd, etcd_image, tmp_path):
    result = run_module(etcdutl_binary,
                        params(containerd, tmp_path, image=etcd_image, _ansible_check_mode=True))
    assert result["changed"] is True and result["etcdutl"]["source"] == "image"
    assert not (tmp_path / "tools").exists()


def test_the_only_etcd_image_without_a_manifest(run_module, containerd, etcd_image, tmp_path):
    for line in ctr(containerd, "images", "ls", "-q").split():
        if line != etcd_image:  # the other version's, from the fixture's earlier parameter
            ctr(containerd, "images", "rm", line)
    result = run_module(etcdutl_binary, params(containerd, tmp_path))
    assert result["etcdutl"]["image"] == etcd_image and result["changed"] is True
    ctr(containerd, "images", "tag", etcd_image, "kubedr.test/etcd:second")
    try:
        two = run_module(etcdutl_binary, params(containerd, tmp_path / "other"))
    finally:
        ctr(containerd, "images", "rm", "kubedr.test/etcd:second")
    assert two["failed"] is True and "2 etcd images in containerd" in two["msg"]
    assert f"{etcd_image}" in two["msg"] and "name one with image" in two["msg"]


def test_missing_image_names_what_it_tried(run_module, containerd, etcd_image, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no etcdutl to fall back on; ctr given by path
    write_manifest(tmp_path, "registry.k8s.io/etcd:3.4.99-0")
    result = run_module(etcdutl_binary, params(containerd, tmp_path, ctr_path=CTR))
    assert result["failed"] is True
    assert "registry.k8s.io/etcd:3.4.99-0 is not in containerd" in result["msg"]
    assert "no etcdutl on the PATH" in result["msg"] and "set etcdutl_path" in result["msg"]
    assert not (tmp_path / "tools").exists()


def test_a_given_path_is_only_checked(run_module, etcd_version, tmp_path):
    tool = str(build.binary("etcd", etcd_version, "etcdutl"))
    result = run_module(etcdutl_binary, {"path": tool, "tools_dir": str(tmp_path / "tools")})
    assert result["changed"] is False
    assert result["etcdutl"] == {"path": tool, "version": etcd_version, "source": "path", "image": None,
                                 "digest": None}
    bad = run_module(etcdutl_binary, {"path": str(tmp_path / "nope")})
    assert bad["failed"] is True and "is not an executable file" in bad["msg"]
