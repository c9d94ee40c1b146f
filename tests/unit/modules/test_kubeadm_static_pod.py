"""kubeadm_static_pod in-process, with a real process standing in for the component: a Python child
whose argv[0] is the component's name, listening on a free loopback port. The test plays the kubelet:
it stops the child when the manifest leaves the manifests directory and starts it when it comes back."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils import static_pods
from ansible_collections.kubedr.kubeadm.plugins.modules import kubeadm_static_pod

NAME = f"kubedr-fake-pod-{os.getpid()}"  # per pytest-xdist worker: no other test sees its processes
SERVER = ("import socket, sys, time\n"
          "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(8)\n"
          "time.sleep(600)\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeKubelet:
    """Runs the fake component while its manifest is in the manifests dir (polled, like the kubelet)."""

    def __init__(self, manifests: Path, port: int, delay: float = 1.5, name: str = NAME,
                 server: str = SERVER):
        self.manifest, self.port, self.delay = manifests / f"{name}.yaml", port, delay
        self.name, self.server = name, server
        self.child = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def start_child(self):
        self.child = subprocess.Popen([self.name, "-c", self.server, str(self.port)],
                                      executable=sys.executable)
        deadline = time.monotonic() + 10
        while not static_pods.port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop_child(self):
        if self.child:
            self.child.terminate()
            try:
                self.child.wait(10)
            except subprocess.TimeoutExpired:  # a component that lingers: the kubelet's grace period ends
                self.child.kill()
                self.child.wait(10)
            self.child = None

    def loop(self):
        while not self.done.is_set():
            present = self.manifest.exists()
            if present and not self.child:
                time.sleep(self.delay)
                self.start_child()
            elif not present and self.child:
                time.sleep(self.delay)  # the container takes a moment to exit
                self.stop_child()
            time.sleep(0.2)

    def __enter__(self):
        if self.manifest.exists():
            self.start_child()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(10)
        self.stop_child()


@pytest.fixture
def dirs(tmp_path):
    manifests, stash = tmp_path / "manifests", tmp_path / "stash" / "run1"
    manifests.mkdir()
    (manifests / f"{NAME}.yaml").write_text("apiVersion: v1\nkind: Pod\n")
    return manifests, stash


def args(dirs, state, port, **extra):
    manifests, stash = dirs
    return {"name": NAME, "state": state, "manifests_dir": str(manifests), "stash_dir": str(stash),
            "port": port, "timeout": 30, **extra}


def test_stop_waits_until_gone_then_start_waits_until_listening(dirs, run_module):
    manifests, stash = dirs
    port = free_port()
    with FakeKubelet(manifests, port) as kubelet:
        pid = kubelet.child.pid
        assert static_pods.processes(NAME) == [pid]

        check = run_module(kubeadm_static_pod, {**args(dirs, "stopped", port), "_ansible_check_mode": True})
        assert check["changed"] and (manifests / f"{NAME}.yaml").exists() and not stash.exists()

        stopped = run_module(kubeadm_static_pod, args(dirs, "stopped", port))
        assert stopped["changed"]
        assert stopped["pods"][0]["location"] == "stash" and stopped["pods"][0]["pids"] == []
        assert stopped["pods"][0]["port_open"] is False and stopped["pods"][0]["waited"] >= 1
        assert not (manifests / f"{NAME}.yaml").exists() and (stash / f"{NAME}.yaml").exists()
        assert oct(stash.stat().st_mode & 0o777) == "0o700"

        again = run_module(kubeadm_static_pod, args(dirs, "stopped", port))
        assert not again["changed"] and again["pods"][0]["pids"] == []

        started = run_module(kubeadm_static_pod, args(dirs, "started", port))
        assert started["changed"] and started["pods"][0]["port_open"] is True
        assert started["pods"][0]["pids"] == [kubelet.child.pid] != [pid]
        assert (manifests / f"{NAME}.yaml").exists() and not (stash / f"{NAME}.yaml").exists()

        again = run_module(kubeadm_static_pod, args(dirs, "started", port))
        assert not again["changed"]


# closes its port on SIGTERM and lingers, as kube-apiserver does for up to its grace period
LINGERING = ("import signal, socket, sys, time\n"
             "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
             "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(8)\n"
             "signal.signal(signal.SIGTERM, lambda *a: s.close())\n"
             "time.sleep(600)\n")


def test_a_component_lingering_after_its_port_closed_is_killed_after_kill_after(dirs, run_module):
    manifests = dirs[0]
    port = free_port()
    with FakeKubelet(manifests, port, delay=0.2, server=LINGERING) as kubelet:
        pid = kubelet.child.pid
        waited = run_module(kubeadm_static_pod, args(dirs, "stopped", port, timeout=3))
        assert waited["failed"] and "still run" in waited["msg"]  # without kill_after: the kubelet's grace
        assert static_pods.processes(NAME) == [pid]
        killed = run_module(kubeadm_static_pod, args(dirs, "stopped", port, kill_after=1))
        assert not killed.get("failed"), killed
        assert killed["pods"][0]["killed"] == [pid] and killed["pods"][0]["pids"] == []
        assert any("SIGKILL" in a for a in killed["actions"])
        assert static_pods.processes(NAME) == []


def test_several_pods_move_and_wait_together(dirs, run_module):
    manifests, stash = dirs
    other = f"{NAME}-b"
    (manifests / f"{other}.yaml").write_text("apiVersion: v1\nkind: Pod\n")
    ports = free_port(), free_port()
    with FakeKubelet(manifests, ports[0]), FakeKubelet(manifests, ports[1], name=other):
        started = time.monotonic()
        stopped = run_module(kubeadm_static_pod, {**args(dirs, "stopped", None), "name": [NAME, other]})
        both = time.monotonic() - started
        assert stopped["changed"] and [p["name"] for p in stopped["pods"]] == [NAME, other]
        assert all(p["pids"] == [] and p["location"] == "stash" for p in stopped["pods"])
        assert both < 2 * 1.5 + 1  # the two kubelet delays overlap
        assert sorted(os.listdir(stash)) == sorted([f"{NAME}.yaml", f"{other}.yaml"])
        back = run_module(kubeadm_static_pod, {**args(dirs, "started", None), "name": [NAME, other]})
        assert back["changed"] and all(p["pids"] for p in back["pods"])


def test_port_and_executable_need_a_single_name(dirs, run_module):
    result = run_module(kubeadm_static_pod, {**args(dirs, "stopped", 1234), "name": [NAME, "other"]})
    assert result["failed"] and "single name" in result["msg"]
    assert (dirs[0] / f"{NAME}.yaml").exists()


def test_times_out_when_the_component_keeps_running(dirs, run_module):
    port = free_port()
    manifests = dirs[0]
    with FakeKubelet(manifests, port, delay=60):  # a kubelet that does not stop it in time
        result = run_module(kubeadm_static_pod, args(dirs, "stopped", port, timeout=2))
    assert result["failed"]
    assert "not stopped after" in result["msg"] and "still run" in result["msg"]


def test_start_fails_without_a_kubelet(dirs, run_module):
    port = free_port()
    manifests, stash = dirs
    stash.mkdir(parents=True)
    os.rename(manifests / f"{NAME}.yaml", stash / f"{NAME}.yaml")
    result = run_module(kubeadm_static_pod, args(dirs, "started", port, timeout=2))
    assert result["failed"] and "is the kubelet running" in result["msg"]
    assert (manifests / f"{NAME}.yaml").exists()  # moved back: a re-run only waits


@pytest.mark.parametrize("where", ["both", "none"])
def test_refuses_a_manifest_in_both_places_or_none(dirs, run_module, where):
    manifests, stash = dirs
    stash.mkdir(parents=True)
    if where == "both":
        (stash / f"{NAME}.yaml").write_text("other\n")
    else:
        (manifests / f"{NAME}.yaml").unlink()
    result = run_module(kubeadm_static_pod, args(dirs, "stopped", 0))
    assert result["failed"]
    assert ("both in" if where == "both" else "no manifest") in result["msg"]
    assert str(stash / f"{NAME}.yaml") in result["msg"]


def test_refuses_a_stash_inside_the_manifests_dir(dirs, run_module):
    manifests = dirs[0]
    result = run_module(kubeadm_static_pod, args((manifests, manifests / "parked"), "stopped", 0))
    assert result["failed"] and "inside manifests_dir" in result["msg"]
    assert (manifests / f"{NAME}.yaml").exists()


def test_processes_are_told_apart_by_network_namespace():
    """A process of the same name in another network namespace is another host's component."""
    port = free_port()
    here = subprocess.Popen([NAME, "-c", SERVER, str(port)], executable=sys.executable)
    try:
        # Popen returns once exec has begun; /proc shows the new argv a moment later.
        _wait_for_argv0([here.pid])
        assert here.pid in static_pods.processes(NAME)
        unshare = subprocess.run(["unshare", "--net", "true"], check=False)
        if unshare.returncode != 0:
            pytest.skip("cannot create a network namespace here")
        other = subprocess.Popen(["unshare", "--net", sys.executable, "-c",
                                  "import os, sys; os.execv(sys.executable, ['" + NAME + "', '-c',"
                                  " 'import time; time.sleep(60)'])"])
        try:
            _wait_for_argv0(_children(other.pid), refresh=lambda: _children(other.pid))
            assert static_pods.processes(NAME) == [here.pid]
        finally:
            other.kill()
            other.wait()
    finally:
        here.kill()
        here.wait()


def _wait_for_argv0(pids, refresh=None, timeout=10):
    """Wait until one of `pids` shows NAME as its argv[0]."""
    deadline = time.monotonic() + timeout
    while NAME not in [static_pods._argv0(pid) for pid in pids]:
        assert time.monotonic() < deadline, f"no process of {pids} became {NAME} within {timeout}s"
        time.sleep(0.05)
        pids = refresh() if refresh else pids


def _children(pid):
    found = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found
