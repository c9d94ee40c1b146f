# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collection-private: kubectl on a control-plane host, every call bounded.

Runs on the managed host: standard library and ansible.module_utils only. Each call gets kubectl's own
`--request-timeout` and, a little above it, the process limit of bounded_run (a kubectl that never
returns is stopped). Results are (ok, text) so that a caller decides whether a failure is fatal.
"""

from __future__ import annotations

import json

from ansible_collections.kubedr.kubeadm.plugins.module_utils.bounded_run import RC_TIMEOUT, run

# What the process limit adds to kubectl's own request timeout (start-up, discovery).
PROCESS_SLACK = 15
# How much of kubectl's error output a message quotes.
MAX_ERROR = 300


class Kubectl:
    def __init__(self, path, kubeconfig, timeout=60):
        self.path = path
        self.kubeconfig = kubeconfig
        self.timeout = timeout

    def argv(self, *args):
        return [self.path, "--kubeconfig", self.kubeconfig, f"--request-timeout={self.timeout}s", *args]

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

    def items(self, *args):
        """(items, None) of `kubectl get <args> -o json`, or (None, why)."""
        ok, out = self.run("get", *args, "-o", "json")
        if not ok:
            return None, out
        try:
            return json.loads(out).get("items") or [], None
        except ValueError:
            return None, f"kubectl get {' '.join(args)} printed no JSON"
