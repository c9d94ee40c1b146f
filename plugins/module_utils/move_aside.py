# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moving directories out of the way by renaming them on their own file system, never deleting:
shared by the move_aside and kubeadm_reset modules."""

from __future__ import annotations

import os

from ansible_collections.kubedr.kubeadm.plugins.module_utils.mount_points import is_mount_point

ASIDE_PREFIX = ".kubedr-aside-"


def plan(path, stamp, keep):
    """What moving `path` aside means: None when there is nothing to move."""
    if not os.path.lexists(path):
        return None
    if not os.path.isdir(path) or os.path.islink(path):
        parent, name = os.path.split(path.rstrip("/"))
        return {
            "path": path,
            "aside": os.path.join(parent, f".{name}{ASIDE_PREFIX}{stamp}"),
            "entries": [name],
            "whole": True,
        }
    entries = sorted(e for e in os.listdir(path) if not e.startswith(ASIDE_PREFIX) and e not in keep)
    if not entries:
        return None
    if is_mount_point(path) or keep:
        return {
            "path": path,
            "aside": os.path.join(path, ASIDE_PREFIX + stamp),
            "entries": entries,
            "whole": False,
        }
    parent, name = os.path.split(path.rstrip("/"))
    return {
        "path": path,
        "aside": os.path.join(parent, f".{name}{ASIDE_PREFIX}{stamp}"),
        "entries": [name],
        "whole": True,
    }


def apply(step):
    if step["whole"]:
        if os.path.lexists(step["aside"]):
            raise OSError(f"{step['aside']} exists already; give another stamp")
        os.rename(step["path"], step["aside"])
        return
    os.makedirs(step["aside"], mode=0o700, exist_ok=True)
    for entry in step["entries"]:
        target = os.path.join(step["aside"], entry)
        if os.path.lexists(target):
            raise OSError(f"{target} exists already; give another stamp")
        os.rename(os.path.join(step["path"], entry), target)


def check_paths(paths, stamp):
    """The error message for a bad stamp or path, or None."""
    if "/" in stamp or stamp in (".", ".."):
        return f"stamp {stamp!r} must be a plain name (no '/'), for example 20261123T150102Z"
    relative = [p for p in paths if not os.path.isabs(p) or p.rstrip("/") == ""]
    if relative:
        return f"paths must be absolute and not '/': {', '.join(relative)}"
    return None


def move_all(paths, stamp, keep, check_mode):
    """Move each path aside; returns (moved, error): what moved (or would, in check mode) and, when a
    move failed, its message (what moved before it stays listed)."""
    moved = []
    for step in (s for s in (plan(p, stamp, keep) for p in paths) if s):
        if not check_mode:
            try:
                apply(step)
            except OSError as exc:
                hint = (
                    " (the aside directory must be on the same file system as the path)"
                    if getattr(exc, "errno", None) == 18
                    else ""
                )
                return moved, (
                    f"could not move {step['path']} aside to {step['aside']}: {exc}{hint}; "
                    "what moved before this is listed in 'moved'"
                )
        moved.append({k: step[k] for k in ("path", "aside", "entries")})
    return moved, None
