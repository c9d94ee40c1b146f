"""k8s_local_pv: matching PVs, claims, pods and StatefulSets, on objects shaped as the API returns them
(kubectl get -o json / ApiClient.sanitize_for_serialization: camelCase, metadata and spec nested)."""

from __future__ import annotations

import copy

import pytest
from ansible_collections.kubedr.kubeadm.plugins.module_utils import k8s_local_pv as m

NS = "kubedr-lab"
LABELS = {"app.kubernetes.io/name": "data", "app.kubernetes.io/part-of": "kubedr-lab"}


def local_pv(name, node, path, claim=None, namespace=NS, storage_class="local-storage", match_fields=False):
    key = {
        "key": "metadata.name" if match_fields else "kubernetes.io/hostname",
        "operator": "In",
        "values": [node],
    }
    term = {"matchFields": [key]} if match_fields else {"matchExpressions": [key]}
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "resourceVersion": "1234",
            "labels": {"kubedr.io/lab-disk": path.rsplit("/", 1)[-1]},
            "finalizers": ["kubernetes.io/pv-protection"],
        },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "capacity": {"storage": "1Gi"},
            "local": {"path": path},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [term]}},
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": storage_class,
            "volumeMode": "Filesystem",
        },
        "status": {"phase": "Available", "lastPhaseTransitionTime": "2026-11-23T14:52:01Z"},
    }
    if claim:
        pv["spec"]["claimRef"] = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "name": claim,
            "namespace": namespace,
            "resourceVersion": "2000",
            "uid": f"uid-{claim}",
        }
        pv["status"]["phase"] = "Bound"
    return pv


def host_path_pv(name, path, claim=None, namespace=NS):
    pv = local_pv(name, "ignored", path, claim, namespace, storage_class="manual")
    del pv["spec"]["local"], pv["spec"]["nodeAffinity"]
    pv["spec"]["hostPath"] = {"path": path, "type": "DirectoryOrCreate"}
    return pv


def pvc(name, volume, namespace=NS, labels=None):
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels if labels is not None else LABELS),
            "annotations": {
                "pv.kubernetes.io/bind-completed": "yes",
                "volume.kubernetes.io/selected-node": "w1",
            },
        },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
            "storageClassName": "local-storage",
            "volumeMode": "Filesystem",
            "volumeName": volume,
        },
        "status": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}, "phase": "Bound"},
    }


def sts_pod(sts, ordinal, node, claim_template="data", namespace=NS, index_label=True, terminating=False):
    name = f"{sts}-{ordinal}"
    labels = {
        **LABELS,
        "controller-revision-hash": f"{sts}-6d5f7c9b8",
        "statefulset.kubernetes.io/pod-name": name,
    }
    if index_label:
        labels[m.POD_INDEX_LABEL] = str(ordinal)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "generateName": f"{sts}-",
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "StatefulSet",
                    "name": sts,
                    "uid": f"uid-{sts}",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "writer",
                    "image": "kubedr.lab/workload:busybox",
                    "volumeMounts": [{"mountPath": "/data", "name": claim_template}],
                }
            ],
            "hostname": name,
            "nodeName": node,
            "subdomain": sts,
            "volumes": [
                {"name": claim_template, "persistentVolumeClaim": {"claimName": f"{claim_template}-{name}"}},
                {"name": "kube-api-access-x2b9q", "projected": {"defaultMode": 420, "sources": []}},
            ],
        },
        "status": {"phase": "Running", "hostIP": "198.18.12.14"},
    }
    if terminating:
        pod["metadata"]["deletionTimestamp"] = "2026-11-23T15:00:00Z"
    return pod


def statefulset(name, replicas=3, templates=("data",), namespace=NS, ready=3):
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace, "labels": LABELS, "generation": 1},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "podManagementPolicy": "OrderedReady",
            "selector": {"matchLabels": LABELS},
            "template": {"metadata": {"labels": LABELS}, "spec": {"containers": []}},
            "volumeClaimTemplates": [
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": t},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                        "storageClassName": "local-storage",
                        "volumeMode": "Filesystem",
                    },
                    "status": {"phase": "Pending"},
                }
                for t in templates
            ],
        },
        "status": {"replicas": replicas, "readyReplicas": ready, "currentReplicas": replicas},
    }


@pytest.fixture
def lab_objects():
    """The lab's layout: 4 local PVs on w1/w2, StatefulSet data with 3 replicas bound to three of them."""
    pvs = [
        local_pv("local-w1-disk1", "w1", "/mnt/disks/disk1", "data-data-1"),
        local_pv("local-w1-disk2", "w1", "/mnt/disks/disk2"),
        local_pv("local-w2-disk1", "w2", "/mnt/disks/disk1", "data-data-0"),
        local_pv("local-w2-disk2", "w2", "/mnt/disks/disk2", "data-data-2"),
    ]
    pvcs = [
        pvc("data-data-0", "local-w2-disk1"),
        pvc("data-data-1", "local-w1-disk1"),
        pvc("data-data-2", "local-w2-disk2"),
    ]
    pods = [sts_pod("data", 0, "w2"), sts_pod("data", 1, "w1"), sts_pod("data", 2, "w2")]
    return pvs, pvcs, pods, [statefulset("data")]


