#!/usr/bin/python
# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules put DOCUMENTATION/EXAMPLES/RETURN before the imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: etcd_cluster_info
short_description: Report etcd membership, health, leader and quorum of a kubeadm cluster
version_added: "0.1.0"
description:
  - Reads the member list and the status of every member of the etcd cluster through etcd's v3 JSON
    gateway, over mutual TLS with kubeadm's certificates, and summarises what disaster recovery needs
    to know, in particular whether quorum holds and which member is the best one to snapshot.
  - A member that does not answer is reported unhealthy with the error; the module fails only when
    no endpoint answers at all.
  - Needs only the Python standard library on the managed host.
author:
  - kubedr contributors (@kubedr)
options:
  endpoints:
    description:
      - etcd client URLs to query, for example V(https://10.0.0.11:2379).
      - The member list is read from the first one that answers; members none of these URLs belongs
        to are reported unhealthy as not queried.
      - When omitted, O(endpoint) (or its kubeadm default) and then the client URLs every member
        advertises in the member list.
    type: list
    elements: str
extends_documentation_fragment:
  - kubedr.kubeadm.etcd_connection
attributes:
  check_mode:
    support: full
    description: The module only reads; it behaves the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
notes:
  - A member counts as healthy when it answers and knows a leader.
  - Alarms are read through raft, so they are only queried while quorum holds.
seealso:
  - name: etcd disaster recovery
    description: Upstream guide to snapshots and restores.
    link: https://etcd.io/docs/v3.5/op-guide/recovery/
"""

EXAMPLES = r"""
- name: Inspect the stacked etcd of this control plane node (kubeadm defaults)
  kubedr.kubeadm.etcd_cluster_info:
  register: etcd

- name: Refuse to go on without quorum
  ansible.builtin.assert:
    that: etcd.cluster.quorum
    fail_msg: "etcd quorum lost: {{ etcd.cluster.members | rejectattr('healthy') | map(attribute='name') }}"

- name: Snapshot from the best follower
  ansible.builtin.debug:
    msg: "snapshot {{ etcd.cluster.backup_source.name }} at {{ etcd.cluster.backup_source.endpoint }}"
  when: etcd.cluster.backup_source is not none

- name: Query specific members with explicit certificates
  kubedr.kubeadm.etcd_cluster_info:
    endpoints:
      - https://10.0.0.11:2379
      - https://10.0.0.12:2379
    ca_cert: /etc/kubernetes/pki/etcd/ca.crt
    client_cert: /etc/kubernetes/pki/apiserver-etcd-client.crt
    client_key: /etc/kubernetes/pki/apiserver-etcd-client.key
    timeout: 5
"""

RETURN = r"""
cluster:
  description: What the members said about the cluster. IDs are lowercase hex, as etcdctl prints them.
  returned: success
  type: dict
  contains:
    cluster_id:
      description: ID of the etcd cluster.
      type: str
      sample: cdf818194e3a8c32
    members:
      description: Every member of the member list, with its status when it answered.
      type: list
      elements: dict
      contains:
        id:
          description: Member ID.
          type: str
          sample: 8e9e05c52164694d
        name:
          description: Member name (empty for a learner that was added but never started).
          type: str
          sample: cp1
        peer_urls:
          description: Peer URLs.
          type: list
          elements: str
        client_urls:
          description: Client URLs the member advertises.
          type: list
          elements: str
        is_learner:
          description: Whether the member is a non-voting learner.
          type: bool
        healthy:
          description: Whether the member answered and knows a leader.
          type: bool
        error:
          description: Why the member is not healthy; null when it is.
          type: str
          sample: >-
            etcd at https://10.0.0.12:2379 (/v3/maintenance/status):
            connection refused: is etcd running on 10.0.0.12:2379?
        endpoint:
          description: Client URL that answered; null when none did.
          type: str
        version:
          description: etcd server version.
          type: str
          sample: 3.5.21
        revision:
          description: The store revision this member serves (null when it did not answer).
          type: int
        db_size:
          description: Size of the backend database in bytes.
          type: int
        db_size_in_use:
          description: Bytes of the backend database in use (the rest is reclaimable by defragmentation).
          type: int
        raft_index:
          description: Raft committed index.
          type: int
        raft_applied_index:
          description: Raft applied index.
          type: int
        raft_term:
          description: Raft term.
          type: int
        is_leader:
          description: Whether this member is the leader.
          type: bool
        errors:
          description: Errors the member reports about itself (no leader, active alarms).
          type: list
          elements: str
    leader:
      description: The leader (id and name); null when no healthy member knows one.
      type: dict
      sample: {"id": "8e9e05c52164694d", "name": "cp1"}
    learners:
      description: Learner members (id and name).
      type: list
      elements: dict
    alarms:
      description:
        - Active alarms (member_id, member_name, alarm such as V(NOSPACE) or V(CORRUPT)).
        - Null when they could not be read, for example because quorum is lost.
      type: list
      elements: dict
    quorum_size:
      description: Voting members needed for quorum (voting members // 2 + 1).
      type: int
      sample: 2
    quorum:
      description: Whether at least RV(cluster.quorum_size) voting members are healthy.
      type: bool
    backup_source:
      description:
        - The member to take a snapshot from, that is the healthy voting follower with the highest raft
          applied index, or the leader when it is the only healthy voting member.
        - Null when quorum is lost.
      type: dict
      sample: {"id": "91bc3c398fb3c146", "name": "cp2", "endpoint": "https://10.0.0.12:2379"}
"""

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_client import EtcdError, format_id
from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_common import (
    etcd_argument_spec,
    etcd_client,
)


def _url_key(url):
    """Comparable form of a client URL: (host, port)."""
    parts = urlsplit(url if "://" in url else "https://" + url)
    return (parts.hostname or "").lower(), parts.port or 2379


def _status(client, endpoint):
    """(status, None) or (None, error message) for one endpoint; never raises."""
    try:
        return client.for_endpoint(endpoint).status(), None
    except EtcdError as e:
        return None, str(e)


def _first_answer(client, urls):
    """Status from the first of `urls` that answers: (endpoint, status, errors)."""
    errors = []
    for url in urls:
        status, error = _status(client, url)
        if status:
            return url, status, errors
        errors.append(error)
    return None, None, errors


def _member_statuses(client, endpoints):
    """(member list, {member id: (endpoint, status)}, {member id: [errors]}) or EtcdError."""
    queried = endpoints or [client.endpoint]
    with ThreadPoolExecutor(max_workers=len(queried)) as pool:
        answers = dict(pool.map(lambda url: (url, _status(client, url)), queried))

    member_list, list_errors = None, []
    for url, (status, error) in answers.items():
        if status is None:
            list_errors.append(error)
            continue
        try:
            member_list = client.for_endpoint(url).member_list()
            break
        except EtcdError as e:
            list_errors.append(str(e))
    if member_list is None:
        raise EtcdError(f"no etcd endpoint answered ({', '.join(queried)}): {'; '.join(list_errors)}")
    cluster_id = member_list["cluster_id"]

    # member id -> (endpoint, status); errors per member from the URLs it advertises
    found, member_errors = {}, {}
    by_url = {_url_key(u): m["id"] for m in member_list["members"] for u in m["client_urls"]}
    for url, (status, error) in answers.items():
        if status is None:
            member_errors.setdefault(by_url.get(_url_key(url)), []).append(error)
        elif status["cluster_id"] != cluster_id:
            member_errors.setdefault(by_url.get(_url_key(url)), []).append(
                f"{url} belongs to another etcd cluster ({format_id(status['cluster_id'])},"
                f" not {format_id(cluster_id)})")
        else:
            found.setdefault(status["member_id"], (url, status))

    if not endpoints:  # ask the members nobody has answered for yet, on the URLs they advertise
        tried = {_url_key(u) for u in queried}
        todo = {m["id"]: [u for u in m["client_urls"] if _url_key(u) not in tried]
                for m in member_list["members"] if m["id"] not in found}
        todo = {mid: urls for mid, urls in todo.items() if urls}
        if todo:
            with ThreadPoolExecutor(max_workers=len(todo)) as pool:
                results = dict(pool.map(lambda item: (item[0], _first_answer(client, item[1])), todo.items()))
            for mid, (url, status, errors) in results.items():
                member_errors.setdefault(mid, []).extend(errors)
                if status and status["member_id"] == mid and status["cluster_id"] == cluster_id:
                    found[mid] = (url, status)
                elif status:
                    member_errors[mid].append(f"{url} answered as member {format_id(status['member_id'])}"
                                              f" of cluster {format_id(status['cluster_id'])}")
    return member_list, found, member_errors


def gather(client, endpoints=None):
    """The `cluster` result: member list plus each member's status, leader, quorum, backup source."""
    member_list, found, member_errors = _member_statuses(client, endpoints)

    # the leader as seen in the highest raft term
    views = sorted((status for url, status in found.values() if status["leader"]),
                   key=lambda status: status["raft_term"])
    leader_id = views[-1]["leader"] if views else 0
    names = {m["id"]: m["name"] for m in member_list["members"]}

    members = []
    for m in sorted(member_list["members"], key=lambda m: (m["name"] == "", m["name"], m["id"])):
        url, status = found.get(m["id"], (None, None))
        entry = dict(m, id=format_id(m["id"]), endpoint=url, is_leader=m["id"] == leader_id)
        if status:
            entry.update(
                healthy=status["leader"] != 0,
                error=None if status["leader"] else "answered but has no leader: quorum is probably lost",
                **{k: status[k] for k in ("version", "revision", "db_size", "db_size_in_use", "raft_index",
                                          "raft_applied_index", "raft_term", "errors")})
        else:
            if member_errors.get(m["id"]):
                error = "; ".join(member_errors[m["id"]])
            elif not m["client_urls"]:
                error = "member has not started yet (it advertises no client URLs)"
            else:
                error = "not queried: none of the given endpoints is one of its client URLs"
            entry.update(healthy=False, error=error, version=None, revision=None, db_size=None,
                         db_size_in_use=None, raft_index=None, raft_applied_index=None, raft_term=None,
                         errors=[])
        members.append(entry)

    voters = [e for e in members if not e["is_learner"]]
    healthy_voters = [e for e in voters if e["healthy"]]
    quorum_size = len(voters) // 2 + 1
    quorum = len(healthy_voters) >= quorum_size
    leader = next((e for e in members if e["is_leader"]), None)

    backup_source = None
    if quorum:
        followers = sorted((e for e in healthy_voters if not e["is_leader"]),
                           key=lambda e: (-e["raft_applied_index"], e["name"]))
        best = followers[0] if followers else (leader if leader and leader["healthy"] else None)
        if best:
            backup_source = {"id": best["id"], "name": best["name"], "endpoint": best["endpoint"]}

    alarms, warnings = None, []
    if quorum:
        source = sorted(healthy_voters, key=lambda e: not e["is_leader"])[0]
        try:
            alarms = [{"member_id": format_id(a["member_id"]), "member_name": names.get(a["member_id"], ""),
                       "alarm": a["alarm"]} for a in client.for_endpoint(source["endpoint"]).alarms()]
        except EtcdError as e:
            warnings.append(f"could not read alarms: {e}")

    return {
        "cluster_id": format_id(member_list["cluster_id"]),
        "members": members,
        "leader": {"id": leader["id"], "name": leader["name"]} if leader else None,
        "learners": [{"id": e["id"], "name": e["name"]} for e in members if e["is_learner"]],
        "alarms": alarms,
        "quorum_size": quorum_size,
        "quorum": quorum,
        "backup_source": backup_source,
    }, warnings


def main():
    argument_spec = etcd_argument_spec()
    argument_spec.update(endpoints=dict(type="list", elements="str"))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        cluster, warnings = gather(etcd_client(module.params), module.params["endpoints"])
    except EtcdError as e:
        module.fail_json(msg=str(e))
    for warning in warnings:
        module.warn(warning)
    module.exit_json(changed=False, cluster=cluster)


if __name__ == "__main__":
    main()
