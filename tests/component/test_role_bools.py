"""Boolean knobs accept `-e name=true|false|yes|no` from the command line (issue 12.3).

`-e name=value` gives Ansible a string. ansible-core 2.19 refuses a conditional whose result is a
string, and where a string gets through (a Jinja `if`, `x and y`) "no" is truthy. So every
reference to a boolean knob - the `type: bool` options of every role's meta/argument_specs.yml and
the playbooks' own boolean variables - must go through `| bool` (after any `| default(...)`).

- test_bool_knobs_filtered_with_bool: every reference, found by parsing the Jinja of the roles'
  tasks, vars, defaults, handlers and templates and of playbooks/*.yml, is `| bool`-filtered.
- test_bool_knobs_from_the_command_line: each piece of those expressions that decides on a knob
  (the operand of `and`/`or`/`not`/`if`, or the whole value passed to a module) is run by a real
  ansible-playbook on localhost, with the knobs given as the strings true, yes, false, no, and must
  behave exactly as with a real boolean (JSON extra vars).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import yaml
from jinja2 import nodes

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (REPO / "roles").iterdir() if p.is_dir())
ROLE_DIRS = ("tasks", "vars", "defaults", "handlers", "templates")
# The playbooks' own boolean variables (more are found: any variable a playbook filters with `| bool`)
PLAYBOOK_BOOLS = {"backup_pvs", "kubedr_pv_restic_setup"}
CONDITIONAL_KEYS = {"when", "that", "until", "changed_when", "failed_when"}
BOOL_FILTERS = {"bool", "ansible.builtin.bool"}
DEFAULT_FILTERS = {"default", "d", "ansible.builtin.default"}
# names the localhost check provides itself
MAGIC = {"ansible_check_mode", "inventory_hostname", "hostvars", "true", "false", "True", "False", "none"}

ENV = jinja2.Environment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"])


def role_bool_knobs() -> dict[str, str]:
    """{knob: role} for every top-level `type: bool` option of every entry point of every role."""
    knobs = {}
    for role in ROLES:
        specs = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]
        for spec in specs.values():
            for name, option in (spec.get("options") or {}).items():
                if option.get("type") == "bool":
                    knobs[name] = role.name
    return knobs


def sources() -> list[Path]:
    files = sorted((REPO / "playbooks").glob("*.yml"))
    for role in ROLES:
        for sub in ROLE_DIRS:
            files += sorted(p for p in (role / sub).rglob("*") if p.suffix in (".yml", ".yaml", ".j2"))
    return files


@dataclass
class Expr:
    """One piece of Jinja: a template, or a conditional (`when:` ...) wrapped as `{{ ... }}`."""

    path: Path
    line: int  # of the YAML scalar (or the template's first line)
    text: str
    conditional: bool
    tree: nodes.Template = field(repr=False, default=None)


def expressions(path: Path) -> list[Expr]:
    text = path.read_text()
    if path.suffix == ".j2":
        return [Expr(path, 1, text, False, ENV.parse(text))]
    found: list[Expr] = []

    def walk(node, conditional: bool) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(value, isinstance(key, yaml.ScalarNode) and key.value in CONDITIONAL_KEYS)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item, conditional)
        elif isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":
            value = node.value
            line = node.start_mark.line + 1 + (node.style in ("|", ">"))
            if conditional and "{{" not in value:
                found.append(Expr(path, line, value, True, ENV.parse("{{ " + value + "\n}}")))
            elif "{{" in value or "{%" in value:
                found.append(Expr(path, line, value, False, ENV.parse(value)))

    walk(yaml.compose(text, Loader=yaml.SafeLoader), False)
    return found


def _ref_name(node: nodes.Node, names: set[str]) -> str | None:
    if isinstance(node, nodes.Name) and node.ctx == "load" and node.name in names:
        return node.name
    if isinstance(node, nodes.Getattr) and node.attr in names:
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and node.arg.value in names:
        return node.arg.value
    return None


@dataclass
class Ref:
    expr: Expr
    name: str
    line: int
    converted: bool  # `name | default(...) | bool`
    operand: nodes.Node  # the smallest piece that decides on it
    boolean: bool  # the operand is used as a truth value


def references(expr: Expr, names: set[str]) -> list[Ref]:
    refs: list[Ref] = []

    def visit(node: nodes.Node, parents: list[nodes.Node]) -> None:
        name = _ref_name(node, names)
        if name:
            refs.append(_ref(expr, name, node, parents))
        for child in node.iter_child_nodes():
            visit(child, [*parents, node])

    visit(expr.tree, [])
    return refs


def _ref(expr: Expr, name: str, node: nodes.Node, parents: list[nodes.Node]) -> Ref:
    chain = [*parents, node]
    i = len(chain) - 1
    while i > 0 and isinstance(chain[i - 1], nodes.Filter) and chain[i - 1].node is chain[i]:
        if chain[i - 1].name not in DEFAULT_FILTERS:
            break
        i -= 1
    converted = (
        i > 0
        and isinstance(chain[i - 1], nodes.Filter)
        and chain[i - 1].node is chain[i]
        and chain[i - 1].name in BOOL_FILTERS
    )
    operand, boolean = None, expr.conditional
    for j in range(len(chain) - 1, 0, -1):
        parent, child = chain[j - 1], chain[j]
        if isinstance(parent, nodes.And | nodes.Or | nodes.Not) or (
            isinstance(parent, nodes.CondExpr | nodes.If) and parent.test is child
        ):
            operand, boolean = child, True
            break
        if isinstance(parent, nodes.Output):
            operand = child
            break
    line = expr.line + node.lineno - 1 if not expr.conditional else expr.line
    return Ref(expr, name, line, converted, operand, boolean)


_COMPARE = {
    "eq": "==",
    "ne": "!=",
    "gt": ">",
    "gteq": ">=",
    "lt": "<",
    "lteq": "<=",
    "in": "in",
    "notin": "not in",
}


def unparse(node: nodes.Node, literal: dict[str, bool] | None = None) -> str:
    """Jinja source for an expression node (parenthesized); hostvars[<anything>] becomes this host's.

    With `literal`, each reference to one of its names becomes that boolean literal instead.
    """

    def u(child: nodes.Node) -> str:
        return unparse(child, literal)

    if literal and (name := _ref_name(node, set(literal))):
        return "true" if literal[name] else "false"
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Const):
        if isinstance(node.value, bool):
            return "true" if node.value else "false"
        return "none" if node.value is None else repr(node.value)
    if isinstance(node, nodes.Getattr):
        return f"{u(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem):
        if isinstance(node.node, nodes.Name) and node.node.name == "hostvars":
            return "hostvars[inventory_hostname]"
        return f"{u(node.node)}[{u(node.arg)}]"
    if isinstance(node, nodes.Slice):
        parts = [u(p) if p is not None else "" for p in (node.start, node.stop)]
        return ":".join(parts + ([u(node.step)] if node.step is not None else []))
    if isinstance(node, nodes.Filter | nodes.Test | nodes.Call):
        args = [u(a) for a in node.args] + [f"{k.key}={u(k.value)}" for k in node.kwargs]
        args += [f"*{u(node.dyn_args)}"] if node.dyn_args else []
        args += [f"**{u(node.dyn_kwargs)}"] if node.dyn_kwargs else []
        call = f"({', '.join(args)})" if args else ""
        if isinstance(node, nodes.Call):
            return f"{u(node.node)}({', '.join(args)})"
        sep = "|" if isinstance(node, nodes.Filter) else "is"
        return f"({u(node.node)} {sep} {node.name}{call})"
    if isinstance(node, nodes.Compare):
        return "(" + " ".join([u(node.expr)] + [f"{_COMPARE[o.op]} {u(o.expr)}" for o in node.ops]) + ")"
    if isinstance(node, nodes.Not):
        return f"(not {u(node.node)})"
    if isinstance(node, nodes.UnaryExpr):
        return f"({node.operator}{u(node.node)})"
    if isinstance(node, nodes.BinExpr):
        return f"({u(node.left)} {node.operator} {u(node.right)})"
    if isinstance(node, nodes.Concat):
        return "(" + " ~ ".join(u(n) for n in node.nodes) + ")"
    if isinstance(node, nodes.CondExpr):
        tail = f" else {u(node.expr2)}" if node.expr2 is not None else ""
        return f"({u(node.expr1)} if {u(node.test)}{tail})"
    if isinstance(node, nodes.List | nodes.Tuple):
        inner = ", ".join(u(n) for n in node.items)
        return f"[{inner}]" if isinstance(node, nodes.List) else f"({inner},)"
    if isinstance(node, nodes.Dict):
        return "{" + ", ".join(f"{u(p.key)}: {u(p.value)}" for p in node.items) + "}"
    raise NotImplementedError(f"unparse {type(node).__name__}")


def free_names(node: nodes.Node) -> set[str]:
    """The variables an operand reads (the host in hostvars[...] is not read: unparse() replaces it)."""
    if isinstance(node, nodes.Name):
        return {node.name} if node.ctx == "load" else set()
    if isinstance(node, nodes.Getitem) and isinstance(node.node, nodes.Name) and node.node.name == "hostvars":
        return {"hostvars"}
    return set().union(*(free_names(child) for child in node.iter_child_nodes()))


def playbook_bools() -> set[str]:
    """PLAYBOOK_BOOLS plus every variable a playbook filters with `| bool`."""
    found = set()
    for path in sorted((REPO / "playbooks").glob("*.yml")):
        for expr in expressions(path):
            for flt in expr.tree.find_all(nodes.Filter):
                if flt.name in BOOL_FILTERS:
                    inner = flt.node
                    while isinstance(inner, nodes.Filter) and inner.name in DEFAULT_FILTERS:
                        inner = inner.node
                    if isinstance(inner, nodes.Name):
                        found.add(inner.name)
    return PLAYBOOK_BOOLS | found


def all_refs() -> list[Ref]:
    names = set(role_bool_knobs()) | playbook_bools()
    return [ref for path in sources() for expr in expressions(path) for ref in references(expr, names)]


def where(ref: Ref) -> str:
    return f"{ref.expr.path.relative_to(REPO)}:{ref.line}"


def test_the_knobs_are_found():
    """The walk sees what it must: every role's bool knob, the playbook bools, references to them."""
    knobs = role_bool_knobs()
    assert {"etcd_restore_allow_foreign", "etcd_backup_trial_restore", "pv_restore_confirm"} <= set(knobs)
    refs = all_refs()
    referenced = {r.name for r in refs}
    assert referenced >= PLAYBOOK_BOOLS
    unreferenced = sorted(set(knobs) - referenced)
    assert not unreferenced, (
        f"bool knobs documented but never used (or not found by this test): {unreferenced}"
    )