def test_lab_layout_is_described_in_ordinal_order(lab_objects):
    volumes = m.describe(*lab_objects)
    bound = [v for v in volumes if v["pvc"]]
    assert [
        (v["pvc"], v["name"], v["node"], v["path"], v["pod"], v["statefulset"], v["ordinal"]) for v in bound
    ] == [
        ("data-data-0", "local-w2-disk1", "w2", "/mnt/disks/disk1", "data-0", "data", 0),
        ("data-data-1", "local-w1-disk1", "w1", "/mnt/disks/disk1", "data-1", "data", 1),
        ("data-data-2", "local-w2-disk2", "w2", "/mnt/disks/disk2", "data-2", "data", 2),
    ]
    first = bound[0]
    assert first["type"] == "local" and first["namespace"] == NS and first["claim_template"] == "data"
    assert first["storage_class"] == "local-storage" and first["capacity"] == "1Gi"
    assert first["pod_node"] == "w2" and first["phase"] == "Bound" and first["pvc_phase"] == "Bound"
    assert first["pvc_labels"] == LABELS
    # the unbound PV is listed, without claim or owner, and sorts first
    assert volumes[0]["name"] == "local-w1-disk2"
    assert volumes[0]["pvc"] is None and volumes[0]["namespace"] is None and volumes[0]["ordinal"] is None
    assert volumes[0]["node"] == "w1"


def test_scaled_to_zero_still_knows_statefulset_and_ordinal(lab_objects):
    pvs, pvcs, statefulsets = lab_objects[0], lab_objects[1], lab_objects[3]
    volumes = [v for v in m.describe(pvs, pvcs, [], statefulsets) if v["pvc"]]
    assert [(v["statefulset"], v["ordinal"], v["pod"], v["node"]) for v in volumes] == [
        ("data", 0, None, "w2"),
        ("data", 1, None, "w1"),
        ("data", 2, None, "w2"),
    ]


def test_terminating_pods_do_not_own_claims(lab_objects):
    pvs, pvcs, pods, statefulsets = lab_objects
    pods = [sts_pod("data", i, "w1", terminating=True) for i in range(3)]
    assert all(v["pod"] is None for v in m.describe(pvs, pvcs, pods, statefulsets))


def test_ordinal_from_pod_when_claim_name_is_not_a_template_name():
    # a pod of StatefulSet "db" mounting a claim made by hand: ordinal from the pod-index label, then the name
    pv = local_pv("pv-a", "w1", "/srv/a", "handmade")
    pod = sts_pod("db", 4, "w1")
    pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] = "handmade"
    [v] = m.describe([pv], [pvc("handmade", "pv-a")], [pod], [statefulset("db")])
    assert (v["statefulset"], v["ordinal"], v["claim_template"]) == ("db", 4, None)
    pod = sts_pod("db", 7, "w1", index_label=False)
    pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] = "handmade"
    [v] = m.describe([pv], [pvc("handmade", "pv-a")], [pod], [statefulset("db")])
    assert v["ordinal"] == 7


def test_statefulset_with_dashes_and_several_templates():
    sts = statefulset("pg-main", templates=("data", "wal"))
    pvs = [local_pv("a", "w1", "/d/a", "data-pg-main-10"), local_pv("b", "w1", "/d/b", "wal-pg-main-10")]
    volumes = m.describe(pvs, [pvc("data-pg-main-10", "a"), pvc("wal-pg-main-10", "b")], [], [sts])
    assert [(v["claim_template"], v["statefulset"], v["ordinal"]) for v in volumes] == [
        ("data", "pg-main", 10),
        ("wal", "pg-main", 10),
    ]


def test_same_statefulset_name_in_another_namespace_does_not_match():
    pv = local_pv("a", "w1", "/d/a", "data-web-0", namespace="other")
    [v] = m.describe([pv], [pvc("data-web-0", "a", namespace="other")], [], [statefulset("web")])
    assert v["statefulset"] is None and v["ordinal"] is None and v["namespace"] == "other"


def test_host_path_pv_takes_node_of_its_pod():
    pv = host_path_pv("hp", "/var/lib/app", "data-app-0")
    [v] = m.describe([pv], [pvc("data-app-0", "hp")], [sts_pod("app", 0, "w2")], [statefulset("app", 1)])
    assert (v["type"], v["path"], v["node"], v["ordinal"]) == ("hostPath", "/var/lib/app", "w2", 0)
    [v] = m.describe([pv], [pvc("data-app-0", "hp")], [], [statefulset("app", 1)])
    assert v["node"] is None
    assert m.problems([v]) == [
        "PV hp (hostPath /var/lib/app) has no single node: no node affinity and no running pod uses it"
    ]


