#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: restic_forget
short_description: Remove restic snapshots according to a retention policy
version_added: "0.1.0"
description:
  - Runs C(restic forget) with a retention policy, per group of snapshots (O(group_by)), and optionally
    prunes the data no snapshot needs any more (O(prune)).
  - At least one C(keep_*) option is required, so that a missing policy never means "remove everything".
author:
  - kubedr contributors (@kubedr)
options:
  keep_last:
    description: Keep the last N snapshots (C(--keep-last)).
    type: int
  keep_hourly:
    description: Keep the last snapshot of each of the last N hours (C(--keep-hourly)).
    type: int
  keep_daily:
    description: Keep the last snapshot of each of the last N days (C(--keep-daily)).
    type: int
  keep_weekly:
    description: Keep the last snapshot of each of the last N weeks (C(--keep-weekly)).
    type: int
  keep_monthly:
    description: Keep the last snapshot of each of the last N months (C(--keep-monthly)).
    type: int
  keep_yearly:
    description: Keep the last snapshot of each of the last N years (C(--keep-yearly)).
    type: int
  keep_within:
    description:
      - Keep every snapshot newer than this duration before the newest one, for example V(7d) or
        V(1y2m) (C(--keep-within)).
    type: str
  keep_tags:
    description: Keep every snapshot that carries any of these tags (C(--keep-tag)).
    type: list
    elements: str
    default: []
  host:
    description: Only consider snapshots of this host (C(--host)).
    type: str
  tags:
    description: Only consider snapshots that carry all of these tags (C(--tag a,b)).
    type: list
    elements: str
    default: []
  paths:
    description: Only consider snapshots that contain all of these paths (C(--path)).
    type: list
    elements: path
    default: []
  group_by:
    description:
      - How snapshots are grouped before the policy is applied to each group (C(--group-by)), a comma
        separated list of V(host), V(paths) and V(tags), or an empty string for one group.
    type: str
    default: host,paths
  prune:
    description: Remove the data no longer referenced by any snapshot (C(--prune)). Needs an exclusive lock.
    type: bool
    default: false
extends_documentation_fragment:
  - kubedr.kubeadm.restic_repository
attributes:
  check_mode:
    support: full
    description: Runs C(restic forget --dry-run) and reports what would be removed.
  diff_mode:
    support: none
    description: No diff is produced.
  idempotent:
    support: full
    description: Once the policy is applied, running it again removes nothing (until new snapshots age).
"""

EXAMPLES = r"""
- name: Keep a week of daily and three months of weekly etcd snapshots, and free the space
  kubedr.kubeadm.restic_forget:
    repository: /srv/backup/restic
    password_file: /etc/kubedr/restic.pass
    tags: [etcd]
    keep_daily: 7
    keep_weekly: 12
    prune: true
"""

RETURN = r"""
removed:
  description: IDs of the snapshots removed (in check mode, that would be removed).
  returned: success
  type: list
  elements: str
kept:
  description: IDs of the snapshots kept.
  returned: success
  type: list
  elements: str
groups:
  description: Per group, its host, paths and tags and the IDs kept and removed.
  returned: success
  type: list
  elements: dict
  sample: [{"host": "cp1", "paths": ["/var/backups/etcd"], "tags": ["etcd"],
            "keep": ["2831c365..."], "remove": []}]
commands:
  description: restic command lines run (the repository and password are passed in the environment).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils.restic import ResticError, filter_args
from ansible_collections.kubedr.kubeadm.plugins.module_utils.restic_common import (
    restic_argument_spec,
    restic_module_kwargs,
    restic_runner,
)

KEEP_COUNTS = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")


def forget_args(params, dry_run):
    args = ["forget"]
    for name in KEEP_COUNTS:
        if params[name] is not None:
            args += ["--" + name.replace("_", "-"), str(params[name])]
    if params["keep_within"]:
        args += ["--keep-within", params["keep_within"]]
    for tag in params["keep_tags"]:
        args += ["--keep-tag", tag]
    args += filter_args(params["host"], params["tags"], params["paths"])
    args += ["--group-by", params["group_by"]]
    if params["prune"]:
        args.append("--prune")
    if dry_run:
        args.append("--dry-run")
    return args


def forget(restic, params, dry_run):
    run = restic.run(forget_args(params, dry_run), parse="lines")
    # the forget report is the first JSON document (a list of groups); prune may print more after it
    report = next((d for d in run.data if isinstance(d, list)), [])
    groups = []
    for group in report:
        groups.append({
            "host": group.get("host"),
            "paths": group.get("paths") or [],
            "tags": group.get("tags") or [],
            "keep": [s["id"] for s in group.get("keep") or []],
            "remove": [s["id"] for s in group.get("remove") or []],
        })
    removed = [i for g in groups for i in g["remove"]]
    kept = [i for g in groups for i in g["keep"]]
    return bool(removed), {"removed": removed, "kept": kept, "groups": groups}


def main():
    argument_spec = restic_argument_spec()
    argument_spec.update({name: dict(type="int") for name in KEEP_COUNTS})
    argument_spec.update(
        keep_within=dict(type="str"),
        keep_tags=dict(type="list", elements="str", default=[]),
        host=dict(type="str"),
        tags=dict(type="list", elements="str", default=[]),
        paths=dict(type="list", elements="path", default=[]),
        group_by=dict(type="str", default="host,paths"),
        prune=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **restic_module_kwargs())
    p = module.params
    if all(p[name] is None for name in KEEP_COUNTS) and not p["keep_within"] and not p["keep_tags"]:
        module.fail_json(msg="give a retention policy: at least one of keep_last, keep_hourly, keep_daily,"
                             " keep_weekly, keep_monthly, keep_yearly, keep_within or keep_tags")
    negative = [name for name in KEEP_COUNTS if p[name] is not None and p[name] < 0]
    if negative:
        module.fail_json(msg=f"{', '.join(negative)} must not be negative")
    restic = restic_runner(module)
    try:
        changed, result = forget(restic, p, module.check_mode)
    except ResticError as e:
        module.fail_json(commands=restic.commands, **e.fail_kwargs())
    for warning in restic.warnings:
        module.warn(warning)
    module.exit_json(changed=changed, commands=restic.commands, **result)


if __name__ == "__main__":
    main()
