# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - plugins put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
name: restic_snapshot_select
short_description: Choose the snapshot to restore from a restic snapshot listing, by exact ID or unique prefix
version_added: "0.1.0"
description:
  - Picks one snapshot out of a listing as M(kubedr.kubeadm.restic_snapshots) returns it (oldest first),
    the way the C(pv_restore) role chooses each PVC's snapshot.
  - V(latest) picks the newest snapshot. Any other value must be a full snapshot ID or a prefix that exactly
    one snapshot's ID starts with; it is compared as plain text, never as a regular expression.
  - Never fails the task itself; it returns RV(_value.problem) instead, so a caller can collect the problems
    of every volume and refuse them all at once, before anything changes.
author:
  - kubedr contributors (@kubedr)
positional: wanted, subject
options:
  _input:
    description: The snapshots, oldest first, each a dict with at least C(id) (and C(short_id), C(time)).
    type: list
    elements: dict
    required: true
  wanted:
    description: V(latest), or a snapshot ID or unique ID prefix. Must be a string (quote IDs in YAML).
    type: raw
    required: true
  subject:
    description: What the snapshot is for (a PVC name), used in the problem message.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Choose a PVC's snapshot
  ansible.builtin.set_fact:
    chosen: "{{ listing.snapshots | kubedr.kubeadm.restic_snapshot_select('ab12cd34', 'prod/data-db-0') }}"

- name: Refuse what cannot be chosen
  ansible.builtin.assert:
    that: chosen.problem is none
    fail_msg: "{{ chosen.problem }}"
"""

RETURN = r"""
_value:
  description: The choice.
  type: dict
  contains:
    snapshot:
      description: The chosen snapshot (an element of the input), or null when there is a problem.
      type: dict
    problem:
      description:
        - Null when a snapshot was chosen; otherwise why not (no snapshot, empty, unknown, ambiguous or
          non-string ID), naming the subject, the ID asked for and the candidates.
      type: str
"""

from ansible.errors import AnsibleFilterError

LATEST = "latest"
# How many candidates a problem message names (newest first); the rest are counted.
MAX_CANDIDATES = 10


def _describe(snapshot):
    short = snapshot.get("short_id") or str(snapshot.get("id", ""))[:8]
    return f"{short} ({snapshot['time']})" if snapshot.get("time") else short


def _candidates(snapshots):
    newest_first = list(reversed(snapshots))
    named = ", ".join(_describe(s) for s in newest_first[:MAX_CANDIDATES])
    rest = len(newest_first) - MAX_CANDIDATES
    return named + (f" and {rest} older" if rest > 0 else "")


def restic_snapshot_select(snapshots, wanted, subject=""):
    """The one snapshot `wanted` names, or the problem that stops the choice (see RETURN)."""
    if not isinstance(snapshots, list) or not all(isinstance(s, dict) and "id" in s for s in snapshots):
        raise AnsibleFilterError("restic_snapshot_select expects a list of snapshots (dicts with an 'id')")
    where = f"{subject}: " if subject else ""

    def problem(text):
        return {"snapshot": None, "problem": where + text}

    if not isinstance(wanted, str):
        return problem(
            f"the snapshot ID must be a string, got {type(wanted).__name__} {wanted!r}; quote it in YAML "
            "(an unquoted ID such as 12345678 or 1e5 is read as a number)"
        )
    if wanted == LATEST:
        if not snapshots:
            return problem("no snapshot to restore (latest asked for)")
        return {"snapshot": snapshots[-1], "problem": None}
    if wanted == "":
        return problem(
            f"the snapshot ID asked for is empty; give 'latest', a full ID or a unique prefix of one of: "
            f"{_candidates(snapshots) or 'none (there is no snapshot)'}"
        )
    if not snapshots:
        return problem(f"no snapshot with ID {wanted!r}: there is no snapshot at all")
    exact = [s for s in snapshots if s["id"] == wanted]
    if exact:
        return {"snapshot": exact[0], "problem": None}
    matching = [s for s in snapshots if str(s["id"]).startswith(wanted)]
    if len(matching) == 1:
        return {"snapshot": matching[0], "problem": None}
    if matching:
        return problem(
            f"snapshot ID prefix {wanted!r} matches {len(matching)} snapshots: {_candidates(matching)}; "
            "give more characters of the one to restore"
        )
    return problem(
        f"no snapshot with ID {wanted!r} among its {len(snapshots)}: {_candidates(snapshots)}; "
        "give the full ID or a unique prefix of one of these"
    )


class FilterModule:
    """kubedr.kubeadm filters."""

    def filters(self):
        return {"restic_snapshot_select": restic_snapshot_select}
