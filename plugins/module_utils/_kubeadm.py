# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collection-private: kubeadm on a node, every call bounded by the module's timeout, one way of failing.

Runs on the managed host: standard library and ansible.module_utils only. A timeout message names the
command, the limit and the hint, and never quotes stdout (kubeadm prints join tokens there); any other
failure quotes kubeadm's error output.
"""

from __future__ import annotations

from ansible_collections.kubedr.kubeadm.plugins.module_utils import bounded_run


class Kubeadm:
    def __init__(self, module, timeout, hint=""):
        self.module = module
        self.path = module.get_bin_path("kubeadm", required=True)
        self.timeout = timeout
        self.hint = hint

    def run(self, *args, what=None, result=None, show_stdout=False):
        """kubeadm's stdout; the task fails, naming `what` (default the command) and adding `result` to
        the failure's return values, when it is stopped at the timeout or exits non-zero. `show_stdout`
        adds kubeadm's stdout to a failure's values, for commands that print no secret."""
        what = what or "kubeadm " + " ".join(args)
        result = dict(result or {}, **({"stdout": None} if show_stdout else {}))
        rc, out, err = bounded_run.module_run(self.module, [self.path, *args], self.timeout)
        if show_stdout:
            result["stdout"] = out
        if rc == bounded_run.RC_TIMEOUT:
            self.module.fail_json(msg=bounded_run.timed_out(what, self.timeout, hint=self.hint), rc=rc,
                                  stderr=err, **result)
        if rc != 0:
            self.module.fail_json(msg=f"{what} failed (rc {rc}): {err.strip() or out.strip()}", rc=rc,
                                  stderr=err, **result)
        return out
