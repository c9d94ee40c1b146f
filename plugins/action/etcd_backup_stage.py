# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of kubedr.kubeadm.etcd_backup_stage: the source host's part of a backup, in one task.

It runs the collection's own modules one after another over the task's one connection (each a module run
on the host, as the tasks they replace were), and makes the two decisions that were Jinja in the role: the
set's name and the cluster manifest (format 1, see roles/etcd_backup/README.md); for a directory target it
also brings the set to the controller as one tar. One task instead of eleven saves Ansible's per-task cost,
which dominated a small cluster's backup (bench/backup.py)."""

from __future__ import annotations

import base64
import os
import shutil
import tempfile

from ansible.plugins.action import ActionBase
from ansible_collections.kubedr.kubeadm.plugins.module_utils._backup_set import (
    ARGUMENT_SPEC,
    COLLECT,
    cluster_manifest,
    set_name,
)


class StepFailed(Exception):
    def __init__(self, step, result):
        super().__init__(step)
        self.step, self.result = step, result


class ActionModule(ActionBase):
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        self._warnings = []
        try:
            result.update(self._stage(args, task_vars))
        except StepFailed as e:
            failed = e.result
            result.update(failed=True, step=e.step,
                          msg=f"{e.step}: {failed.get('msg') or 'failed'}",
                          **{k: failed[k] for k in ("stdout", "stderr", "rc") if k in failed})
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        if self._warnings:
            result["warnings"] = result.get("warnings", []) + self._warnings
        return result

    def _module(self, step, name, module_args, task_vars):
        out = self._execute_module(module_name=name, module_args=module_args, task_vars=task_vars)
        self._warnings += out.get("warnings") or []
        if out.get("failed") or out.get("unreachable"):
            raise StepFailed(step, out)
        return out

    def _stage(self, args, task_vars):
        stage = args["stage_dir"].rstrip("/")
        check = self._task.check_mode
        changed = False
        run = self._module
        made = run("create the staging directory", "ansible.builtin.file",
                   {"path": f"{stage}/etcd", "state": "directory", "owner": "root", "group": "root",
                    "mode": "0700"}, task_vars)
        changed |= bool(made.get("changed"))
        lineage = run("read the cluster's etcd lineage", "kubedr.kubeadm.etcd_lineage",
                      {"cluster": args["cluster"]}, task_vars)["lineage"]
        snap = run("snapshot the source member", "kubedr.kubeadm.etcd_snapshot",
                   {"dest": f"{stage}/etcd/snapshot.db", "prefer": args["prefer"], "timeout": args["timeout"],
                    "mode": "0600", "lineage": lineage.get("cluster_ids") or []}, task_vars)
        changed |= bool(snap.get("changed"))
        snapshot = snap.get("snapshot") or {}
        out = {"lineage": lineage, "snapshot": snapshot, "snapshot_changed": bool(snap.get("changed")),
               "set": set_name(snapshot), "verify": {}, "config": {}, "manifest": {}, "archive": None,
               "controller_dir": None}
        if check:
            out["changed"] = changed
            return out
        verify = {"path": f"{stage}/etcd/snapshot.db", "scratch_dir": stage,
                  "trial_restore": args["trial_restore"]}
        if args["trial_restore"]:
            found = run("find etcdutl for the trial restore", "kubedr.kubeadm.etcdutl_binary",
                        {"path": args["etcdutl_path"]}, task_vars)
            changed |= bool(found.get("changed"))
            verify["etcdutl_path"] = found["etcdutl"]["path"]
        out["verify"] = run("verify the snapshot", "kubedr.kubeadm.etcd_snapshot_info", verify,
                            task_vars).get("snapshot") or {}
        collect = {k: args[k] for k in COLLECT if args.get(k) is not None}
        staged = run("stage the PKI and the kubeadm configuration", "kubedr.kubeadm.kubeadm_config_collect",
                     {"stage_dir": stage, **collect}, task_vars)
        changed |= bool(staged.get("changed"))
        out["config"] = {k: v for k, v in staged.items() if not k.startswith("_") and k != "invocation"}
        out["manifest"] = cluster_manifest(args["cluster"], out["set"], args["source_host"],
                                           args["source_member"], args["cluster_info"], snapshot, staged)
        wrote = run("write the cluster manifest", "kubedr.kubeadm.backup_manifest",
                    {"path": f"{stage}/etcd/manifest.json", "manifest": out["manifest"]}, task_vars)
        changed |= bool(wrote.get("changed"))
        if args["pack"]:
            out["controller_dir"], out["archive"] = self._pack(stage, task_vars)
        out["changed"] = changed
        return out

    def _pack(self, stage, task_vars):
        """The set as one tar in a new private (0700) directory on the controller: (directory, tar). The
        caller removes the directory; here it is removed only when the transfer fails."""
        remote = f"{stage}/transfer.tar"
        local_dir = tempfile.mkdtemp(prefix="kubedr-etcd-backup-")
        local = os.path.join(local_dir, "set.tar")
        try:
            self._module("pack the set", "ansible.builtin.command",
                         {"argv": ["tar", "-C", stage, "-cf", remote, "etcd", "config"]}, task_vars)
            try:
                if self._connection.become:  # the connection's user may not read root's files: as fetch does
                    got = self._module("fetch the set", "ansible.legacy.slurp", {"src": remote}, task_vars)
                    with open(local, "wb") as fh:
                        fh.write(base64.b64decode(got["content"]))
                else:
                    self._connection.fetch_file(remote, local)
            finally:
                self._module("remove the tar from staging", "ansible.builtin.file",
                             {"path": remote, "state": "absent"}, task_vars)
        except BaseException:
            shutil.rmtree(local_dir, ignore_errors=True)
            raise
        return local_dir, local
