#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: etcd_snapshot_info
short_description: Check an etcd snapshot file, optionally by restoring it into a scratch directory
version_added: "0.1.0"
description:
  - Reads an etcd snapshot file on the managed host, without any connection to etcd, and reports
    whether it is intact. A snapshot is intact when it is longer than 32 bytes, its last 32 bytes are the
    sha256 of everything before them (the trailer etcd appends to every snapshot stream) and its first
    page is a bbolt meta page.
  - Reads the metadata JSON that M(kubedr.kubeadm.etcd_snapshot) writes beside the snapshot
    (C(<path>.json)), when there is one, and checks that its sha256 and size match the file.
  - With O(trial_restore=true), also restores the snapshot into a scratch directory with the host's
    C(etcdutl snapshot restore) (or C(etcdctl snapshot restore) where only etcdctl 3.5 is installed),
    reads its revision and key count with C(snapshot status), and removes the scratch directory.
author:
  - kubedr contributors (@kubedr)
options:
  path:
    description:
      - The snapshot file.
    type: path
    required: true
  fail_on_invalid:
    description:
      - Fail when the snapshot is not intact (a truncated or corrupted file, a metadata mismatch or a
        failed trial restore), with the problems in the message. The result is returned either way.
      - Set to V(false) to only report, for example to pick the newest intact snapshot of several.
    type: bool
    default: true
  trial_restore:
    description:
      - Restore the snapshot into a temporary directory under O(scratch_dir) to prove that it restores,
        and report its revision and key count. The directory is always removed.
      - Skipped when the file already failed the trailer check.
    type: bool
    default: false
  scratch_dir:
    description:
      - Directory in which the temporary restore directory is created; it needs room for a copy of
        the database. The system temporary directory when omitted.
    type: path
  etcdutl_path:
    description:
      - The C(etcdutl) (or C(etcdctl) 3.5) binary used by O(trial_restore).
      - When omitted, C(etcdutl) and then C(etcdctl) are looked up on the C(PATH).
      - Stock kubeadm nodes have neither; M(kubedr.kubeadm.etcdutl_binary) reads one out of the node's etcd
        image.
    type: path
  timeout:
    description:
      - Seconds each command of O(trial_restore) (C(snapshot restore), C(snapshot status)) may run. One still
        running then is stopped (SIGTERM, then SIGKILL after 10 seconds), the scratch directory removed, and
        the task fails naming the command and this option, whatever O(fail_on_invalid) says (a timeout tells
        nothing about the snapshot). V(0) means no limit.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
    description: The module only reads; a trial restore writes only to a scratch directory it removes.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
  idempotent:
    support: full
    description: Never changes anything.
notes:
  - Corruption is reported, never raised as a traceback; with O(fail_on_invalid=true) (the default) the
    task fails with the list of problems so that a backup job does not carry on with a bad snapshot.
  - A raw copy of C(member/snap/db) has no sha256 trailer and is reported as not intact.
seealso:
  - module: kubedr.kubeadm.etcd_snapshot
"""

EXAMPLES = r"""
- name: Check the snapshot just taken
  kubedr.kubeadm.etcd_snapshot_info:
    path: /var/backups/etcd/snapshot.db

- name: Prove that it restores, using the etcdutl kubeadm's etcd image ships
  kubedr.kubeadm.etcd_snapshot_info:
    path: /var/backups/etcd/snapshot.db
    trial_restore: true
    scratch_dir: /var/tmp
    etcdutl_path: /usr/local/bin/etcdutl
  register: check

- name: Report without failing
  kubedr.kubeadm.etcd_snapshot_info:
    path: "{{ item }}"
    fail_on_invalid: false
  loop: "{{ candidates }}"
  register: checks
"""

RETURN = r"""
snapshot:
  description: What the file and its metadata say.
  returned: always, also when the module fails because the snapshot is not intact
  type: dict
  contains:
    path:
      description: The snapshot file.
      type: str
    size:
      description: Size in bytes.
      type: int
    sha256:
      description: sha256 of the whole file, as C(sha256sum) prints it.
      type: str
    valid:
      description: Whether no problem was found.
      type: bool
    problems:
      description: What is wrong with the snapshot; empty when it is intact.
      type: list
      elements: str
      sample: ["sha256 trailer does not match the data: the file is truncated or corrupt"]
    bbolt_magic:
      description: Whether the first page carries bbolt's magic number.
      type: bool
    metadata:
      description:
        - The metadata JSON written beside the snapshot by M(kubedr.kubeadm.etcd_snapshot).
        - Null when there is none.
      type: dict
    metadata_matches:
      description: Whether the metadata's sha256 and size match the file; null without metadata.
      type: bool
    restore:
      description:
        - Result of the trial restore (tool, revision, total_key, hash, total_size).
        - Null without O(trial_restore) or when it failed.
        - C(total_key) counts every revision of every key in the key bucket, as C(etcdutl snapshot status)
          does; C(revision) is 0 for a store that never held a key.
      type: dict
      sample: {"tool": "/usr/local/bin/etcdutl", "revision": 48213, "total_key": 1532, "hash": 2735624417,
               "total_size": 20512768}
