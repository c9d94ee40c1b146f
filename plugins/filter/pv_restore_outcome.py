# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - plugins put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
name: pv_restore_outcome
short_description: What a failed pv_restore run left behind, and the message that says so
version_added: "0.1.0"
description:
  - The C(pv_restore) role restores a StatefulSet's volumes all or nothing. It stops the StatefulSet,
    stages every volume (M(kubedr.kubeadm.restic_restore) with C(mode=stage)), checks and checksums the
    staged copies, and only then swaps each one in (C(mode=swap)). When any of that fails, the role runs
    this filter on C(ansible_failed_result) to say which volumes failed, which were swapped and which were
    not, and leaves the StatefulSet at zero replicas once staging has begun.
  - "Phases: V(scale_down) (no volume touched: the role scales it back), V(stage) (staging or checking a
    staged copy failed: nothing was swapped, the staged copies were discarded), V(swap) (a swap failed: some
    volumes may hold the new data, the others the old)."
author:
  - kubedr contributors (@kubedr)
positional: phase, plan
options:
  _input:
    description: C(ansible_failed_result) of the failed task (a loop's result has C(results)).
    type: dict
    required: true
  phase:
    description: V(scale_down), V(stage) or V(swap).
    type: str
    required: true
  plan:
    description: The volumes being restored, each with C(pvc), C(node), C(path) and C(snapshot) (C(id)).
    type: list
    elements: dict
    required: true
  swaps:
    description: The C(results) of the swap loop (phase V(swap)).
    type: list
    elements: dict
    default: []
  discards:
    description: The C(results) of the discard loop that removed the staged copies (phase V(stage)).
    type: list
    elements: dict
    default: []
  statefulset:
    description: C(<namespace>/<name>) of the StatefulSet, for the message.
    type: str
    default: ""
  replicas:
    description: The replicas it had before the restore scaled it to zero.
    type: raw
  annotation:
    description: The annotation that keeps those replicas (M(kubedr.kubeadm.statefulset_hold)'s).
    type: str
    default: kubedr.io/replicas-before-scale
  retry:
    description:
      - How to retry, in place of the default (rerun the restore with O(plan)'s snapshot IDs in
        C(pv_restore_snapshots)); a control-plane rebuild says to rerun the rebuild.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Say what the failed restore left
  ansible.builtin.set_fact:
    outcome: >-
      {{ ansible_failed_result | kubedr.kubeadm.pv_restore_outcome(_pv_restore_phase, _pv_restore_plan,
         swaps=__pv_restore_swaps.results | default([]), statefulset='prod/db', replicas=3) }}
"""

RETURN = r"""
_value:
  description: The outcome.
  type: dict
  contains:
    phase:
      description: The phase that failed.
      type: str
    failed:
      description: The volumes that failed (C(pvc), C(node), C(path), C(msg)); empty when none is named.
      type: list
      elements: dict
    swapped:
      description: Phase V(swap) only; the volumes holding their snapshot now (C(moved_aside), the old data).
      type: list
      elements: dict
    not_swapped:
      description: Phase V(swap) only; the volumes that still hold their old data, their staged copy kept.
      type: list
      elements: dict
    left_staged:
      description: Phase V(stage) only; the volumes whose staged copy could not be discarded (C(msg)).
      type: list
      elements: dict
    snapshots:
      description: C(pv_restore_snapshots) for a retry with the same snapshots, {pvc, snapshot id}.
      type: dict
    message:
      description: One message naming all of the above, the StatefulSet left at zero and how to go on.
      type: str
"""

import json

from ansible.errors import AnsibleFilterError
from ansible_collections.kubedr.kubeadm.plugins.module_utils._kubectl import REPLICAS_ANNOTATION

PHASES = ("scale_down", "stage", "swap")


def _volume(result):
    """The plan volume a loop result is about (it may be nested: a loop over an earlier loop's results)."""
    item = result.get("item") if isinstance(result, dict) else None
    while isinstance(item, dict) and "pvc" not in item:
        item = item.get("item")
    return item if isinstance(item, dict) else None


def _broke(result):
    return isinstance(result, dict) and bool(result.get("failed") or result.get("unreachable"))


def _msg(result):
    text = str(result.get("msg") or "failed").strip()
    if result.get("unreachable"):
        text = "node unreachable: " + text
    return text


def _where(volume):
    return f"PVC {volume.get('pvc')} ({volume.get('node')}:{volume.get('path')})"


def _names(volumes):
    return ", ".join(str(v.get("pvc")) for v in volumes)


def _failed_volumes(failed_result, plan):
    """[(volume, msg)] of the loop items that failed; the plan's volume when the result names one."""
    out = []
    for result in (failed_result.get("results") or []) if isinstance(failed_result, dict) else []:
        if _broke(result):
            volume = _volume(result) or {}
            out.append(dict({k: volume.get(k) for k in ("pvc", "node", "path")}, msg=_msg(result)))
    if not out and isinstance(failed_result, dict):
        volume = _volume(failed_result)
        if volume:
            out.append(dict({k: volume.get(k) for k in ("pvc", "node", "path")}, msg=_msg(failed_result)))
    return out


def pv_restore_outcome(failed_result, phase, plan, swaps=None, discards=None, statefulset="", replicas=None,
                       annotation=REPLICAS_ANNOTATION, retry=""):
    """What the failed restore left, and the message (see RETURN)."""
    if phase not in PHASES:
        raise AnsibleFilterError(f"pv_restore_outcome: phase must be one of {', '.join(PHASES)},"
                                 f" not {phase!r}")
    if not isinstance(plan, list) or not all(isinstance(v, dict) and "pvc" in v for v in plan):
        raise AnsibleFilterError("pv_restore_outcome: plan must be a list of volumes (dicts with a 'pvc')")
    failed_result = failed_result if isinstance(failed_result, dict) else {"msg": str(failed_result)}
    snapshots = {v["pvc"]: v["snapshot"]["id"] for v in plan
                 if isinstance(v.get("snapshot"), dict) and v["snapshot"].get("id")}
    sts = statefulset or "the StatefulSet"
    namespace, _slash, name = statefulset.partition("/")
    kept = f"{replicas} before" if replicas not in (None, "") else "its replicas before"
    held = f"StatefulSet {sts} is left at 0 replicas ({kept}, kept in annotation {annotation or '?'})"
    namespace, name = namespace or "<namespace>", name or "<name>"
    by_hand = (f"kubectl -n {namespace} scale statefulset {name}"
               f" --replicas={replicas if replicas not in (None, '') else '<replicas>'}"
               f" && kubectl -n {namespace} annotate statefulset {name} {annotation}-")
    same = retry or (f"rerun the same restore with -e '{json.dumps({'pv_restore_snapshots': snapshots})}'"
                     " (the same snapshots even if newer ones were taken meanwhile)")
    out = dict(phase=phase, failed=_failed_volumes(failed_result, plan), swapped=[], not_swapped=[],
               left_staged=[], snapshots=snapshots)
    failures = "; ".join(f"{_where(f)}: {f['msg']}" for f in out["failed"]) or _msg(failed_result)

    if phase == "scale_down":
        out["message"] = (
            f"restore of {sts} stopped while scaling it to zero: {failures}. No volume was touched (nothing"
            f" staged, nothing swapped), so it is scaled back to the replicas it had. Fix the cause and"
            f" {same}")
        return out

    if phase == "stage":
        for result in discards or []:
            if _broke(result):
                volume = _volume(result) or {}
                out["left_staged"].append(dict({k: volume.get(k) for k in ("pvc", "node", "path")},
                                               msg=_msg(result)))
        if out["left_staged"]:
            left = "; ".join(
                f"{_where(v)}: {v['msg']} (remove {v['path']}.restore-* or {v['path']}/.kubedr-restore-*"
                f" and the record .{str(v['path']).rstrip('/').rsplit('/', 1)[-1]}.kubedr-staged.json beside"
                " it by hand, or let the rerun replace them)"
                for v in out["left_staged"])
            discarded = f"The staged copies were removed, except: {left}"
        else:
            discarded = "The staged copies were removed"
        out["message"] = (
            f"restore of {sts} failed before any volume was swapped: {failures}. Nothing was swapped: every"
            f" volume holds the data it held before the restore. {discarded}. {held}. Fix the cause and"
            f" {same}, which restores every volume again; or bring it back on the data it holds: {by_hand}")
        return out

    broken = {}
    for result in swaps or []:
        volume = _volume(result)
        if volume and _broke(result):
            broken[volume["pvc"]] = _msg(result) + (
                f" (whether it was swapped is not known: look on {volume.get('node')} for"
                f" {volume.get('path')}.moved-* or {volume.get('path')}/.kubedr-moved-*)"
                if result.get("unreachable") else "")
    results = {(_volume(r) or {}).get("pvc"): r for r in swaps or [] if _volume(r)}
    for volume in plan:
        entry = {k: volume.get(k) for k in ("pvc", "node", "path")}
        result = results.get(volume["pvc"])
        if result is None or volume["pvc"] in broken:
            out["not_swapped"].append(dict(entry, msg=broken.get(volume["pvc"], "not swapped")))
        else:
            out["swapped"].append(dict(entry, moved_aside=(result.get("restore") or {}).get("moved_aside")))
    if broken:
        out["failed"] = [v for v in out["not_swapped"] if v["pvc"] in broken]
        failures = "; ".join(f"{_where(f)}: {f['msg']}" for f in out["failed"])
    swapped = "; ".join(
        _where(v) + (f", old data in {v['moved_aside']}" if v["moved_aside"] else "") for v in out["swapped"])
    not_swapped = _names(out["not_swapped"])
    out["message"] = (
        f"restore of {sts} failed while swapping the staged copies in: {failures}. Swapped (they hold"
        f" their snapshot): {swapped or 'none'}. Not swapped (they hold their old data, their staged copies"
        f" are kept beside them): {not_swapped or 'none'}. "
        + (f"The volumes now hold data from two points in time: {held}; do not scale it up before every"
           " volume is swapped. " if out["swapped"] and out["not_swapped"] else f"{held}. ")
        + f"Fix the cause and {same}: the swapped volumes are not restored again and the staged copies are"
        " swapped in. Nothing was deleted.")
    return out


class FilterModule:
    """kubedr.kubeadm filters."""

    def filters(self):
        return {"pv_restore_outcome": pv_restore_outcome}
