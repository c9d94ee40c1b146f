#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tree_checksum
short_description: One checksum over the contents and names of every file in a directory tree
version_added: "0.1.0"
description:
  - Reads every regular file under O(path) (symlinks are not followed) and returns the sha256 of the
    lines C(<sha256 of the file>  ./<relative path>), sorted by path - what
    C(find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum) prints in that
    directory for ordinary file names. Two trees with the same files at the same places have the same
    checksum, whatever their timestamps, owners or modes.
  - Used to compare a restored volume with itself later (an application may write to it) and with
    what was backed up.
author:
  - kubedr contributors (@kubedr)
options:
  path:
    description: The directory whose tree to checksum.
    type: path
    required: true
  exclude:
    description:
      - Glob patterns of entries directly under O(path) to leave out, with everything below them.
      - The default leaves out what M(kubedr.kubeadm.restic_restore) moved aside inside a volume.
    type: list
    elements: str
    default: [".kubedr-moved-*", ".kubedr-restore-*"]
attributes:
  check_mode:
    support: full
    description: Only reads.
  diff_mode:
    support: none
    description: Nothing is changed.
  idempotent:
    support: full
    description: Only reads.
"""

EXAMPLES = r"""
- name: Checksum a restored local volume
  kubedr.kubeadm.tree_checksum:
    path: /mnt/disks/data-0
  register: volume
"""

RETURN = r"""
checksum:
  description: The tree's sha256 (hex).
  returned: success
  type: str
files:
  description: How many files went into it.
  returned: success
  type: int
bytes:
  description: Their total size.
  returned: success
  type: int
"""

import fnmatch
import hashlib
import os

from ansible.module_utils.basic import AnsibleModule

CHUNK = 1 << 20


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tree(root, exclude):
    """(checksum, files, bytes) of the regular files under root, leaving out the top-level entries
    that match exclude."""
    found = []
    for directory, dirs, names in os.walk(root):
        if directory == root:
            dirs[:] = [d for d in dirs if not any(fnmatch.fnmatchcase(d, p) for p in exclude)]
            names = [n for n in names if not any(fnmatch.fnmatchcase(n, p) for p in exclude)]
        for name in names:
            full = os.path.join(directory, name)
            if os.path.isfile(full) and not os.path.islink(full):
                found.append(("./" + os.path.relpath(full, root)).encode("utf-8", "surrogateescape"))
    listing = hashlib.sha256()
    size = 0
    for relative in sorted(found):
        full = os.path.join(root, relative.decode("utf-8", "surrogateescape")[2:])
        size += os.path.getsize(full)
        listing.update(file_sha256(full).encode() + b"  " + relative + b"\n")
    return listing.hexdigest(), len(found), size


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "exclude": {
                "type": "list",
                "elements": "str",
                "default": [".kubedr-moved-*", ".kubedr-restore-*"],
            },
        },
        supports_check_mode=True,
    )
    root = module.params["path"]
    if not os.path.isdir(root):
        module.fail_json(msg=f"{root} is not a directory: give the volume's directory on this host")
    try:
        checksum, files, size = tree(root, module.params["exclude"])
    except OSError as error:
        module.fail_json(msg=f"could not read {error.filename}: {error.strerror}")
    module.exit_json(changed=False, checksum=checksum, files=files, bytes=size)


if __name__ == "__main__":
    main()
