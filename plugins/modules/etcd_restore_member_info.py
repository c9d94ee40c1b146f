#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: etcd_restore_member_info
short_description: What an etcd restore needs to know about one stacked-etcd control-plane host, in one look
version_added: "0.1.0"
description:
  - Read-only. For the etcd_restore role's preflight, on each member host at once, where the etcd and
    kube-apiserver manifests are (in O(manifests_dir), or parked in O(stash_dir) by this restore), the
    member's name, peer URLs and data directory from the etcd manifest, which markers of this restore's run
    directory exist, and whether the data directory's file system has room for the restore.
  - Fails, naming both paths, when a manifest is in both places or in neither (not a kubeadm control-plane
    host with stacked etcd, or parked by a restore with another run id); nothing is changed either way.
  - Reads the manifest without PyYAML (kubeadm writes one C(- --flag=value) per line); uses PyYAML when the
    host has it.
author:
  - kubedr contributors (@kubedr)
options:
  manifests_dir:
    description:
      - The kubelet's static pod directory.
    type: path
    default: /etc/kubernetes/manifests
  stash_dir:
    description:
      - Where this restore parks the manifests (kubedr.kubeadm.kubeadm_static_pod's O(stash_dir)).
    type: path
    required: true
  run_dir:
    description:
      - This restore's run directory; the names of the files in it are returned as RV(markers). Missing is
        fine (a run that has not started).
    type: path
    required: true
  default_name:
    description:
      - The member name when the manifest has no C(--name) (usually the inventory host name).
    type: str
    required: true
  need_bytes:
    description:
      - Free bytes the restore needs on the data directory's file system (its parent's when it does not
        exist); RV(data_dir.fits) tells whether they are there.
    type: int
    default: 0
attributes:
  check_mode:
    support: full
    description: Reads only; the same in check mode.
  diff_mode:
    support: none
    description: No diff is produced.
  idempotent:
    support: full
    description: Changes nothing.
seealso:
  - module: kubedr.kubeadm.kubeadm_static_pod
  - module: kubedr.kubeadm.etcd_restore
"""

EXAMPLES = r"""
- name: Look at the member host before restoring
  kubedr.kubeadm.etcd_restore_member_info:
    stash_dir: /etc/kubernetes/kubedr-etcd-restore/runs/r1/manifests
    run_dir: /etc/kubernetes/kubedr-etcd-restore/runs/r1
    default_name: "{{ inventory_hostname }}"
    need_bytes: "{{ snapshot_size + 134217728 }}"
  register: member
  become: true
"""

RETURN = r"""
member:
  description: The etcd member this host runs, from its manifest.
  returned: success
  type: dict
  contains:
    name:
      description: C(--name), else O(default_name).
      type: str
    peer_urls:
      description: C(--initial-advertise-peer-urls), split at commas.
      type: list
      elements: str
    data_dir:
      description: C(--data-dir), else V(/var/lib/etcd).
      type: str
    initial_cluster_entry:
      description: This member's part of C(--initial-cluster) (V(name=url) per peer URL).
      type: str
manifests:
  description: Per static pod (V(etcd), V(kube-apiserver)), where its manifest is.
  returned: success
  type: dict
  sample: {"etcd": {"location": "manifests", "path": "/etc/kubernetes/manifests/etcd.yaml"}}
etcd_manifest:
  description: The etcd manifest's text (no secrets, it names certificate files, not their contents).
  returned: success
  type: str
markers:
  description: Names of the files in O(run_dir), sorted.
  returned: success
  type: list
  elements: str
data_dir:
  description: The data directory and the room for the restore.
  returned: success
  type: dict
  contains:
    path:
      description: The data directory.
      type: str
    exists:
      description: Whether it exists.
      type: bool
    free_bytes:
      description: Free bytes (for unprivileged users too, as C(df) shows them) on its file system.
      type: int
    fits:
      description: O(need_bytes) or more are free.
      type: bool
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_client import _manifest_flags
from ansible_collections.kubedr.kubeadm.plugins.module_utils.static_pods import locate

PODS = ("etcd", "kube-apiserver")


def manifests_state(manifests_dir, stash_dir):
    """{pod: {location, path}}, or (None, problem) when a manifest is in both places or neither."""
    found = {}
    for pod in PODS:
        where, active, parked = locate(manifests_dir, stash_dir, pod)
        if where in ("both", "none"):
            return None, (f"{pod}.yaml must be either in {manifests_dir} or parked in {stash_dir} (by this"
                          f" restore), not in {where}: {active}, {parked}. Is this a kubeadm control-plane"
                          " host with stacked etcd? Was it parked by a restore with another run id?"
                          " Nothing was touched.")
        found[pod] = {"location": where, "path": active if where == "manifests" else parked}
    return found, None


def member_from_manifest(text, default_name):
    flags = _manifest_flags(text)
    name = flags.get("name") or default_name
    peer_urls = [u.strip() for u in flags.get("initial-advertise-peer-urls", "").split(",") if u.strip()]
    return {
        "name": name,
        "peer_urls": peer_urls,
        "data_dir": flags.get("data-dir") or "/var/lib/etcd",
        "initial_cluster_entry": ",".join(f"{name}={url}" for url in peer_urls),
    }


def markers(run_dir):
    try:
        return sorted(e.name for e in os.scandir(run_dir) if e.is_file(follow_symlinks=False))
    except FileNotFoundError:
        return []


def room(data_dir, need_bytes):
    exists = os.path.isdir(data_dir)
    fs = os.statvfs(data_dir if exists else os.path.dirname(data_dir.rstrip("/")) or "/")
    free = fs.f_bavail * fs.f_frsize
    return {"path": data_dir, "exists": exists, "free_bytes": free, "fits": free >= need_bytes}


def main():
    module = AnsibleModule(
        argument_spec={
            "manifests_dir": {"type": "path", "default": "/etc/kubernetes/manifests"},
            "stash_dir": {"type": "path", "required": True},
            "run_dir": {"type": "path", "required": True},
            "default_name": {"type": "str", "required": True},
            "need_bytes": {"type": "int", "default": 0},
        },
        supports_check_mode=True,
    )
    p = module.params
    found, problem = manifests_state(p["manifests_dir"], p["stash_dir"])
    if problem:
        module.fail_json(msg=problem)
    try:
        with open(found["etcd"]["path"], encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as e:
        module.fail_json(msg=f"cannot read the etcd manifest {found['etcd']['path']}: {e}")
    member = member_from_manifest(text, p["default_name"])
    try:
        data_dir = room(member["data_dir"], p["need_bytes"])
    except OSError as e:
        module.fail_json(msg=f"cannot measure the free space for {member['data_dir']}: {e}")
    module.exit_json(changed=False, member=member, manifests=found, etcd_manifest=text,
                     markers=markers(p["run_dir"]), data_dir=data_dir)


if __name__ == "__main__":
    main()
