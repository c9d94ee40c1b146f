#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: restic_repository
short_description: Make sure a restic repository exists
version_added: "0.1.0"
description:
  - Opens the repository with C(restic cat config) and runs C(restic init) only when restic says it
    does not exist (exit code 10), on any backend restic supports.
  - A repository that exists but does not open with the given password is an error; it is never
    initialised again.
author:
  - kubedr contributors (@kubedr)
options:
  state:
    description:
      - V(present) creates the repository when it does not exist. Removing a repository is not supported.
    type: str
    choices: [present]
    default: present
extends_documentation_fragment:
  - kubedr.kubeadm.restic_repository
attributes:
  check_mode:
    support: full
    description: Reports changed when the repository would be created, without creating it.
  diff_mode:
    support: none
    description: There is nothing to compare.
  idempotent:
    support: full
    description: The repository is created once; later runs find it and report no change.
seealso:
  - name: restic init
    description: Preparing a new repository.
    link: https://restic.readthedocs.io/en/stable/030_preparing_a_new_repo.html
"""

EXAMPLES = r"""
- name: Repository on a rest-server with a private CA
  kubedr.kubeadm.restic_repository:
    repository: rest:https://backup.example.com:8000/cluster1/
    password_file: /etc/kubedr/restic.pass
    cacert: /etc/kubedr/rest-server-ca.crt
    env:
      RESTIC_REST_USERNAME: cluster1
      RESTIC_REST_PASSWORD: "{{ vault_rest_password }}"

- name: Repository in S3
  kubedr.kubeadm.restic_repository:
    repository: s3:https://s3.example.com/kubedr/cluster1
    password: "{{ vault_restic_password }}"
    env:
      AWS_ACCESS_KEY_ID: "{{ vault_aws_key_id }}"
      AWS_SECRET_ACCESS_KEY: "{{ vault_aws_secret }}"
"""

RETURN = r"""
repository:
  description: The repository.
  returned: success
  type: dict
  contains:
    location:
      description: The repository option, any password in it masked.
      type: str
      sample: rest:https://cluster1:********@backup.example.com:8000/cluster1/
    id:
      description: Repository ID; null in check mode when it would be created.
      type: str
      sample: 583996bb38c151499d7431bde06f11bdfc52c8fb7345939fbb82e74aacf73f02
    version:
      description: Repository format version; null in check mode when it would be created.
      type: int
      sample: 2
    created:
      description: Whether the repository was (or in check mode would be) created by this run.
      type: bool
commands:
  description: restic command lines run, in order (the repository and password are passed in the environment).
  returned: always
  type: list
  elements: str
  sample: ["/usr/bin/restic --json --retry-lock 1m cat config"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils.restic import (
    RC_NO_REPOSITORY,
    RC_OK,
    ResticError,
)
from ansible_collections.kubedr.kubeadm.plugins.module_utils.restic_common import (
    restic_argument_spec,
    restic_module_kwargs,
    restic_runner,
)


def ensure_present(restic, check_mode):
    """(changed, repository) after creating the repository when `restic cat config` says it is missing."""
    config = restic.run(["cat", "config"], ok=(RC_OK, RC_NO_REPOSITORY), locking=False)
    if config.rc == RC_OK:
        data = config.data or {}
        return False, {"location": restic.location, "id": data.get("id"), "version": data.get("version"),
                       "created": False}
    if check_mode:
        return True, {"location": restic.location, "id": None, "version": None, "created": True}
    init = restic.run(["init"], locking=False)
    data = init.data or {}
    config = restic.run(["cat", "config"], locking=False).data or {}
    return True, {"location": restic.location, "id": data.get("id") or config.get("id"),
                  "version": config.get("version"), "created": True}


def main():
    argument_spec = restic_argument_spec()
    argument_spec.update(state=dict(type="str", choices=["present"], default="present"))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **restic_module_kwargs())
    restic = restic_runner(module)
    try:
        changed, repository = ensure_present(restic, module.check_mode)
    except ResticError as e:
        module.fail_json(commands=restic.commands, **e.fail_kwargs())
    for warning in restic.warnings:
        module.warn(warning)
    module.exit_json(changed=changed, repository=repository, commands=restic.commands)


if __name__ == "__main__":
    main()
