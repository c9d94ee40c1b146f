# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The config part of a backup set, built on the source host: <stage>/config with the PKI, the static pod
manifests, kubeadm-config.yaml (the ClusterConfiguration) and kubelet-config.yaml.

Runs on the managed host: standard library and ansible.module_utils only. The tree is built beside the
previous one (config.new) and swapped in only when it differs, so an unchanged cluster leaves the
previous copy (and its restic deduplication) as it was. Private keys go from disk to disk, never
through a result.
"""

from __future__ import annotations

import os
import shutil
import stat

from ansible_collections.kubedr.kubeadm.plugins.module_utils.rebuild_set import (
    RebuildSetError,
    cluster_configuration_document,
)

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


class ConfigSetError(Exception):
    pass


def copy_tree(src, dest):
    """src copied to dest (which must not exist), as `cp -a` would: modes, times, links and, as root,
    owners of every directory, file and link."""
    if not os.path.isdir(src):
        raise ConfigSetError(f"{src} is not a directory")
    shutil.copytree(src, dest, symlinks=True)
    if os.geteuid() != 0:
        return
    st = os.lstat(src)
    os.lchown(dest, st.st_uid, st.st_gid)
    for root, dirs, files in os.walk(src):
        for name in dirs + files:  # every entry once, links to directories among dirs
            st = os.lstat(os.path.join(root, name))
            os.lchown(os.path.join(dest, os.path.relpath(root, src), name), st.st_uid, st.st_gid)


def _describe(root):
    """{relative path: (kind, mode, owner, content or link target)} of a tree."""
    found = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(base, name)
            st = os.lstat(path)
            key = os.path.relpath(path, root)
            if stat.S_ISLNK(st.st_mode):
                body = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    body = f.read()
            else:
                body = None
            found[key] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, body)
    return found


def same_tree(a, b):
    """True when a and b hold the same names, kinds, modes, owners and contents (times ignored)."""
    return os.path.isdir(a) and os.path.isdir(b) and _describe(a) == _describe(b)


def remove_tree(path):
    if os.path.lexists(path):
        shutil.rmtree(path)


def swap_in(new, current):
    """new becomes current; the previous current is removed only once new is in place."""
    old = current + ".old"
    remove_tree(old)
    if os.path.lexists(current):
        os.rename(current, old)
    os.rename(new, current)
    remove_tree(old)


def cluster_configuration_of_file(text, path):
    """The ClusterConfiguration document of a kubeadm file (which may hold an InitConfiguration with a
    token and a key: only this document is ever kept or returned)."""
    try:
        return cluster_configuration_document(text, path)
    except RebuildSetError as e:
        raise ConfigSetError(str(e)) from e


def node_summary(node):
    """What a backup set's manifest records of a Node (no secrets)."""
    metadata = node.get("metadata") or {}
    return {
        "name": metadata.get("name"),
        "control_plane": CONTROL_PLANE_LABEL in (metadata.get("labels") or {}),
        "kubelet_version": ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion"),
    }
