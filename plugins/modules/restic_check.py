#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: restic_check
short_description: Check the integrity of a restic repository
version_added: "0.1.0"
description:
  - Runs C(restic check), which verifies the structure of the repository (index, snapshots, trees,
    pack headers) and, with O(read_data_subset), also reads back part of the data and verifies it.
  - Fails, naming the broken packs restic reports, when the check finds errors.
author:
  - kubedr contributors (@kubedr)
options:
  read_data_subset:
    description:
      - Also read and verify this part of the data (C(--read-data-subset)), given as a percentage
        such as V(10%), a subset V(n/t) such as V(1/5) (check the fifth parts in turn on successive
        runs), a size such as V(2G), or V(100%) for all of it.
    type: str
extends_documentation_fragment:
  - kubedr.kubeadm.restic_repository
attributes:
  check_mode:
    support: full
    description: The module only reads; it behaves the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
  idempotent:
    support: full
    description: The module only reads.
"""

EXAMPLES = r"""
- name: Weekly check that reads a tenth of the data
  kubedr.kubeadm.restic_check:
    repository: /srv/backup/restic
    password_file: /etc/kubedr/restic.pass
    read_data_subset: 10%
"""

RETURN = r"""
check:
  description: restic's check summary.
  returned: success
  type: dict
  contains:
    num_errors:
      description: Errors found (0 on success).
      type: int
    broken_packs:
      description: IDs of damaged pack files.
      type: list
      elements: str
    suggest_repair_index:
      description: Whether restic suggests C(restic repair index).
      type: bool
    suggest_prune:
      description: Whether restic suggests C(restic prune).
      type: bool
commands:
  description: restic command lines run (the repository and password are passed in the environment).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils.restic import RC_FATAL, RC_OK, ResticError
from ansible_collections.kubedr.kubeadm.plugins.module_utils.restic_common import (
    restic_argument_spec,
    restic_module_kwargs,
    restic_runner,
)

SUMMARY_FIELDS = ("num_errors", "broken_packs", "suggest_repair_index", "suggest_prune")


def check(restic, read_data_subset):
    """restic's check summary; raises ResticError when restic fails or finds errors."""
    args = ["check"]
    if read_data_subset:
        args += ["--read-data-subset", read_data_subset]
    run = restic.run(args, ok=(RC_OK, RC_FATAL), parse="lines")
    summaries = [d for d in run.data if isinstance(d, dict) and d.get("message_type") == "summary"]
    summary = summaries[-1] if summaries else None
    if run.rc == RC_OK and summary is not None and not summary.get("num_errors"):
        return {k: summary.get(k) for k in SUMMARY_FIELDS}
    if summary is None:  # restic failed before checking anything
        raise restic.error("check", run, restic.commands[-1].split(" "))
    broken = summary.get("broken_packs") or []
    hints = []
    if broken:
        hints.append(f"broken packs: {', '.join(broken)}; run `restic repair packs` on them,"
                     " then `restic repair snapshots`")
    if summary.get("suggest_repair_index"):
        hints.append("run `restic repair index`")
    if summary.get("suggest_prune"):
        hints.append("run `restic prune`")
    details = "; ".join(run.messages[:20]) or "no details"
    raise ResticError(
        restic.mask(f"restic check found {summary.get('num_errors') or 'some'} error(s) in repository"
                    f" {restic.location}: {details}. The repository is damaged: "
                    + ("; ".join(hints) or "see https://restic.readthedocs.io/en/stable/077_troubleshooting.html")),
        rc=run.rc, command=restic.commands[-1], stdout=run.stdout, stderr=run.stderr)


def main():
    argument_spec = restic_argument_spec()
    argument_spec.update(read_data_subset=dict(type="str"))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **restic_module_kwargs())
    restic = restic_runner(module)
    try:
        summary = check(restic, module.params["read_data_subset"])
    except ResticError as e:
        module.fail_json(commands=restic.commands, **e.fail_kwargs())
    for warning in restic.warnings:
        module.warn(warning)
    module.exit_json(changed=False, check=summary, commands=restic.commands)


if __name__ == "__main__":
    main()
