"""Unit-test fixtures: the collection importable as ansible_collections.kubedr.kubeadm, real etcd clusters."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

UNIT_DIR = Path(__file__).resolve().parent
REPO = UNIT_DIR.parents[1]


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
sys.path.insert(0, str(UNIT_DIR))

from etcd_fixtures import ETCD_VERSIONS, EtcdCluster  # noqa: E402


def _start(version: str, size: int, root: Path) -> EtcdCluster:
    try:
        from lab import build

        build.binary("etcd", version)
    except FileNotFoundError as e:
        pytest.skip(str(e))
    cluster = EtcdCluster(version, root)
    try:
        return cluster.start(size)
    except BaseException:
        cluster.stop()
        raise


@pytest.fixture(scope="module", params=ETCD_VERSIONS, ids=lambda v: f"etcd-{v}")
def etcd_version(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def etcd_single(etcd_version, tmp_path_factory):
    """One TLS etcd member, shared by a test module (tests must leave membership as they found it)."""
    cluster = _start(etcd_version, 1, tmp_path_factory.mktemp(f"etcd1-{etcd_version}"))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def etcd_trio(etcd_version, tmp_path_factory):
    """Three TLS etcd members, shared read-only by a test module."""
    cluster = _start(etcd_version, 3, tmp_path_factory.mktemp(f"etcd3-{etcd_version}"))
    yield cluster
    cluster.stop()


@pytest.fixture
def etcd_trio_disposable(etcd_version, tmp_path):
    """Three TLS etcd members for one test that may stop some of them."""
    cluster = _start(etcd_version, 3, tmp_path)
    yield cluster
    cluster.stop()


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


def pytest_report_header(config):
    return f"kubedr collection under test: {REPO} (etcd {', '.join(ETCD_VERSIONS)}; pid {os.getpid()})"


@pytest.fixture
def etcd_single_disposable(etcd_version, tmp_path):
    """One TLS etcd member for one test that changes its membership."""
    cluster = _start(etcd_version, 1, tmp_path)
    yield cluster
    cluster.stop()
