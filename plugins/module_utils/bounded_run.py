# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collection-private: run an external command for at most `timeout` seconds.

Runs on the managed host: standard library and ansible.module_utils only.

module.run_command has no timeout, hence subprocess. The command runs in a session of its own, so that
what it starts (ssh for restic's sftp backend, the children of kubeadm or systemctl) is stopped with it:
SIGTERM to the whole process group at the timeout (restic removes its locks then), SIGKILL after a grace
period. A process that does not even end on SIGKILL (stuck in the kernel: an unmount of an NFS server
that is gone) is left behind after a second grace period rather than hanging the module.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

RC_TIMEOUT = -1  # not the command's own: it was stopped after `timeout` seconds
STOP_GRACE = 10  # seconds a command gets after SIGTERM (and again after SIGKILL) before the next step


def run(argv, timeout, env=None, cwd=None, grace=STOP_GRACE):
    """(rc, stdout, stderr) of argv (text, undecodable bytes replaced); rc RC_TIMEOUT when it was still
    running after `timeout` seconds and was stopped. A timeout of 0 or None means no limit.

    Raises OSError when argv cannot be started (no such file, not executable)."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=cwd, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout or None)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        out, err = _stop(proc, grace)
        rc = RC_TIMEOUT
    return rc, _text(out), _text(err)


def _text(data):
    return (data or b"").decode("utf-8", errors="replace")


def _stop(proc, grace):
    """SIGTERM, then SIGKILL, to the command's process group; what it printed until then."""
    out = err = b""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(OSError):  # the group is gone already
            os.killpg(proc.pid, sig)
        try:
            return proc.communicate(timeout=grace)
        except subprocess.TimeoutExpired as e:
            out, err = e.output or out, e.stderr or err
    for pipe in (proc.stdout, proc.stderr):  # it did not end on SIGKILL: leave it, stop reading
        with contextlib.suppress(OSError):
            pipe.close()
    return out, err


def check_timeout(value, option="timeout"):
    """An error message for a timeout option that is not a number of seconds >= 0, else None."""
    if value is None or value >= 0:
        return None
    return f"{option} must be a number of seconds, 0 for no limit; got {value}"


def require_timeout(module, option="timeout", **fail_extra):
    """Fail the module (with fail_extra in its result) when its timeout option is not seconds >= 0."""
    problem = check_timeout(module.params[option], option)
    if problem:
        module.fail_json(msg=problem, **fail_extra)


def timed_out(what, timeout, option="timeout", hint=""):
    """The message for a command stopped at its timeout: what, the limit, why it may hang, and the option."""
    return (f"{what} did not finish within {option}={timeout} seconds and was stopped (SIGTERM, then SIGKILL)"
            f"{': ' + hint if hint else ''}; raise {option} (seconds, 0 for no limit) if it needs longer")


def module_run(module, argv, timeout, environ_update=None, cwd=None):
    """module.run_command's (rc, stdout, stderr), bounded by `timeout` seconds (rc RC_TIMEOUT when it was
    stopped), in the environment run_command would give it. Fails the module when argv cannot start."""
    env = dict(os.environ)
    env.update(getattr(module, "run_command_environ_update", None) or {})
    env.update(environ_update or {})
    if env.get("PYTHONPATH"):  # as run_command: not the module's own payload
        env["PYTHONPATH"] = ":".join(p for p in env["PYTHONPATH"].split(":") if p
                                     and not p.endswith(("/ansible_modlib.zip", "/debug_dir")))
    if cwd and not os.path.isdir(cwd):
        cwd = None
    try:
        return run([str(a) for a in argv], timeout, env=env, cwd=cwd)
    except OSError as e:
        module.fail_json(msg=f"cannot run {argv[0]}: {e}", cmd=[str(a) for a in argv])
