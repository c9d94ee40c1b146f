# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Before a full control-plane rebuild: does any etcd member of the old cluster still answer with a leader
(issue 12, case 9: split brain)? A full rebuild starts a new etcd cluster; if hosts the rebuild cannot
reach still run old members with quorum, two clusters answer for one Kubernetes cluster.

The role probes, from the controller with the backup set's etcd CA and client certificate, every client
URL the set's manifest, the reachable hosts' etcd.yaml and the inventory know (etcd_cluster_info, a short
timeout), and decides here. Pure functions on the module's result, run by the etcd_quorum_probe_plan and
etcd_quorum_verdict filters; tested on plain data and against real etcd clusters."""

from __future__ import annotations

import errno
import ipaddress
import os
import re
from urllib.parse import urlsplit

from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_membership import etcd_manifest_members

OVERRIDE = "control_plane_rebuild_allow_quorum_unknown"
URLS_KNOB = "control_plane_rebuild_quorum_probe_urls"
TIMEOUT_KNOB = "control_plane_rebuild_quorum_probe_timeout"
CLIENT_PORT = 2379  # kubeadm's etcd client port (peers: 2380)
# in the backup set's config/pki: the etcd CA, then client pairs the etcd CA signed, first found wins
CA = "etcd/ca.crt"
CLIENT_PAIRS = ("etcd/healthcheck-client", "apiserver-etcd-client")
# what etcd_client says when nothing answers on a URL: the member is down
_DOWN_TEXTS = ("connection refused: is etcd running", "no answer within")
_DOWN_ERRNOS = tuple(
    os.strerror(code)
    for code in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ETIMEDOUT, errno.ECONNREFUSED)
)
_NOT_STARTED = "member has not started yet"
_NOT_QUERIED = "not queried: none of the given endpoints is one of its client URLs"
_NONE_ANSWERED = "no etcd endpoint answered ("
_URL_ERROR = re.compile(
    r"etcd at (https://\S+) \(/v3/maintenance/status\): (.*?)(?=; etcd at https://|\Z)", re.S
)


def url_key(url):
    """(host, port) of a client URL, for comparing URLs written differently."""
    parts = urlsplit(url if "://" in url else "https://" + url)
    try:
        port = parts.port or CLIENT_PORT
    except ValueError:
        port = CLIENT_PORT
    return (parts.hostname or "").lower(), port


def _local(host):
    """A loopback or wildcard address: from the controller it would be the controller itself."""
    if host in ("localhost", ""):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _client_url(url):
    """The client URL kubeadm gives the member whose peer URL is `url` (same host, port 2379)."""
    host = urlsplit(url).hostname
    if not host:
        return None
    return f"https://[{host}]:{CLIENT_PORT}" if ":" in host else f"https://{host}:{CLIENT_PORT}"


def probe_plan(manifest=None, etcd_manifests=None, addresses=None, urls=(), pki_dir=""):
    """What to probe and with which certificates. `manifest`: the backup set's manifest.json;
    `etcd_manifests`:
    {host: etcd.yaml text, or None when the host has none}; `addresses`: {host: inventory address or None};
    `urls`: client URLs given by the operator (then only those, as given); `pki_dir`: the set's config/pki
    on the controller.

    Returns {urls, labels ({url: [where it came from]}), ca_cert, client_cert, client_key, problem}; problem
    is None, or why the probe cannot run at all (no CA or client certificate in the set, no URL known)."""
    found, labels = [], {}

    def add(url, label, keep_local=False):
        url = (url or "").strip()
        if not url.startswith("https://"):
            return
        key = url_key(url)
        if not key[0] or (_local(key[0]) and not keep_local):
            return
        same = next((u for u in found if url_key(u) == key), None)
        if same is None:
            found.append(url)
            same = url
        if label not in labels.setdefault(same, []):
            labels[same].append(label)

    if urls:
        for url in urls:
            add(url, URLS_KNOB, keep_local=True)
    else:
        for member in (manifest or {}).get("members") or []:
            for url in member.get("client_urls") or []:
                add(url, f"member {member.get('name') or member.get('id', '?')} in the backup set's manifest")
        for host in sorted(etcd_manifests or {}):
            text = etcd_manifests[host]
            if not text:
                continue
            read = etcd_manifest_members(text)
            for url in read["advertise_client_urls"]:
                add(url, f"{host}'s etcd.yaml")
            for name, peers in read["initial_cluster"].items():
                for peer in peers:
                    add(_client_url(peer), f"member {name} in {host}'s etcd.yaml --initial-cluster")
        for host in sorted(addresses or {}):
            address = addresses[host] or host
            add(_client_url(f"https://{address}"), f"{host}'s inventory address")

    plan = {
        "urls": found,
        "labels": labels,
        "ca_cert": None,
        "client_cert": None,
        "client_key": None,
        "problem": None,
    }
    ca = os.path.join(pki_dir, CA) if pki_dir else ""
    pair = next(
        (
            p
            for p in CLIENT_PAIRS
            if pki_dir
            and os.path.isfile(os.path.join(pki_dir, p + ".crt"))
            and os.path.isfile(os.path.join(pki_dir, p + ".key"))
        ),
        None,
    )
    if ca and os.path.isfile(ca):
        plan["ca_cert"] = ca
    if pair:
        plan["client_cert"] = os.path.join(pki_dir, pair + ".crt")
        plan["client_key"] = os.path.join(pki_dir, pair + ".key")
    if not plan["ca_cert"]:
        plan["problem"] = f"the backup set has no config/pki/{CA} to verify etcd with"
    elif not pair:
        plan["problem"] = (
            "the backup set has no etcd client certificate and key (config/pki/"
            + " or config/pki/".join(p + ".crt/.key" for p in CLIENT_PAIRS)
            + ")"
        )
    elif not found:
        plan["problem"] = (
            f"no etcd client URL is known (none in the set's manifest, no etcd.yaml on the"
            f" reachable hosts, no inventory address); give them as {URLS_KNOB}"
        )
    return plan


def classify(error):
    """'down' when nothing answered on the URL (refused, timed out, no route), else 'unclear' (something
    answered but could not be judged: TLS, HTTP, another cluster's member, ...)."""
    text = error or ""
    if any(t in text for t in _DOWN_TEXTS) or text.startswith(_NOT_STARTED):
        return "down"
    if re.search(r"\b(?:OSError|ConnectionError|TimeoutError): ", text) and any(
        t in text for t in _DOWN_ERRNOS
    ):
        return "down"
    return "unclear"


def _errors_by_url(message):
    return [(url, error.strip()) for url, error in _URL_ERROR.findall(message or "")]


def _label(plan, url):
    key = url_key(url or "")
    for known, labels in (plan.get("labels") or {}).items():
        if url_key(known) == key:
            return f"{url} ({'; '.join(labels)})"
    return url


def quorum_verdict(result, plan, reachable=(), final=True):
    """The decision on one probe. `result`: etcd_cluster_info's result (failed_when: false), None when the
    probe did not run; `plan`: probe_plan's; `reachable`: inventory addresses of the hosts that answered
    over SSH (a timeout there means the probe cannot tell: something drops the packets); `final`: False on
    the first probe, which asks for a second one (`again`, on `urls`) when a member answered without a
    leader (an election may be under way) or the member list named client URLs that were not probed.

    Returns {verdict, again, urls, healthy, down, unclear, no_leader, cluster_id, reason, message}: verdict is
    "quorum" (a member answers with a leader: refuse, no override), "unknown" (the probe cannot run or
    cannot tell: refuse unless control_plane_rebuild_allow_quorum_unknown) or "down" (go on)."""
    plan = plan or {}
    reachable_hosts = {url_key(f"https://{a}")[0] for a in reachable or [] if a}
    out = {
        "verdict": "down",
        "again": False,
        "urls": list(plan.get("urls") or []),
        "healthy": [],
        "down": [],
        "unclear": [],
        "no_leader": [],
        "cluster_id": None,
        "reason": "",
        "message": "",
    }

    def unanswered(url, error, who=None):
        what = classify(error)
        host = url_key(url)[0] if url else ""
        if what == "down" and "no answer within" in error and host in reachable_hosts:
            what = "unclear"
            error += (
                " (this host answers over SSH, so something drops the controller's packets to its etcd"
                f" client port: give {URLS_KNOB} the controller can reach)"
            )
        entry = f"{who + ' at ' if who else ''}{_label(plan, url) if url else '(no URL)'}: {error}"
        out["down" if what == "down" else "unclear"].append(entry)

    cannot_run = plan.get("problem")
    if not cannot_run and (not result or result.get("skipped")):
        cannot_run = "the probe did not run"
    # registered with failed_when: false, a failed run has failed=false: no cluster in it is what tells
    if not cannot_run and (result.get("failed") or not result.get("cluster")):
        message = str(result.get("msg") or "no result")
        if not message.startswith(_NONE_ANSWERED):
            cannot_run = f"etcd_cluster_info failed: {message}"
        else:
            pairs = _errors_by_url(message)
            if not pairs:
                cannot_run = f"etcd_cluster_info failed: {message}"
            for url, error in pairs:
                unanswered(url, error)
    elif not cannot_run:
        cluster = result.get("cluster") or {}
        out["cluster_id"] = cluster.get("cluster_id")
        leader = (cluster.get("leader") or {}).get("name")
        names = _names(m.get("name") or m.get("id", "?") for m in cluster.get("members") or [])
        probed = {url_key(u) for u in out["urls"]}
        for member in cluster.get("members") or []:
            who = f"member {member.get('name') or member.get('id', '?')}"
            if member.get("healthy"):
                out["healthy"].append(f"{who} ({member.get('endpoint')})")
                out["cluster"] = (
                    f"leader {leader or '?'}, etcd cluster {out['cluster_id']} of members {names}"
                )
            elif member.get("endpoint"):
                out["no_leader"].append(f"{who} ({member.get('endpoint')}) answers without a leader")
            elif (member.get("error") or "").startswith(_NOT_QUERIED):
                more = [u for u in member.get("client_urls") or [] if url_key(u) not in probed]
                if more and not final:
                    out["urls"] += more
                    probed |= {url_key(u) for u in more}
                else:
                    out["unclear"].append(
                        f"{who}: not probed (its client URLs"
                        f" {_names(member.get('client_urls') or [])} were not among the probed)"
                    )
            else:
                error = member.get("error") or "unknown error"
                for url, text in _errors_by_url(error) or [(None, error)]:
                    unanswered(url, text, who)

    if out["healthy"]:
        out["verdict"] = "quorum"
    elif cannot_run or out["unclear"]:
        out["verdict"] = "unknown"
    elif not final and (out["no_leader"] or len(out["urls"]) > len(plan.get("urls") or [])):
        out["again"] = True
    out["reason"], out["message"] = _message(out, cannot_run)
    return out


def _names(values):
    values = list(values)
    return ", ".join(values) if values else "none"


def _message(out, cannot_run):
    """(reason, message): what was seen, and the message for the task (the refusal naming the way out)."""
    seen = "; ".join(
        part
        for part in (
            f"down: {'; '.join(out['down'])}" if out["down"] else "",
            f"without a leader (no quorum): {'; '.join(out['no_leader'])}" if out["no_leader"] else "",
        )
        if part
    )
    if out["verdict"] == "quorum":
        reason = (
            f"{', '.join(out['healthy'])} {'answers' if len(out['healthy']) == 1 else 'answer'} with a"
            f" leader ({out.pop('cluster')})"
        )
        return reason, (
            f"Refused, nothing touched: {reason}. The old control plane still has quorum: a full rebuild"
            " would start a second etcd cluster beside it (split brain). For lost control-plane hosts use"
            " control_plane_rebuild_mode=replace_member (one at a time, while quorum holds); to roll etcd's"
            " data back use playbooks/restore_etcd.yml. If that etcd really must go, stop it first (move"
            " /etc/kubernetes/manifests/etcd.yaml aside on its host) and run again; "
            f"{OVERRIDE} does not override a member that answers with a leader."
            + (f" Also {seen}." if seen else "")
        )
    if out["verdict"] == "unknown":
        if cannot_run:
            reason = (
                f"the quorum check cannot run at all: {cannot_run}. Nothing tells whether old etcd members"
                " still hold quorum"
            )
        else:
            reason = (
                "the quorum check ran but cannot tell for "
                + "; ".join(out["unclear"])
                + ": a member there may still hold quorum"
                + (f" ({seen})" if seen else "")
            )
        return reason, (
            f"Refused, nothing touched: {reason}. Fix what is named (the set's config/pki, {URLS_KNOB},"
            f" {TIMEOUT_KNOB}) or, if you know that no old etcd member is running anywhere, set"
            f" {OVERRIDE}=true (it covers only a check that cannot run or cannot tell, never a member that"
            " answers with a leader)."
        )
    reason = seen or ("more client URLs to probe" if out["again"] else "nothing to probe")
    if out["again"]:
        return reason, f"asking again: {reason}"
    return reason, f"no etcd member answers with a leader, the full rebuild may go on ({reason})"
