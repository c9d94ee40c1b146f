#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backup_dir_store
short_description: Put a backup set into a cluster's directory on a backup host, then apply the retention
version_added: "0.1.0"
description:
  - Unpacks a tar of the set (made on the source host, owners and modes inside) into O(dest)/.<name>.part,
    renames it to O(dest)/O(name), so that a complete set is never partial, and removes the sets the
    retention no longer keeps. O(dest) and its missing parents are created (0700).
  - A set already there is left as it was (the tar is not unpacked again).
  - The action plugin of the same name sends the tar from the controller (O(src)) in the same task.
  - Retention, among the directories named like a set (<UTC time>Z-r<revision>); newest first by name, the
    first O(keep_last) are kept, and with O(keep_within_days) also every set whose directory is younger.
author:
  - kubedr contributors (@kubedr)
options:
  src:
    description: The tar on the controller (action plugin). Not needed in check mode.
    type: path
  archive:
    description: The tar on this host, removed when the module is done (the action plugin sets it).
    type: path
  dest:
    description: The cluster's directory of sets.
    type: path
    required: true
  name:
    description: The set's name, C(<UTC time>Z-r<revision>).
    type: str
    required: true
  keep_last:
    description: How many of the newest sets to keep.
    type: int
    required: true
  keep_within_days:
    description: Also keep every set younger than this many days; V(0) for none.
    type: int
    default: 0
attributes:
  action:
    support: full
    description: The action plugin sends O(src) to the host.
  check_mode:
    support: full
    description: Tells whether the set would be stored and which sets removed; sends and changes nothing.
  diff_mode:
    support: none
    description: No diff is shown.
  idempotent:
    support: full
    description: A set already stored is not stored again; the retention removes nothing more.
"""

EXAMPLES = r"""
- name: Store the set on the backup host
  kubedr.kubeadm.backup_dir_store:
    src: /tmp/kubedr-etcd-backup-x/set.tar
    dest: /srv/kubedr/etcd-backup/prod
    name: 20261202T144901Z-r937
    keep_last: 14
    keep_within_days: 7
  delegate_to: vault
"""

RETURN = r"""
path:
  description: Where the set is.
  returned: success
  type: str
stored:
  description: Whether this run put the set there (false when it was there already).
  returned: success
  type: bool
removed:
  description: Names of the sets the retention removed (or, in check mode, would remove).
  returned: success
  type: list
  elements: str
kept:
  description: Names of the sets kept, newest first.
  returned: success
  type: list
  elements: str
"""

import os
import shutil
import tarfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils.rebuild_set import SET_FORM, SET_NAME


class StoreError(Exception):
    pass


def _safe_members(archive):
    """The tar's members, refusing any that would land outside the set or is not a file, dir or link."""
    members = archive.getmembers()
    for member in members:
        parts = member.name.split("/")
        if member.name.startswith("/") or ".." in parts:
            raise StoreError(f"the tar holds {member.name!r}, outside the set: it was not unpacked")
        if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
            raise StoreError(f"the tar holds {member.name!r}, neither a file, a directory nor a link")
        if member.issym() and (member.linkname.startswith("/") or ".." in member.linkname.split("/")):
            raise StoreError(f"the tar's link {member.name!r} points outside the set ({member.linkname})")
    return members


def unpack(path, into):
    """The tar at path unpacked into `into` (created), owners (numeric) and modes as in the tar."""
    os.mkdir(into, 0o700)
    with tarfile.open(path) as archive:
        members = _safe_members(archive)
        extra = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
        archive.extractall(into, members=members, numeric_owner=True, **extra)


def retention(dest, keep_last, keep_within_days, now, new=None):
    """(kept, to remove) among dest's set directories (and `new`, one not stored yet), newest first."""
    names = {n for n in (os.listdir(dest) if os.path.isdir(dest) else [])
             if SET_NAME.match(n) and os.path.isdir(os.path.join(dest, n))}
    names = sorted(names | ({new} if new else set()), reverse=True)
    kept, remove = names[:keep_last], []
    for name in names[keep_last:]:
        young = (keep_within_days > 0 and name != new
                 and os.stat(os.path.join(dest, name)).st_mtime > now - keep_within_days * 86400)
        (kept if young or name == new else remove).append(name)
    return kept, remove


def main():
    module = AnsibleModule(
        argument_spec={
            "src": {"type": "path"},
            "archive": {"type": "path"},
            "dest": {"type": "path", "required": True},
            "name": {"type": "str", "required": True},
            "keep_last": {"type": "int", "required": True},
            "keep_within_days": {"type": "int", "default": 0},
        },
        supports_check_mode=True,
    )
    p = module.params
    archive = p["archive"]
    try:
        if not SET_NAME.match(p["name"]):
            raise StoreError(f"name {p['name']!r} is not a set's name ({SET_FORM})")
        if p["keep_last"] < 1 or p["keep_within_days"] < 0:
            raise StoreError("keep_last must be at least 1 and keep_within_days 0 or more")
        if not archive and not module.check_mode:
            raise StoreError("archive (the tar on this host) is needed: give src and let the action plugin"
                             " send it")
        path = os.path.join(p["dest"], p["name"])
        stored = not os.path.isdir(path)
        if stored and not module.check_mode:
            os.makedirs(p["dest"], mode=0o700, exist_ok=True)
            part = os.path.join(p["dest"], f".{p['name']}.part")
            if os.path.lexists(part):
                shutil.rmtree(part)  # a run that died while unpacking; the set was never complete
            try:
                unpack(archive, part)
            except (OSError, tarfile.TarError, StoreError):
                shutil.rmtree(part, ignore_errors=True)
                raise
            os.rename(part, path)
        kept, remove = retention(p["dest"], p["keep_last"], p["keep_within_days"], time.time(),
                                 new=p["name"] if module.check_mode and stored else None)
        if not module.check_mode:
            for name in remove:
                shutil.rmtree(os.path.join(p["dest"], name))
    except (OSError, tarfile.TarError, StoreError) as e:
        module.fail_json(msg=f"storing set {p['name']} in {p['dest']} failed: {e}; what was there before"
                             " is as it was")
    finally:
        if archive and os.path.exists(archive):
            os.unlink(archive)
    module.exit_json(changed=stored or bool(remove), stored=stored, path=path, kept=kept, removed=remove)


if __name__ == "__main__":
    main()
