# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collection-private: whether a path is a mount point, bind mounts included (one helper for every module).

Runs on the managed host: standard library only.
"""

from __future__ import annotations

import os
import re

MOUNTINFO = "/proc/self/mountinfo"

# the kernel writes space, tab, newline and backslash in mountinfo paths as \040, \011, \012, \134
_OCTAL = re.compile(r"\\([0-7]{3})")


def _unescape(field):
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def mount_points(mountinfo=MOUNTINFO):
    """The mount points listed in mountinfo (field 5), unescaped; empty when it cannot be read."""
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as fh:
            return {_unescape(line.split()[4]) for line in fh if len(line.split()) > 4}
    except OSError:
        return set()


def is_mount_point(path):
    """True when `path` (after symlinks) is a mount point.

    os.path.ismount compares the device of a path with its parent's, so it misses a bind mount of a
    directory on the same file system (what kubelet makes of a local PV, or `mount --bind`);
    /proc/self/mountinfo lists those too.
    """
    if not os.path.exists(path):
        return False
    if os.path.ismount(path):
        return True
    return os.path.realpath(path) in mount_points()


def mounts_beneath(path, mountinfo=MOUNTINFO):
    """The mount points strictly beneath `path` (after symlinks; `path` itself is left out), in the order
    to unmount them: deepest first and, of mounts stacked on one point, the last mounted first (one
    entry per mount). Raises OSError when mountinfo cannot be read: unlike mount_points(), a caller
    about to unmount must not take "unreadable" for "nothing mounted"."""
    base = os.path.realpath(path).rstrip("/") + "/"
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as fh:
        points = [_unescape(fields[4]) for fields in (line.split() for line in fh) if len(fields) > 4]
    beneath = [(order, point) for order, point in enumerate(points) if point.startswith(base)]
    beneath.sort(key=lambda item: (item[1].rstrip("/").count("/"), item[0]), reverse=True)
    return [point for _order, point in beneath]
