#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: restic_setup_info
short_description: Tell whether a host's restic set-up is complete, in one call
version_added: "0.1.0"
description:
  - Checks, read-only, everything the C(kubedr.kubeadm.restic) role sets up on a host, so that the role
    can skip its set-up tasks on a host where nothing is missing (every scheduled backup). It checks that
    the restic binary reports O(version), the password file is a regular file owned by root:root with
    mode C(0400) holding O(expected_password), the SSH client configuration holds O(ssh_config_block)
    between its markers and the SSH key exists (sftp), and the repository opens with that password file
    (C(restic cat config)); over sftp that also proves the key is authorized on the backup host and
    its host key trusted.
  - Never changes anything; every problem found is listed, so the set-up runs where one is.
  - The binary is judged by the version it reports, not by its checksum.
author:
  - kubedr contributors (@kubedr)
options:
  version:
    description:
      - The restic release the binary must report (C(restic version)), as with a binary shipped from the
        controller. Omitted, any release from 0.17.0 on will do (a distro package); older ones never do.
    type: str
  expected_password:
    description: The repository password the password file must hold (its first line).
    type: str
    required: true
  ssh_config_file:
    description: The SSH client configuration restic's sftp backend reads.
    type: path
    default: /root/.ssh/config
  ssh_config_marker:
    description:
      - The marker line around the block, with C({mark}) where C(BEGIN) or C(END) goes (as
        M(ansible.builtin.blockinfile) writes it). Required with O(ssh_config_block).
    type: str
  ssh_config_block:
    description:
      - The block that must be in O(ssh_config_file) between the markers; unset for a local repository.
    type: str
  ssh_key_path:
    description:
      - The private key the block names (its C(.pub) must exist too); checked with O(ssh_config_block).
    type: path
  password_file:
    description: File on the managed host whose first line is the repository password; the file checked.
    type: path
    required: true
  timeout:
    description: Seconds C(restic cat config) may take before it is stopped and counted as a problem.
    type: int
    default: 60
extends_documentation_fragment:
  - kubedr.kubeadm.restic_repository
attributes:
  check_mode:
    support: full
    description: Reads only; the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed.
  idempotent:
    support: full
    description: Reads only.
notes:
  - O(password_file) is required and O(password) cannot be given with it, since the point is to check
    the file.
"""

EXAMPLES = r"""
- name: Check whether the set-up is complete
  kubedr.kubeadm.restic_setup_info:
    repository: sftp:root@192.0.2.10:/srv/restic/cluster1
    password_file: /etc/kubedr/restic/password
    expected_password: "{{ restic_password }}"
    restic_path: /usr/local/bin/restic
    version: "0.19.1"
    ssh_config_marker: "# {mark} kubedr restic sftp 192.0.2.10"
    ssh_config_block: "{{ ssh_block }}"
    ssh_key_path: /root/.ssh/kubedr_restic_ed25519
  register: setup
"""

RETURN = r"""
ready:
  description: Whether nothing is missing.
  returned: always
  type: bool
problems:
  description: What is missing or wrong, one sentence each; empty when RV(ready).
  returned: always
  type: list
  elements: str
  sample: ["/etc/kubedr/restic/password has mode 0644, not 0400"]
found_version:
  description: The version the binary reports; null when it did not run.
  returned: always
  type: str
