"""Component-test fixtures: real TLS etcd clusters of each pinned version on 127.0.0.1 (the binaries from
`make binaries`; a test whose binary is not built is skipped)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from etcd_fixtures import ETCD_VERSIONS, EtcdCluster

REPO = Path(__file__).resolve().parents[2]


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


def pytest_report_header(config):
    return f"kubedr collection under test: {REPO} (etcd {', '.join(ETCD_VERSIONS)}; pid {os.getpid()})"


@pytest.fixture
def etcd_single_disposable(etcd_version, tmp_path):
    """One TLS etcd member for one test that changes its membership."""
    cluster = _start(etcd_version, 1, tmp_path)
    yield cluster
    cluster.stop()
