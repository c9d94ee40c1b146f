"""kubeadm_reset on a worker with pod volumes mounted under its kubelet directory (real tmpfs and bind
mounts; the unit tests run as root), against a stand-in systemctl that logs what it was asked and how
many mounts were still there: the kubelet stops first, the volumes come off deepest first, then the
directory moves aside; a tool that fails is an error, and nothing moves after it."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap

import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils.mount_points import mounts_beneath
from ansible_collections.kubedr.kubeadm.plugins.modules import kubeadm_reset

SYSTEMCTL = textwrap.dedent(
    """\
    #!/bin/sh
    # a kubelet unit for the test: state in ./state, what stop saw in ./log
    dir=$(dirname "$0")
    state=$(cat "$dir/state")
    verb=$1; shift
    [ "$1" = --quiet ] && shift
    case "$verb" in
      is-active)
        if [ "$state" = bus ]; then echo "Failed to connect to bus: No such file or directory" >&2; exit 1; fi
        echo "$state"; [ "$state" = active ] && exit 0; exit 3;;
      stop)
        echo "stop $1 mounts=$(grep -c " $(cat "$dir/kubelet")/" /proc/self/mountinfo)" >> "$dir/log"
        if [ -e "$dir/stop-fails" ]; then echo "Job for kubelet.service failed." >&2; exit 1; fi
        echo inactive > "$dir/state"; exit 0;;
    esac
    echo "unexpected: $verb $*" >> "$dir/log"; exit 1
    """
)


@pytest.fixture
def worker(tmp_path, monkeypatch):
    """A worker's /etc/kubernetes and /var/lib/kubelet with a secret (tmpfs) and a local PV (a bind
    mount of a data disk) mounted into a pod's volumes, and a running kubelet."""
    if os.geteuid() != 0:
        pytest.skip("mounts need root")
    umount = shutil.which("umount")  # for the clean-up, whatever PATH a test leaves
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(SYSTEMCTL)
    (bin_dir / "systemctl").chmod(0o755)
    (bin_dir / "state").write_text("active\n")
    kubelet = tmp_path / "kubelet"
    (bin_dir / "kubelet").write_text(str(kubelet))
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    kube = tmp_path / "etc-kubernetes"
    (kube / "manifests").mkdir(parents=True)
    (kube / "kubelet.conf").write_text("old")
    disk = tmp_path / "disk"
    disk.mkdir()
    (disk / "payload").write_text("data")
    volumes = kubelet / "pods" / "u1" / "volumes"
    secret = volumes / "kubernetes.io~secret" / "token"
    local = volumes / "kubernetes.io~local-volume"
    secret.mkdir(parents=True)
    local.mkdir(parents=True)
    (kubelet / "config.yaml").write_text("kind: KubeletConfiguration")
    subprocess.run(["mount", "-t", "tmpfs", "kubedr-test", str(secret)], check=True)
    subprocess.run(["mount", "--bind", str(disk), str(local)], check=True)
    args = {
        "stamp": "r1",
        "manifests_dir": str(kube / "manifests"),
        "paths": [str(kube), str(kubelet)],
        "wait_closed": [],
        "unmount": [str(kubelet)],
    }
    yield {"args": args, "bin": bin_dir, "secret": str(secret), "local": str(local), "tmp": tmp_path}
    for leftover in mounts_beneath(str(tmp_path)):
        subprocess.run([umount, leftover], check=False)


def log(w):
    path = w["bin"] / "log"
    return path.read_text().splitlines() if path.exists() else []


def test_the_kubelet_stops_then_the_volumes_unmount_then_the_state_moves(run_module, worker):
    result = run_module(kubeadm_reset, worker["args"])
    assert result["changed"] is True and result["kubelet_stopped"] is True, result
    assert log(worker) == ["stop kubelet mounts=2"]  # stopped while its volumes were still mounted
    assert result["unmounted"] == [worker["secret"], worker["local"]]  # deepest first
    assert mounts_beneath(str(worker["tmp"])) == []
    aside = worker["tmp"] / ".kubelet.kubedr-aside-r1"
    assert (aside / "config.yaml").exists() and (aside / "pods" / "u1" / "volumes").is_dir()
    assert not (worker["tmp"] / "kubelet").exists()
    assert (worker["tmp"] / "disk" / "payload").read_text() == "data"  # a volume's data is never touched
    again = run_module(kubeadm_reset, worker["args"])
    assert again["changed"] is False and again["unmounted"] == [] and again["moved"] == []
    assert log(worker) == ["stop kubelet mounts=2"]