def test_other_volume_kinds_are_left_out():
    nfs = local_pv("nfs", "w1", "/x")
    del nfs["spec"]["local"]
    nfs["spec"]["nfs"] = {"server": "nfs.example.com", "path": "/export"}
    csi = local_pv("csi", "w1", "/x")
    del csi["spec"]["local"]
    csi["spec"]["csi"] = {"driver": "rbd.csi.ceph.com", "volumeHandle": "0001"}
    assert m.describe([nfs, csi], [], [], []) == []


@pytest.mark.parametrize(
    ("terms", "node"),
    [
        (
            [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["w1"]}]}],
            "w1",
        ),
        ([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["w2"]}]}], "w2"),
        # two terms naming the same node still pin it
        (
            [
                {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["w1"]}]},
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["w1"]}]},
            ],
            "w1",
        ),
        (
            [
                {
                    "matchExpressions": [
                        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["w1", "w2"]}
                    ]
                }
            ],
            None,
        ),
        (
            [
                {
                    "matchExpressions": [
                        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}
                    ]
                }
            ],
            None,
        ),
        (
            [
                {
                    "matchExpressions": [
                        {"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["w1"]}
                    ]
                }
            ],
            None,
        ),
        ([], None),
    ],
)
def test_affinity_node(terms, node):
    pv = local_pv("p", "w1", "/d")
    pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"] = terms
    assert m.affinity_node(pv) == node


def test_affinity_node_without_affinity():
    pv = local_pv("p", "w1", "/d")
    del pv["spec"]["nodeAffinity"]
    assert m.affinity_node(pv) is None
    assert m.problems(m.describe([pv], [], [], [])) == [
        "PV p (local /d) has no single node: its node affinity names none or several nodes"
    ]


@pytest.mark.parametrize(
    ("pod", "sts", "ordinal"),
    [
        ("data-0", "data", 0),
        ("data-12", "data", 12),
        ("pg-main-3", "pg-main", 3),
        ("data-01", "data", None),
        ("data-x", "data", None),
        ("other-0", "data", None),
        ("data-", "data", None),
        ("data", "data", None),
        ("", "data", None),
        ("data-1-2", "data", None),
    ],
)
def test_parse_ordinal(pod, sts, ordinal):
    assert m.parse_ordinal(pod, sts) == ordinal


def test_claim_ordinal():
    assert m.claim_ordinal("data-web-2", "data", "web") == 2
    assert m.claim_ordinal("data-web-2", "wal", "web") is None
    assert m.claim_ordinal("data-web-x", "data", "web") is None


def test_stale_claim_ref_is_not_bound_to_another_pvs_claim(lab_objects):
    pvs, pvcs, pods, statefulsets = lab_objects
    # PV released: its claimRef still names data-data-0, which is now bound to another PV
    pvs = copy.deepcopy(pvs)
    pvs.append(local_pv("old-w1-disk3", "w1", "/mnt/disks/disk3", "data-data-0"))
    pvs[-1]["status"]["phase"] = "Released"
    old = next(v for v in m.describe(pvs, pvcs, pods, statefulsets) if v["name"] == "old-w1-disk3")
    assert old["pvc_phase"] is None and old["pvc_labels"] == {}


def test_select(lab_objects):
    volumes = m.describe(*lab_objects)
    assert len(m.select(volumes)) == 4
    assert len(m.select(volumes, bound_only=True)) == 3
    assert [v["ordinal"] for v in m.select(volumes, namespace=NS, statefulset="data")] == [0, 1, 2]
    assert m.select(volumes, namespace="other") == []
    assert m.select(volumes, statefulset="nope") == []
    assert len(m.select(volumes, storage_class="local-storage")) == 4
    assert m.select(volumes, storage_class="fast") == []


def test_statefulsets_of(lab_objects):
    pvs, pvcs, pods, statefulsets = lab_objects
    others = [*statefulsets, statefulset("unrelated", templates=())]
    summaries = m.statefulsets_of(m.describe(pvs, pvcs, pods, others), others)
    assert summaries == [
        {
            "namespace": NS,
            "name": "data",
            "replicas": 3,
            "ready_replicas": 3,
            "current_replicas": 3,
            "pod_management_policy": "OrderedReady",
            "claim_templates": ["data"],
        }
    ]


def test_statefulset_summary_when_scaled_to_zero():
    sts = statefulset("data", replicas=0)
    sts["status"] = {"replicas": 0, "availableReplicas": 0}  # the API omits readyReplicas at zero
    summary = m.statefulset_summary(sts)
    assert summary["replicas"] == 0 and summary["ready_replicas"] == 0 and summary["current_replicas"] == 0
