# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of kubedr.kubeadm.pv_restore_plan: pv_backup_plan's, with the restore's rules."""

from __future__ import annotations

from ansible_collections.kubedr.kubeadm.plugins.action.pv_backup_plan import ActionModule as BackupPlan
from ansible_collections.kubedr.kubeadm.plugins.module_utils import _pv_plan


class ActionModule(BackupPlan):
    ARGUMENT_SPEC = _pv_plan.RESTORE_ARGUMENT_SPEC
    PLAN = staticmethod(_pv_plan.restore_plan)
    NOTHING_DONE = "nothing was changed"