def test_bool_knobs_filtered_with_bool():
    bad = [
        f"{where(r)}: {r.name} without `| bool` in: {' '.join(r.expr.text.split())[:160]}"
        for r in all_refs()
        if not r.converted
    ]
    assert not bad, (
        "-e name=true gives a string: filter every boolean knob with `| bool` "
        "(after any `| default(...)`):\n" + "\n".join(bad)
    )


# --- the real thing: ansible-playbook on localhost, knobs given as strings -------------------------

STRINGS = {"true": True, "yes": True, "false": False, "no": False}


@dataclass
class Check:
    """One operand, as written (the knobs read from -e) and with each knob a real boolean literal."""

    source: str
    boolean: bool
    reference: dict[bool, str]
    where: list[str]


def checks() -> list[Check]:
    found: dict[tuple[str, bool], Check] = {}
    unevaluable = []
    names = set(role_bool_knobs()) | playbook_bools()
    for ref in all_refs():
        others = free_names(ref.operand) - names - MAGIC
        if others:
            unevaluable.append(f"{where(ref)}: {ref.name} decided together with {sorted(others)}")
            continue
        key = (unparse(ref.operand), ref.boolean)
        reference = {b: unparse(ref.operand, dict.fromkeys(names, b)) for b in (True, False)}
        found.setdefault(key, Check(key[0], ref.boolean, reference, [])).where.append(where(ref))
    assert not unevaluable, (
        "keep a boolean knob in an operand of its own (`knob | bool and ...`), so it can be checked:\n"
        + "\n".join(unevaluable)
    )
    return list(found.values())


