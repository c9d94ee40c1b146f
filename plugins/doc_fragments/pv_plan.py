# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation shared by pv_backup_plan and pv_restore_plan (twin of _pv_plan.REPOSITORY_SPEC)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  repository:
    description: The repository for every node; empty uses each node's C(restic_repository_info).
    type: str
    default: ""
  password_file:
    description: The password file on the nodes; empty uses each node's C(restic_repository_info).
    type: str
    default: ""
  restic_path:
    description: restic on the nodes; empty uses each node's C(restic_repository_info), else C(restic).
    type: str
    default: ""
attributes:
  action:
    support: full
    description: All of it runs in the action plugin, on the controller.
  check_mode:
    support: full
    description: Plans the same in check mode; it never changes anything.
  diff_mode:
    support: none
    description: No diff is produced.
  idempotent:
    support: full
    description: Reads only.
"""
