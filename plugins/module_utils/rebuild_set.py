# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup set a control-plane rebuild reads: which set to take out of the names under the backup
host's directory (the etcd_backup role names them <UTC time>Z-r<revision>, e.g. 20261201T070437Z-r653),
and the ClusterConfiguration document of the set's kubeadm configuration. Pure functions."""

from __future__ import annotations

import datetime
import re

SET_NAME = re.compile(r"\A(\d{8}T\d{6})Z-r(\d+)\Z")
SET_FORM = "<UTC time>Z-r<revision>, e.g. 20261201T070437Z-r653"
# How many names a message lists.
MAX_NAMED = 10
_DOCUMENT_START = re.compile(r"^---(?:[ \t].*)?$")
_DOCUMENT_END = re.compile(r"^\.\.\.\s*$")
_CLUSTER_KIND = re.compile(r"^kind:[ \t]*([\"']?)ClusterConfiguration\1[ \t]*(?:#.*)?$", re.MULTILINE)


class RebuildSetError(Exception):
    pass


def set_key(name):
    """(time, revision) of a set name, for ordering; None when the name is not a set's."""
    found = SET_NAME.match(name) if isinstance(name, str) else None
    if not found:
        return None
    try:
        datetime.datetime.strptime(found.group(1), "%Y%m%dT%H%M%S")
    except ValueError:
        return None
    return found.group(1), int(found.group(2))


def _named(names):
    rest = len(names) - MAX_NAMED
    return ", ".join(names[:MAX_NAMED]) + (f" and {rest} more" if rest > 0 else "")


def choose_set(names, wanted: str = "", where: str = "") -> dict:
    """The set to rebuild from: `wanted` when given (it must be a set name and among `names`), else the
    newest by time, then revision. Returns {set, problem, ignored}: set None and a problem naming the fix
    when there is none; ignored lists the names that are not set names."""
    at = f" under {where}" if where else ""
    sets = sorted((n for n in names if set_key(n)), key=set_key, reverse=True)
    ignored = sorted(n for n in names if not set_key(n))

    def problem(text):
        return {"set": None, "problem": text, "ignored": ignored}

    if wanted:
        if not set_key(wanted):
            return problem(
                f"{wanted!r} is not a backup set name ({SET_FORM}); give one of the sets{at}: "
                f"{_named(sets) or 'none'}"
            )
        if wanted not in sets:
            return problem(
                f"no backup set {wanted}{at}; the sets there, newest first: {_named(sets) or 'none'}"
            )
        return {"set": wanted, "problem": None, "ignored": ignored}
    if not sets:
        found = f" (found only {_named(ignored)})" if ignored else ""
        return problem(
            f"no backup set ({SET_FORM}){at}{found}: run playbooks/backup.yml with the dir target, "
            "or give control_plane_rebuild_backup_dir"
        )
    return {"set": sets[0], "problem": None, "ignored": ignored}


def _documents(text):
    document = []
    for line in text.splitlines():
        if _DOCUMENT_START.match(line) or _DOCUMENT_END.match(line):
            yield "\n".join(document)
            document = []
        else:
            document.append(line)
    yield "\n".join(document)


def cluster_configuration_document(text: str, what: str = "the kubeadm configuration") -> str:
    """The one document of kind ClusterConfiguration in a (multi-document) kubeadm YAML file, as text.
    Errors never quote the file: beside it may stand an InitConfiguration with a token and a key."""
    found = [d.strip("\n") + "\n" for d in _documents(text or "") if _CLUSTER_KIND.search(d)]
    if len(found) != 1:
        raise RebuildSetError(
            f"{what} holds {'no' if not found else len(found)} document(s) of kind: ClusterConfiguration, "
            "one is needed: give a set whose config/kubeadm-config.yaml is the kubeadm-config ConfigMap's "
            "ClusterConfiguration or a kubeadm file with exactly one ClusterConfiguration document"
        )
    return found[0]