def _task(name: str, source: str, boolean: bool) -> dict:
    task = {"name": name, "register": name, "ignore_errors": True}
    if boolean:
        return task | {"ansible.builtin.debug": {"msg": "ran"}, "when": source}
    return task | {
        "ansible.builtin.debug": {
            "msg": f"{{{{ ({source}) | ansible.builtin.type_debug }}}}={{{{ {source} }}}}"
        }
    }


def _playbook(items: list[Check], out: str) -> list:
    tasks, registered = [], []
    for i, check in enumerate(items):
        for suffix, source in (
            ("", check.source),
            ("_true", check.reference[True]),
            ("_false", check.reference[False]),
        ):
            tasks.append(_task(f"c{i}{suffix}", source, check.boolean))
            registered.append(f"c{i}{suffix}")
    outcome = ", ".join(
        f"'{r}': ('failed' if {r}.failed | default(false) else 'skipped' if {r}.skipped | default(false)"
        f" else {r}.msg)"
        for r in registered
    )
    tasks.append(
        {
            "name": "Record the outcomes",
            "ansible.builtin.copy": {
                "content": f"{{{{ {{{outcome}}} | to_json }}}}",
                "dest": out,
                "mode": "0644",
            },
        }
    )
    return [
        {
            "name": "Boolean knobs from the command line",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
            "tasks": tasks,
        }
    ]


