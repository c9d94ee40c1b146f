"""inventories/lab/: the Ansible inventory of the lab, used unchanged by playbooks and tests."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import yaml

from .build import bin_dir, load_pins
from .hosts import ssh_dir
from .kube import control_plane_endpoint, kubeconfig_path, node_registration
from .state import REPO_ROOT, Spec, lab_dir


def inventory_dir() -> Path:
    return Path(os.environ.get("KUBEDR_LAB_INVENTORY", REPO_ROOT / "inventories" / "lab"))


ROLE_GROUPS = {"control_plane": "control_plane", "workers": "workers", "backup": "backup_hosts"}


def render(spec: Spec) -> tuple[dict, dict]:
    """Hosts sit in per-cluster role groups (`<cluster>_control_plane`), children of both their
    cluster group (which sets kubedr_cluster) and the site-wide role group (`control_plane`), so a
    host inherits the variables of its own cluster only."""
    prefix = spec.cluster.replace("-", "_")

    def members(role: str) -> dict:
        return {"hosts": {h.name: host_vars(h) for h in spec.by_role(role)}}

    def host_vars(host) -> dict:
        if host.role == "backup":
            return {"ansible_host": host.address}
        # what kubeadm init/join need on this host beyond the cluster's configuration
        return {"ansible_host": host.address, "kubedr_kubeadm_node_registration": node_registration(host)}

    own = {role: f"{prefix}_{group}" for role, group in ROLE_GROUPS.items()}
    keys = ssh_dir()
    hosts = {"all": {"children": {
        f"dc_{spec.datacenter}": {"children": {
            f"cluster_{prefix}": {
                # the admin kubeconfig `lab up --kube` copies out of the first control-plane host
                "vars": {"kubedr_cluster": spec.cluster, "kubedr_kubeconfig": str(kubeconfig_path()),
                         "kubedr_control_plane_endpoint": control_plane_endpoint(spec)},
                "children": {own[r]: members(r) for r in ("control_plane", "workers")},
            },
            own["backup"]: members("backup"),
        }},
        **{group: {"children": {own[role]: {}}} for role, group in ROLE_GROUPS.items()},
    }}}
    group_vars = {
        "ansible_user": "root",
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_ssh_private_key_file": str(keys / "id_ed25519"),
        # host keys are checked against the lab's own known_hosts
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={keys / 'known_hosts'} "
                                   "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes",
        "kubedr_lab_dir": str(keys.parent),
        **backup_vars(),
    }
    return hosts, group_vars


def backup_vars() -> dict:
    """What playbooks/backup.yml needs beyond the roles' defaults, so it runs on the lab as is: restic
    from the lab's cache, off-host repositories on the backup host (sftp), and files under /srv, which
    is each lab host's own (/etc and /var/lib are the machine's, but for the cluster's directories)."""
    pins = load_pins()
    password = lab_dir() / "restic-password"  # kept across `up` (the repositories stay readable)
    if not password.exists():
        password.parent.mkdir(parents=True, exist_ok=True)
        password.touch(mode=0o600)
        password.write_text(secrets.token_hex(16))
    return {
        "restic_binary_src": str(bin_dir("restic", pins["restic"]["version"]) / "restic"),
        # a lab value; real sites keep theirs in Ansible Vault (inventories/example)
        "restic_password": password.read_text().strip(),
        "restic_password_file": "/srv/kubedr/restic-password",
        "restic_backend": "sftp",
        "etcd_backup_staging_dir": "/srv/kubedr/etcd-backup-staging",
        # restic for restore_etcd.yml; the backup host directory is what rebuild_control_plane.yml reads
        "etcd_backup_targets": ["restic", "dir"],
        "pv_backup_kubectl": str(bin_dir("kubernetes", pins["kubernetes"]["version"]) / "kubectl"),
    }


def write(spec: Spec) -> Path:
    hosts, group_vars = render(spec)
    out = inventory_dir()
    (out / "group_vars").mkdir(parents=True, exist_ok=True)
    header = "# Written by `python -m lab up`; regenerated on every run.\n"
    (out / "hosts.yml").write_text(header + yaml.safe_dump(hosts, sort_keys=False))
    group_vars_file = out / "group_vars" / "all.yml"
    group_vars_file.touch(mode=0o600)  # it holds the lab's restic password
    group_vars_file.chmod(0o600)
    group_vars_file.write_text(header + yaml.safe_dump(group_vars, sort_keys=False))
    return out


def remove() -> None:
    out = inventory_dir()
    for path in (out / "group_vars" / "all.yml", out / "hosts.yml"):
        path.unlink(missing_ok=True)
    for directory in (out / "group_vars", out):
        if directory.exists() and not any(directory.iterdir()):
            directory.rmdir()
