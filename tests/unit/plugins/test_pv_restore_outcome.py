"""pv_restore_outcome (filter): what a failed pv_restore run says it left, on results shaped as Ansible
registers them (loop results with item, failed, unreachable, msg)."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.kubedr.kubeadm.plugins.filter.pv_restore_outcome import pv_restore_outcome


def volume(ordinal, node):
    path = f"/srv/pv/db-{ordinal}"
    return {"pvc": f"data-db-{ordinal}", "namespace": "prod", "node": node, "path": path,
            "snapshot": {"id": f"{ordinal}" * 64, "short_id": f"{ordinal}" * 8, "paths": [path]}}


PLAN = [volume(0, "w1"), volume(1, "w2"), volume(2, "w1")]
KW = dict(statefulset="prod/db", replicas="3", annotation="kubedr.io/replicas-before-scale")


def ok(vol, **restore):
    return {"item": vol, "changed": True, "failed": False, "restore": restore}


def bad(vol, msg, **extra):
    return dict({"item": vol, "failed": True, "msg": msg}, **extra)


def loop(*results):
    return {"failed": True, "msg": "One or more items failed", "results": list(results)}


def test_a_failed_stage_names_the_volume_and_says_nothing_was_swapped():
    failed = loop(ok(PLAN[0], staged="/srv/pv/db-0.restore-X"), bad(PLAN[1], "Fatal: no space left"),
                  ok(PLAN[2], staged="/srv/pv/db-2.restore-X"))
    out = pv_restore_outcome(failed, "stage", PLAN, discards=[ok(v) for v in PLAN], **KW)
    assert [f["pvc"] for f in out["failed"]] == ["data-db-1"] and out["left_staged"] == []
    msg = out["message"]
    assert "PVC data-db-1 (w2:/srv/pv/db-1): Fatal: no space left" in msg
    assert "data-db-0" not in msg.split("Nothing was swapped")[0], "only the failed volume is named as failed"
    assert "Nothing was swapped" in msg and "The staged copies were removed." in msg
    assert "left at 0 replicas (3 before, kept in annotation kubedr.io/replicas-before-scale)" in msg
    assert "kubectl -n prod scale statefulset db --replicas=3" in msg
    assert "annotate statefulset db kubedr.io/replicas-before-scale-" in msg
    retry = json.loads(msg.split("-e '")[1].split("'")[0])
    assert retry == {"pv_restore_snapshots": {v["pvc"]: v["snapshot"]["id"] for v in PLAN}}
    assert out["snapshots"] == retry["pv_restore_snapshots"]


def test_a_staged_copy_that_could_not_be_discarded_is_named_with_where_it_is():
    failed = loop(ok(PLAN[0]), bad(PLAN[1], "boom"), ok(PLAN[2]))
    discards = [ok(PLAN[0]), bad(PLAN[1], "ssh: connect refused", unreachable=True), ok(PLAN[2])]
    out = pv_restore_outcome(failed, "stage", PLAN, discards=discards, **KW)
    assert [v["pvc"] for v in out["left_staged"]] == ["data-db-1"]
    assert "node unreachable: ssh: connect refused" in out["message"]
    assert "/srv/pv/db-1.restore-*" in out["message"] and ".db-1.kubedr-staged.json" in out["message"]


def test_a_failed_check_of_a_staged_copy_finds_the_volume_in_nested_items():
    # the owner/mode assert loops over stat results, each of which loops over the stage results
    nested = {"item": {"item": {"item": PLAN[2], "restore": {}}, "stat": {}}, "failed": True,
              "msg": "w1:/srv/pv/db-2 owned 0:0 mode 0700; expected 999:* mode *"}
    out = pv_restore_outcome(loop(nested), "stage", PLAN, **KW)
    assert [f["pvc"] for f in out["failed"]] == ["data-db-2"]
    assert "owned 0:0" in out["message"] and "Nothing was swapped" in out["message"]


def test_a_failure_that_names_no_volume_keeps_its_message():
    out = pv_restore_outcome({"failed": True, "msg": "Timed out waiting for pods"}, "scale_down", PLAN, **KW)
    assert out["failed"] == []
    assert "Timed out waiting for pods" in out["message"] and "No volume was touched" in out["message"]
    assert "scaled back to the replicas it had" in out["message"]


def test_a_swap_failing_midway_lists_what_was_swapped_and_what_was_not():
    swaps = [ok(PLAN[0], swapped=True, moved_aside="/srv/pv/db-0.moved-20261201T000000Z"),
             bad(PLAN[1], "renaming ... failed: Permission denied; undone"),
             ok(PLAN[2], swapped=True, moved_aside=None)]
    out = pv_restore_outcome(loop(*swaps), "swap", PLAN, swaps=swaps, **KW)
    assert [v["pvc"] for v in out["swapped"]] == ["data-db-0", "data-db-2"]
    assert [v["pvc"] for v in out["not_swapped"]] == ["data-db-1"]
    assert [v["pvc"] for v in out["failed"]] == ["data-db-1"]
    msg = out["message"]
    assert "old data in /srv/pv/db-0.moved-20261201T000000Z" in msg
    assert "Not swapped (they hold their old data, their staged copies are kept beside them): data-db-1." in (
        msg)
    assert "two points in time" in msg and "do not scale it up" in msg and "left at 0 replicas" in msg


def test_an_unreachable_node_during_the_swap_is_not_claimed_swapped_or_not():
    swaps = [ok(PLAN[0], swapped=True), bad(PLAN[1], "ssh timeout", unreachable=True),
             ok(PLAN[2], swapped=True)]
    out = pv_restore_outcome(loop(*swaps), "swap", PLAN, swaps=swaps, **KW)
    assert "whether it was swapped is not known" in out["message"] and "w2" in out["message"]


def test_a_swap_that_failed_on_every_volume_is_not_called_two_points_in_time():
    swaps = [bad(v, "nothing is staged") for v in PLAN]
    out = pv_restore_outcome(loop(*swaps), "swap", PLAN, swaps=swaps, **KW)
    assert out["swapped"] == [] and "two points in time" not in out["message"]
    assert "Swapped (they hold their snapshot): none" in out["message"]


@pytest.mark.parametrize("phase, plan", [("restore", PLAN), ("stage", [{"node": "w1"}]), ("stage", None)])
def test_bad_arguments_are_refused(phase, plan):
    with pytest.raises(AnsibleFilterError):
        pv_restore_outcome({}, phase, plan)


def test_a_rebuild_says_how_it_is_retried():
    out = pv_restore_outcome(loop(bad(PLAN[0], "boom")), "stage", PLAN, retry="rerun the rebuild", **KW)
    assert "Fix the cause and rerun the rebuild, which restores every volume again" in out["message"]
    assert "pv_restore_snapshots" not in out["message"]
