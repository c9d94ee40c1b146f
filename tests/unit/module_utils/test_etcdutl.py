"""_etcdutl's parsing and layer rules on real tar streams and real ctr/manifest texts (the containerd
round trip is tests/component/modules/test_etcdutl_binary.py)."""

from __future__ import annotations

import io
import tarfile

import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils import _etcdutl

INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER = "application/vnd.docker.distribution.manifest.v2+json"
OCI = "application/vnd.oci.image.manifest.v1+json"
# `ctr images ls` as containerd prints it: columns padded to the widest cell
ROWS = [
    ("REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"),
    ("registry.k8s.io/etcd:3.6.16-0", INDEX, "sha256:aaaa" + "0" * 60, "21.4 MiB", "linux/amd64",
     "io.cri-containerd.image=managed"),
    ("registry.k8s.io/kube-apiserver:v1.36", DOCKER, "sha256:bbbb" + "0" * 60, "27.1 MiB", "linux/amd64",
     "-"),
    ("sha256:cccc" + "0" * 59, DOCKER, "sha256:cccc" + "0" * 60, "21.4 MiB", "linux/amd64", "-"),
    ("example.org/etcd-operator:1.0", OCI, "sha256:dddd" + "0" * 60, "10 MiB", "linux/amd64", "-"),
]
WIDTHS = [max(len(row[i]) for row in ROWS) for i in range(len(ROWS[0]))]
LISTING = "".join(" ".join(cell.ljust(width) for cell, width in zip(row, WIDTHS, strict=True)).rstrip() + "\n"
                  for row in ROWS)


def layer(*entries) -> tarfile.TarFile:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, kind in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.SYMTYPE:
                info.linkname = "etcd"
            tar.addfile(info, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
    data.seek(0)
    return tarfile.open(fileobj=data, mode="r|*")


def test_manifest_image():
    text = "spec:\n  containers:\n  - command:\n    - etcd\n    image: registry.k8s.io/etcd:3.6.16-0\n"
    assert _etcdutl.manifest_image(text) == "registry.k8s.io/etcd:3.6.16-0"
    assert _etcdutl.manifest_image("  - image: 'r.example:5000/etcd:3.5.21-0'  # pinned\n") == \
        "r.example:5000/etcd:3.5.21-0"
    assert _etcdutl.manifest_image("kind: Pod\n") is None


@pytest.mark.parametrize("ref, version", [
    ("registry.k8s.io/etcd:3.6.16-0", "3.6.16"), ("r.example:5000/etcd:v3.5.21", "3.5.21"),
    ("r.example:5000/etcd", None), ("etcd:latest", None),
    ("registry.k8s.io/etcd:3.5.9-0@sha256:ab", "3.5.9")])
def test_tag_version(ref, version):
    assert _etcdutl.tag_version(ref) == version


def test_listing_finds_etcd_images_only():
    assert _etcdutl.etcd_images(LISTING) == [("registry.k8s.io/etcd:3.6.16-0", "sha256:aaaa" + "0" * 60)]
    assert _etcdutl.image_digest(LISTING, "registry.k8s.io/kube-apiserver:v1.36") == "sha256:bbbb" + "0" * 60
    assert _etcdutl.image_digest(LISTING, "registry.k8s.io/etcd:3.5.0-0") is None


def test_platform_manifest():
    index = {"manifests": [{"digest": "sha256:arm", "platform": {"os": "linux", "architecture": "arm64"}},
                           {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}},
                           {"digest": "sha256:win", "platform": {"os": "windows", "architecture": "amd64"}}]}
    assert _etcdutl.platform_manifest(index, "amd64") == "sha256:amd"
    assert _etcdutl.platform_manifest(index, "s390x") is None


def test_layer_rules():
    member, deleted = _etcdutl.find_in_layer(layer(("usr/", tarfile.DIRTYPE),
                                                   ("./usr/local/bin/etcdutl", tarfile.REGTYPE)))
    assert member.name == "./usr/local/bin/etcdutl" and not deleted
    assert _etcdutl.find_in_layer(layer(("usr/local/bin/.wh.etcdutl", tarfile.REGTYPE))) == (None, True)
    assert _etcdutl.find_in_layer(layer(("usr/local/bin/etcd", tarfile.REGTYPE))) == (None, False)
    with pytest.raises(_etcdutl.EtcdutlError, match="not a regular file"):
        _etcdutl.find_in_layer(layer(("usr/local/bin/etcdutl", tarfile.SYMTYPE)))


def test_tool_version():
    assert _etcdutl.tool_version("etcdutl version: 3.6.16\nAPI version: 3.6\n") == "3.6.16"
    assert _etcdutl.tool_version("etcdctl version: 3.5.21\n") is None


def test_nothing_anywhere_says_what_was_tried(tmp_path):
    params = {"manifest": str(tmp_path / "etcd.yaml"), "containerd_address": str(tmp_path / "sock")}
    with pytest.raises(_etcdutl.EtcdutlError) as error:
        _etcdutl.locate(params, which=lambda name: None)
    msg = str(error.value)
    assert f"no {tmp_path}/etcd.yaml" in msg and "no ctr" in msg and "no etcdutl on the PATH" in msg
    assert "set etcdutl_path" in msg and "kubeadm config images pull" in msg