def test_bool_knobs_from_the_command_line(tmp_path):
    items = checks()
    assert items
    names = sorted(set(role_bool_knobs()) | playbook_bools())
    playbook = tmp_path / "bools.yml"
    playbook.write_text(
        yaml.safe_dump(_playbook(items, str(tmp_path / "out-{{ kdr_run }}.json")), sort_keys=False)
    )
    binary = Path(sys.executable).parent / "ansible-playbook"
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    procs = {}
    for value in STRINGS:  # -e name=value: a string, as an operator types it
        argv = [str(binary), "-i", "localhost,", str(playbook), "-e", f"kdr_run={value}"]
        argv += [arg for name in names for arg in ("-e", f"{name}={value}")]
        procs[value] = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    outcomes = {}
    for value, proc in procs.items():
        output = proc.communicate(timeout=120)[0].decode()
        assert proc.returncode == 0, f"-e ...={value}:\n{output[-3000:]}"
        outcomes[value] = json.loads((tmp_path / f"out-{value}.json").read_text())
    bad = []
    for i, check in enumerate(items):
        at = ", ".join(check.where)
        for value, b in STRINGS.items():
            got, ref = outcomes[value][f"c{i}"], outcomes[value][f"c{i}_{str(b).lower()}"]
            if ref == "failed":
                bad.append(f"{at}: `{check.reference[b]}` fails even with a real boolean")
            elif got != ref:
                bad.append(f"{at}: `{check.source}` with -e ...={value}: {got}; with {str(b).lower()}: {ref}")
        if check.boolean and outcomes["yes"][f"c{i}_true"] == outcomes["yes"][f"c{i}_false"]:
            bad.append(f"{at}: `{check.source}` does not depend on the knob")
    assert not bad, "boolean knobs given as strings on the command line misbehave:\n" + "\n".join(bad)
