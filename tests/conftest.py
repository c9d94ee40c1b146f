"""Shared by tests/unit and tests/component: the collection importable as ansible_collections.kubedr.kubeadm,
their helper modules importable by name, and `run_module`."""

from __future__ import annotations

import atexit
import json
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent


def _make_collection_importable() -> None:
    """A temp ansible_collections/kubedr/kubeadm symlink to the repo, its root put on sys.path."""
    try:
        import ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_client as installed  # noqa: F401
        return  # already importable (installed collection or ansible-test's layout)
    except ImportError:
        pass
    root = Path(tempfile.mkdtemp(prefix="kubedr-collections-"))
    link = root / "ansible_collections" / "kubedr" / "kubeadm"
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO, target_is_directory=True)

    def cleanup() -> None:
        link.unlink()  # the symlink only, never what it points to
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(cleanup)
    sys.path.insert(0, str(root))
    for name in [n for n in sys.modules if n.split(".")[0] == "ansible_collections"]:
        del sys.modules[name]


_make_collection_importable()
for helpers in ("unit", "component"):  # etcd_manifests, restic_fixtures, ... imported by name
    sys.path.insert(0, str(TESTS_DIR / helpers))


@pytest.fixture
def run_module(capsys):
    """Run a module's main() in-process with the given args; returns its JSON result (with 'failed')."""
    from ansible.module_utils.testing import patch_module_args

    def run(module, args: dict) -> dict:
        with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
            module.main()
        captured = capsys.readouterr()
        result = json.loads(captured.out)
        result.setdefault("failed", False)
        # once a test module imports controller code (a filter plugin's tests do), ansible-core sends
        # module warnings to stderr through Display instead of into the result: take them from there
        shown = []
        for line in captured.err.splitlines():  # Display wraps a long warning over several lines
            if line.startswith("[WARNING]:"):
                shown.append(line.split(":", 1)[1].strip())
            elif shown and line.strip() and not line.startswith("["):
                shown[-1] += " " + line.strip()
        if shown and not result.get("warnings"):
            result["warnings"] = shown
        assert (exit_info.value.code not in (0, None)) == result["failed"], result
        return result

    return run
