"""Benchmark: etcd_snapshot (gRPC and gateway) against `etcdctl snapshot save`, wall time and peak RSS.

Starts a throwaway single-member TLS etcd (like the unit-test fixtures), fills it with random values
through gRPC KV/Put (hand-encoded protobuf, several in flight), and at each size in --sizes-mb times:

  * etcdctl snapshot save            (the reference)
  * the etcd_snapshot module, prefer=grpc     (run as a subprocess, as Ansible would)
  * the etcd_snapshot module, prefer=gateway

Each runs in its own child process, timed from spawn to exit; its peak RSS comes from /usr/bin/time.
The etcd member is stopped by pid (SIGTERM, then SIGKILL) and every temporary directory is removed,
also on Ctrl-C or SIGTERM.

    .venv/bin/python bench/etcd_snapshot.py                      # 256 MiB and 1024 MiB
    .venv/bin/python bench/etcd_snapshot.py --sizes-mb 64,256    # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILD_TIMEOUT = 1800  # seconds for any one snapshot; the bench never waits forever


def _collection_root(tmp: Path) -> Path:
    """ansible_collections/kubedr/kubeadm -> this checkout, for the module subprocesses and for us."""
    link = tmp / "collections" / "ansible_collections" / "kubedr" / "kubeadm"
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO, target_is_directory=True)
    return tmp / "collections"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def put_request(key: bytes, value: bytes) -> bytes:
    """etcdserverpb.PutRequest {bytes key = 1; bytes value = 2;}"""
    return b"\x0a" + _varint(len(key)) + key + b"\x12" + _varint(len(value)) + value


def fill(cluster, start_mib: int, target_mib: int, value_kib: int, in_flight: int = 16) -> None:
    """Put random values until about `target_mib` MiB of values are stored."""
    import grpc

    host_port = cluster.members[0].client_url.removeprefix("https://")
    creds = grpc.ssl_channel_credentials(
        Path(cluster.ca_cert).read_bytes(),
        Path(cluster.client_key).read_bytes(),
        Path(cluster.client_cert).read_bytes(),
    )
    with grpc.secure_channel(
        host_port, creds, options=[("grpc.max_send_message_length", 8 << 20), ("grpc.enable_http_proxy", 0)]
    ) as channel:
        put = channel.unary_unary(
            "/etcdserverpb.KV/Put", request_serializer=lambda b: b, response_deserializer=lambda b: b
        )
        first = start_mib * 1024 // value_kib
        last = target_mib * 1024 // value_kib
        pending = []
        for i in range(first, last):
            pending.append(
                put.future(put_request(f"/bench/{i:08d}".encode(), os.urandom(value_kib * 1024)), timeout=60)
            )
            if len(pending) >= in_flight:
                pending.pop(0).result()
        for future in pending:
            future.result()


def run_child(cmd: list[str], env: dict | None = None) -> dict:
    """Run `cmd`; its wall time and peak RSS (MiB). Killed after CHILD_TIMEOUT.

    Peak RSS comes from /usr/bin/time (%M) when it exists: a child forked straight from this process
    would inherit our own high-water mark (Linux keeps ru_maxrss across execve). Without it, os.wait4's
    rusage of the child is used, which can only over-report.
    """
    time_bin = shutil.which("time", path="/usr/bin:/bin")
    report = None
    if time_bin:
        fd, report = tempfile.mkstemp(prefix="kubedr-bench-time-")
        os.close(fd)
        cmd = [time_bin, "-f", "%M", "-o", report, *cmd]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    timer = threading.Timer(CHILD_TIMEOUT, proc.kill)
    timer.start()
    try:
        stdout, stderr = proc.communicate()
    finally:
        timer.cancel()
    seconds = time.monotonic() - started
    try:
        if report:
            with open(report) as fh:
                rss_kib = int(fh.read().split()[-1])
        else:
            rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    finally:
        if report:
            os.unlink(report)
    stdout, stderr = stdout.decode(errors="replace"), stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:4])} ... exited with {proc.returncode}:\n{stdout[-2000:]}\n{stderr[-2000:]}"
        )
    return {"seconds": seconds, "rss_mib": rss_kib / 1024, "stdout": stdout}


def measure(cluster, work: Path, collections: Path, repeat: int, gateway: bool = True) -> dict:
    from lab import build

    etcdctl = str(build.binary("etcd", cluster.version, "etcdctl"))
    endpoint = cluster.members[0].client_url
    module = str(REPO / "plugins" / "modules" / "etcd_snapshot.py")
    env = dict(os.environ, PYTHONPATH=str(collections))
    results: dict[str, list[dict]] = {"etcdctl": [], "grpc": []}
    if gateway:
        results["gateway"] = []
    size = None
    load_before = os.getloadavg()[0]
    for _ in range(repeat):
        for name in results:
            dest = work / f"{name}.db"
            if name == "etcdctl":
                cmd = [
                    etcdctl,
                    f"--endpoints={endpoint}",
                    f"--cacert={cluster.ca_cert}",
                    f"--cert={cluster.client_cert}",
                    f"--key={cluster.client_key}",
                    "--command-timeout=1800s",
                    "snapshot",
                    "save",
                    str(dest),
                ]
                run = run_child(cmd, env)
            else:
                args = work / f"{name}.json"
                args.write_text(
                    json.dumps(
                        {
                            "ANSIBLE_MODULE_ARGS": {
                                "endpoint": endpoint,
                                "ca_cert": cluster.ca_cert,
                                "client_cert": cluster.client_cert,
                                "client_key": cluster.client_key,
                                "dest": str(dest),
                                "prefer": name,
                                "force": True,
                                "timeout": 60,
                            }
                        }
                    )
                )
                run = run_child([sys.executable, module, str(args)], env)
                result = json.loads(run["stdout"])
                assert result.get("changed") and result["snapshot"]["transport"] == name, result
            size = dest.stat().st_size
            results[name].append(run)
            for path in work.glob(f"{name}.db*"):
                path.unlink()
    best = {name: min(runs, key=lambda r: r["seconds"]) for name, runs in results.items()}
    return {
        "snapshot_bytes": size,
        # 1-minute load average before and after: the wall times only compare within one run
        "load": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        **{
            name: {
                "seconds": round(r["seconds"], 2),
                "median_seconds": round(statistics.median(x["seconds"] for x in results[name]), 2),
                # the highest peak of the runs: flat means flat in every run, not in the best one
                "rss_mib": round(max(x["rss_mib"] for x in results[name]), 1),
            }
            for name, r in best.items()
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size-mb", type=int, default=1024, help="largest database size in MiB (default 1024)"
    )
    parser.add_argument(
        "--sizes-mb",
        help="comma-separated sizes to measure at, ascending"
        " (default: a quarter of --size-mb, then --size-mb)",
    )
    parser.add_argument("--value-kib", type=int, default=512, help="size of each value (default 512 KiB)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per tool and size; the fastest counts")
    parser.add_argument("--etcd-version", help="etcd version from lab/pins.toml (default: its default)")
    parser.add_argument("--workdir", help="parent for the temporary directory (default: system temp)")
    parser.add_argument(
        "--no-gateway", action="store_true", help="skip the gateway path (3-5x slower than etcdctl)"
    )
    options = parser.parse_args()
    sizes = (
        [int(s) for s in options.sizes_mb.split(",")]
        if options.sizes_mb
        else [max(1, options.size_mb // 4), options.size_mb]
    )

    tmp = Path(tempfile.mkdtemp(prefix="kubedr-bench-", dir=options.workdir))
    collections = _collection_root(tmp)
    tests = REPO / "tests"
    sys.path[:0] = [str(collections), str(tests / "component"), str(tests / "unit"), str(REPO)]
    from etcd_fixtures import EtcdCluster

    from lab import build

    version = options.etcd_version or build.load_pins()["etcd"]["default"]
    quota = min(8 << 30, max(4 << 30, 2 * sizes[-1] << 20))

    class BenchCluster(EtcdCluster):
        def command(self, member, initial_cluster, state="new"):
            return [*super().command(member, initial_cluster, state), f"--quota-backend-bytes={quota}"]

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    cluster = BenchCluster(version, tmp / "etcd")
    rows = []
    try:
        cluster.start(1)
        work = tmp / "snapshots"
        work.mkdir()
        filled = 0
        for size in sizes:
            started = time.monotonic()
            fill(cluster, filled, size, options.value_kib)
            filled = size
            print(
                f"filled etcd {version} to {size} MiB of values in {time.monotonic() - started:.1f}s",
                flush=True,
            )
            measured = measure(cluster, work, collections, options.repeat, not options.no_gateway)
            row = {"size_mib": size, **measured}
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        cluster.stop()
        link = collections / "ansible_collections" / "kubedr" / "kubeadm"
        if link.is_symlink():
            link.unlink()  # the symlink, never the checkout it points to
        shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"\netcd {version}, {os.cpu_count()} CPUs, values of {options.value_kib} KiB, best (and median)"
        f" of {options.repeat}; peak RSS is the highest of the runs; load = 1-minute load average"
        " before / after the size's runs"
    )
    print(
        f"{'size':>9} {'snapshot':>10} | {'etcdctl s':>9} {'grpc s':>7} {'gw s':>7} | {'grpc/ctl':>13}"
        f" {'gw/ctl':>7} | {'RSS MiB ctl':>11} {'grpc':>6} {'gw':>6} | load"
    )
    for r in rows:
        ctl, grpc_ = r["etcdctl"], r["grpc"]
        gw = r.get("gateway")
        gw_s, gw_ratio, gw_rss = (
            (f"{gw['seconds']:.2f}", f"{gw['seconds'] / ctl['seconds']:.2f}", f"{gw['rss_mib']:.1f}")
            if gw
            else ("-", "-", "-")
        )
        median_ratio = grpc_["median_seconds"] / ctl["median_seconds"]
        print(
            f"{r['size_mib']:>6} MiB {r['snapshot_bytes'] / 2**20:>6.0f} MiB | {ctl['seconds']:>9.2f}"
            f" {grpc_['seconds']:>7.2f} {gw_s:>7} |"
            f" {grpc_['seconds'] / ctl['seconds']:>5.2f} ({median_ratio:>5.2f})"
            f" {gw_ratio:>7} | {ctl['rss_mib']:>11.1f} {grpc_['rss_mib']:>6.1f}"
            f" {gw_rss:>6} | {r['load'][0]:.1f} / {r['load'][1]:.1f}"
        )
    last, first = rows[-1], rows[0]
    ratio = last["grpc"]["seconds"] / last["etcdctl"]["seconds"]
    median_ratio = last["grpc"]["median_seconds"] / last["etcdctl"]["median_seconds"]
    print(
        f"\ntarget gRPC <= 1.2x etcdctl wall time at {last['size_mib']} MiB: best {ratio:.2f}x"
        f" (median {median_ratio:.2f}x) -> {'PASS' if ratio <= 1.2 else 'FAIL'}"
    )
    if len(rows) > 1:
        for name in ("grpc", "gateway") if "gateway" in last else ("grpc",):
            growth = last[name]["rss_mib"] / first[name]["rss_mib"]
            print(
                f"target flat peak RSS ({name}): {first[name]['rss_mib']:.1f} MiB at {first['size_mib']} MiB,"
                f" {last[name]['rss_mib']:.1f} MiB at {last['size_mib']} MiB ({growth:.2f}x)"
                f" -> {'PASS' if growth <= 1.25 else 'FAIL'}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