"""

import os
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils.restic import (
    RC_NO_REPOSITORY,
    RC_OK,
    ResticError,
    parse_version,
    version_problem,
)
from ansible_collections.kubedr.kubeadm.plugins.module_utils.restic_common import (
    restic_argument_spec,
    restic_module_kwargs,
    restic_runner,
)

VERSION_TIMEOUT = 30


def binary_problems(module, path, version):
    """(problems, found_version) of the restic binary at path."""
    if not path or not os.path.isfile(path) or not os.access(path, os.X_OK):
        return [f"restic is not installed at {path}"], None
    rc, out, err = module.run_command([path, "version"], environ_update={"RESTIC_PROGRESS_FPS": "0.016"})
    found = parse_version(out) if rc == 0 else None
    if found is None:
        return [f"{path} version failed (rc {rc}): {(err or out).strip()[:200]}"], None
    problem = version_problem(path, out, version)
    return ([problem] if problem else []), ".".join(map(str, found))


def password_file_problems(path, expected):
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return [f"the password file {path} is missing"]
    if not stat.S_ISREG(info.st_mode):
        return [f"the password file {path} is not a regular file"]
    problems = []
    if (info.st_uid, info.st_gid) != (0, 0):
        problems.append(f"the password file {path} is owned by {info.st_uid}:{info.st_gid}, not root:root")
    if stat.S_IMODE(info.st_mode) != 0o400:
        problems.append(f"the password file {path} has mode {stat.S_IMODE(info.st_mode):04o}, not 0400")
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline().rstrip("\n")
    if first != expected:
        problems.append(f"the password file {path} holds another password than restic_password")
    return problems


def block_lines(text, marker):
    """The lines between the BEGIN and END markers in text, or None when the BEGIN marker is missing."""
    lines = text.splitlines()
    begin, end = marker.replace("{mark}", "BEGIN"), marker.replace("{mark}", "END")
    if begin not in lines:
        return None
    start = lines.index(begin) + 1
    stop = lines.index(end, start) if end in lines[start:] else len(lines)
    return lines[start:stop]


def ssh_problems(config_file, marker, block, key_path):
    problems = []
    try:
        with open(config_file, encoding="utf-8", errors="replace") as fh:
            found = block_lines(fh.read(), marker)
    except FileNotFoundError:
        found = None
    if found is None:
        problems.append(f"{config_file} has no '{marker.replace('{mark}', 'BEGIN')}' block")
    elif found != block.rstrip("\n").splitlines():
        problems.append(f"the '{marker.replace('{mark}', 'BEGIN')}' block in {config_file}"
                        " differs from the role's")
    for path in (key_path, f"{key_path}.pub"):
        if not os.path.isfile(path):
            problems.append(f"the SSH key file {path} is missing")
    return problems


def repository_problems(restic):
    try:
        config = restic.run(["cat", "config"], ok=(RC_OK, RC_NO_REPOSITORY), locking=False)
    except ResticError as e:
        return [f"the repository {restic.location} does not open: {e}"]
    if config.rc == RC_NO_REPOSITORY:
        return [f"the repository {restic.location} is not initialised"]
    return []


def main():
    argument_spec = restic_argument_spec()
    argument_spec.update(
        password_file=dict(type="path", required=True, no_log=False),
        version=dict(type="str"),
        expected_password=dict(type="str", required=True, no_log=True),
        ssh_config_file=dict(type="path", default="/root/.ssh/config"),
        ssh_config_marker=dict(type="str"),
        ssh_config_block=dict(type="str"),
        ssh_key_path=dict(type="path", no_log=False),
    )
    argument_spec["timeout"]["default"] = 60  # a probe: an unreachable backup host must not hold the run
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=restic_module_kwargs()["mutually_exclusive"],
                           required_together=[("ssh_config_block", "ssh_config_marker", "ssh_key_path")])
    p = module.params
    p["restic_path"] = p["restic_path"] or module.get_bin_path("restic")
    problems, found = binary_problems(module, p["restic_path"], p["version"])
    problems += password_file_problems(p["password_file"], p["expected_password"])
    if p["ssh_config_block"] is not None:
        problems += ssh_problems(p["ssh_config_file"], p["ssh_config_marker"], p["ssh_config_block"],
                                 p["ssh_key_path"])
    if not problems:  # the repository only opens once the binary and the password file are right
        problems += repository_problems(restic_runner(module))
    module.exit_json(changed=False, ready=not problems, problems=problems, found_version=found)


if __name__ == "__main__":
    main()
