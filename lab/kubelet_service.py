#!/usr/bin/python3
"""The kubelet's systemd unit, for lab hosts that have no systemd.

Installed into a lab host as /usr/local/bin/kubedr-kubelet-service (the supervisor, started by
the lab) and as /usr/local/bin/systemctl (what kubeadm and operators call). It does what
kubeadm's kubelet.service with its 10-kubeadm.conf drop-in does: run

    kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS

with the flags read from /var/lib/kubelet/kubeadm-flags.env and /etc/default/kubelet, restart
it whenever it exits (Restart=always), and obey `systemctl start|stop|restart|is-active|...
kubelet`. The supervisor and the systemctl shim talk through files in /run/kubedr-kubelet.
Standard library only: it runs with the machine's /usr/bin/python3 inside the host.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

RUN = Path("/run/kubedr-kubelet")
WANTED = RUN / "wanted"      # "active" or "inactive", written by systemctl
RESTART = RUN / "restart"    # a counter systemctl bumps to ask for a restart
PIDFILE = RUN / "kubelet.pid"
ENABLED = RUN / "enabled"
CONFIG = Path("/var/lib/kubelet/config.yaml")
ENV_FILES = (Path("/var/lib/kubelet/kubeadm-flags.env"), Path("/etc/default/kubelet"))
BASE_ARGS = [
    "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
    "--kubeconfig=/etc/kubernetes/kubelet.conf",
    "--config=/var/lib/kubelet/config.yaml",
]
# kubeadm's unit waits 10 s; the lab waits less so a bring-up does not idle
RESTART_SEC = 2.0
STOP_TIMEOUT = 15.0
UNITS = ("kubelet", "kubelet.service")


def read(path: Path, default: str = "") -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return default


def write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)


def env_args() -> list[str]:
    """KUBELET_KUBEADM_ARGS and KUBELET_EXTRA_ARGS, as systemd's EnvironmentFile= reads them."""
    values = {}
    for path in ENV_FILES:
        for line in read(path).splitlines():
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            # the unquoted value, then split on spaces: what systemd does for $VAR in ExecStart
            values[key.strip()] = " ".join(shlex.split(value))
    return [arg for key in ("KUBELET_KUBEADM_ARGS", "KUBELET_EXTRA_ARGS")
            for arg in values.get(key, "").split()]


def supervise(kubelet: str) -> int:
    RUN.mkdir(parents=True, exist_ok=True)
    if not WANTED.exists():
        write(WANTED, "active")  # installed enabled, as kubeadm's packages leave it
    write(ENABLED, "enabled")
    child: subprocess.Popen | None = None
    seen_restart = read(RESTART, "0")
    last_exit = 0.0
    stopping = False

    def on_term(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    def stop_child() -> None:
        nonlocal child, last_exit
        if child is None:
            return
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        print(f"kubedr-kubelet-service: kubelet pid {child.pid} exited with {child.returncode}", flush=True)
        child = None
        last_exit = time.monotonic()
        PIDFILE.unlink(missing_ok=True)

    while not stopping:
        wanted = read(WANTED, "active")
        restart = read(RESTART, "0")
        if child is not None and (child.poll() is not None or wanted != "active" or restart != seen_restart):
            stop_child()
        seen_restart = restart
        if (child is None and wanted == "active" and CONFIG.exists()
                and time.monotonic() - last_exit >= RESTART_SEC):
            argv = [kubelet, *BASE_ARGS, *env_args()]
            print(f"kubedr-kubelet-service: starting {shlex.join(argv)}", flush=True)
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
            write(PIDFILE, str(child.pid))
        time.sleep(0.2)
    stop_child()
    return 0


def systemctl(args: list[str]) -> int:
    """The part of systemctl that kubeadm and the kubelet's operators use."""
    verbs = [a for a in args if not a.startswith("-")]
    if not verbs:
        print("systemctl (kubedr lab): only the kubelet unit is known here", file=sys.stderr)
        return 1
    verb, units = verbs[0], verbs[1:]
    RUN.mkdir(parents=True, exist_ok=True)
    if verb == "daemon-reload":
        return 0
    unknown = [u for u in units if u not in UNITS]
    if unknown or not units:
        print(f"Unit {(unknown or ['(none)'])[0]} could not be found.", file=sys.stderr)
        return 4 if verb == "status" else 5
    running = PIDFILE.exists()
    if verb in ("start", "restart", "stop"):
        if verb == "restart":
            write(RESTART, str(int(read(RESTART, "0")) + 1))
        write(WANTED, "inactive" if verb == "stop" else "active")
        return 0 if verb != "stop" else wait_stopped()
    if verb in ("enable", "disable"):
        write(ENABLED, verb + "d")
        return 0
    if verb == "is-enabled":
        state = read(ENABLED, "enabled")
        print(state)
        return 0 if state == "enabled" else 1
    if verb == "is-active":
        print("active" if running else ("activating" if read(WANTED) == "active" else "inactive"))
        return 0 if running else 3
    if verb == "status":
        state = "active (running)" if running else "inactive (dead)"
        print(f"* kubelet.service - kubelet (kubedr lab supervisor)\n"
              f"     Loaded: loaded (/usr/local/bin/kubedr-kubelet-service; {read(ENABLED, 'enabled')})\n"
              f"     Active: {state}" + (f"\n   Main PID: {read(PIDFILE)} (kubelet)" if running else ""))
        return 0 if running else 3
    print(f"systemctl (kubedr lab): unsupported verb {verb!r}", file=sys.stderr)
    return 1


def wait_stopped() -> int:
    deadline = time.monotonic() + STOP_TIMEOUT + 5
    while PIDFILE.exists():
        if time.monotonic() > deadline:
            print("kubelet did not stop", file=sys.stderr)
            return 1
        time.sleep(0.1)
    return 0


if __name__ == "__main__":
    if Path(sys.argv[0]).name == "systemctl":
        sys.exit(systemctl(sys.argv[1:]))
    sys.exit(supervise(sys.argv[1] if len(sys.argv) > 1 else "/usr/local/bin/kubelet"))
