#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: restic_restore
short_description: Restore a restic snapshot into a directory, moving what was there aside
version_added: "0.1.0"
description:
  - Restores a snapshot (or one directory of it, O(subpath)) into O(target) without ever deleting
    what O(target) held.
  - "The restore goes into a scratch directory on the same file system first, C(<target>.restore-<UTC time>)
    beside the target; only when C(restic restore) succeeded is it swapped in: a non-empty target is
    renamed to C(<target>.moved-<UTC time>), an empty or missing one is simply replaced. A failed restore
    removes its scratch directory and leaves the target as it was."
  - "When the target is a mount point (a local persistent volume, a dedicated disk), it cannot be renamed:
    the scratch directory is then C(<target>/.kubedr-restore-<UTC time>) and the old contents are moved
    into C(<target>/.kubedr-moved-<UTC time>), so everything stays on the mounted file system."
  - "The two steps can be run apart (O(mode)), so that several targets are restored all or nothing:
    V(stage) restores every one into its scratch directory, recorded in
    C(<parent>/.<target name>.kubedr-staged.json), and touches no target; only when every stage succeeded
    does V(swap) put each staged copy in place, with no restic command and no repository access, only
    renames on the target's file system. V(discard) removes
    a staged copy (restored data, never the target's) when another target's stage failed."
  - restic restores ownership, modes and times of everything below the target (run as root for ownership).
    The target directory itself gets the owner and mode recorded for O(subpath) in the snapshot; without
    O(subpath), those of the directory it replaces (mode 0700, root, when there was none).
  - "Idempotence: after a restore, a marker file beside the target,
    C(<parent>/.<target name>.kubedr-restore.json), records the snapshot ID, O(subpath), O(include),
    O(exclude) and a fingerprint of the restored tree (path, type, size, mtime, mode and owner of
    every entry). A later run restores nothing and reports no change when the same snapshot was
    restored with the same options and the fingerprint still matches. The marker lives beside the
    target so the restored data is exactly the snapshot's; the fingerprint makes any change made to
    the target since (a service writing to it, a manual edit) count as a difference, and the restore
    happens again, moving the changed data aside."
author:
  - kubedr contributors (@kubedr)
options:
  snapshot:
    description:
      - Snapshot ID (or a unique prefix of it), or V(latest) for the most recent snapshot that matches
        O(host), O(tags) and O(paths).
    type: str
    default: latest
  host:
    description:
      - With O(snapshot=latest), only consider snapshots of this host.
    type: str
  tags:
    description:
      - With O(snapshot=latest), only consider snapshots that carry all of these tags.
    type: list
    elements: str
    default: []
  paths:
    description:
      - With O(snapshot=latest), only consider snapshots that contain all of these paths.
    type: list
    elements: path
    default: []
  subpath:
    description:
      - Restore only this directory of the snapshot (C(<snapshot>:<subpath>)), its contents landing
        directly in O(target). Typically the absolute path that was backed up, for example V(/var/lib/etcd).
      - Without it, the whole snapshot is restored below O(target) with the full backed-up paths.
    type: str
  target:
    description:
      - Directory to restore into. Its parent is created when missing.
    type: path
    required: true
  include:
    description:
      - Restore only what matches these patterns (C(--include)).
    type: list
    elements: str
    default: []
  exclude:
    description:
      - Do not restore what matches these patterns (C(--exclude)).
    type: list
    elements: str
    default: []
  verify:
    description:
      - Read the restored files back and compare them with the snapshot (C(--verify)).
    type: bool
    default: true
  mode:
    description:
      - V(restore) stages and swaps in one run.
      - V(stage) restores into the scratch directory beside (or, for a mount point, inside) the target and
        records it; the target is not touched. A rerun with the same snapshot and options keeps a staged copy
        that is unchanged (restic restores nothing), restages one that changed, and stages nothing when the
        target already holds that snapshot (see the marker; RV(restore.staged) is then null).
      - "V(swap) puts the staged copy in place, what the target held moved aside. It runs no restic command:
        O(snapshot) (an ID or prefix; V(latest) accepts the staged one), O(subpath), O(include) and
        O(exclude) must match what was staged, and the staged copy must be unchanged since (its fingerprint),
        else it fails with nothing swapped. Nothing staged fails too, unless the target already holds that
        snapshot (no change). When a rename fails, the renames before it are undone."
      - V(discard) removes the staged copy and its record; the target is not touched.
      - A record that names anything but a scratch directory of this target is refused, never followed.
    type: str
    choices: [restore, stage, swap, discard]
    default: restore
extends_documentation_fragment:
  - kubedr.kubeadm.restic_repository
attributes:
  check_mode:
    support: full
    description:
      - Resolves the snapshot and compares it with the marker and the staged copy; reports changed when it
        would restore, stage, swap or discard. In check mode a V(swap) with nothing staged reports changed
        (the stage before it, in check mode too, staged nothing).
  diff_mode:
    support: none
    description: No diff is produced.
  idempotent:
    support: full
    description: A second run with the same snapshot and an untouched target changes nothing (see the marker).
notes:
  - Moved-aside data is never deleted; remove C(<target>.moved-*) (or C(<target>/.kubedr-moved-*)) yourself
    once the restore is confirmed good.
  - Stop whatever uses the target (etcd, a pod) before restoring; the swap is two renames, not atomic.
"""

EXAMPLES = r"""
- name: Restore etcd's data directory from the newest snapshot of this node
  kubedr.kubeadm.restic_restore:
    repository: rest:https://backup.example.com:8000/cluster1/
    password_file: /etc/kubedr/restic.pass
    cacert: /etc/kubedr/rest-server-ca.crt
    host: "{{ inventory_hostname }}"
    tags: [etcd]
    subpath: /var/lib/etcd
    target: /var/lib/etcd
  become: true
  register: restored

- name: Where the old data went
  ansible.builtin.debug:
    msg: "old data kept in {{ restored.restore.moved_aside }}"
  when: restored.restore.moved_aside

# All or nothing over several volumes: stage each, swap only when every stage succeeded
- name: Restore each volume into scratch beside it
  kubedr.kubeadm.restic_restore:
    repository: /srv/restic
    password_file: /etc/kubedr/restic.pass
    snapshot: "{{ item.snapshot }}"
    subpath: "{{ item.path }}"
    target: "{{ item.path }}"
    mode: stage
  loop: "{{ volumes }}"
  become: true

- name: Swap each one in (no repository access)
  kubedr.kubeadm.restic_restore:
    repository: /srv/restic
    password_file: /etc/kubedr/restic.pass
    snapshot: "{{ item.snapshot }}"
    subpath: "{{ item.path }}"
    target: "{{ item.path }}"
    mode: swap
  loop: "{{ volumes }}"
  become: true
"""

RETURN = r"""
restore:
  description: What was restored where.
  returned: success
  type: dict
  contains:
    snapshot_id:
      description: Full ID of the snapshot restored.
      type: str
    snapshot_time:
      description: When that snapshot was taken.
      type: str
    subpath:
      description: The directory of the snapshot restored; null for the whole snapshot.
      type: str
    target:
      description: Absolute path of the target.
      type: str
    mount_point:
      description: Whether the target is a mount point (contents moved instead of the directory renamed).
      type: bool
    moved_aside:
      description: Where the previous contents of the target now are; null when there were none.
      type: str
    selinux_relabeled:
      description:
        - How many paths under the target C(restorecon -R) gave their policy labels back after the swap (the
          restored data keeps the labels of the scratch directory it was written in); null where SELinux is
          off, in check mode, or when nothing was swapped. A rerun runs it again, so a relabel that failed
          is finished by running the task again.
      type: int
    mode:
      description: The O(mode) of the run.
      type: str
    staged:
      description:
        - The staged copy after this run (V(stage)); null when nothing is staged (swapped in, discarded,
          not staged in check mode, or the target already held the snapshot).
      type: str
    swapped:
      description: Whether this run put a staged copy in place of the target.
      type: bool
    discarded:
      description: The staged copy V(discard) removed (or would, in check mode); null when there was none.
      type: str
    marker:
      description: The marker file that records the restore.
      type: str
    files_restored:
      description:
        - Entries (files, directories, links) restic restored; 0 when nothing was done. A V(swap) returns the
          counts of the stage it swaps in.
      type: int
    bytes_restored:
      description: Bytes restic restored.
      type: int
    total_files:
      description: Files in the restored tree, according to restic.
      type: int
    total_bytes:
      description: Bytes in the restored tree, according to restic.
      type: int
commands:
  description: restic command lines run (the repository and password are passed in the environment).
  returned: always
  type: list
  elements: str
"""

import hashlib
import json
import os
import shutil
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils import _fs, bounded_run
from ansible_collections.kubedr.kubeadm.plugins.module_utils._fs import MOVED_PREFIX, SCRATCH_PREFIX
from ansible_collections.kubedr.kubeadm.plugins.module_utils.restic import ResticError
from ansible_collections.kubedr.kubeadm.plugins.module_utils.restic_common import (
    restic_argument_spec,
    restic_module_kwargs,
    restic_runner,
)


class RestoreError(Exception):
    pass


def marker_path(target):
    return os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.kubedr-restore.json")


def staged_record_path(target):
    return os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.kubedr-staged.json")


def fingerprint(target):
    """sha256 of (path, type, size, mtime, mode, owner) of every entry below `target` but moved-aside data."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(target):
        if root == target:
            dirs[:] = [d for d in dirs if not d.startswith((MOVED_PREFIX, SCRATCH_PREFIX))]
        dirs.sort()
        for name in sorted(dirs + files):
            path = os.path.join(root, name)
            st = os.lstat(path)
            size = st.st_size if stat.S_ISREG(st.st_mode) else 0
            mtime = st.st_mtime_ns if not stat.S_ISDIR(st.st_mode) else 0  # dir mtimes move when entries do
            digest.update(json.dumps([os.path.relpath(path, target), st.st_mode, size, mtime,
                                      st.st_uid, st.st_gid]).encode())
    return digest.hexdigest()


def read_marker(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def resolve_snapshot(restic, params):
    """The snapshot dict to restore: by ID, or the newest one matching the filters."""
    if params["snapshot"] == "latest":
        found = restic.snapshots(host=params["host"], tags=params["tags"], paths=params["paths"])
        if not found:
            raise RestoreError(
                f"no snapshot in restic repository {restic.location} matches host={params['host']!r}"
                f" tags={params['tags']} paths={params['paths']};"
                " list them with kubedr.kubeadm.restic_snapshots")
        return found[-1]
    found = restic.snapshots(ids=[params["snapshot"]])
    if len(found) != 1:
        raise RestoreError(f"snapshot {params['snapshot']!r} not found in restic repository {restic.location}"
                           "; list them with kubedr.kubeadm.restic_snapshots")
    return found[0]


def subpath_node(restic, snapshot_id, subpath):
    """restic's node for `subpath` in the snapshot (uid, gid, mode), or None."""
    listing = restic.run(["ls", snapshot_id, subpath], parse="lines").data
    for node in listing:
        if node.get("struct_type") == "node" and node.get("path", "").rstrip("/") == subpath.rstrip("/"):
            return node
    return None


def apply_owner_mode(module, path, uid, gid, mode):
    try:
        os.chown(path, uid, gid)
        os.chmod(path, mode)
    except OSError as e:
        module.warn(f"could not set owner {uid}:{gid} and mode {oct(mode)} on {path}: {e}")


def write_marker(module, path, content):
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", dir=os.path.dirname(path))
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(content, f, indent=2, sort_keys=True)
    module.atomic_move(tmp, path)


def check_target(params):
    target = os.path.abspath(params["target"]).rstrip("/") or "/"
    if target == "/":
        raise RestoreError("target must not be /")
    if os.path.lexists(target) and not os.path.isdir(target):
        raise RestoreError(f"target {target} exists and is not a directory")
    return target


def wanted_of(params, snapshot_id):
    return {"snapshot_id": snapshot_id, "subpath": params["subpath"],
            "include": params["include"], "exclude": params["exclude"]}


def new_result(params, target, mode, snapshot_id=None, snapshot_time=None):
    return dict(mode=mode, snapshot_id=snapshot_id, snapshot_time=snapshot_time, subpath=params["subpath"],
                target=target, mount_point=_fs.mount_point(target), moved_aside=None,
                marker=marker_path(target), staged=None, swapped=False, discarded=None,
                selinux_relabeled=None, files_restored=0, bytes_restored=0, total_files=0, total_bytes=0)


def is_current(target, wanted):
    """Whether `target` holds what `wanted` describes, untouched since it was restored (the marker)."""
    previous = read_marker(marker_path(target))
    return bool(previous and os.path.isdir(target)
                and {k: previous.get(k) for k in wanted} == wanted
                and previous.get("fingerprint") == fingerprint(target))


def read_staged(target):
    """The record of the copy staged for `target`, checked to name one of our scratch directories, or None."""
    path = staged_record_path(target)
    if not os.path.lexists(path):
        return None
    record = read_marker(path)
    scratch = (record or {}).get("scratch") or ""
    parent, name = os.path.dirname(target), os.path.basename(target)
    ours = isinstance(scratch, str) and os.path.isabs(scratch) and "/" not in os.path.basename(scratch) and (
        (os.path.dirname(scratch) == parent and os.path.basename(scratch).startswith(f"{name}.restore-"))
        or (os.path.dirname(scratch) == target and os.path.basename(scratch).startswith(SCRATCH_PREFIX)))
    if not ours:
        raise RestoreError(
            f"{path} names {scratch!r}, which is not a staged copy of {target}"
            f" (<target>.restore-* beside it or <target>/{SCRATCH_PREFIX}* inside it): nothing was changed;"
            " remove that record by hand once you have checked it")
    return record


def drop_staged(target, record):
    """Remove our staged copy (restored data, never the target's) and its record."""
    if os.path.isdir(record["scratch"]) and not os.path.islink(record["scratch"]):
        shutil.rmtree(record["scratch"])
    os.remove(staged_record_path(target))


def copy_counts(result, source):
    for key in ("files_restored", "bytes_restored", "total_files", "total_bytes"):
        result[key] = source.get(key, 0)


def stage(module, restic, params, target):
    """Restore into a scratch directory beside (or, for a mount point, inside) `target`, recorded in
    <parent>/.<name>.kubedr-staged.json; the target is not touched. (changed, result)."""
    snapshot = resolve_snapshot(restic, params)
    snapshot_id = snapshot["id"]
    wanted = wanted_of(params, snapshot_id)
    result = new_result(params, target, "stage", snapshot_id, snapshot.get("time"))
    record = read_staged(target)
    if is_current(target, wanted):
        if record and not module.check_mode:
            drop_staged(target, record)  # an older stage nobody swapped in
        return bool(record), result
    if (record and {k: record.get(k) for k in wanted} == wanted
            and record.get("mount_point") == result["mount_point"] and os.path.isdir(record["scratch"])
            and record.get("fingerprint") == fingerprint(record["scratch"])):
        result["staged"] = record["scratch"]
        copy_counts(result, record)
        return False, result
    if module.check_mode:
        return True, result
    if record:
        drop_staged(target, record)

    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    stamp = _fs.utc_stamp()
    scratch = _fs.scratch_path(target, result["mount_point"], stamp)
    os.mkdir(scratch, 0o700)

    source = f"{snapshot_id}:{params['subpath']}" if params["subpath"] else snapshot_id
    args = ["restore", source, "--target", scratch]
    for pattern in params["include"]:
        args += ["--include", pattern]
    for pattern in params["exclude"]:
        args += ["--exclude", pattern]
    if params["verify"]:
        args.append("--verify")
    try:
        run = restic.run(args, parse="lines")
        owner = None
        if params["subpath"]:
            node = subpath_node(restic, snapshot_id, params["subpath"])
            if node:
                owner = (node.get("uid", 0), node.get("gid", 0), node.get("mode", 0o700) & 0o777)
        elif os.path.isdir(target):
            st = os.stat(target)
            owner = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
        if owner:
            apply_owner_mode(module, scratch, *owner)
        summaries = [m for m in run.data if isinstance(m, dict) and m.get("message_type") == "summary"]
        copy_counts(result, summaries[-1] if summaries else {})
        write_marker(module, staged_record_path(target), dict(
            wanted, scratch=scratch, mount_point=result["mount_point"], owner=owner, staged_at=stamp,
            snapshot_time=snapshot.get("time"), fingerprint=fingerprint(scratch),
            **{k: result[k] for k in ("files_restored", "bytes_restored", "total_files", "total_bytes")}))
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)  # our own scratch directory, never the target
        raise
    result["staged"] = scratch
    return True, result


def matches_asked(params, record):
    """Whether the staged `record` is what these options ask for (no repository access: the ID or prefix)."""
    asked = params["snapshot"]
    return ((asked == "latest" or str(record.get("snapshot_id", "")).startswith(asked))
            and all(record.get(k) == params[k] for k in ("subpath", "include", "exclude")))


def swap(module, params, target):
    """Put the copy `stage` left in place of `target`, what was there moved aside. No restic command runs:
    a swap only renames on the target's file system. (changed, result)."""
    result = new_result(params, target, "swap")
    record = read_staged(target)
    if record is None:
        previous = read_marker(marker_path(target))
        if previous and matches_asked(params, previous) and is_current(target, wanted_of(
                params, previous["snapshot_id"])):
            result.update(snapshot_id=previous["snapshot_id"], snapshot_time=previous.get("snapshot_time"))
            return (not module.check_mode and restore_labels(module, target, result)), result
        if module.check_mode:  # the stage before it, in check mode too, staged nothing
            return True, result
        raise RestoreError(f"nothing is staged for {target} ({staged_record_path(target)} is missing):"
                           " run restic_restore with mode=stage first; the target was not touched")
    scratch = record["scratch"]
    result.update(snapshot_id=record.get("snapshot_id"), snapshot_time=record.get("snapshot_time"),
                  staged=scratch)
    copy_counts(result, record)
    again = "; nothing was swapped: run mode=stage again, which restores it anew, then mode=swap"
    if not matches_asked(params, record):
        raise RestoreError(
            f"the copy staged in {scratch} is snapshot {record.get('snapshot_id')}"
            f" subpath={record.get('subpath')!r} include={record.get('include')}"
            f" exclude={record.get('exclude')}, not snapshot {params['snapshot']}"
            f" subpath={params['subpath']!r} include={params['include']} exclude={params['exclude']}" + again)
    if record.get("mount_point") != result["mount_point"]:
        raise RestoreError(f"{target} {'is' if result['mount_point'] else 'is no longer'} a mount point since"
                           f" {scratch} was staged" + again)
    if not os.path.isdir(scratch) or record.get("fingerprint") != fingerprint(scratch):
        raise RestoreError(f"the copy staged in {scratch} is missing or changed since it was staged" + again)
    if module.check_mode:
        return True, result

    stamp = _fs.utc_stamp()
    if result["mount_point"]:
        result["moved_aside"] = _fs.swap(target, scratch, True, stamp)
        if record.get("owner"):
            apply_owner_mode(module, target, *record["owner"])
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        result["moved_aside"] = _fs.swap(target, scratch, False, stamp)
    write_marker(module, marker_path(target), dict(
        {k: record.get(k) for k in ("snapshot_id", "subpath", "include", "exclude")},
        fingerprint=fingerprint(target), restored_at=stamp, snapshot_time=record.get("snapshot_time"),
        moved_aside=result["moved_aside"]))
    os.remove(staged_record_path(target))
    result.update(staged=None, swapped=True)
    restore_labels(module, target, result)
    return True, result


def restore_labels(module, target, result):
    """Where SELinux is enabled, the target's policy labels back (after a swap, and on every rerun, so a
    relabel that failed is finished by the next run); whether any label changed. Raises LabelError."""
    def run(argv):
        return bounded_run.module_run(module, argv, module.params["timeout"])

    argv, relabeled = _fs.restore_labels(target, run, module.get_bin_path)
    result["selinux_relabeled"] = None if argv is None else len(relabeled)
    return bool(relabeled)


def discard(module, params, target):
    """Remove the copy `stage` left for `target` (restored data only; the target is never touched)."""
    result = new_result(params, target, "discard")
    record = read_staged(target)
    if record is None:
        return False, result
    result.update(snapshot_id=record.get("snapshot_id"), snapshot_time=record.get("snapshot_time"),
                  discarded=record["scratch"])
    if not module.check_mode:
        drop_staged(target, record)
    return True, result


def restore(module, restic, params):
    """(changed, restore result); raises ResticError or RestoreError."""
    target = check_target(params)
    mode = params["mode"]
    if mode == "swap":
        return swap(module, params, target)
    if mode == "discard":
        return discard(module, params, target)
    staged_changed, result = stage(module, restic, params, target)
    if mode == "stage":
        return staged_changed, result
    if result["staged"] is None:  # nothing to swap: the target is current, or check mode
        return (not module.check_mode and restore_labels(module, target, result)) or staged_changed, result
    swapped_changed, swapped = swap(module, dict(params, snapshot=result["snapshot_id"]), target)
    swapped["mode"] = mode
    return staged_changed or swapped_changed, swapped


def main():
    argument_spec = restic_argument_spec()
    argument_spec.update(
        snapshot=dict(type="str", default="latest"),
        host=dict(type="str"),
        tags=dict(type="list", elements="str", default=[]),
        paths=dict(type="list", elements="path", default=[]),
        subpath=dict(type="str"),
        target=dict(type="path", required=True),
        include=dict(type="list", elements="str", default=[]),
        exclude=dict(type="list", elements="str", default=[]),
        verify=dict(type="bool", default=True),
        mode=dict(type="str", default="restore", choices=["restore", "stage", "swap", "discard"]),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **restic_module_kwargs())
    if module.params["snapshot"] != "latest" and (module.params["host"] or module.params["tags"]
                                                  or module.params["paths"]):
        module.fail_json(msg="host, tags and paths select among snapshots:"
                             " use them with snapshot=latest only")
    restic = restic_runner(module)
    try:
        changed, result = restore(module, restic, module.params)
    except ResticError as e:
        module.fail_json(commands=restic.commands, **e.fail_kwargs())
    except (RestoreError, OSError) as e:  # _fs.SwapError and _fs.LabelError among them
        module.fail_json(msg=restic.mask(str(e)), commands=restic.commands)
    for warning in restic.warnings:
        module.warn(warning)
    module.exit_json(changed=changed, restore=result, commands=restic.commands)


if __name__ == "__main__":
    main()
