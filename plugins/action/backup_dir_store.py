# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of kubedr.kubeadm.backup_dir_store: sends the set's tar from the controller (src) into the
task's remote temporary directory and runs the module on it, in one task (see the module's documentation)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # the connection's own temporary directory is used
        args = dict(self._task.args)
        src = args.pop("src", None)
        try:
            if not self._task.check_mode:
                if not src:
                    raise AnsibleActionFail("src (the set's tar on the controller) is required")
                remote = self._connection._shell.join_path(self._connection._shell.tmpdir, "set.tar")
                self._transfer_file(self._loader.path_dwim(src), remote)
                self._fixup_perms2((self._connection._shell.tmpdir, remote))
                args["archive"] = remote
            result.update(self._execute_module(module_name="kubedr.kubeadm.backup_dir_store",
                                               module_args=args, task_vars=task_vars))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
