"""The etcd modules over SSH against the lab's kubeadm-layout TLS etcd, each pinned version:
snapshot from the best member (both transports), verify, error paths, a full 3-member restore
from one snapshot, and a member replaced through learner and promote."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from lab import build

pytestmark = pytest.mark.lab
ETCDCTL = ("etcdctl --cacert /etc/kubernetes/pki/etcd/ca.crt "
           "--cert /etc/kubernetes/pki/etcd/healthcheck-client.crt "
           "--key /etc/kubernetes/pki/etcd/healthcheck-client.key --endpoints https://127.0.0.1:2379 ")
# The hosts' Debian python has no grpcio; the lab's host-python (/var/cache/kubedr) has it.
TRANSPORTS = {"gateway": "/usr/bin/python3", "grpc": str(build.host_python())}


def etcdctl(lab, host: str, args: str) -> str:
    return lab.ssh(host, ETCDCTL + args).stdout.strip()


def wait_healthy(lab, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while lab.ssh("cp1", ETCDCTL + "endpoint health --cluster", check=False).returncode != 0:
        assert time.monotonic() < deadline, "etcd did not come back healthy"
        time.sleep(0.5)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("version", build.load_pins()["etcd"]["versions"])
def test_snapshot_restore_and_replace_member(lab, tmp_path, version, transport):
    lab.run("etcd", "recreate", "--version", version)
    stamp = uuid.uuid4().hex
    python = f"ansible_python_interpreter={TRANSPORTS[transport]}"
    lab.playbook("etcd_snapshot.yml", "-e", f"stamp={stamp} transport={transport} fetch_dir={tmp_path}",
                 "-e", python)

    lab.run("etcd", "stop")  # every member down before any is restored
    token = f"kubedr-restored-{stamp[:8]}"
    lab.playbook("etcd_restore.yml", "-e", f"token={token}")
    lab.run("etcd", "start")
    wait_healthy(lab)

    for host in ("cp1", "cp2", "cp3"):
        assert etcdctl(lab, host, "get --print-value-only /kubedr/before-snapshot") == stamp
        assert etcdctl(lab, host, "get --print-value-only /kubedr/after-snapshot") == ""
    status = json.loads(etcdctl(lab, "cp2", "endpoint status -w json"))[0]["Status"]
    assert status["header"]["revision"] > 1_000_000  # bumped past anything a watcher has seen
    assert len(json.loads(etcdctl(lab, "cp1", "member list -w json"))["members"]) == 3

    lab.playbook("etcd_members.yml", "--tags", "remove")
    lab.run("etcd", "stop", "cp3")  # a removed member stops by itself; make sure of it
    lab.playbook("etcd_members.yml", "--tags", "add")
    lab.run("etcd", "start", "cp3")
    lab.playbook("etcd_members.yml", "--tags", "promote")
    assert etcdctl(lab, "cp3", "get --print-value-only /kubedr/before-snapshot") == stamp
