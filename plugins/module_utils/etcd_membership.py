# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which etcd members a restore must cover (issue 12, case 9: split brain). Pure functions, run on the
controller by the etcd_restore_membership filter, tested on plain data.

A restore that leaves a member out leaves it its old data: left-out members that still make a quorum of
the old membership serve the old cluster beside the restored one (two etcd clusters, two API servers
answering for one Kubernetes cluster). So the play's members must be all of the known membership:

- when etcd answers, the member list of the running cluster;
- when it does not (stopped, broken, or stopped by an interrupted restore), every member named by the
  backup set's manifest (``etcd/manifest.json`` beside the snapshot, when it is the manifest of this very
  snapshot) and by the ``--initial-cluster`` of each play host's etcd.yaml (kubeadm writes the members
  known when the host joined, and the host itself).
"""

from __future__ import annotations

from ansible_collections.kubedr.kubeadm.plugins.module_utils.etcd_client import _manifest_flags

BACKUP_KIND = "kubedr.kubeadm/etcd-backup"
OVERRIDE = "etcd_restore_allow_subset"


class MembershipError(Exception):
    pass


def parse_initial_cluster(value):
    """etcd's --initial-cluster (``name=peerURL,...``, a name once per peer URL) as {name: [peer URLs]},
    in the order given. Raises MembershipError on an entry that is not name=URL."""
    members = {}
    for entry in (value or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        name, sep, url = entry.partition("=")
        name, url = name.strip(), url.strip()
        if not sep or not name or "://" not in url:
            raise MembershipError(f"{entry!r} is not name=peerURL")
        urls = members.setdefault(name, [])
        if url not in urls:
            urls.append(url)
    return members


def etcd_manifest_members(text):
    """What a kubeadm etcd static pod manifest says about membership: {name, initial_cluster,
    advertise_client_urls, problem}. problem is None, or why the file told nothing (the rest is then
    empty)."""
    flags = _manifest_flags(text or "")
    found = {
        "name": flags.get("name") or None,
        "initial_cluster": {},
        "advertise_client_urls": [
            u.strip() for u in flags.get("advertise-client-urls", "").split(",") if u.strip()
        ],
        "problem": None,
    }
    if not flags:
        found["problem"] = "no etcd command line in it"
        return found
    try:
        found["initial_cluster"] = parse_initial_cluster(flags.get("initial-cluster", ""))
    except MembershipError as e:
        found["problem"] = f"its --initial-cluster cannot be read ({e})"
    return found


def backup_members(manifest, snapshot_sha256=None):
    """({name: peer URLs}, note): the members a backup set's manifest recorded, or (None, why not) when it
    is missing, not a kubedr backup manifest, or of another snapshot than `snapshot_sha256`."""
    if not manifest:
        return None, None
    if not isinstance(manifest, dict) or manifest.get("kind") != BACKUP_KIND:
        return None, "the manifest.json beside the snapshot is not a kubedr backup manifest: not used"
    recorded = (manifest.get("snapshot") or {}).get("sha256")
    if snapshot_sha256 and recorded and recorded != snapshot_sha256:
        return None, (
            f"the manifest.json beside the snapshot is of another snapshot (sha256 {recorded[:16]},"
            f" this one {snapshot_sha256[:16]}): its members are not used"
        )
    members = {}
    for member in manifest.get("members") or []:
        name = (member or {}).get("name") or ""
        if name:  # a learner added but never started has no name and no data
            members[name] = list(member.get("peer_urls") or [])
    return members, None


def _names(values):
    return ", ".join(values) if values else "none"


def restore_membership(
    play,
    running=None,
    etcd_manifests=None,
    backup_manifest=None,
    snapshot_sha256=None,
    backup_label="the backup set",
):
    """Whether the play's members are the whole etcd membership. `play`: {host: member name} (after
    --limit); `running`: member names the running cluster lists ([] when etcd did not answer);
    `etcd_manifests`: {host: etcd.yaml text}; `backup_manifest`: the backup set's manifest.json (or None).

    Returns {basis, members, play, missing, extra, sources, peer_urls, notes, problem, summary}: basis is
    "running" (the running member list decides) or "recorded" (the backup manifest and the etcd.yaml files);
    missing are members the play leaves out (refused unless etcd_restore_allow_subset), extra play members the
    running cluster does not have (always refused); problem is None or the refusal, naming the fix."""
    play = {str(h): str(n) for h, n in (play or {}).items()}
    play_names = sorted(set(play.values()))
    host_of = {n: h for h, n in play.items()}
    sources, peer_urls, notes = {}, {}, []

    def add(name, source, urls=()):
        sources.setdefault(name, [])
        if source not in sources[name]:
            sources[name].append(source)
        for url in urls:
            if url not in peer_urls.setdefault(name, []):
                peer_urls[name].append(url)

    recorded_backup, note = backup_members(backup_manifest, snapshot_sha256)
    if note:
        notes.append(note)
    for host in sorted(etcd_manifests or {}):
        found = etcd_manifest_members(etcd_manifests[host])
        if found["problem"]:
            notes.append(f"{host}'s etcd.yaml: {found['problem']}")
        for name, urls in found["initial_cluster"].items():
            add(name, f"{host}'s etcd.yaml --initial-cluster", urls)
    for name, urls in (recorded_backup or {}).items():
        add(name, f"the manifest of {backup_label}", urls)

    running = sorted({str(n) for n in running or [] if n})
    if running:
        basis, members = "running", running
        history = sorted(set(sources) - set(running))
        if history:
            notes.append(
                f"{_names(history)} named by {'; '.join(sorted({s for n in history for s in sources[n]}))}"
                " but not members of the running cluster (removed or replaced since): not required"
            )
        for name in running:
            add(name, "the running etcd cluster's member list")
    else:
        basis, members = "recorded", sorted(set(sources) | set(play_names))
    missing = [n for n in members if n not in play_names]
    extra = [n for n in play_names if n not in members] if basis == "running" else []

    problem = None
    if extra:
        problem = (
            f"Refused, nothing touched: the running etcd cluster's members are {_names(running)}, the play"
            f" hosts' etcd.yaml files name {_names(play_names)}; {_names(extra)}"
            f" ({_names([host_of[n] for n in extra])}) is not a member of it. A restore runs on exactly the"
            " members of the cluster: check the inventory, -e cluster and --limit"
            f" ({OVERRIDE} does not cover this)."
        )
    elif missing:
        named = "; ".join(
            f"{n}{' (' + ', '.join(peer_urls[n]) + ')' if peer_urls.get(n) else ''}, named by"
            f" {' and '.join(sources.get(n, []))}"
            for n in missing
        )
        problem = (
            f"Refused, nothing touched: the restore would cover the etcd members {_names(play_names)}"
            f" (the play hosts {_names(sorted(play))}), but the cluster's membership also has {named}."
            " A member left out keeps its old data, and left-out members that make a quorum of the old"
            " membership go on serving the old cluster beside the restored one (split brain). Run the"
            " restore on every member (check the inventory, -e cluster and --limit; an unreachable"
            f" member must be brought back first). If {_names(missing)} is lost for good and will be"
            " replaced afterwards (playbooks/rebuild_control_plane.yml with"
            " control_plane_rebuild_mode=replace_member), or has been removed from etcd since, set"
            f" {OVERRIDE}=true: the restored cluster then has only {_names(play_names)}."
        )
    summary = (
        f"the play covers every etcd member ({_names(members)}; from "
        f"{'the running cluster' if basis == 'running' else 'the backup manifest and the etcd.yaml files'})"
    )
    return {
        "basis": basis,
        "members": members,
        "play": play_names,
        "missing": missing,
        "extra": extra,
        "sources": sources,
        "peer_urls": peer_urls,
        "notes": notes,
        "problem": problem,
        "summary": summary,
    }
