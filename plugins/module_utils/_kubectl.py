# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collection-private: kubectl on a control-plane host, every call bounded.

Runs on the managed host: standard library and ansible.module_utils only. Each call gets kubectl's own
`--request-timeout` and, a little above it, the process limit of bounded_run (a kubectl that never
returns is stopped). Results are (ok, text) so that a caller decides whether a failure is fatal.
"""

from __future__ import annotations

import json
import os
import time

from ansible_collections.kubedr.kubeadm.plugins.module_utils import bounded_run
from ansible_collections.kubedr.kubeadm.plugins.module_utils.bounded_run import RC_TIMEOUT, run

# What the process limit adds to kubectl's own request timeout (start-up, discovery).
PROCESS_SLACK = 15
# How much of kubectl's error output a message quotes.
MAX_ERROR = 300
# Where a StatefulSet held at zero keeps the replicas to come back to (statefulset_hold, and the
# messages that tell an operator how to release one by hand).
REPLICAS_ANNOTATION = "kubedr.io/replicas-before-scale"
# What names an object in a module's options (with namespace, for a namespaced kind).
NAMED_BY = ("kind", "name")


def kubectl_argument_spec():
    """The kubectl options of a module (twin of doc fragment kubedr.kubeadm.kubectl)."""
    return {
        "kubeconfig": {"type": "path", "default": "/etc/kubernetes/admin.conf"},
        "kubectl_path": {"type": "str", "default": "kubectl"},
        "timeout": {"type": "int", "default": 60},
        "context": {"type": "str"},
    }


def kubectl_from_params(module):
    """The Kubectl of a module's kubectl options (a bare name looked up in PATH; the task fails without)."""
    params = module.params
    bounded_run.require_timeout(module)
    path = params["kubectl_path"]
    return Kubectl(path if os.sep in path else module.get_bin_path(path, required=True),
                   params["kubeconfig"], params["timeout"], params["context"])


def wait_for(check, timeout, interval=2.0, clock=time.monotonic, sleep=time.sleep):
    """Call check() -> (done, detail) until done or `timeout` seconds have passed; (done, last detail).

    The one wait loop of the collection's Kubernetes modules: the checks are the predicates below (or any
    callable), so what "ready" means is data that unit tests read without a cluster.
    """
    deadline = clock() + timeout
    while True:
        done, detail = check()
        if done or clock() >= deadline:
            return done, detail
        sleep(max(0.0, min(interval, deadline - clock())))


def statefulset_ready(sts, replicas):
    """(ready, detail): the controller has seen the StatefulSet's spec and `replicas` pods are Ready."""
    generation = (sts.get("metadata") or {}).get("generation", 0)
    status = sts.get("status") or {}
    if status.get("observedGeneration", 0) < generation:
        return False, "its controller has not seen the new spec yet"
    ready = status.get("readyReplicas") or 0
    return ready >= replicas, f"{ready} of {replicas} replicas Ready"


def node_ready(node):
    """(ready, detail) of a Node from its Ready condition."""
    name = (node.get("metadata") or {}).get("name", "?")
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            ready = condition.get("status") == "True"
            return ready, f"{name} Ready={condition.get('status')} ({condition.get('reason', '')})"
    return False, f"{name} reports no Ready condition"


def nodes_ready(nodes, names=()):
    """(ready, detail): each Node named (every Node when none is) is Ready; no Node at all is not ready."""
    by_name = {(n.get("metadata") or {}).get("name"): n for n in nodes}
    wanted = list(names) or sorted(by_name)
    if not wanted:
        return False, "the cluster has no Node yet"
    missing = [name for name in wanted if name not in by_name]
    not_ready = [detail for ready, detail in (node_ready(by_name[n]) for n in wanted if n in by_name)
                 if not ready]
    if missing or not_ready:
        return False, "; ".join([f"no Node {name}" for name in missing] + not_ready)
    return True, f"{len(wanted)} of {len(wanted)} Nodes Ready"


