"""etcd_backup_schedule, run for real with connection local into a temporary directory: the service's
environment (often secrets) goes into a root-only EnvironmentFile, never into the world-readable unit."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import yaml
from playbook_run import on_localhost

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".venv/bin"
SECRET = 'pa$$ "w0rd" `x` \\ end'


def run_role(tmp_path, environment, *args, ok=True):
    units = tmp_path / "systemd"
    env_file = tmp_path / "etc/kubedr/kubedr-backup.env"
    play = [
        {
            "name": "schedule",
            "hosts": "localhost",
            "gather_facts": False,
            "roles": [
                {
                    "role": "kubedr.kubeadm.etcd_backup_schedule",
                    "vars": {
                        "etcd_backup_schedule_unit_dir": str(units),
                        "etcd_backup_schedule_environment_file": str(env_file),
                        "etcd_backup_schedule_ansible_playbook": str(BIN / "ansible-playbook"),
                        "etcd_backup_schedule_playbook": str(REPO / "playbooks/backup.yml"),
                        "etcd_backup_schedule_inventory": str(tmp_path / "inventory"),
                        "etcd_backup_schedule_working_dir": str(REPO),
                        "etcd_backup_schedule_environment": environment,
                        "etcd_backup_schedule_enable": False,
                    },
                }
            ],
        }
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    run = on_localhost(tmp_path / "play.yml", *args)
    # where systemd-analyze is installed (here), the role has verified the units: rc 0 says it accepted them
    assert (run.returncode == 0) == ok, run.stdout + run.stderr
    return run, units / "kubedr-backup.service", env_file


def test_secrets_go_to_a_root_only_environment_file(tmp_path):
    environment = {"RESTIC_PASSWORD": SECRET, "ANSIBLE_CONFIG": "/opt/kubedr/ansible.cfg"}
    run, service, env_file = run_role(tmp_path, environment, "--diff", "-v")
    unit = service.read_text()
    assert "pa$$" not in unit and "w0rd" not in unit, unit
    assert "Environment=" not in unit.replace("EnvironmentFile=", ""), unit
    assert f"EnvironmentFile={env_file}\n" in unit, unit
    assert stat.S_IMODE(service.stat().st_mode) == 0o644
    mode = env_file.stat()
    assert stat.S_IMODE(mode.st_mode) == 0o600 and mode.st_uid == 0 and mode.st_gid == 0
    assert "pa$$" not in run.stdout and "w0rd" not in run.stdout, (
        "the secret is never shown, not even in a diff"
    )
    # the file means what it says: read with shell quoting rules, which systemd's EnvironmentFile follows
    seen = subprocess.run(
        ["bash", "-c", f'set -a; . {env_file}; printf %s "$RESTIC_PASSWORD"'],
        capture_output=True,
        text=True,
        check=True,
        env={},
    ).stdout
    assert seen == SECRET


def test_no_environment_still_writes_the_referenced_file_empty(tmp_path):
    service, env_file = run_role(tmp_path, {})[1:]
    assert f"EnvironmentFile={env_file}\n" in service.read_text()
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert [line for line in env_file.read_text().splitlines() if not line.startswith("#")] == []


def test_environment_names_that_are_not_variables_are_refused(tmp_path):
    run = run_role(tmp_path, {"NOT-A-NAME": "x", "A B": "y", "OK_NAME": "z"}, ok=False)[0]
    assert "etcd_backup_schedule_environment names must be" in run.stdout, run.stdout
    assert "rename: A B, NOT-A-NAME" in run.stdout or "rename: NOT-A-NAME, A B" in run.stdout, run.stdout
    assert "OK_NAME" not in run.stdout
    assert not (tmp_path / "systemd").exists(), "refused before anything is written"
