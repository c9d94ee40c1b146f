"""Benchmark: the pv_backup role (ansible-playbook) against raw `restic backup` of the same paths.

Needs a lab WITHOUT Kubernetes that has a worker with data disks and a backup host, for example

    KUBEDR_LAB_DIR=/var/lib/kubedr-bench KUBEDR_LAB_INVENTORY=/var/tmp/inv-bench \\
        .venv/bin/python -m lab up --spec SPEC      # [hosts] workers = ["w1"], backup = ["vault"]
    KUBEDR_LAB_DIR=... KUBEDR_LAB_INVENTORY=... .venv/bin/python bench/pv_backup.py --size-gib 3

What it does, all in one run, so the two sides see the same machine load:

  1. generates --size-gib of mixed files on the worker's data disks (/mnt/disks/disk*/), split into
     --volumes directories: many small files (1-32 KiB), medium ones (1-16 MiB) and a few large ones
     (128-512 MiB); half the bytes random, half compressible text-like data (a skewed 16-letter
     alphabet, every block different so restic cannot deduplicate it away);
  2. sets restic up on the worker with the kubedr.kubeadm.restic role (binary, password file, SSH key
     to the vault, known_hosts; untimed) and creates two fresh repositories on the vault over sftp,
     the role's default shape: one for the role, one for raw restic;
  3. per round, times (wall clock on the controller, whole process):
       role: `ansible-playbook playbooks/backup_pvs.yml` (the pv_backup role alone,
             kubedr_pv_restic_setup=false) with the volumes given in pv_backup_volumes (no Kubernetes);
       raw:  one `ssh worker` running `restic backup` for each path, in turn, with exactly what the
             module runs: the same restic binary on the same host, RESTIC_REPOSITORY and
             RESTIC_PASSWORD_FILE in the environment (the same password file), the same global options
             (--json, --retry-lock) and backup options (--host, --tag, --skip-if-unchanged), the same
             RESTIC_PROGRESS_FPS, output thrown away;
     first into the fresh repository, then a second, unchanged run of each (no new snapshot). The
     order of the two sides alternates between rounds (--rounds, default 2), and every round gets two
     new repositories;
  4. prints the ratio role/raw per round (target <= 1.15x on the first run) and the load average;
  5. removes the generated data, both repositories, the password file and restic's cache of those
     repositories, also on Ctrl-C or SIGTERM (--keep leaves them).

The file contents are made before any timing starts and read once so both sides start with them in
the page cache.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from lab.build import binary  # noqa: E402
from lab.state import State, lab_dir  # noqa: E402

MiB = 1 << 20
CHILD_TIMEOUT = 3600
RESTIC_VERSION = "0.19.1"
REMOTE_RESTIC = "/usr/local/bin/restic"  # where the restic role installs it (restic_binary_path)
PASSWORD_DIR = "/srv/kubedr-bench"  # /srv is each lab host's own
CLUSTER_NAMESPACE = "bench"
# a skewed alphabet: about 3.3 bits of entropy per byte, zstd gets it to roughly half
_TEXT = b"eeeeeeeeettttttaaaaaoooooiiiiinnnnnsssshhhhrrrrdddlllcu" + b" " * 16 + b"\n" * 2
TEXT_TABLE = bytes(_TEXT[i % len(_TEXT)] for i in range(256))


def log(line: str) -> None:
    print(line, flush=True)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Lab:
    """The lab the bench runs on: host roots on this machine, inventory and ssh settings."""

    def __init__(self, worker: str, vault: str):
        self.inventory = Path(os.environ.get("KUBEDR_LAB_INVENTORY", REPO / "inventories" / "lab"))
        state = State.load()
        spec = state.spec
        if spec is None:
            sys.exit(
                f"no lab is up in {lab_dir()} (set KUBEDR_LAB_DIR and KUBEDR_LAB_INVENTORY, then "
                "`python -m lab up --spec FILE` with a worker and a backup host, no --kube)"
            )
        try:
            self.worker, self.vault = spec.host(worker), spec.host(vault)
        except KeyError as e:
            sys.exit(str(e))
        if self.worker.role != "workers" or not spec.disks:
            sys.exit(f"{worker} must be a worker with data disks ([disks] workers = [...] in the spec)")
        self.disks = [self.worker.root / "mnt" / "disks" / d for d in spec.disks]
        group_vars = yaml.safe_load((self.inventory / "group_vars" / "all.yml").read_text())
        self.ssh_args = [
            "ssh",
            "-i",
            group_vars["ansible_ssh_private_key_file"],
            *shlex.split(group_vars["ansible_ssh_common_args"]),
            "-o",
            "BatchMode=yes",
        ]

    def ssh(self, host, command: str, check: bool = True, timeout: float = CHILD_TIMEOUT):
        result = subprocess.run(
            [*self.ssh_args, f"root@{host.address}", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"ssh {host.name} {command!r} failed ({result.returncode}): {result.stderr}")
        return result


def write_file(path: Path, size: int, compressible: bool, rng: random.Random) -> None:
    with open(path, "wb") as fh:
        left = size
        while left > 0:
            block = rng.randbytes(min(left, 4 * MiB))
            fh.write(block.translate(TEXT_TABLE) if compressible else block)
            left -= len(block)


def generate(roots: list[Path], total: int, seed: int) -> dict:
    """Mixed files below each root, `total` bytes in all; returns counts per kind."""
    rng = random.Random(seed)
    kinds = {  # share of the bytes, size range
        "small": (0.10, 1024, 32 * 1024),
        "medium": (0.40, 1 * MiB, 16 * MiB),
        "large": (0.50, 128 * MiB, 512 * MiB),
    }
    counts = {k: 0 for k in kinds}
    for i, root in enumerate(roots):
        budget_root = total // len(roots)
        for kind, (share, low, high) in kinds.items():
            budget = int(budget_root * share)
            n = 0
            while budget > 0:
                size = min(budget, rng.randint(low, high))
                directory = root / kind / f"d{n // 500:03d}"
                directory.mkdir(parents=True, exist_ok=True)
                compressible = (n + i) % 2 == 1
                write_file(
                    directory / f"f{n:06d}.{'txt' if compressible else 'bin'}", size, compressible, rng
                )
                budget -= size
                n += 1
            counts[kind] += n
        log(f"  volume {i}: {root}")
    return counts


def read_all(roots: list[Path]) -> None:
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                with open(path, "rb") as fh:
                    while fh.read(8 * MiB):
                        pass


def timed(argv: list[str], env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    started = time.monotonic()
    result = subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT, check=False
    )
    return time.monotonic() - started, result


class Bench:
    def __init__(self, args, lab: Lab):
        self.args = args
        self.lab = lab
        self.run_id = f"kubedr-bench-{uuid.uuid4().hex[:8]}"
        self.password_file = f"{PASSWORD_DIR}/{self.run_id}.password"
        self.data_roots = [
            lab.disks[i % len(lab.disks)] / self.run_id / f"vol{i}" for i in range(args.volumes)
        ]
        self.repositories: list[str] = []  # paths on the vault
        self.repository_ids: list[str] = []  # restic's cache directories are named after them
        self.env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "default"}
        self.env["PATH"] = f"{Path(sys.executable).parent}:{self.env['PATH']}"

    # volumes as the worker sees them, and as pv_backup_volumes gives them
    def remote_path(self, root: Path) -> str:
        return "/" + str(root.relative_to(self.lab.worker.root))

    def volumes(self) -> list[dict]:
        return [
            {
                "namespace": CLUSTER_NAMESPACE,
                "pvc": f"vol{i}",
                "node": self.lab.worker.name,
                "path": self.remote_path(root),
            }
            for i, root in enumerate(self.data_roots)
        ]

    def repository(self, path: str) -> str:
        return f"sftp:root@{self.lab.vault.address}:{path}"

    def restic_env(self, repository: str) -> str:
        # what the module's runner puts in restic's environment (plugins/module_utils/restic.py)
        return (
            f"RESTIC_REPOSITORY={shlex.quote(repository)} RESTIC_PASSWORD_FILE={self.password_file}"
            " RESTIC_REPOSITORY_FILE= RESTIC_PASSWORD_COMMAND= RESTIC_PASSWORD= RESTIC_PROGRESS_FPS=0.016"
        )

    def playbook(self, play: str, extra: dict, *more: str) -> tuple[float, subprocess.CompletedProcess]:
        argv = [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(self.lab.inventory),
            str(REPO / "playbooks" / play),
            "-e",
            json.dumps(extra),
            *more,
        ]
        return timed(argv, self.env)

    def setup_restic(self) -> None:
        """The restic role on the worker (untimed): binary, password file, SSH key and known_hosts."""
        password = uuid.uuid4().hex
        setup = {
            "kubedr_pv_nodes": self.lab.worker.name,
            "restic_backend": "sftp",
            "restic_sftp_host": self.lab.vault.name,
            "restic_sftp_path": f"/srv/restic/{self.run_id}-setup",
            "restic_binary_src": str(binary("restic", RESTIC_VERSION, "restic")),
            "restic_password": password,
            "restic_password_file": self.password_file,
        }
        self.repositories.append(setup["restic_sftp_path"])
        self.setup_repository = self.repository(setup["restic_sftp_path"])
        seconds, result = self.playbook(
            "backup_pvs.yml",
            setup,
            "--tags",
            "restic_preflight,restic_install,restic_credentials,restic_ssh,restic_repository",
        )
        if result.returncode != 0:
            raise RuntimeError(f"restic setup failed:\n{result.stdout[-4000:]}{result.stderr[-2000:]}")
        log(f"  restic role on {self.lab.worker.name}: {seconds:.1f}s")
        self.repository_id(self.setup_repository)

    def new_repository(self, name: str) -> str:
        path = f"/srv/restic/{self.run_id}-{name}"
        self.repositories.append(path)
        repository = self.repository(path)
        self.lab.ssh(self.lab.worker, f"{self.restic_env(repository)} {REMOTE_RESTIC} init --json >/dev/null")
        return repository

    def role(self, repository: str) -> float:
        extra = {
            "kubedr_pv_restic_setup": False,
            "kubedr_pv_runner": self.lab.worker.name,
            "pv_backup_volumes": self.volumes(),
            "pv_backup_repository": repository,
            "pv_backup_password_file": self.password_file,
            "pv_backup_restic_path": REMOTE_RESTIC,
        }
        seconds, result = self.playbook("backup_pvs.yml", extra)
        if result.returncode != 0:
            raise RuntimeError(f"pv_backup failed:\n{result.stdout[-4000:]}{result.stderr[-2000:]}")
        return seconds

    def raw(self, repository: str) -> float:
        commands = []
        for volume in self.volumes():
            host = f"{self.args.cluster}/{volume['namespace']}/{volume['pvc']}"
            tags = [
                f"cluster:{self.args.cluster}",
                f"namespace:{volume['namespace']}",
                f"pvc:{volume['pvc']}",
            ]
            argv = [REMOTE_RESTIC, "--json", "--retry-lock", "1m", "backup", "--host", host]
            for tag in tags:
                argv += ["--tag", tag]
            argv += ["--skip-if-unchanged", "--", volume["path"]]
            commands.append(f"{self.restic_env(repository)} {shlex.join(argv)} >/dev/null")
        seconds, result = timed(
            [*self.lab.ssh_args, f"root@{self.lab.worker.address}", "set -e; " + "; ".join(commands)]
        )
        if result.returncode != 0:
            raise RuntimeError(f"raw restic backup failed ({result.returncode}): {result.stderr[-2000:]}")
        return seconds

    def snapshot_count(self, repository: str) -> int:
        out = self.lab.ssh(
            self.lab.worker, f"{self.restic_env(repository)} {REMOTE_RESTIC} snapshots --json --no-lock"
        ).stdout
        return len(json.loads(out))

    def repository_id(self, repository: str) -> None:
        out = self.lab.ssh(
            self.lab.worker, f"{self.restic_env(repository)} {REMOTE_RESTIC} cat config --json --no-lock"
        ).stdout
        self.repository_ids.append(json.loads(out)["id"])

    def round(self, number: int) -> dict:
        repositories = {
            "role": self.new_repository(f"role{number}"),
            "raw": self.new_repository(f"raw{number}"),
        }
        for repository in repositories.values():
            self.repository_id(repository)
        order = ["raw", "role"] if number % 2 else ["role", "raw"]
        measured = {}
        for run in ("first", "second"):
            for side in order:
                seconds = getattr(self, side)(repositories[side])
                measured[f"{side}_{run}"] = seconds
                log(f"  round {number} {run:<6} {side:<4} {seconds:7.1f}s  (load {load_average()})")
        for side, repository in repositories.items():
            count = self.snapshot_count(repository)
            if count != len(self.data_roots):  # one per volume; the unchanged run adds none
                raise RuntimeError(
                    f"{side} repository has {count} snapshots, expected {len(self.data_roots)}"
                )
        measured["order"] = "/".join(order)
        return measured

    def cleanup(self) -> None:
        if self.args.keep:
            log(
                f"kept: data {[str(r) for r in self.data_roots]}, repositories {self.repositories} on "
                f"{self.lab.vault.name}, password file {self.password_file} on {self.lab.worker.name}"
            )
            return
        for disk in self.lab.disks:
            shutil.rmtree(disk / self.run_id, ignore_errors=True)
        if self.repositories:
            self.lab.ssh(
                self.lab.vault,
                "rm -rf -- " + " ".join(shlex.quote(p) for p in self.repositories),
                check=False,
                timeout=600,
            )
        self.lab.ssh(self.lab.worker, f"rm -f -- {self.password_file}", check=False, timeout=60)
        # restic's cache on the worker is /root/.cache/restic/<repository id>, which is this machine's
        # /root/.cache (lab hosts share everything but a few directories): only our repositories' entries
        for repository_id in self.repository_ids:
            shutil.rmtree(Path("/root/.cache/restic") / repository_id, ignore_errors=True)
        log("cleaned up: generated data, repositories, password file, restic cache entries")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gib", type=float, default=3.0, help="total size of the generated data (3)")
    parser.add_argument("--volumes", type=int, default=3, help="directories (PVs) the data is split into (3)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, sides in alternating order (2)")
    parser.add_argument("--worker", default="w1", help="lab worker holding the data (w1)")
    parser.add_argument("--vault", default="vault", help="lab backup host holding the repositories (vault)")
    parser.add_argument("--cluster", default="bench-pv", help="cluster part of the snapshots' restic host")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated data")
    parser.add_argument("--keep", action="store_true", help="leave data and repositories in place")
    args = parser.parse_args()
    if args.volumes < 1 or args.rounds < 1 or args.size_gib <= 0:
        parser.error("--volumes and --rounds must be at least 1, --size-gib above 0")

    bench = Bench(args, Lab(args.worker, args.vault))

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    rounds = []
    try:
        total = int(args.size_gib * 1024 * MiB)
        where = f"{args.volumes} volumes on {args.worker}"
        log(f"generating {args.size_gib:g} GiB in {where} (load {load_average()})")
        started = time.monotonic()
        counts = generate(bench.data_roots, total, args.seed)
        log(f"  files: {counts} in {time.monotonic() - started:.0f}s")
        read_all(bench.data_roots)
        bench.setup_restic()
        for number in range(1, args.rounds + 1):
            rounds.append(bench.round(number))
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        bench.cleanup()

    log("")
    log(
        f"{args.size_gib:g} GiB, {args.volumes} volumes, {sum(counts.values())} files; sftp repository on "
        f"{args.vault}; load average at the end {load_average()} ({os.cpu_count()} CPUs)"
    )
    log("round  order     raw 1st  role 1st  ratio   raw 2nd  role 2nd  ratio")
    for i, r in enumerate(rounds, 1):
        first, second = r["role_first"] / r["raw_first"], r["role_second"] / r["raw_second"]
        log(
            f"{i:>5}  {r['order']:<8} {r['raw_first']:7.1f}s {r['role_first']:7.1f}s  {first:.2f}x"
            f"  {r['raw_second']:6.1f}s  {r['role_second']:6.1f}s  {second:.2f}x"
        )
    ratio = statistics.median(r["role_first"] / r["raw_first"] for r in rounds)
    log(
        f"first-run ratio role/raw (median of rounds): {ratio:.2f}x, target <= 1.15x: "
        f"{'PASS' if ratio <= 1.15 else 'FAIL'}"
    )
    return 0 if ratio <= 1.15 else 1


if __name__ == "__main__":
    sys.exit(main())
