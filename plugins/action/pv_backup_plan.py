# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of kubedr.kubeadm.pv_backup_plan (and the base of pv_restore_plan's): runs on the controller,
no module and no connection; reads each volume's node from the inventory (its restic_repository_info) and
returns the plan of module_utils/_pv_plan.py, failing with every problem at once."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.kubedr.kubeadm.plugins.module_utils._pv_plan import BACKUP_ARGUMENT_SPEC, backup_plan


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    ARGUMENT_SPEC = BACKUP_ARGUMENT_SPEC
    PLAN = staticmethod(backup_plan)
    NOTHING_DONE = "nothing was touched"

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        params = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)[1]
        hostvars = (task_vars or {}).get("hostvars") or {}
        inventory = set(hostvars.keys())
        volumes = [*(params.get("volumes") or []), *(params.get("discovered") or [])]
        nodes = {v.get("node") for v in volumes if isinstance(v, dict)}
        recorded = {n: hostvars[n].get("restic_repository_info") for n in nodes if n in inventory}
        result.update(self.PLAN(params, inventory, recorded), changed=False)
        if result["problems"]:
            result.update(failed=True, msg=f"{'; '.join(result['problems'])}; {self.NOTHING_DONE}")
        return result
