#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: restic_backup
short_description: Back up files and directories of the managed host into a restic repository
version_added: "0.1.0"
description:
  - Runs C(restic backup) on O(paths) and returns the new snapshot's ID with restic's summary.
  - When restic could not read some of the sources (exit code 3, for example a path that does not exist
    or a file that vanished or could not be opened), the snapshot is still written without them; the
    module then succeeds with a warning naming the unreadable sources and RV(partial=true), or fails
    with O(partial_ok=false).
  - The repository must exist; create it with M(kubedr.kubeadm.restic_repository).
author:
  - kubedr contributors (@kubedr)
options:
  paths:
    description:
      - Files and directories to back up. Use absolute paths; restic records them as given.
    type: list
    elements: path
    required: true
  host:
    description:
      - Host name recorded in the snapshot (C(--host)). Default is the host's name as restic sees it.
    type: str
  tags:
    description:
      - Tags recorded in the snapshot (C(--tag)).
    type: list
    elements: str
    default: []
  exclude:
    description:
      - Patterns of files and directories to leave out (C(--exclude)), in restic's pattern syntax.
    type: list
    elements: str
    default: []
  exclude_file:
    description:
      - Files on the managed host listing exclude patterns, one a line (C(--exclude-file)).
    type: list
    elements: path
    default: []
  one_file_system:
    description:
      - Do not cross file system boundaries below O(paths) (C(--one-file-system)).
    type: bool
    default: false
  skip_if_unchanged:
    description:
      - Write no snapshot when nothing changed since the last snapshot of the same paths and host
        (C(--skip-if-unchanged)), which makes the module idempotent. When false, every run writes a
        snapshot and reports changed.
      - restic records the owner, mode and times of every parent directory of O(paths) in the snapshot,
        so a change to a parent directory (an entry added to V(/var/lib), say) counts as a change too.
    type: bool
    default: true
  partial_ok:
    description:
      - Whether a partial snapshot (restic exit code 3, some sources unreadable) is a success with a
        warning (V(true)) or a failure (V(false)). Either way the snapshot was written; on failure its ID
        is in RV(snapshot_id) and the message.
      - Use V(false) for a set that is useless when incomplete (an etcd snapshot with its PKI).
    type: bool
    default: true
  freeze:
    description:
      - Freeze the file systems of O(paths) with C(fsfreeze) for the backup, and thaw them afterwards, all in
        this one module process, so the snapshot sees each file system as of one instant.
      - Each path must be the root of a file system of its own (its mount's root is that file system's
        root); a directory, or a bind mount of one (what C(mountpoint -q) also accepts), is refused, since
        fsfreeze would freeze the whole file system beneath it; so is a file system holding V(/), V(/var),
        V(/tmp), restic's cache or other paths the host or the backup write to.
      - A watchdog process thaws them after O(freeze_timeout) seconds, or at once if the module process
        dies (a lost SSH connection), so a file system is never left frozen.
      - In check mode the paths are checked, nothing is frozen.
    type: bool
    default: false
  freeze_timeout:
    description:
      - With O(freeze=true), the longest a file system stays frozen, in seconds. When the backup takes
        longer, the file systems are thawed at that time and the module fails (the snapshot was then not
        taken of a frozen file system to its end).
    type: int
    default: 600
extends_documentation_fragment:
  - kubedr.kubeadm.restic_repository
attributes:
  check_mode:
    support: full
    description: Runs C(restic backup --dry-run), which reads the sources and reports what would be added.
  diff_mode:
    support: none
    description: No diff is produced.
  idempotent:
    support: partial
    description: Idempotent with O(skip_if_unchanged=true) (the default) while the sources do not change.
notes:
  - The restic process runs with the module's privileges; run the task with C(become) to back up
    files only root can read.
"""

EXAMPLES = r"""
- name: Back up the etcd snapshot directory and the kubeadm PKI
  kubedr.kubeadm.restic_backup:
    repository: rest:https://backup.example.com:8000/cluster1/
    password_file: /etc/kubedr/restic.pass
    cacert: /etc/kubedr/rest-server-ca.crt
    paths:
      - /var/backups/etcd
      - /etc/kubernetes/pki
    tags: [kubedr, etcd]
    exclude: ["*.tmp"]
  become: true
  register: backup

