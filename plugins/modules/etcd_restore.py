#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: etcd_restore
short_description: Restore an etcd snapshot into the data directory of one member, offline
version_added: "0.1.0"
description:
  - Restores an etcd snapshot file into the data directory of one member of a new cluster with
    C(etcdutl snapshot restore) (etcd 3.5 and later), or C(etcdctl snapshot restore) where there is
    no C(etcdutl) (etcd 3.4 and 3.5; etcdctl 3.6 cannot restore).
  - Run it on every member with the same O(initial_cluster) and O(initial_cluster_token) and the
    same snapshot file, then start etcd on all of them.
  - The snapshot is restored into a fresh scratch directory first, so a failed restore leaves the data
    directory as it was. Only then the old data directory is moved aside to
    C(<data_dir>.moved-<UTC timestamp>) (never deleted) and the scratch directory renamed to O(data_dir).
  - When O(data_dir) is a mount point (it cannot be renamed), the scratch directory is
    C(<data_dir>/.kubedr-restore-<ts>), the old entries of the data directory are moved into
    C(<data_dir>/.kubedr-moved-<ts>) and the restored C(member) directory up into O(data_dir). etcd
    ignores, with a warning, entries of its data directory other than C(member).
  - A marker file C(.kubedr-restore.json) in the data directory records the snapshot's SHA-256 and the
    membership it was restored with. Running again with the same inputs changes nothing, even after
    etcd has been started on the restored data; any other input restores again.
  - Refuses to touch a data directory etcd is running on, detected by the locks etcd holds on its
    database and write-ahead log.
author:
  - kubedr contributors (@kubedr)