# The static pods kubeadm runs on each control-plane Node, named <component>-<node>.
CONTROL_PLANE_COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


def pod_ready(pod):
    status = pod.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    return status.get("phase") == "Running" and conditions.get("Ready") == "True"


def control_plane_pods_ready(pods, node_names):
    """(ready, detail): every control-plane static pod of each Node named is Running and Ready."""
    ready = {(p.get("metadata") or {}).get("name") for p in pods if pod_ready(p)}
    waiting = [f"{c}-{n}" for n in node_names for c in CONTROL_PLANE_COMPONENTS if f"{c}-{n}" not in ready]
    if waiting:
        return False, f"not Running and Ready yet: {', '.join(waiting)}"
    return True, f"{len(CONTROL_PLANE_COMPONENTS) * len(node_names)} control-plane pods Ready"


def object_ref(entry):
    """(label, get arguments) of an object given as {kind, name, namespace (namespaced kinds)}: for
    messages, "configmap default/before", and for Kubectl.get, ("configmap", "before", "-n", "default")."""
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) and entry[k] for k in NAMED_BY):
        raise ValueError(f"{entry!r} names no object: give kind, name and, for a namespaced kind, namespace")
    namespace = entry.get("namespace") or ""
    if not isinstance(namespace, str):
        raise ValueError(f"{entry!r}: namespace must be a name")
    if namespace:
        return f"{entry['kind']} {namespace}/{entry['name']}", (entry["kind"], entry["name"], "-n", namespace)
    return f"{entry['kind']} {entry['name']}", (entry["kind"], entry["name"])


class Kubectl:
    def __init__(self, path, kubeconfig, timeout=60, context=None):
        self.path = path
        self.kubeconfig = kubeconfig
        self.timeout = timeout
        self.context = context

    def argv(self, *args):
        """kubectl's command line; an empty kubeconfig or context leaves kubectl's own default."""
        return [self.path, *(["--kubeconfig", self.kubeconfig] if self.kubeconfig else []),
                *(["--context", self.context] if self.context else []),
                f"--request-timeout={self.timeout}s", *args]

    def run(self, *args):
        """(ok, stdout or the reason it failed) of `kubectl <args>`."""
        limit = self.timeout + PROCESS_SLACK if self.timeout else None
        try:
            rc, out, err = run(self.argv(*args), limit)
        except OSError as e:
            return False, f"cannot run {self.path}: {e}"
        if rc == RC_TIMEOUT:
            return False, f"kubectl {' '.join(args)} did not return within {limit} s and was stopped"
        if rc != 0:
            return False, f"kubectl {' '.join(args)} failed (rc {rc}): {err.strip()[:MAX_ERROR]}"
        return True, out

    def configmap_key(self, namespace, name, key):
        """(text, None) of one key of a ConfigMap, or (None, why) when it cannot be read or is empty."""
        ok, out = self.run("-n", namespace, "get", "configmap", name, "-o", "json")
        if not ok:
            return None, out
        try:
            value = (json.loads(out).get("data") or {}).get(key) or ""
        except ValueError:
            return None, f"kubectl get configmap {namespace}/{name} printed no JSON"
        if not value.strip():
            return None, f"ConfigMap {namespace}/{name} has no {key}"
        return value, None

    def get(self, *args):
        """(object, None) of `kubectl get <args> -o json`, (None, None) when not found, or (None, why)."""
        ok, out = self.run("get", *args, "-o", "json")
        if not ok:
            return None, (None if "(NotFound)" in out else out)
        try:
            return json.loads(out), None
        except ValueError:
            return None, f"kubectl get {' '.join(args)} printed no JSON"

    def items(self, *args):
        """(items, None) of `kubectl get <args> -o json`, or (None, why)."""
        ok, out = self.run("get", *args, "-o", "json")
        if not ok:
            return None, out
        try:
            return json.loads(out).get("items") or [], None
        except ValueError:
            return None, f"kubectl get {' '.join(args)} printed no JSON"