- name: Show the snapshot
  ansible.builtin.debug:
    msg: "{{ backup.snapshot_id }} added {{ backup.summary.data_added }} bytes"
"""

RETURN = r"""
snapshot_id:
  description: ID of the snapshot written; null when none was (unchanged sources, or check mode).
  returned: always
  type: str
  sample: ac268e44ea012e413170913ef8526f01f7cd0b033073f72f2db5610349b90089
partial:
  description: Whether restic could not read some sources (exit code 3); the snapshot lacks them.
  returned: always
  type: bool
frozen:
  description: The paths frozen for the backup (with O(freeze=true); empty in check mode).
  returned: always
  type: list
  elements: str
unreadable:
  description: restic's messages about the sources it could not read.
  returned: always
  type: list
  elements: str
  sample: ["/var/backups/missing does not exist, skipping"]
summary:
  description: restic's backup summary (in check mode, what would be added).
  returned: success
  type: dict
  contains:
    files_new:
      description: Files not in the parent snapshot.
      type: int
    files_changed:
      description: Files changed since the parent snapshot.
      type: int
    files_unmodified:
      description: Files unchanged since the parent snapshot.
      type: int
    dirs_new:
      description: New directories.
      type: int
    dirs_changed:
      description: Changed directories.
      type: int
    dirs_unmodified:
      description: Unchanged directories.
      type: int
    data_added:
      description: Bytes added to the repository before compression.
      type: int
    data_added_packed:
      description: Bytes added to the repository after compression.
      type: int
    total_files_processed:
      description: Files read.
      type: int
    total_bytes_processed:
      description: Bytes read.
      type: int
    duration:
      description: Seconds the backup took.
      type: float
    dry_run:
      description: Whether this was a dry run (check mode).
      type: bool
commands:
  description: restic command lines run (the repository and password are passed in the environment).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils import fsfreeze
from ansible_collections.kubedr.kubeadm.plugins.module_utils.restic import (
    RC_OK,
    RC_PARTIAL,
    ResticError,
)
from ansible_collections.kubedr.kubeadm.plugins.module_utils.restic_common import (
    restic_argument_spec,
    restic_module_kwargs,
    restic_runner,
)

SUMMARY_FIELDS = ("files_new", "files_changed", "files_unmodified", "dirs_new", "dirs_changed",
                  "dirs_unmodified", "data_added", "data_added_packed", "total_files_processed",
                  "total_bytes_processed")


def backup_args(params, dry_run):
    args = ["backup"]
    if params["host"]:
        args += ["--host", params["host"]]
    for tag in params["tags"]:
        args += ["--tag", tag]
    for pattern in params["exclude"]:
        args += ["--exclude", pattern]
    for path in params["exclude_file"]:
        args += ["--exclude-file", path]
    if params["one_file_system"]:
        args.append("--one-file-system")
    if params["skip_if_unchanged"]:
        args.append("--skip-if-unchanged")
    if dry_run:
        args.append("--dry-run")
    return args + ["--"] + params["paths"]


def backup(restic, params, dry_run):
    """(changed, result) of one `restic backup`; raises ResticError."""
    run = restic.run(backup_args(params, dry_run), ok=(RC_OK, RC_PARTIAL), parse="lines")
    summaries = [m for m in run.data if isinstance(m, dict) and m.get("message_type") == "summary"]
    summary = summaries[-1] if summaries else None
    if summary is None:
        raise ResticError(f"restic backup to {restic.location} printed no summary:"
                          f" {run.stderr or run.stdout}", rc=run.rc, command=restic.commands[-1],
                          stdout=run.stdout, stderr=run.stderr)
    # a dry run reports the snapshot ID it would write; --skip-if-unchanged leaves it out when none would be
    changed = bool(summary.get("snapshot_id"))
    result = {
        "snapshot_id": None if dry_run else summary.get("snapshot_id"),
        "partial": run.rc == RC_PARTIAL,
        "unreadable": run.messages if run.rc == RC_PARTIAL else [],
        "summary": dict({k: summary.get(k, 0) for k in SUMMARY_FIELDS},
                        duration=summary.get("total_duration"), dry_run=bool(summary.get("dry_run"))),
    }
    return changed, result


