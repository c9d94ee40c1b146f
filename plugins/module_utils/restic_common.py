# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Repository options shared by the restic modules (twin of doc_fragments/restic_repository.py)."""

from __future__ import annotations

from ansible_collections.kubedr.kubeadm.plugins.module_utils.restic import Restic


def restic_argument_spec():
    """A fresh copy of the repository options; modules add their own options to it."""
    return dict(
        repository=dict(type="str", required=True),
        password=dict(type="str", no_log=True),
        password_file=dict(type="path", no_log=False),
        env=dict(type="dict", default={}, no_log=True),
        plain_env=dict(type="dict", default={}),
        restic_path=dict(type="path"),
        cache_dir=dict(type="path"),
        no_cache=dict(type="bool", default=False),
        retry_lock=dict(type="str", default="1m"),
        unlock_stale=dict(type="bool", default=False),
        cacert=dict(type="path"),
        timeout=dict(type="int", default=3600),
    )


def restic_module_kwargs():
    """mutually_exclusive/required_one_of for the repository options, to pass to AnsibleModule."""
    return dict(
        mutually_exclusive=[("password", "password_file"), ("cache_dir", "no_cache")],
        required_one_of=[("password", "password_file")],
    )


def restic_runner(module):
    """A Restic runner for `module.params`."""
    return Restic(module)