commands:
  description: Commands run for the trial restore.
  returned: always
  type: list
  elements: list
"""

import json
import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils import bounded_run
from ansible_collections.kubedr.kubeadm.plugins.module_utils import etcd_snapshot_file as snapfile


def find_tool(module):
    """(path, is_etcdctl) of the tool for the trial restore."""
    path = module.params["etcdutl_path"]
    if path:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            module.fail_json(msg=f"etcdutl_path {path} is not an executable file")
    else:
        path = module.get_bin_path("etcdutl") or module.get_bin_path("etcdctl")
        if not path:
            module.fail_json(msg="trial_restore needs etcdutl (or etcdctl 3.5) on the managed host:"
                                 " install it or set etcdutl_path")
    return path, os.path.basename(path).startswith("etcdctl")


def trial_restore(module, path, commands):
    """(restore result, problems): restore into a scratch directory that is always removed."""
    tool, is_etcdctl = find_tool(module)
    environ = {"ETCDCTL_API": "3"} if is_etcdctl else {}
    scratch_parent = module.params["scratch_dir"]
    if scratch_parent and not os.path.isdir(scratch_parent):
        module.fail_json(msg=f"scratch_dir {scratch_parent} does not exist")
    scratch = tempfile.mkdtemp(prefix="kubedr-trial-restore-", dir=scratch_parent)
    try:
        steps = (
            [tool, "snapshot", "restore", path, "--data-dir", os.path.join(scratch, "data")],
            [tool, "snapshot", "status", path, "-w", "json"],
        )
        outputs = []
        for cmd in steps:
            commands.append(cmd)
            rc, out, err = bounded_run.module_run(module, cmd, module.params["timeout"],
                                                  environ_update=environ, cwd=scratch)
            if rc == bounded_run.RC_TIMEOUT:
                shutil.rmtree(scratch, ignore_errors=True)
                module.fail_json(
                    msg=bounded_run.timed_out(
                        f"trial restore: {os.path.basename(tool)} {' '.join(cmd[1:3])} of {path}",
                        module.params["timeout"],
                        hint="this says nothing about the snapshot; a stalled disk or network file system"
                             " under it or under scratch_dir hangs it"),
                    cmd=cmd, commands=commands, stdout=out, stderr=err)
            if rc != 0:
                text = (err or out).strip().splitlines()
                return None, [f"trial restore failed: `{' '.join(cmd)}` exited with {rc}:"
                              f" {text[-1] if text else 'no output'}"]
            outputs.append(out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    try:
        status = json.loads(outputs[1])
    except ValueError:
        return None, [f"trial restore: unexpected output from snapshot status: {outputs[1][:200]!r}"]
    return {"tool": tool, "revision": status.get("revision"), "total_key": status.get("totalKey"),
            "hash": status.get("hash"), "total_size": status.get("totalSize")}, []


def gather(module):
    path = module.params["path"]
    commands = []
    try:
        report = snapfile.inspect(path)
    except snapfile.SnapshotFileError as e:
        module.fail_json(msg=str(e), commands=commands)
    snapshot = dict(path=path, size=report["size"], sha256=report["sha256"],
                    bbolt_magic=report["bbolt_magic"],
                    problems=list(report["problems"]), metadata=snapfile.read_metadata(path),
                    metadata_matches=None, restore=None)
    metadata = snapshot["metadata"]
    if metadata is not None:
        snapshot["metadata_matches"] = (metadata.get("sha256") == report["sha256"]
                                        and metadata.get("size") == report["size"])
        if not snapshot["metadata_matches"]:
            snapshot["problems"].append(
                f"{snapfile.metadata_path(path)} records sha256 {metadata.get('sha256')} and size"
                f" {metadata.get('size')}, the file has {report['sha256']} and {report['size']}:"
                " it is not the snapshot the metadata describes")
    if module.params["trial_restore"]:
        if report["valid"]:
            snapshot["restore"], problems = trial_restore(module, path, commands)
            snapshot["problems"] += problems
        else:
            snapshot["problems"].append("trial restore skipped: the file failed the checks above")
    snapshot["valid"] = not snapshot["problems"]
    return snapshot, commands


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            fail_on_invalid=dict(type="bool", default=True),
            trial_restore=dict(type="bool", default=False),
            scratch_dir=dict(type="path"),
            etcdutl_path=dict(type="path"),
            timeout=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    bounded_run.require_timeout(module, commands=[])
    path = module.params["path"]
    if not os.path.isfile(path):
        module.fail_json(msg=f"snapshot file {path} does not exist or is not a regular file", commands=[])
    snapshot, commands = gather(module)
    if not snapshot["valid"] and module.params["fail_on_invalid"]:
        module.fail_json(msg=f"etcd snapshot {path} is not intact: " + "; ".join(snapshot["problems"]),
                         snapshot=snapshot, commands=commands)
    module.exit_json(changed=False, snapshot=snapshot, commands=commands)


if __name__ == "__main__":
    main()
