"""The shared mount-point helper on real mounts (the unit tests run as root)."""

from __future__ import annotations

import os
import subprocess

import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils.mount_points import is_mount_point


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