options:
  snapshot:
    description:
      - Snapshot file on the managed host, as written by C(etcdctl snapshot save) or the
        C(kubedr.kubeadm.etcd_snapshot) module.
    type: path
    required: true
  data_dir:
    description:
      - etcd data directory of this member. It does not have to exist; its parent directory does.
    type: path
    default: /var/lib/etcd
  name:
    description:
      - Name of this member (etcd's C(--name)); must be one of the names in O(initial_cluster).
    type: str
    required: true
  initial_cluster:
    description:
      - Every member of the restored cluster as C(name=peer-url), comma separated, exactly as etcd's
        C(--initial-cluster) takes it, for example V(cp1=https://10.0.0.11:2380,cp2=https://10.0.0.12:2380).
    type: str
    required: true
  initial_advertise_peer_urls:
    description:
      - Peer URLs of this member; must be those O(initial_cluster) gives O(name).
      - When omitted, the URLs O(initial_cluster) gives O(name).
    type: list
    elements: str
  initial_cluster_token:
    description:
      - Token of the restored cluster. Use a new one for every restore, so that members of the old
        cluster cannot join the new one by mistake.
    type: str
    required: true
  bump_revision:
    description:
      - Raise the store revision by this much after the restore, so that clients watching from a
        revision of the old cluster (the Kubernetes API server's caches) do not miss changes.
      - Needs O(mark_compacted=true). Not supported by C(etcdctl) 3.4.
    type: int
    default: 0
  above_revision:
    description:
      - The highest revision clients of the cluster can have seen (the revision etcd served before the
        restore, or the high revision M(kubedr.kubeadm.etcd_lineage) recorded). The bump applied is then
        raised so that the restored cluster starts O(bump_revision) above it, read against the snapshot's
        own revision (C(snapshot status)). Without it, restoring the same or an older snapshot a second
        time serves revisions below what kubelets and controllers have cached, and their watches wait.
      - 0 applies O(bump_revision) as given.
    type: int
    default: 0
  mark_compacted:
    description:
      - Mark the restored revision as compacted, which makes watchers of older revisions re-list.
      - Required with, and only with, a positive O(bump_revision).
    type: bool
    default: false
  skip_hash_check:
    description:
      - Do not verify the integrity hash at the end of the snapshot. Needed for a C(member/snap/db) file
        copied out of a data directory, which has no such hash; leave it off for real snapshots.
    type: bool
    default: false
  etcdutl_path:
    description:
      - Path of the C(etcdutl) binary to use. When neither this nor O(etcdctl_path) is given, C(etcdutl)
        is looked up in E(PATH), then C(etcdctl).
      - Stock kubeadm nodes have neither; M(kubedr.kubeadm.etcdutl_binary) reads one out of the node's etcd
        image.
    type: path
  etcdctl_path:
    description:
      - Path of the C(etcdctl) binary to use when there is no C(etcdutl) (etcd 3.4 and 3.5 only).
    type: path
  timeout:
    description:
      - Seconds each C(etcdutl) (or C(etcdctl)) command may run (C(snapshot restore), C(snapshot status), the
        C(--help) probe). One still running then is stopped (SIGTERM, then SIGKILL after 10 seconds), its
        scratch directory removed, and the task fails naming the command and this option; the data directory
        is left as it was.
      - The default is meant for an etcd database of up to a few GiB on a local disk; raise it for a larger
        database or a slow disk. V(0) means no limit.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
    description: Validates the inputs and reports what would be done; nothing is written.
  diff_mode:
    support: full
    description: The marker of the previous and of the new restore.
  idempotent:
    support: full
    description: The marker file makes a second run with the same inputs change nothing.
notes:
  - Stop etcd on the member first. On a kubeadm control plane move
    C(/etc/kubernetes/manifests/etcd.yaml) (and the API server's manifest) out of the manifests
    directory and wait until the containers have exited.
  - Moved-aside data directories are never removed by this module; delete them once the restored
    cluster is healthy.
  - A separate C(--wal-dir) is not supported; the WAL is restored inside the data directory.
seealso:
  - module: kubedr.kubeadm.etcd_cluster_info
  - name: etcd disaster recovery
    description: Upstream guide to snapshots and restores.
    link: https://etcd.io/docs/v3.6/op-guide/recovery/
"""

EXAMPLES = r"""
- name: Stop the static pods of etcd and the API server
  ansible.builtin.command:
    cmd: mv /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/
    removes: /etc/kubernetes/manifests/etcd.yaml
  become: true

- name: Restore the snapshot on this control plane node
  kubedr.kubeadm.etcd_restore:
    snapshot: /var/backups/etcd/snapshot.db
    name: "{{ inventory_hostname }}"
    initial_cluster: >-
      {{ groups['control_plane'] | map('extract', hostvars)
         | map(attribute='etcd_peer') | join(',') }}
    initial_cluster_token: "restored-{{ restore_id }}"
    bump_revision: 1000000000
    mark_compacted: true
  become: true
  register: restore

- name: Where the old data went
  ansible.builtin.debug:
    msg: "old data dir kept at {{ restore.restore.moved_aside }}"
  when: restore.restore.moved_aside is not none

- name: Single member cluster from a copy of the database file (no integrity hash)
  kubedr.kubeadm.etcd_restore:
    snapshot: /root/db
    skip_hash_check: true
    name: cp1
    initial_cluster: cp1=https://10.0.0.11:2380
    initial_cluster_token: restored-cp1
    etcdutl_path: /usr/local/bin/etcdutl
  become: true
"""

RETURN = r"""
restore:
  description: The restore that is (or, in check mode, would be) in the data directory.
  returned: success
  type: dict
  contains:
    data_dir:
      description: The data directory.
      type: str
      sample: /var/lib/etcd
    moved_aside:
      description:
        - Where the previous contents of the data directory were moved; null when there were none or
          nothing was restored.
      type: str
      sample: /var/lib/etcd.moved-20260101T120000Z
    snapshot:
      description: Path of the snapshot file.
      type: str
    snapshot_sha256:
      description: SHA-256 of the snapshot file.
      type: str
    tool:
      description: V(etcdutl) or V(etcdctl); null when nothing had to be restored.
      type: str
    tool_path:
      description: Path of the tool; null when nothing had to be restored.
      type: str
    name:
      description: Member name.
      type: str
    initial_cluster:
      description: The initial cluster restored.
      type: str
    initial_cluster_token:
      description: The cluster token restored.
      type: str
    initial_advertise_peer_urls:
      description: Peer URLs of this member.
      type: list
      elements: str
    bump_revision:
      description: Revision bump applied (raised above O(above_revision) when given).
      type: int
    snapshot_revision:
      description: The snapshot's revision, read when O(above_revision) is given (else null).
      type: int
    mark_compacted:
      description: Whether the restored revision was marked compacted.
      type: bool
    mount_point:
      description: Whether the data directory is a mount point (contents moved instead of the directory).
      type: bool
    marker:
      description: Path of the marker file.
      type: str
      sample: /var/lib/etcd/.kubedr-restore.json
    selinux_relabeled:
      description:
        - How many paths under the data directory C(restorecon -R) gave their policy labels back (the restored
          data keeps the labels of the scratch directory it was written in); null where SELinux is off or in
          check mode. A rerun runs it again, so a relabel that failed is finished by running the task again.
      type: int
commands:
  description: Commands run (argv lists; they contain no secrets).
  returned: success
  type: list
  elements: list
actions:
  description: What was done, or in check mode would be done.
  returned: success
  type: list
  elements: str
  sample:
    - restored /var/backups/etcd/snapshot.db into /var/lib/etcd.restore-20260101T120000Z with etcdutl
    - moved /var/lib/etcd to /var/lib/etcd.moved-20260101T120000Z
    - moved /var/lib/etcd.restore-20260101T120000Z to /var/lib/etcd
"""

import json
import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils import _fs, bounded_run, etcd_lineage
from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_restore import (
    MARKER,
    RUNNING_HINT,
    RestoreError,
    check_inputs,
    etcdctl_restore_support,
    locked_files,
    plan,
    read_marker,
    restore_argv,
    restore_failure,
    same_restore,
    sha256_file,
    swap_in,
)


def run_tool(module, argv, commands, what, data_dir=None, scratch=None):
    """(rc, stdout, stderr) of an etcdutl/etcdctl command, bounded by the timeout option: a command still
    running then fails the module, naming it (and removes `scratch`, the restore's own fresh directory)."""
    timeout = module.params["timeout"]
    rc, out, err = bounded_run.module_run(module, argv, timeout, environ_update={"ETCDCTL_API": "3"})
    if rc == bounded_run.RC_TIMEOUT:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
        hint = "a stalled disk or network file system under the snapshot"
        if data_dir:
            hint = f"{data_dir} was not touched; {hint} or {data_dir}"
        hint += " hangs it"
        module.fail_json(msg=bounded_run.timed_out(f"{os.path.basename(argv[0])} {what}", timeout, hint=hint),
                         cmd=argv, commands=commands, stdout=out, stderr=err)
    return rc, out, err


def _executable(module, option):
    path = module.params[option]
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        module.fail_json(msg=f"{option} {path} is not an executable file")
    return path


def find_tool(module, commands):
    """('etcdutl'|'etcdctl', path) able to restore as asked, or fail_json with the fix."""
    if module.params["etcdutl_path"]:
        return "etcdutl", _executable(module, "etcdutl_path")
    if module.params["etcdctl_path"]:
        tool, path = "etcdctl", _executable(module, "etcdctl_path")
    else:
        path = module.get_bin_path("etcdutl")
        if path:
            return "etcdutl", path
        tool, path = "etcdctl", module.get_bin_path("etcdctl")
        if not path:
            module.fail_json(msg="neither etcdutl nor etcdctl found in PATH: install etcdutl (it ships with"
                                 " etcd 3.5 and later) or set etcdutl_path")
    argv = [path, "snapshot", "restore", "--help"]
    commands.append(argv)
    rc, out, err = run_tool(module, argv, commands, "snapshot restore --help")
    can_restore, can_bump = etcdctl_restore_support(out + err)
    if not can_restore:
        module.fail_json(msg=f"{path} cannot restore snapshots (etcdctl 3.6 moved `snapshot restore` to"
                             " etcdutl): install etcdutl and set etcdutl_path", rc=rc, stdout=out, stderr=err,
                         cmd=argv)
    if module.params["bump_revision"] and not can_bump:
        module.fail_json(msg=f"{path} has no --bump-revision (etcdctl 3.4): use etcdutl from etcd 3.5 or"
                             " later (etcdutl_path) or restore without bump_revision", cmd=argv)
    return tool, path


def _write_marker(module, directory, marker):
    fd, tmp = tempfile.mkstemp(prefix=".kubedr-marker-", dir=directory)
    with os.fdopen(fd, "w") as fh:
        json.dump(marker, fh, indent=2, sort_keys=True)
        fh.write("\n")
    module.atomic_move(tmp, os.path.join(directory, MARKER))
    os.chmod(os.path.join(directory, MARKER), 0o600)


def snapshot_status_revision(module, tool_path, snapshot, commands):
    """The snapshot's revision as `snapshot status` reads it (etcdutl and etcdctl alike)."""
    argv = [tool_path, "snapshot", "status", snapshot, "-w", "json"]
    commands.append(argv)
    rc, out, err = run_tool(module, argv, commands, "snapshot status")
    try:
        if rc != 0:
            raise ValueError(err.strip() or out.strip())
        return int(json.loads(out)["revision"])
    except (ValueError, KeyError, TypeError) as e:
        module.fail_json(msg=f"cannot read the revision of {snapshot} (needed for above_revision): {e};"
                             " is it an etcd snapshot?", rc=rc, stdout=out, stderr=err, cmd=argv)


def restore(module):
    p = module.params
    data_dir = os.path.abspath(p["data_dir"]).rstrip("/") or "/"
    try:
        peer_urls = check_inputs(dict(p, data_dir=data_dir))
    except RestoreError as e:
        module.fail_json(msg=str(e))
    try:
        digest = sha256_file(p["snapshot"])
    except OSError as e:
        module.fail_json(msg=f"cannot read snapshot {p['snapshot']}: {e}")
    commands = []
    tool = tool_path = snapshot_revision = None
    bump = p["bump_revision"]
    if p["above_revision"] > 0 and bump > 0:
        tool, tool_path = find_tool(module, commands)
        snapshot_revision = snapshot_status_revision(module, tool_path, p["snapshot"], commands)
        bump = etcd_lineage.restore_bump(snapshot_revision, p["above_revision"], bump)

    wanted = {
        "snapshot_sha256": digest,
        "name": p["name"],
        "initial_cluster": p["initial_cluster"],
        "initial_cluster_token": p["initial_cluster_token"],
        "initial_advertise_peer_urls": peer_urls,
        "bump_revision": bump,
        "mark_compacted": p["mark_compacted"],
    }
    previous = read_marker(data_dir)
    mount_point = _fs.mount_point(data_dir)
    result = dict(wanted, data_dir=data_dir, snapshot=p["snapshot"], moved_aside=None, tool=None,
                  tool_path=None, mount_point=mount_point, marker=os.path.join(data_dir, MARKER),
                  snapshot_revision=snapshot_revision, selinux_relabeled=None)
    actions = []
    if same_restore(previous, wanted, data_dir):
        result.update(moved_aside=previous.get("moved_aside"), tool=previous.get("tool"),
                      tool_path=previous.get("tool_path"))
        return False, result, commands, actions, previous, previous

    busy = locked_files(data_dir) if os.path.isdir(data_dir) else []
    if busy:
        module.fail_json(msg=f"etcd is still running on {data_dir} (it holds a lock on {', '.join(busy)}):"
                             f" {RUNNING_HINT}")
    if not tool:
        tool, tool_path = find_tool(module, commands)
    layout = plan(data_dir, mount_point, _fs.utc_stamp())
    scratch, moved = layout["scratch"], layout["moved_aside"]
    argv = restore_argv(tool_path, p["snapshot"], scratch, dict(p, bump_revision=bump), peer_urls)
    marker = dict(wanted, snapshot=p["snapshot"], tool=tool, tool_path=tool_path, moved_aside=moved,
                  restored_at=_fs.utc_stamp())
    result.update(tool=tool, tool_path=tool_path, moved_aside=moved)
    commands.append(argv)
    actions.append(f"restored {p['snapshot']} into {scratch} with {tool}")
    if moved:
        actions.append(f"moved {data_dir if not mount_point else 'the entries of ' + data_dir} to {moved}")
    actions.append(f"moved {'the entries of ' if mount_point else ''}{scratch} to {data_dir}")
    if module.check_mode:
        return True, result, commands, actions, previous, marker

    rc, out, err = run_tool(module, argv, commands, "snapshot restore", data_dir, scratch)
    if rc != 0:
        shutil.rmtree(scratch, ignore_errors=True)  # our own fresh directory; the data dir is untouched
        module.fail_json(msg=f"{tool} snapshot restore failed (rc {rc}): {restore_failure(rc, out, err)};"
                             f" {data_dir} was not touched",
                         rc=rc, stdout=out, stderr=err, cmd=argv, commands=commands)
    try:
        _write_marker(module, scratch, marker)
        swap_in(layout)
    except OSError as e:
        module.fail_json(msg=f"restored into {scratch} but could not swap it in for {data_dir}: {e}. Nothing"
                             f" was deleted: the old data is in {data_dir} or {moved}, the restored data in"
                             f" {scratch}", commands=commands, actions=actions)
    return True, result, commands, actions, previous, marker


def restore_labels(module, result, commands, actions):
    """Where SELinux is enabled, the data dir's policy labels back (after a swap, and on every rerun, so a
    relabel that failed is finished by the next run); whether any label changed."""
    def run(argv):
        return bounded_run.module_run(module, argv, module.params["timeout"])

    try:
        argv, relabeled = _fs.restore_labels(result["data_dir"], run, module.get_bin_path)
    except _fs.LabelError as e:
        module.fail_json(msg=str(e), commands=commands, actions=actions)
    result["selinux_relabeled"] = None if argv is None else len(relabeled)
    if argv:
        commands.append(argv)
    if relabeled:
        actions.append(f"restored the SELinux labels of {len(relabeled)} paths under {result['data_dir']}")
    return bool(relabeled)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            snapshot=dict(type="path", required=True),
            data_dir=dict(type="path", default="/var/lib/etcd"),
            name=dict(type="str", required=True),
            initial_cluster=dict(type="str", required=True),
            initial_advertise_peer_urls=dict(type="list", elements="str"),
            initial_cluster_token=dict(type="str", required=True, no_log=False),
            bump_revision=dict(type="int", default=0),
            above_revision=dict(type="int", default=0),
            mark_compacted=dict(type="bool", default=False),
            skip_hash_check=dict(type="bool", default=False),
            etcdutl_path=dict(type="path"),
            etcdctl_path=dict(type="path"),
            timeout=dict(type="int", default=300),
        ),
        mutually_exclusive=[("etcdutl_path", "etcdctl_path")],
        supports_check_mode=True,
    )
    bounded_run.require_timeout(module)
    changed, result, commands, actions, before, after = restore(module)
    if not module.check_mode:
        changed = restore_labels(module, result, commands, actions) or changed
    extra = {}
    if module._diff:
        extra["diff"] = {"before": before or {}, "after": after or {}}
    module.exit_json(changed=changed, restore=result, commands=commands, actions=actions, **extra)


if __name__ == "__main__":
    main()
