"""The shared mount-point helper on real mounts (the unit tests run as root)."""

from __future__ import annotations

import os
import subprocess

import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils.mount_points import (
    is_mount_point,
    mounts_beneath,
)


@pytest.fixture
def bind_mount(tmp_path):
    """A directory bind-mounted onto another on the same file system (os.path.ismount misses it)."""
    if os.geteuid() != 0:
        pytest.skip("bind mounts need root")
    source, target = tmp_path / "source", tmp_path / "with space"
    source.mkdir()
    target.mkdir()
    subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


def test_bind_mount_is_a_mount_point(bind_mount):
    assert not os.path.ismount(bind_mount), "this bind mount no longer shows the os.path.ismount gap"
    assert is_mount_point(str(bind_mount)) is True
    assert is_mount_point(str(bind_mount) + "/") is True
    assert is_mount_point(str(bind_mount.parent / "source")) is False


def test_plain_paths(tmp_path):
    assert is_mount_point("/proc") is True
    assert is_mount_point("/") is True
    assert is_mount_point(str(tmp_path)) is False
    assert is_mount_point(str(tmp_path / "missing")) is False
    os.symlink("/proc", tmp_path / "link")
    assert is_mount_point(str(tmp_path / "link")) is True


def _mountinfo(tmp_path, points):
    lines = [
        f"{20 + i} 1 0:{40 + i} / {p} rw,relatime shared:{i} - tmpfs tmpfs rw" for i, p in enumerate(points)
    ]
    path = tmp_path / "mountinfo"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_mounts_beneath_deepest_first_and_stacked_last_mounted_first(tmp_path):
    base = "/var/lib/kubelet"
    pod = f"{base}/pods/u1/volumes/kubernetes.io~secret/token"
    info = _mountinfo(
        tmp_path,
        [
            "/",
            base,  # the path itself (the lab's bind mount, or a disk of its own): not beneath it
            f"{base}/pods/u1/volumes/kubernetes.io~local-volume/local-w1-d1",
            pod,
            pod,  # mounted again over the first: the later one comes off first
            r"/var/lib/kubelet/pods/u2/volumes/with\040space",
            "/var/lib/kubelet2/pods/x",  # a sibling with the same prefix
            "/var/lib",
        ],
    )
    assert mounts_beneath(base, info) == [
        pod,
        pod,
        f"{base}/pods/u1/volumes/kubernetes.io~local-volume/local-w1-d1",
        f"{base}/pods/u2/volumes/with space",
    ]
    assert mounts_beneath(base + "/", info) == mounts_beneath(base, info)
    assert mounts_beneath("/srv", info) == []


def test_mounts_beneath_an_unreadable_mountinfo_is_an_error(tmp_path):
    with pytest.raises(OSError):
        mounts_beneath("/var/lib/kubelet", str(tmp_path / "missing"))


def test_mounts_beneath_real_mounts(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounts need root")
    inner = tmp_path / "kubelet" / "pods" / "a"
    inner.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "kubedr-test", str(tmp_path / "kubelet")], check=True)
    try:
        inner.mkdir(parents=True)
        subprocess.run(["mount", "-t", "tmpfs", "kubedr-test", str(inner)], check=True)
        assert mounts_beneath(str(tmp_path)) == [str(inner), str(tmp_path / "kubelet")]
        assert mounts_beneath(str(tmp_path / "kubelet")) == [str(inner)]
        subprocess.run(["umount", str(inner)], check=True)
    finally:
        subprocess.run(["umount", str(tmp_path / "kubelet")], check=True)
