# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collection-private file-system primitives, one copy for every module that replaces data: UTC stamps,
free names, and swapping a staged copy in for a directory with the old data moved aside, never deleted.

A plain directory is swapped by two renames beside it (`<dir>.moved-<stamp>`, then the staged
`<dir>.restore-<stamp>` into its place). A mount point cannot be renamed: its entries move into
`<dir>/.kubedr-moved-<stamp>` and the staged entries (`<dir>/.kubedr-restore-<stamp>`) up into it. A swap
that fails part-way undoes the renames it made, so the directory keeps its old contents; what cannot be
undone is named. Where SELinux is enabled, restore_labels gives the swapped-in data the policy's labels
back. Standard library only (runs on the managed hosts)."""

from __future__ import annotations

import os
import stat
import time

from ansible_collections.kubedr.kubeadm.plugins.module_utils.bounded_run import RC_TIMEOUT
from ansible_collections.kubedr.kubeadm.plugins.module_utils.mount_points import is_mount_point

MOVED_PREFIX = ".kubedr-moved-"
SCRATCH_PREFIX = ".kubedr-restore-"
SELINUX_FS = "/sys/fs/selinux"


class SwapError(OSError):
    """A swap failed; the message says what was undone and where everything is."""


class LabelError(OSError):
    """The data is in place but its SELinux labels could not be put back; the message says how to."""


def utc_stamp(now=None):
    """20261203T081500Z: the stamp in every name kubedr gives to moved-aside or staged data."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))


def free_name(path):
    """`path`, or path.1, path.2, ... whichever does not exist yet."""
    candidate, n = path, 0
    while os.path.lexists(candidate):
        n += 1
        candidate = f"{path}.{n}"
    return candidate


def mount_point(path):
    """Whether `path` is a directory that is a mount point (bind mounts included)."""
    return os.path.isdir(path) and is_mount_point(path)


def own_entries(names):
    """A mount point's entries but the staged and moved-aside data kubedr put there."""
    return [n for n in names if not n.startswith((SCRATCH_PREFIX, MOVED_PREFIX))]


def has_data(target, is_mount):
    """Whether swapping into `target` has old data to keep (a missing or empty directory has none)."""
    if not os.path.lexists(target):
        return False
    if not os.path.isdir(target) or os.path.islink(target):
        return True
    names = os.listdir(target)
    return bool(own_entries(names) if is_mount else names)


def scratch_path(target, is_mount, stamp):
    """A free name to stage the new data in, on the target's file system."""
    if is_mount:
        return free_name(os.path.join(target, SCRATCH_PREFIX + stamp))
    return free_name(f"{target}.restore-{stamp}")


def aside_path(target, is_mount, stamp):
    """A free name for the old data, on the target's file system."""
    if is_mount:
        return free_name(os.path.join(target, MOVED_PREFIX + stamp))
    return free_name(f"{target}.moved-{stamp}")


def swap(target, scratch, is_mount, stamp=None, moved=None):
    """Put the staged `scratch` in the place of `target`; returns where the old data went (None: there
    was none). `moved` is the name for it when the caller chose one already (aside_path), else one is
    chosen with `stamp`."""
    if moved is None and has_data(target, is_mount):
        moved = aside_path(target, is_mount, stamp or utc_stamp())
    if is_mount:
        _swap_mount(target, scratch, moved)
    else:
        _swap_plain(target, scratch, moved)
    return moved


def _swap_plain(target, scratch, moved):
    emptied = None
    if os.path.lexists(target):
        if moved:
            os.rename(target, moved)
        else:  # an empty directory: nothing to keep
            emptied = stat.S_IMODE(os.stat(target).st_mode)
            os.rmdir(target)
    try:
        os.rename(scratch, target)
    except OSError as e:
        try:
            if moved:
                os.rename(moved, target)
            elif emptied is not None:
                os.mkdir(target, emptied)
        except OSError as undo:
            raise SwapError(f"renaming {scratch} to {target} failed ({e}) and could not be undone ({undo}):"
                            f" the old contents are in {moved}, the staged copy in {scratch}; nothing was"
                            " deleted: rename them back by hand") from e
        raise SwapError(f"renaming {scratch} to {target} failed: {e}; undone: {target} holds its old"
                        f" contents, the staged copy is still in {scratch}") from e


def _swap_mount(target, scratch, moved):
    old = own_entries(n for n in os.listdir(target) if n != os.path.basename(scratch))
    done = []
    made = False
    try:
        if old:
            os.mkdir(moved, 0o700)
            made = True
            for name in old:
                os.rename(os.path.join(target, name), os.path.join(moved, name))
                done.append((os.path.join(target, name), os.path.join(moved, name)))
        for name in os.listdir(scratch):
            os.rename(os.path.join(scratch, name), os.path.join(target, name))
            done.append((os.path.join(scratch, name), os.path.join(target, name)))
    except OSError as e:
        for src, dst in reversed(done):
            try:
                os.rename(dst, src)
            except OSError as undo:
                raise SwapError(
                    f"swapping {scratch} into mount point {target} failed ({e}) and could not be undone"
                    f" ({undo}): the old contents are partly in {target}, partly in {moved}; the restored"
                    f" ones partly in {target}, partly in {scratch}. Nothing was deleted: move them back"
                    " by hand") from e
        if made:
            os.rmdir(moved)
        raise SwapError(f"swapping {scratch} into mount point {target} failed: {e}; undone: {target} holds"
                        f" its old contents, the staged copy is still in {scratch}") from e
    os.rmdir(scratch)


def selinux_enabled(selinuxfs=None):
    """Whether SELinux is enabled, enforcing or permissive: the kernel mounts selinuxfs with its enforce
    file only then."""
    return os.path.isfile(os.path.join(selinuxfs or SELINUX_FS, "enforce"))


def restore_labels(path, run, which, selinuxfs=None):
    """Where SELinux is enabled, `restorecon -R` on `path` after a swap: renamed data keeps the labels of
    the scratch space it was written in, which a confined etcd or pod may not be allowed to read.
    `run(argv)` gives (rc, stdout, stderr), `which(name)` a path or None. Returns (argv, relabeled paths):
    (None, []) where SELinux is off, an empty list when every label was right. Raises LabelError."""
    if not selinux_enabled(selinuxfs):
        return None, []
    fix = f"install policycoreutils and run `restorecon -R {path}`"
    restorecon = which("restorecon")
    if not restorecon:
        raise LabelError(f"SELinux is enabled but there is no restorecon: {path} holds the restored data"
                         f" with the labels of where it was staged. Fix: {fix}")
    argv = [restorecon, "-R", "-v", path]
    rc, out, err = run(argv)
    if rc != 0:
        said = "it did not finish in time and was stopped" if rc == RC_TIMEOUT else (
            f"rc {rc}: {(err or out).strip()[-500:]}")
        raise LabelError(f"`{' '.join(argv)}` failed ({said}): {path} holds the restored data with the labels"
                         f" of where it was staged. Fix: run `restorecon -R {path}` by hand")
    # -v prints one line per file it relabeled ("Relabeled <path> from <old> to <new>")
    return argv, [line[len("Relabeled "):].rsplit(" from ", 1)[0] for line in out.splitlines()
                  if line.startswith("Relabeled ")]
