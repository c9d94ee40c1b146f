"""meta/runtime.yml's action groups as ansible-playbook resolves them: a `module_defaults` group sets the
option on a module of the group (the task fails naming the kubectl the default gave) and not on a module
outside it."""

from __future__ import annotations

import yaml
from playbook_run import on_localhost


def test_a_group_default_reaches_a_module_of_the_group(tmp_path):
    playbook = tmp_path / "defaults.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "module_defaults by group",
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {
            "group/kubedr.kubeadm.kubectl": {"kubectl_path": "/nonexistent/kubectl-from-group"}},
        "tasks": [
            {"name": "A module of the group",
             "kubedr.kubeadm.kube_ready": {"what": "api", "wait_timeout": 0},
             "register": "ready", "failed_when": False},
            {"name": "It used the group's kubectl", "ansible.builtin.assert": {"that": [
                "not ready.ready", "'cannot run /nonexistent/kubectl-from-group' in ready.msg"]}},
            # a module outside the group would refuse kubectl_path as an unsupported parameter
            {"name": "A module outside the group", "kubedr.kubeadm.tree_checksum": {"path": str(tmp_path)}},
        ],
    }]))
    proc = on_localhost(playbook)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
