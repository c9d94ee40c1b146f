"""fsfreeze: which paths may be frozen (pure, on mountinfo samples), and a real freeze/thaw on a loop ext4."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import restic_fixtures
from ansible_collections.kubedr.kubeadm.plugins.module_utils import fsfreeze
from ansible_collections.kubedr.kubeadm.plugins.modules import restic_backup
from restic_fixtures import make_tree

# a node: / on vda1, /var on vda2, a local PV disk mounted at /mnt/disks/ssd1 (its own ext4), kubelet's
# bind mount of it into a pod, a directory PV bind-mounted from / and one from a subdirectory of ssd1,
# a second mount of the root device, a tmpfs and a disk stacked over a directory.
NODE = r"""
20 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
21 20 8:2 / /var rw,relatime shared:2 - xfs /dev/vda2 rw
22 20 0:21 / /proc rw,relatime shared:3 - proc proc rw
30 20 8:17 / /mnt/disks/ssd1 rw,relatime shared:10 - ext4 /dev/vdb1 rw
31 21 8:17 / /var/lib/kubelet/pods/u1/volumes/pv1 rw,relatime shared:10 - ext4 /dev/vdb1 rw
32 20 8:1 /srv/data/pv2 /mnt/pv2 rw,relatime shared:1 - ext4 /dev/vda1 rw
33 20 8:17 /sub /mnt/pv3 rw,relatime shared:10 - ext4 /dev/vdb1 rw
34 20 8:1 / /mnt/rootagain rw,relatime shared:1 - ext4 /dev/vda1 rw
35 20 0:40 / /mnt/scratch rw,relatime - tmpfs tmpfs rw
36 20 8:33 / /mnt/with\040space rw,relatime - ext4 /dev/vdc1 rw
37 20 8:49 / /mnt/stack rw,relatime - ext4 /dev/vdd1 rw
38 37 8:1 /home /mnt/stack rw,relatime - ext4 /dev/vda1 rw
39 21 8:2 /lib/cache /var/cache/restic rw,relatime - xfs /dev/vda2 rw
"""
PROTECTED = ["/", "/var", "/tmp", "/root/.cache/restic"]


def plan(*paths, protected=None):
    return fsfreeze.freeze_plan(fsfreeze.parse_mountinfo(NODE), list(paths),
                                PROTECTED if protected is None else protected)


def test_parse_mountinfo_unescapes_and_reads_the_fields():
    mounts = fsfreeze.parse_mountinfo(NODE)
    space = [m for m in mounts if m.mount_point == "/mnt/with space"]
    assert space and space[0].dev == "8:33" and space[0].root == "/" and space[0].fstype == "ext4"
    assert [m.source for m in mounts if m.mount_point == "/var"] == ["/dev/vda2"]


def test_a_disk_of_its_own_may_be_frozen_once_per_file_system():
    targets, problems = plan(
        "/mnt/disks/ssd1",
        "/var/lib/kubelet/pods/u1/volumes/pv1",
        "/mnt/with space",
    )
    assert problems == []
    # the kubelet's bind mount is the same file system: frozen once, at the first path
    assert targets == ["/mnt/disks/ssd1", "/mnt/with space"]


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/srv/data/pv2", "not a mount point"),  # a directory on /
        ("/mnt/disks/ssd1/sub", "not a mount point"),  # a directory on the disk: still a mount below it
        ("/mnt/pv2", "bind mount of /srv/data/pv2"),  # mountpoint -q says yes; it is /'s file system
        ("/mnt/pv3", "bind mount of /sub"),  # a subdirectory of another disk
        ("/mnt/rootagain", "holds /"),  # the root device mounted a second time
        ("/var", "holds /var"),
        ("/", "holds /"),
        ("/mnt/scratch", "tmpfs"),
        ("/mnt/stack", "bind mount of /home"),  # the top mount decides, not the disk below it
    ],
)
def test_paths_that_must_not_be_frozen(path, why):
    targets, problems = plan(path)
    assert targets == []
    assert len(problems) == 1 and path in problems[0] and why in problems[0], problems


def test_restic_cache_file_system_is_protected():
    # /var/cache/restic is a bind mount of vda2 (/var's device); a disk holding the cache is refused too
    targets, problems = plan("/mnt/disks/ssd1", protected=PROTECTED + ["/mnt/disks/ssd1/restic-cache"])
    assert targets == [] and "holds /mnt/disks/ssd1/restic-cache" in problems[0]


# --- a real ext4 on a loop device -----------------------------------------------------------------

FIFREEZE = 0xC0045877
FITHAW = 0xC0045878


def is_frozen(path) -> bool:
    """Probe without blocking: freezing a frozen file system answers EBUSY; else thaw what we froze."""
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.ioctl(fd, FIFREEZE, 0)
        except OSError as e:
            if e.errno == 16:  # EBUSY
                return True
            raise
        fcntl.ioctl(fd, FITHAW, 0)
        return False
    finally:
        os.close(fd)


@pytest.fixture
def loop_ext4(tmp_path):
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("losetup", "mkfs.ext4", "fsfreeze", "mount")):
        pytest.skip("needs root, losetup, mkfs.ext4, fsfreeze and mount")
    image, mnt = tmp_path / "disk.img", tmp_path / "mnt"
    with open(image, "wb") as f:
        f.truncate(16 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    dev = subprocess.run(
        ["losetup", "--find", "--show", str(image)], check=True, capture_output=True, text=True
    ).stdout.strip()
    mnt.mkdir()
    try:
        subprocess.run(["mount", dev, str(mnt)], check=True)
        try:
            (mnt / "data").write_text("volume data\n")
            yield mnt
        finally:
            subprocess.run(["fsfreeze", "--unfreeze", str(mnt)], capture_output=True, check=False)
            subprocess.run(["umount", str(mnt)], check=True)
    finally:
        subprocess.run(["losetup", "--detach", dev], check=True)


def test_frozen_while_inside_thawed_after_even_on_error(loop_ext4):
    fsfreeze_bin = shutil.which("fsfreeze")
    with fsfreeze.Frozen(fsfreeze_bin, [str(loop_ext4)], timeout=60) as frozen:
        assert is_frozen(loop_ext4) and not frozen.expired
    assert not is_frozen(loop_ext4)

    with pytest.raises(RuntimeError), fsfreeze.Frozen(fsfreeze_bin, [str(loop_ext4)], timeout=60):
        assert is_frozen(loop_ext4)
        raise RuntimeError("the backup failed")
    assert not is_frozen(loop_ext4)


def test_the_watchdog_thaws_at_the_timeout(loop_ext4):
    with fsfreeze.Frozen(shutil.which("fsfreeze"), [str(loop_ext4)], timeout=1) as frozen:
        assert is_frozen(loop_ext4)
        deadline = time.monotonic() + 10
        while is_frozen(loop_ext4):
            assert time.monotonic() < deadline, "still frozen 10 s after a 1 s timeout"
            time.sleep(0.1)
        assert frozen.expired


def test_the_watchdog_thaws_when_the_module_process_dies(loop_ext4):
    """The module process is killed (a lost SSH connection, an OOM kill): its watchdog thaws at once."""
    code = (
        "import sys, time; from ansible_collections.kubedr.kubeadm.plugins.module_utils import fsfreeze\n"
        "f = fsfreeze.Frozen(sys.argv[1], [sys.argv[2]], timeout=600); f.__enter__()\n"
        "print('frozen', flush=True); time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, shutil.which("fsfreeze"), str(loop_ext4)],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
    )
    try:
        assert proc.stdout.readline().strip() == "frozen"
        assert is_frozen(loop_ext4)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while is_frozen(loop_ext4):
            assert time.monotonic() < deadline, "still frozen 10 s after the module process died"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_frozen_file_system_refuses_a_second_freeze(loop_ext4):
    fsfreeze_bin = shutil.which("fsfreeze")
    with fsfreeze.Frozen(fsfreeze_bin, [str(loop_ext4)], timeout=60):
        with (
            pytest.raises(fsfreeze.FreezeError, match="already frozen"),
            fsfreeze.Frozen(fsfreeze_bin, [str(loop_ext4)], timeout=60),
        ):
            pass
        assert is_frozen(loop_ext4)  # the failed second freeze did not thaw the first
    assert not is_frozen(loop_ext4)


# --- restic_backup with freeze=true: freeze, back up and thaw in the one module process -------------

restic_bin = restic_fixtures.restic_bin
local_repo = restic_fixtures.local_repo


def test_restic_backup_freezes_a_volume_of_its_own(run_module, local_repo, loop_ext4):
    result = run_module(
        restic_backup, local_repo.args(paths=[str(loop_ext4)], freeze=True, freeze_timeout=120)
    )
    assert result["changed"] and result["frozen"] == [str(loop_ext4)]
    assert local_repo.snapshot_ids() == [result["snapshot_id"]]
    assert not is_frozen(loop_ext4)

    dry = run_module(
        restic_backup, local_repo.args(paths=[str(loop_ext4)], freeze=True, _ansible_check_mode=True)
    )
    assert not dry["failed"] and dry["frozen"] == []  # check mode decides, freezes nothing


def test_restic_backup_refuses_to_freeze_a_directory_or_a_bind_mount(run_module, local_repo, tmp_path):
    src = make_tree(tmp_path / "src")
    result = run_module(restic_backup, local_repo.args(paths=[str(src)], freeze=True))
    assert result["failed"] and "not a mount point" in result["msg"] and str(src) in result["msg"]
    assert local_repo.snapshot_ids() == []  # refused before restic ran

    if os.geteuid() != 0:
        return
    bind = tmp_path / "bind"
    bind.mkdir()
    subprocess.run(["mount", "--bind", str(src), str(bind)], check=True)
    try:
        assert (
            subprocess.run(["mountpoint", "-q", str(bind)], check=False).returncode == 0
        )  # the old guard passed
        result = run_module(restic_backup, local_repo.args(paths=[str(bind)], freeze=True))
        assert result["failed"] and "bind mount of" in result["msg"]
        assert local_repo.snapshot_ids() == []
    finally:
        subprocess.run(["umount", str(bind)], check=True)
