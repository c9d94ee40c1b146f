"""A stand-in kubectl for the StatefulSet modules' unit tests: one StatefulSet and its pods in a JSON state
file, changed by `scale`, `annotate` and `delete pod` the way the API server and the StatefulSet controller
would (at the next read, pods appear Ready after a scale-up and go after a scale-down unless one is not
Ready, as OrderedReady does; a pod listed in `terminating` never goes, as on a node whose kubelet is down).

StandIn, the script's preamble and state file, is shared with fake_kube_objects. Not a Kubernetes: the
real thing runs in the lab (tests/integration, molecule); this is for the rules."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

# What every stand-in kubectl script starts with: kubectl's connection options dropped, the call logged in
# the state file's "calls".
PREAMBLE = textwrap.dedent('''\
    #!{python}
    import json, sys
    STATE = {state!r}
    args = sys.argv[1:]
    while args and (args[0] in ("--kubeconfig", "--context") or args[0].startswith("--request-timeout")):
        args = args[1:] if args[0].startswith("--request-timeout") else args[2:]
    with open(STATE) as f:
        state = json.load(f)
    state["calls"].append(args)
    ''')

SCRIPT = PREAMBLE + textwrap.dedent('''\
    sts = state["sts"]
    ns = args[args.index("-n") + 1] if "-n" in args else "default"
    words = [a for i, a in enumerate(args) if a != "-n" and (i == 0 or args[i - 1] != "-n")]

    def settle():
        replicas = sts["spec"]["replicas"] if sts else 0
        pods = state["pods"]
        for i in range(replicas):
            name = f"{{sts['metadata']['name']}}-{{i}}"
            if name not in [p["name"] for p in pods]:
                pods.append({{"name": name, "ready": not state.get("never_ready")}})
        ordinal = lambda p: int(p["name"].rsplit("-", 1)[1])
        if not any(not p["ready"] for p in pods):  # OrderedReady: no scale-down past a pod not Ready
            stuck = state.get("terminating", [])
            state["pods"] = [p for p in pods if ordinal(p) < replicas or p["name"] in stuck]
        if sts:
            sts["status"] = {{"replicas": len(state["pods"]),
                             "observedGeneration": sts["metadata"]["generation"],
                             "readyReplicas": len([p for p in state["pods"] if p["ready"]])}}

    def save():
        with open(STATE, "w") as f:
            json.dump(state, f)

    if state.get("down"):
        sys.exit("The connection to the server 127.0.0.1:6443 was refused")
    if words[:2] == ["get", "statefulset"]:
        if not sts or words[2] != sts["metadata"]["name"] or ns != sts["metadata"]["namespace"]:
            sys.exit(f'Error from server (NotFound): statefulsets.apps "{{words[2]}}" not found')
        settle(); save(); print(json.dumps(sts)); sys.exit(0)
    if words[:2] == ["get", "pods"]:
        items = [{{"metadata": {{"name": p["name"], "namespace": ns}}}} for p in state["pods"]]
        print(json.dumps({{"items": items}})); save(); sys.exit(0)
    if words[:2] == ["scale", "statefulset"]:
        sts["spec"]["replicas"] = int([a for a in words if a.startswith("--replicas=")][0].split("=")[1])
        sts["metadata"]["generation"] += 1
        save(); print("scaled"); sys.exit(0)  # the controller acts later (at the next read)
    if words[:2] == ["annotate", "statefulset"]:
        notes = sts["metadata"].setdefault("annotations", {{}})
        for a in words[3:]:
            if a.endswith("-"):
                notes.pop(a[:-1], None)
            elif "=" in a:
                k, v = a.split("=", 1)
                if k in notes and "--overwrite" not in words:
                    sys.exit(f"error: --overwrite is false but found the declared annotation {{k}}")
                notes[k] = v
        save(); print("annotated"); sys.exit(0)
    if words[:2] == ["delete", "pod"]:
        names = [a for a in words[2:] if not a.startswith("--")]
        stuck = state.get("terminating", [])
        state["pods"] = [p for p in state["pods"] if p["name"] not in names or p["name"] in stuck]
        save(); print("deleted"); sys.exit(0)
    sys.exit(f"fake kubectl: unexpected {{args}}")
    ''')


class StandIn:
    """A stand-in kubectl script at root/kubectl over the JSON state in root/<state_name> (.state, read
    and written by the script)."""

    def __init__(self, root: Path, script: str, state_name: str, state: dict):
        self.state_file = root / state_name
        self.path = root / "kubectl"
        self.state = {**state, "calls": []}
        self.path.write_text(script.format(python=sys.executable, state=str(self.state_file)))
        self.path.chmod(0o755)

    @property
    def state(self) -> dict:
        return json.loads(self.state_file.read_text())

    @state.setter
    def state(self, value: dict) -> None:
        self.state_file.write_text(json.dumps(value))

    def update(self, **changes) -> None:
        self.state = {**self.state, **changes}

    def changes(self) -> list[list[str]]:
        """The calls that change something (every verb but get)."""
        return [c for c in self.state["calls"] if c[0] != "get"]


class FakeKubectl(StandIn):
    """One StatefulSet (name, namespace, replicas) and its pods, all Ready."""

    def __init__(self, root: Path, replicas: int = 3, name: str = "data", namespace: str = "apps"):
        sts = {"metadata": {"name": name, "namespace": namespace, "generation": 1, "annotations": {}},
               "spec": {"replicas": replicas}}
        pods = [{"name": f"{name}-{i}", "ready": True} for i in range(replicas)]
        super().__init__(root, SCRIPT, "kube-state.json", {"sts": sts, "pods": pods})

    def pods(self) -> list[str]:
        return [p["name"] for p in self.state["pods"]]
