#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: move_aside
short_description: Move directories out of the way instead of deleting them
version_added: "0.1.0"
description:
  - What DR roles do with the remnants of a broken node (old static pod manifests, kubeconfigs,
    etcd data, kubelet state) before they rebuild it. It keeps a copy by renaming, never by deleting.
  - A path that is a directory of its own is renamed to V(<parent>/.<name>.kubedr-aside-<stamp>).
    A path that is a mount point (a data disk, or a bind mount) cannot be renamed, so its entries
    move into V(<path>/.kubedr-aside-<stamp>/) instead. Either way the move is a rename on one file
    system, instant, and nothing is copied or lost.
  - Missing and empty paths are left alone, so a rerun after an interruption reports no change.
    Earlier aside directories (names starting with V(.kubedr-aside-)) are never moved again.
author:
  - kubedr contributors (@kubedr)
options:
  paths:
    description:
      - Absolute paths to move aside, for example V(/etc/kubernetes/manifests) or V(/var/lib/etcd).
    type: list
    elements: path
    required: true
  stamp:
    description:
      - Suffix of the aside names. Give the same one to every task of one run (for example the
        run's start time) so that everything one run moved sits under one name.
      - Defaults to the current UTC time, V(YYYYmmddTHHMMSSZ).
    type: str
  keep:
    description:
      - Names of entries to leave in place when a path's entries are moved (mount points and the
        entries of O(paths) that are directories alike), for example V(pki) to keep
        V(/etc/kubernetes/pki) while everything else in V(/etc/kubernetes) moves.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: Reports what would move, and where, without moving anything.
  diff_mode:
    support: none
    description: Directories are renamed, not edited.
  idempotent:
    support: full
    description: Empty and missing paths, and what was already moved, are left alone.
"""

EXAMPLES = r"""
- name: Keep the old control-plane state of a node that is about to be rebuilt
  kubedr.kubeadm.move_aside:
    paths:
      - /etc/kubernetes
      - /var/lib/etcd
      - /var/lib/kubelet
    stamp: "{{ rebuild_started }}"
  register: aside
"""

RETURN = r"""
moved:
  description: What moved, one entry per path that had something in it.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The path that was moved aside (or emptied, when it is a mount point).
      type: str
    aside:
      description: Where its content is now.
      type: str
    entries:
      description: Names that moved (the path's own name when it was renamed as a whole).
      type: list
      elements: str
  sample:
    - path: /var/lib/etcd
      aside: /var/lib/etcd/.kubedr-aside-20261123T150102Z
      entries: [member]
stamp:
  description: The suffix used.
  returned: always
  type: str
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

ASIDE_PREFIX = ".kubedr-aside-"


def is_mount_point(path):
    """os.path.ismount misses bind mounts within one file system; mountinfo does not."""
    if os.path.ismount(path):
        return True
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as fh:
            return any(line.split()[4] == real for line in fh)
    except OSError:
        return False


def plan(path, stamp, keep):
    """What moving `path` aside means: None when there is nothing to move."""
    if not os.path.lexists(path):
        return None
    if not os.path.isdir(path) or os.path.islink(path):
        parent, name = os.path.split(path.rstrip("/"))
        return {"path": path, "aside": os.path.join(parent, f".{name}{ASIDE_PREFIX}{stamp}"),
                "entries": [name], "whole": True}
    entries = sorted(e for e in os.listdir(path) if not e.startswith(ASIDE_PREFIX) and e not in keep)
    if not entries:
        return None
    if is_mount_point(path) or keep:
        return {"path": path, "aside": os.path.join(path, ASIDE_PREFIX + stamp), "entries": entries,
                "whole": False}
    parent, name = os.path.split(path.rstrip("/"))
    return {"path": path, "aside": os.path.join(parent, f".{name}{ASIDE_PREFIX}{stamp}"),
            "entries": [name], "whole": True}


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


def main():
    module = AnsibleModule(
        argument_spec={
            "paths": {"type": "list", "elements": "path", "required": True},
            "stamp": {"type": "str"},
            "keep": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    stamp = module.params["stamp"] or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    if "/" in stamp or stamp in (".", ".."):
        module.fail_json(msg=f"stamp {stamp!r} must be a plain name (no '/'), for example 20261123T150102Z",
                         moved=[], stamp=stamp)
    relative = [p for p in module.params["paths"] if not os.path.isabs(p) or p.rstrip("/") == ""]
    if relative:
        module.fail_json(msg=f"paths must be absolute and not '/': {', '.join(relative)}",
                         moved=[], stamp=stamp)
    steps = [s for s in (plan(p, stamp, module.params["keep"]) for p in module.params["paths"]) if s]
    moved = []
    for step in steps:
        if not module.check_mode:
            try:
                apply(step)
            except OSError as exc:
                hint = (" (the aside directory must be on the same file system as the path)"
                        if getattr(exc, "errno", None) == 18 else "")
                module.fail_json(msg=f"could not move {step['path']} aside to {step['aside']}: {exc}{hint}; "
                                 "what moved before this is listed in 'moved'", moved=moved, stamp=stamp)
        moved.append({k: step[k] for k in ("path", "aside", "entries")})
    module.exit_json(changed=bool(moved), moved=moved, stamp=stamp)


if __name__ == "__main__":
    main()