def test_a_restarting_kubelet_is_stopped_too(run_module, worker):
    (worker["bin"] / "state").write_text("activating\n")  # Restart= between two runs of the kubelet
    result = run_module(kubeadm_reset, worker["args"])
    assert result["kubelet_stopped"] is True and log(worker) == ["stop kubelet mounts=2"]


def test_check_mode_lists_what_would_unmount_and_touches_nothing(run_module, worker):
    result = run_module(kubeadm_reset, {**worker["args"], "_ansible_check_mode": True})
    assert result["changed"] is True and result["kubelet_stopped"] is True
    assert result["unmounted"] == [worker["secret"], worker["local"]]
    assert log(worker) == [] and len(mounts_beneath(str(worker["tmp"]))) == 2
    assert (worker["tmp"] / "kubelet" / "config.yaml").exists()


def test_a_busy_volume_stops_the_reset_before_anything_moves(run_module, worker):
    holder = subprocess.Popen(["sleep", "60"], cwd=worker["local"])
    try:
        result = run_module(kubeadm_reset, worker["args"])
    finally:
        holder.kill()
        holder.wait()
    assert result["failed"] and worker["local"] in result["msg"] and "fuser" in result["msg"], result
    assert result["unmounted"] == [worker["secret"]] and result["kubelet_stopped"] is True
    assert "systemctl start kubelet" in result["msg"]
    assert (worker["tmp"] / "kubelet" / "config.yaml").exists()
    assert (worker["tmp"] / "etc-kubernetes" / "kubelet.conf").exists()


def test_systemctl_that_cannot_tell_is_an_error_and_nothing_unmounts(run_module, worker):
    (worker["bin"] / "state").write_text("bus\n")
    result = run_module(kubeadm_reset, worker["args"])
    assert result["failed"] and "cannot tell whether the kubelet runs" in result["msg"], result
    assert "Failed to connect to bus" in result["msg"]
    assert len(mounts_beneath(str(worker["tmp"]))) == 2 and (worker["tmp"] / "kubelet").exists()


def test_a_failed_stop_is_an_error_and_nothing_unmounts(run_module, worker):
    (worker["bin"] / "stop-fails").write_text("")
    result = run_module(kubeadm_reset, worker["args"])
    assert result["failed"] and "systemctl stop kubelet failed" in result["msg"], result
    assert result["unmounted"] == [] and len(mounts_beneath(str(worker["tmp"]))) == 2


def test_unmounting_beside_a_running_kubelet_is_refused(run_module, worker):
    result = run_module(kubeadm_reset, {**worker["args"], "stop_kubelet": False})
    assert result["failed"] and "the kubelet is active" in result["msg"], result
    assert log(worker) == [] and len(mounts_beneath(str(worker["tmp"]))) == 2


def test_no_systemctl_is_an_error_when_the_kubelet_must_stop(run_module, worker, monkeypatch):
    (worker["bin"] / "systemctl").unlink()
    monkeypatch.setenv("PATH", str(worker["bin"]))
    if any(os.path.exists(os.path.join(d, "systemctl")) for d in ("/sbin", "/usr/sbin", "/usr/local/sbin")):
        pytest.skip("ansible's get_bin_path also looks in the sbin directories, which hold a systemctl here")
    result = run_module(kubeadm_reset, worker["args"])
    assert result["failed"] and "systemctl" in result["msg"] and "not found" in result["msg"], result
    assert len(mounts_beneath(str(worker["tmp"]))) == 2


def test_the_path_itself_is_never_unmounted(run_module, worker):
    """/var/lib/kubelet as a mount of its own (a disk, the lab's bind mount, made before any pod volume):
    only what is mounted beneath it comes off, and its entries move inside it."""
    kubelet = worker["tmp"] / "kubelet"
    for volume in (worker["secret"], worker["local"]):
        subprocess.run(["umount", volume], check=True)
    subprocess.run(["mount", "--bind", str(kubelet), str(kubelet)], check=True)
    try:
        subprocess.run(["mount", "-t", "tmpfs", "kubedr-test", worker["secret"]], check=True)
        result = run_module(kubeadm_reset, worker["args"])
        assert result["unmounted"] == [worker["secret"]], result
        assert mounts_beneath(str(worker["tmp"])) == [str(kubelet)]
        assert (kubelet / ".kubedr-aside-r1" / "config.yaml").exists()
    finally:
        subprocess.run(["umount", str(kubelet)], check=True)
