#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backup_manifest
short_description: Write a backup set's manifest.json beside its data
version_added: "0.1.0"
description:
  - Writes O(manifest) as JSON (sorted keys, indented) to O(path) through a temporary file in the same
    directory and a rename, so that a reader never sees half a manifest; owned by the user the module
    runs as, mode O(mode).
  - One module run where M(ansible.builtin.copy) with C(content) takes a checksum, a transfer and a second
    module run; the backup writes one manifest per set.
  - Also writes the etcd_restore role's run records (C(started.json), C(restored.json), C(done.json)), with
    O(keep_existing) for those that record the first run.
  - The manifest is the set's description (cluster, snapshot, members, nodes); it must hold no secrets (like
    every module argument, it is shown at C(-v)).
author:
  - kubedr contributors (@kubedr)
options:
  path:
    description: The manifest file. Its directory must exist.
    type: path
    required: true
  manifest:
    description: What to write.
    type: dict
    required: true
  mode:
    description: The file's mode, octal as a string.
    type: str
    default: "0600"
  keep_existing:
    description: Leave a file already at O(path) as it is, whatever it holds (a record of an earlier run).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Tells whether the file would change, writes nothing.
  diff_mode:
    support: none
    description: No diff is shown.
  idempotent:
    support: full
    description: The same manifest (and mode) again changes nothing.
"""

EXAMPLES = r"""
- name: Write the cluster manifest beside the snapshot
  kubedr.kubeadm.backup_manifest:
    path: /var/lib/kubedr/etcd-backup/prod/etcd/manifest.json
    manifest: "{{ manifest }}"
"""

RETURN = r"""
path:
  description: The manifest file.
  returned: success
  type: str
"""

import json
import os
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "manifest": {"type": "dict", "required": True},
            "mode": {"type": "str", "default": "0600"},
            "keep_existing": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    try:
        mode = int(module.params["mode"], 8)
    except ValueError:
        module.fail_json(msg=f"mode must be octal, like 0600; got {module.params['mode']!r}")
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        module.fail_json(msg=f"{directory} does not exist: the manifest goes beside the set's data, create"
                             " that first")
    if module.params["keep_existing"] and os.path.lexists(path):
        module.exit_json(changed=False, path=path)
    text = json.dumps(module.params["manifest"], indent=2, sort_keys=True) + "\n"
    try:
        with open(path, encoding="utf-8") as f:
            same = f.read() == text and stat.S_IMODE(os.stat(path).st_mode) == mode
    except (OSError, UnicodeDecodeError):  # missing or unreadable: written anew
        same = False
    if same or module.check_mode:
        module.exit_json(changed=not same, path=path)
    fd, scratch = tempfile.mkstemp(prefix=".manifest-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(scratch, mode)
        os.rename(scratch, path)
    except OSError as e:
        if os.path.exists(scratch):
            os.unlink(scratch)
        module.fail_json(msg=f"writing {path} failed: {e}")
    module.exit_json(changed=True, path=path)


if __name__ == "__main__":
    main()
