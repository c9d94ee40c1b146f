"""A stand-in kubectl holding plain objects (kind, namespace, name, labels) in a JSON state file, for the
unit tests of the modules that read and delete objects: `get <kind> <name> [-n ns] -o json` (NotFound as
the API server words it), `get nodes [-l selector] -o json` (selectors `key` and `key=value`, comma
separated), `delete node <names...> --ignore-not-found`. `down` makes every call fail as an API server
that does not answer would.

Not a Kubernetes: the real thing runs in the lab (tests/integration, molecule); this is for the rules."""

from __future__ import annotations

import textwrap
from pathlib import Path

from fake_kubectl import PREAMBLE, StandIn

SCRIPT = PREAMBLE + textwrap.dedent('''\
    with open(STATE, "w") as f:
        json.dump(state, f)
    if state.get("down"):
        sys.exit("The connection to the server 127.0.0.1:6443 was refused")

    def opt(flag):
        return args[args.index(flag) + 1] if flag in args else ""

    def selected(obj, selector):
        for term in filter(None, selector.split(",")):
            key, _, value = term.partition("=")
            if key not in obj["labels"] or (value and obj["labels"][key] != value):
                return False
        return True

    def as_json(obj):
        meta = {{"name": obj["name"], "namespace": obj["namespace"] or None, "labels": obj["labels"]}}
        return {{"kind": obj["kind"], "metadata": meta}}

    words = [a for i, a in enumerate(args)
             if not a.startswith("-") and (i == 0 or args[i - 1] not in ("-n", "-l", "-o"))]
    objects = state["objects"]
    if words[:2] == ["get", "nodes"]:
        items = [as_json(o) for o in objects if o["kind"] == "node" and selected(o, opt("-l"))]
        print(json.dumps({{"items": items}})); sys.exit(0)
    if words[0] == "get" and len(words) == 3:
        kind, name, ns = words[1], words[2], opt("-n")
        for o in objects:
            if o["kind"] == kind and o["name"] == name and o["namespace"] == ns:
                print(json.dumps(as_json(o))); sys.exit(0)
        sys.exit(f'Error from server (NotFound): {{kind}}s "{{name}}" not found')
    if words[:2] == ["delete", "node"]:
        gone = set(words[2:])
        state["objects"] = [o for o in objects if not (o["kind"] == "node" and o["name"] in gone)]
        with open(STATE, "w") as f:
            json.dump(state, f)
        print("\\n".join(f'node "{{n}}" deleted' for n in sorted(gone))); sys.exit(0)
    sys.exit(f"fake kubectl: unexpected {{args}}")
    ''')


class FakeKubeObjects(StandIn):
    """Plain objects, each {kind, name, namespace (default none), labels (default none)}."""

    def __init__(self, root: Path, objects: list[dict]):
        objects = [{"namespace": "", "labels": {}, **o} for o in objects]
        super().__init__(root, SCRIPT, "kube-objects.json", {"objects": objects})

    def names(self, kind: str) -> list[str]:
        return sorted(o["name"] for o in self.state["objects"] if o["kind"] == kind)