def frozen_backup(module, restic):
    """backup() with the file systems of `paths` frozen (see the freeze option); raises FreezeError."""
    params = module.params
    repository = params["repository"]
    local_repository = repository[6:] if repository.startswith("local:") else repository
    protected = fsfreeze.protected_paths(
        params.get("cache_dir"),
        params.get("password_file"),
        restic.binary,
        getattr(module, "tmpdir", None),
        local_repository if local_repository.startswith("/") else None,
    )
    targets = fsfreeze.plan_for_host(params["paths"], protected)
    if module.check_mode:
        changed, result = backup(restic, params, True)
        return changed, dict(result, frozen=[])
    fsfreeze_bin = module.get_bin_path("fsfreeze", required=True)
    with fsfreeze.Frozen(fsfreeze_bin, targets, params["freeze_timeout"]) as frozen:
        changed, result = backup(restic, params, False)
    if frozen.expired:
        raise fsfreeze.FreezeError(
            f"the backup of {', '.join(targets)} took longer than"
            f" freeze_timeout={params['freeze_timeout']} s: the file systems were thawed at that time,"
            f" so snapshot {result['snapshot_id']} was not taken of a frozen file system to its end;"
            " raise freeze_timeout and run again (and forget that snapshot)"
        )
    return changed, dict(result, frozen=targets)


def main():
    argument_spec = restic_argument_spec()
    argument_spec.update(
        paths=dict(type="list", elements="path", required=True),
        host=dict(type="str"),
        tags=dict(type="list", elements="str", default=[]),
        exclude=dict(type="list", elements="str", default=[]),
        exclude_file=dict(type="list", elements="path", default=[]),
        one_file_system=dict(type="bool", default=False),
        skip_if_unchanged=dict(type="bool", default=True),
        partial_ok=dict(type="bool", default=True),
        freeze=dict(type="bool", default=False),
        freeze_timeout=dict(type="int", default=600),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **restic_module_kwargs())
    if not module.params["paths"]:
        module.fail_json(msg="paths must name at least one file or directory to back up")
    if module.params["freeze"] and module.params["freeze_timeout"] < 1:
        module.fail_json(
            msg=f"freeze_timeout must be at least 1 second, not {module.params['freeze_timeout']}"
        )
    restic = restic_runner(module)
    try:
        if module.params["freeze"]:
            changed, result = frozen_backup(module, restic)
        else:
            changed, result = backup(restic, module.params, module.check_mode)
            result["frozen"] = []
    except ResticError as e:
        module.fail_json(commands=restic.commands, **e.fail_kwargs())
    except fsfreeze.FreezeError as e:
        module.fail_json(msg=e.msg, commands=restic.commands)
    if result["partial"] and not module.params["partial_ok"]:
        module.fail_json(
            msg=f"restic could not read some sources, so snapshot {result['snapshot_id'] or '(dry run)'}"
            f" in {restic.location} lacks them: {'; '.join(result['unreadable'] or ['no details'])};"
            " partial_ok=false makes that a failure: make every path exist and be readable, then run"
            " again (and forget the incomplete snapshot with restic forget)",
            rc=RC_PARTIAL,
            commands=restic.commands,
            **result,
        )
    if result["partial"]:
        restic.warnings.append(
            f"restic could not read some sources; snapshot {result['snapshot_id'] or '(dry run)'}"
            " lacks them: "
            + "; ".join(result["unreadable"] or ["no details"]))
    for warning in restic.warnings:
        module.warn(warning)
    module.exit_json(changed=changed, commands=restic.commands, **result)


if __name__ == "__main__":
    main()
