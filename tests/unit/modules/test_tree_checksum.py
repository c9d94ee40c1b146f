"""tree_checksum against the shell pipeline it stands for, on a real tree: same checksum, aside
directories and symlinks left out, content and names matter, timestamps and modes do not."""

from __future__ import annotations

import os
import subprocess

from ansible_collections.kubedr.kubeadm.plugins.modules import tree_checksum

PIPELINE = (
    "set -o pipefail && find . \\( -path './.kubedr-moved-*' -o -path './.kubedr-restore-*' \\) -prune "
    "-o -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum | sha256sum | cut -d' ' -f1"
)


def volume(root):
    (root / "db" / "wal").mkdir(parents=True)
    (root / "db" / "wal" / "0001").write_bytes(os.urandom(3000))
    (root / "payload").write_text("data-0\n")
    (root / "with space.txt").write_text("x")
    (root / "B-upper").write_text("sorted before lower case in C order")
    (root / ".kubedr-moved-20261201T101010Z").mkdir()
    (root / ".kubedr-moved-20261201T101010Z" / "payload").write_text("old")
    (root / "link").symlink_to(root / "payload")
    return root


def shell(root):
    return subprocess.run(
        ["bash", "-c", PIPELINE], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_same_checksum_as_the_pipeline(run_module, tmp_path):
    root = volume(tmp_path / "v")
    result = run_module(tree_checksum, {"path": str(root)})
    assert result["changed"] is False and result["checksum"] == shell(root)
    assert result["files"] == 4 and result["bytes"] == 3000 + 7 + 1 + len(
        "sorted before lower case in C order"
    )


def test_content_and_names_count_times_and_modes_do_not(run_module, tmp_path):
    root = volume(tmp_path / "v")
    before = run_module(tree_checksum, {"path": str(root)})["checksum"]
    os.utime(root / "payload", (0, 0))
    (root / "payload").chmod(0o600)
    assert run_module(tree_checksum, {"path": str(root)})["checksum"] == before
    (root / "payload").rename(root / "payload2")
    renamed = run_module(tree_checksum, {"path": str(root)})["checksum"]
    assert renamed != before and renamed == shell(root)
    (root / "payload2").write_text("data-1\n")
    assert run_module(tree_checksum, {"path": str(root)})["checksum"] not in (before, renamed)


def test_an_empty_tree_and_a_missing_one(run_module, tmp_path):
    (tmp_path / "empty").mkdir()
    assert run_module(tree_checksum, {"path": str(tmp_path / "empty")})["checksum"] == shell(
        tmp_path / "empty"
    )
    missing = run_module(tree_checksum, {"path": str(tmp_path / "nope")})
    assert missing["failed"] and "is not a directory" in missing["msg"]
