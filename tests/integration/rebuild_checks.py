"""What every rebuild test checks after a run: no bootstrap token in its output, none of its tokens left in
the cluster, no copy of the backup set left in the controller's TMPDIR. Shared by test_lifecycle.py (CI)
and test_control_plane_rebuild.py (extended)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

# a bootstrap token ("<id>.<secret>"), anywhere in a run's output
TOKEN = re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b")


def controller_tmp(tmp_path: Path) -> tuple[Path, dict]:
    """A TMPDIR of its own for ansible-playbook: where the rebuild's copies of the set go."""
    tmp = tmp_path / "controller-tmp"
    tmp.mkdir()
    return tmp, {"TMPDIR": str(tmp)}


def assert_no_token(result: subprocess.CompletedProcess) -> None:
    for stream in (result.stdout, result.stderr):
        # kubeadm init --skip-token-print still prints its join line, with "--token <value withheld>"
        assert set(re.findall(r"--token[ =](\S+)", stream)) <= {"<value"}, "a --token value is in the output"
        assert not TOKEN.search(stream), "a bootstrap token is in the output"


def rebuild_tokens_left(lab) -> list[str]:
    """Bootstrap tokens a rebuild made (kubedr's description) that still exist: their ids."""
    listing = json.loads(lab.kubectl("get", "secrets", "-n", "kube-system", "--field-selector",
                                     "type=bootstrap.kubernetes.io/token", "-o", "json").stdout)["items"]
    return [s["metadata"]["name"] for s in listing
            if base64.b64decode(s["data"].get("description", "")).decode()
            .startswith("kubedr control_plane_rebuild")]


def assert_rerun_changes_nothing(result: subprocess.CompletedProcess) -> None:
    recap = [line for line in result.stdout.splitlines() if "changed=" in line]
    assert recap and all("changed=0" in line for line in recap), "\n".join(recap)
