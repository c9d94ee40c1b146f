#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: etcd_member
short_description: Add, remove or promote a member of a kubeadm etcd cluster
version_added: "0.1.0"
description:
  - Changes the membership of a running etcd cluster through etcd's v3 JSON gateway, over mutual TLS
    with kubeadm's certificates.
  - O(state=present) registers a member (optionally as a non-voting learner); it still has to be started
    with C(--initial-cluster-state=existing). O(state=absent) removes a member. O(state=promoted) turns
    a learner into a voting member once it has caught up with the leader.
  - Membership changes that etcd refuses as C(unhealthy cluster) (etcd accepts them only once the
    serving member has been connected to all voting peers for 5 seconds) are retried until
    O(wait_timeout).
  - To read the membership use M(kubedr.kubeadm.etcd_cluster_info); this module returns the member
    list after its change in RV(members).
  - Needs only the Python standard library on the managed host.
author:
  - kubedr contributors (@kubedr)
options:
  state:
    description:
      - V(present) adds the member unless one with the same O(peer_urls) exists.
      - V(absent) removes the member selected by O(name), O(id) or O(peer_urls) if there is one.
      - V(promoted) promotes the selected learner to a voting member, retrying until it has caught up
        with the leader or O(wait_timeout) has passed. The learner must be running.
    type: str
    choices: [present, absent, promoted]
    default: present
  name:
    description:
      - Member name (etcd's C(--name)).
      - With O(state=present) it is checked against an existing member with the same O(peer_urls);
        etcd learns the name only when the member starts, so a member that never started matches any name.
    type: str
  id:
    description:
      - Member ID in hexadecimal, as etcdctl prints it. Selects the member for O(state=absent) and
        O(state=promoted); not allowed with O(state=present) (etcd picks the ID).
    type: str
  peer_urls:
    description:
      - Peer URLs of the member, for example V(https://10.0.0.13:2380). Required with O(state=present).
    type: list
    elements: str
  learner:
    description:
      - With O(state=present), add the member as a non-voting learner (recommended, as it cannot affect
        quorum until it is promoted with O(state=promoted)).
      - An existing member is never demoted or promoted by O(state=present).
    type: bool
    default: false
  force:
    description:
      - With O(state=absent), remove the member even when it is the last voting member or when the
        voting members left would not have a healthy quorum. etcd itself may still refuse the change.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to keep retrying a membership change that etcd refuses for now (unhealthy cluster,
        learner not in sync with the leader).
    type: int
    default: 60
extends_documentation_fragment:
  - kubedr.kubeadm.etcd_connection
attributes:
  check_mode:
    support: full
    description: Reads the membership and health, reports the change it would make, changes nothing.
  diff_mode:
    support: full
    description: The member list before and after.
  idempotent:
    support: full
    description: An existing member, a missing one to remove or a voting one to promote means no change.
notes:
  - Removing a voting member is refused unless O(force=true) when it is the last voting member, or
    when fewer than a quorum of the remaining voting members are healthy (answer the status call and
    know a leader). Removing a learner is always allowed.
  - When the member to remove is the one O(endpoint) points to, the request goes to another healthy member.
seealso:
  - module: kubedr.kubeadm.etcd_cluster_info
  - name: etcd runtime reconfiguration
    description: Upstream guide to adding, removing and promoting members.
    link: https://etcd.io/docs/v3.6/op-guide/runtime-configuration/
"""

EXAMPLES = r"""
- name: Register the new control plane node as a learner
  kubedr.kubeadm.etcd_member:
    name: cp3
    peer_urls: [https://10.0.0.13:2380]
    learner: true
  register: added

- name: Promote it once etcd runs there (waits for it to catch up)
  kubedr.kubeadm.etcd_member:
    state: promoted
    name: cp3
    wait_timeout: 300

- name: Remove a dead member (refused if that would break quorum)
  kubedr.kubeadm.etcd_member:
    state: absent
    name: cp2
    endpoint: https://10.0.0.11:2379
    ca_cert: /etc/kubernetes/pki/etcd/ca.crt
    client_cert: /etc/kubernetes/pki/apiserver-etcd-client.crt
    client_key: /etc/kubernetes/pki/apiserver-etcd-client.key

- name: Remove a learner that never started, by ID
  kubedr.kubeadm.etcd_member:
    state: absent
    id: 8e9e05c52164694d
"""

RETURN = r"""
member:
  description:
    - The member the module acted on (or, when nothing changed, found). IDs are lowercase hex.
    - In check mode a member that would be added has a null ID.
    - Null with O(state=absent) when there was no such member.
  returned: success
  type: dict
  contains:
    id:
      description: Member ID.
      type: str
      sample: 8e9e05c52164694d
    name:
      description: Member name; etcd reports it only once the member started, O(name) is returned until then.
      type: str
      sample: cp3
    peer_urls:
      description: Peer URLs.
      type: list
      elements: str
    is_learner:
      description: Whether the member is a non-voting learner.
      type: bool
members:
  description: The member list after the change (in check mode, as it would be), same fields as RV(member).
  returned: success
  type: list
  elements: dict
actions:
  description: What was done, or in check mode would be done.
  returned: success
  type: list
  elements: str
  sample: ["added learner 5c2f1ab3c8b4d0e1 with peer URLs https://10.0.0.13:2380"]
"""

import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_client import EtcdError, format_id
from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_common import (
    etcd_argument_spec,
    etcd_client,
)

# etcd refusals that go away by themselves (and the operation they apply to)
TRANSIENT = ("unhealthy cluster", "not enough started members")
NOT_READY = ("in sync with leader",)


class MemberError(Exception):
    pass


def _view(m, name=None):
    return {"id": format_id(m["id"]) if m["id"] is not None else None, "name": m["name"] or name or "",
            "peer_urls": list(m["peer_urls"]), "is_learner": m["is_learner"]}


def _parse_id(text):
    try:
        return int(text, 16)
    except ValueError:
        raise MemberError(f"id {text!r} is not a hexadecimal member ID such as 8e9e05c52164694d") from None


def _label(m):
    return f"{m['name'] or '(unstarted)'} ({format_id(m['id'])}, {', '.join(m['peer_urls'])})"


def select(members, name=None, member_id=None, peer_urls=None):
    """The member all given selectors point to, None when none matches; MemberError when they disagree."""
    picks = {}
    if member_id is not None:
        picks["id"] = [m for m in members if m["id"] == member_id]
    if name:
        picks["name"] = [m for m in members if m["name"] == name]
    if peer_urls:
        picks["peer_urls"] = [m for m in members if sorted(m["peer_urls"]) == sorted(peer_urls)]
    found = {m["id"]: m for ms in picks.values() for m in ms}
    if len(found) > 1 or (found and not all(picks.values())):
        which = "; ".join(f"{k} -> {', '.join(_label(m) for m in v) or 'none'}" for k, v in picks.items())
        raise MemberError(f"name, id and peer_urls select different members: {which}")
    return next(iter(found.values()), None)


def health(client, members):
    """{member id: client URL that answered as that member and knows a leader} for the given members."""
    def probe(m):
        for url in m["client_urls"]:
            try:
                status = client.for_endpoint(url).status(timeout=min(client.timeout, 5))
            except EtcdError:
                continue
            if status["member_id"] == m["id"] and status["leader"]:
                return m["id"], url
        return m["id"], None

    if not members:
        return {}
    with ThreadPoolExecutor(max_workers=len(members)) as pool:
        return {mid: url for mid, url in pool.map(probe, members) if url}


def removal_check(client, members, target):
    """Why removing `target` is unsafe (None when it is safe), and a healthy endpoint to send it to."""
    voters = [m for m in members if not m["is_learner"]]
    healthy = health(client, voters)
    other = next((url for mid, url in healthy.items() if mid != target["id"]), None)
    if target["is_learner"]:
        return None, other
    remaining = [m for m in voters if m["id"] != target["id"]]
    if not remaining:
        return f"{_label(target)} is the last voting member: removing it would destroy the cluster", other
    need_now = len(voters) // 2 + 1
    if len(healthy) < need_now:
        return (f"only {len(healthy)} of {len(voters)} voting members are healthy, {need_now} are needed for"
                " quorum: etcd cannot commit a membership change (restore from a snapshot instead)"), other
    left = sum(1 for m in remaining if m["id"] in healthy)
    need = len(remaining) // 2 + 1
    if left < need:
        down = [m["name"] or format_id(m["id"]) for m in remaining if m["id"] not in healthy]
        return (f"removing {_label(target)} would leave {left} healthy of {len(remaining)} voting members"
                f" ({need} needed for quorum; not healthy: {', '.join(down)}): bring those members back or"
                " remove them first"), other
    return None, other


def retry(call, deadline, transient, done=None):
    """call() until it succeeds, `done()` says the change happened anyway, or the deadline passes."""
    while True:
        try:
            return call()
        except EtcdError as e:
            if done is not None and done():
                return None
            if not any(t in str(e) for t in transient) or time.monotonic() >= deadline:
                raise
        time.sleep(0.5)


def run(module, client):
    p = module.params
    state, name, peer_urls = p["state"], p["name"], p["peer_urls"]
    member_id = _parse_id(p["id"]) if p["id"] else None
    deadline = time.monotonic() + p["wait_timeout"]
    members = client.member_list()["members"]
    before = [_view(m) for m in members]
    actions, member, after, warnings = [], None, None, []

    def listing():
        return client.member_list()["members"]

    if state == "present":
        if member_id is not None:
            raise MemberError("id cannot be given with state=present: etcd chooses the ID of a new member")
        overlap = [m for m in members if set(m["peer_urls"]) & set(peer_urls)]
        if overlap:
            m = overlap[0]
            if len(overlap) > 1 or sorted(m["peer_urls"]) != sorted(peer_urls):
                raise MemberError(f"peer URLs {', '.join(peer_urls)} overlap those of "
                                  + "; ".join(_label(o) for o in overlap) + ": give all of its peer URLs or"
                                  " remove it first")
            if name and m["name"] and m["name"] != name:
                raise MemberError(f"peer URLs {', '.join(peer_urls)} already belong to member {_label(m)},"
                                  f" not {name}: remove it first (state=absent) or use its name")
            if m["is_learner"] != p["learner"]:
                kind = "a learner" if m["is_learner"] else "voting"
                warnings.append(f"member {_label(m)} exists and is {kind}; state=present does not change"
                                " that (use state=promoted to promote a learner)")
            return False, _view(m, name), before, before, actions, warnings
        if name and any(m["name"] == name for m in members):
            other = next(m for m in members if m["name"] == name)
            raise MemberError(f"a member named {name} already exists with other peer URLs: {_label(other)};"
                              " remove it first (state=absent)")
        kind = "learner" if p["learner"] else "voting member"
        if module.check_mode:
            member = {"id": None, "name": name or "", "peer_urls": list(peer_urls),
                      "is_learner": p["learner"]}
            actions.append(f"add {kind} {name or '(unnamed)'} with peer URLs {', '.join(peer_urls)}")
            return True, member, before, before + [member], actions, warnings

        def added():
            return select(listing(), peer_urls=peer_urls)

        new = retry(lambda: client.member_add(peer_urls, is_learner=p["learner"]), deadline, TRANSIENT,
                    done=lambda: added() is not None)
        new = new if new and new["id"] else added()
        actions.append(f"added {kind} {format_id(new['id'])} with peer URLs {', '.join(peer_urls)}")
        after = [_view(m, name if m["id"] == new["id"] else None) for m in listing()]
        return True, _view(new, name), before, after, actions, warnings

    target = select(members, name, member_id, peer_urls)
    if state == "absent":
        if target is None:
            return False, None, before, before, actions, warnings
        problem, other = removal_check(client, members, target)
        if problem and not p["force"]:
            raise MemberError(f"refusing to remove {problem} (force=true overrides)")
        if problem:
            warnings.append(f"removing anyway (force=true): {problem}")
        actions.append(f"removed {'learner' if target['is_learner'] else 'voting member'} {_label(target)}")
        if module.check_mode:
            return True, _view(target), before, [v for v in before if v["id"] != format_id(target["id"])], \
                actions, warnings
        # a member removing itself may drop the connection before answering: ask another one
        sender = client
        status = client.status()
        if status["member_id"] == target["id"] and other:
            sender = client.for_endpoint(other)

        def gone():
            try:
                return select(sender.member_list()["members"], member_id=target["id"]) is None
            except EtcdError:
                return False

        retry(lambda: sender.member_remove(target["id"]), deadline, TRANSIENT, done=gone)
        after = [_view(m) for m in sender.member_list()["members"]]
        return True, _view(target), before, after, actions, warnings

    # promoted
    if target is None:
        unstarted = [format_id(m["id"]) for m in members if not m["name"]]
        hint = (f" (members that have not started yet have no name, select them by id or peer_urls:"
                f" {', '.join(unstarted)})" if name and unstarted else "")
        raise MemberError("no member matches " + ", ".join(
            f"{k}={v}" for k, v in (("name", name), ("id", p["id"]), ("peer_urls", peer_urls)) if v) + hint)
    if not target["is_learner"]:
        return False, _view(target), before, before, actions, warnings
    actions.append(f"promoted learner {_label(target)}")
    promoted = dict(target, is_learner=False)
    if module.check_mode:
        return True, _view(promoted), before, [_view(promoted) if m["id"] == target["id"] else _view(m)
                                               for m in members], actions, warnings

    def voting():
        try:
            return not select(listing(), member_id=target["id"])["is_learner"]
        except (EtcdError, TypeError):
            return False

    try:
        retry(lambda: client.member_promote(target["id"]), deadline, TRANSIENT + NOT_READY, done=voting)
    except EtcdError as e:
        if any(t in str(e) for t in NOT_READY):
            raise MemberError(f"learner {_label(target)} did not catch up with the leader within"
                              f" {p['wait_timeout']}s (wait_timeout): {e}") from e
        raise
    after = listing()
    return True, _view(select(after, member_id=target["id"])), before, [_view(m) for m in after], actions, \
        warnings


def main():
    argument_spec = etcd_argument_spec()
    argument_spec.update(
        state=dict(type="str", choices=["present", "absent", "promoted"], default="present"),
        name=dict(type="str"),
        id=dict(type="str"),
        peer_urls=dict(type="list", elements="str"),
        learner=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=60),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[
            ("state", "present", ("peer_urls",)),
            ("state", "absent", ("name", "id", "peer_urls"), True),
            ("state", "promoted", ("name", "id", "peer_urls"), True),
        ],
        supports_check_mode=True,
    )
    if module.params["wait_timeout"] < 0:
        module.fail_json(msg=f"wait_timeout must not be negative, got {module.params['wait_timeout']}")
    try:
        changed, member, before, after, actions, warnings = run(module, etcd_client(module.params))
    except (EtcdError, MemberError) as e:
        module.fail_json(msg=str(e))
    for warning in warnings:
        module.warn(warning)
    extra = {"diff": {"before": {"members": before}, "after": {"members": after}}} if module._diff else {}
    module.exit_json(changed=changed, member=member, members=after, actions=actions, **extra)


if __name__ == "__main__":
    main()
