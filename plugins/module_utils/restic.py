# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collection-private runner for the restic CLI: JSON output, exit codes, secrets off argv and out of results.

Runs on the managed host: standard library and ansible.module_utils only.

restic facts this relies on (probed with restic 0.19.1):
- with --json, restic writes a fatal error to stderr as one JSON line
  {"message_type": "exit_error", "code": N, "message": "..."};
- exit codes: 0 ok, 1 fatal error, 3 backup could not read some source data (the snapshot was still
  written), 10 repository does not exist, 11 failed to lock the repository, 12 wrong password,
  130 interrupted;
- a lock is stale when its process is gone on the host that took it, or when it was not refreshed for
  30 minutes (a running restic refreshes its locks every 5 minutes); `restic unlock` removes only
  those and prints nothing with --json, so the locks are listed before and after it;
- when ssh (sftp backend) cannot connect, restic exits 1 after "unable to start the sftp session",
  with ssh's own error on stderr as plain text;
- the repository and its password are read from RESTIC_REPOSITORY and RESTIC_PASSWORD(_FILE), so
  neither has to be on the command line;
- restic stops cleanly (removing its locks) on SIGTERM or SIGINT; against a backend that accepts the
  connection and never answers it waits for minutes, so every run is bounded by the `timeout` option.

Secrets are masked in what restic printed only after it was parsed: masking the raw JSON first would
break it wherever a secret value happens to occur in it.
"""

from __future__ import annotations

import json
import os
import re
from urllib.parse import unquote

from ansible_collections.kubedr.kubeadm.plugins.module_utils import bounded_run

MASK = "********"

RC_OK = 0
RC_FATAL = 1
RC_PARTIAL = 3
RC_NO_REPOSITORY = 10
RC_LOCKED = 11
RC_WRONG_PASSWORD = 12
RC_INTERRUPTED = 130
RC_TIMEOUT = bounded_run.RC_TIMEOUT  # not restic's: the runner stopped it after `timeout` seconds

# environment variables that configure restic or the Go runtime and are never secrets: masking their
# values (often a digit, or a word restic prints) would mask parts of snapshot ids and messages
PLAIN_ENV = frozenset((
    "GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG", "TMPDIR", "TZ", "RESTIC_COMPRESSION", "RESTIC_PACK_SIZE",
    "RESTIC_READ_CONCURRENCY", "RESTIC_CACHE_DIR", "RESTIC_HOST", "RESTIC_FEATURES", "RESTIC_PROGRESS_FPS",
    "RESTIC_REST_USERNAME", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "B2_ACCOUNT_ID",
    "AZURE_ACCOUNT_NAME", "GOOGLE_PROJECT_ID", "OS_REGION_NAME", "OS_USERNAME", "OS_AUTH_URL",
))
# a secret shorter than this could not be masked without masking ordinary output along with it
MIN_SECRET_LENGTH = 4
_STOP_GRACE = bounded_run.STOP_GRACE  # seconds restic gets after SIGTERM to release its locks before SIGKILL

# restic (or the ssh it runs for sftp) could not reach the backend at all
_UNREACHABLE = re.compile(
    r"unable to start the sftp session|ssh: connect to host|connection refused|no route to host|"
    r"connection timed out|network is unreachable|i/o timeout|host key verification failed|"
    r"permission denied \(publickey|could not resolve hostname|name or service not known|no such host|"
    r"connection reset by peer|connection closed by remote host", re.I)
_LOCK_ID = re.compile(r"^[0-9a-f]{64}$")
# an older restic refusing an option of ours (cobra's wording)
_UNKNOWN_FLAG = re.compile(r"unknown (?:shorthand )?flag: '?(-[-\w]+)")

# The oldest restic the collection runs with: exit codes 10-12 (no repository, locked, wrong password)
# and --skip-if-unchanged came in 0.17.0; Debian 12's package (0.14.0) has neither.
MINIMUM_VERSION = (0, 17, 0)
MINIMUM = ".".join(map(str, MINIMUM_VERSION))

# scheme://user:password@host... anywhere in a repository string (rest:https://, s3:https://, ...)
_URL_CREDENTIALS = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@/\s]+)(?P<tail>@)", re.I)


def url_passwords(repository):
    """Passwords embedded in a repository URL, raw and percent-decoded."""
    found = set()
    for match in _URL_CREDENTIALS.finditer(repository or ""):
        found.add(match.group("password"))
        found.add(unquote(match.group("password")))
    return found


def mask_url(text):
    """`text` with the password part of any scheme://user:password@ URL replaced by ********."""
    return _URL_CREDENTIALS.sub(lambda m: m.group("head") + MASK + m.group("tail"), text or "")


class ResticError(Exception):
    """A restic command failed; `msg` names the problem and the fix, the rest is for fail_json."""

    def __init__(self, msg, rc=None, command=None, stdout="", stderr=""):
        super().__init__(msg)
        self.msg = msg
        self.rc = rc
        self.command = command
        self.stdout = stdout
        self.stderr = stderr

    def fail_kwargs(self):
        return dict(msg=self.msg, rc=self.rc, cmd=self.command, stdout=self.stdout, stderr=self.stderr)


class ResticResult:
    """Outcome of one restic run: rc, the parsed JSON (`data`), restic's error messages, raw output."""

    def __init__(self, rc, stdout, stderr, data, messages):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.data = data
        self.messages = messages


def parse_json_lines(text):
    """Every JSON value on its own line of `text`; other lines are skipped."""
    values = []
    for line in (text or "").splitlines():
        line = line.strip()
        if line[:1] in ("{", "["):
            try:
                values.append(json.loads(line))
            except ValueError:
                continue
    return values


def parse_json(text):
    """The JSON document restic printed: the whole output, else its first JSON line, else None."""
    try:
        return json.loads(text)
    except ValueError:
        values = parse_json_lines(text)
        return values[0] if values else None


def error_messages(stderr):
    """restic's own error lines from stderr: exit_error and error messages, then any plain text lines."""
    messages = []
    for line in (stderr or "").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except ValueError:
            value = None
        if isinstance(value, dict) and value.get("message_type") == "exit_error":
            messages.append(value.get("message") or "")
        elif isinstance(value, dict) and value.get("message_type") == "error":
            error = value.get("error") or {}
            text = error.get("message") if isinstance(error, dict) else str(error)
            item = value.get("item")
            messages.append(f"{item}: {text}" if item else str(text))
        elif not isinstance(value, (dict, list)):
            messages.append(line)
    return [m.strip() for m in messages if m.strip()]


class Restic:
    """Runs restic for one module with the repository options of restic_common.restic_argument_spec()."""

    def __init__(self, module, params=None):
        self.module = module
        self.params = params if params is not None else module.params
        self.repository = self.params["repository"]
        self.location = mask_url(self.repository)
        self.binary = self.params.get("restic_path") or module.get_bin_path("restic", required=True)
        self.commands = []  # every argv run, for the `commands` result (no secret is ever on one)
        self.warnings = []
        self.timeout = self.params.get("timeout")
        self._secrets = set(url_passwords(self.repository))
        if self.params.get("password"):
            self._secrets.add(self.params["password"])
        plain = {}
        for name, value in (self.params.get("env") or {}).items():
            if value in (None, ""):
                continue
            if str(name) in PLAIN_ENV:
                plain[str(name)] = str(value)
            elif len(str(value)) < MIN_SECRET_LENGTH:
                module.fail_json(msg=(
                    f"env {name} has a value of {len(str(value))} character(s): env holds secrets, masked"
                    " wherever they occur in the results, and a value that short would mask ordinary"
                    f" output (snapshot ids, sizes) along with it; if {name} is not a secret, move it to"
                    " plain_env, else use a longer secret"))
            else:
                self._secrets.add(str(value))
        self._secrets.discard("")
        # Ansible lists every value of the no_log `env` option; the known non-secret ones are taken off
        # again, or exit_json would mask them inside snapshot ids and sizes
        module.no_log_values.difference_update(v for v in plain.values() if v not in self._secrets)
        module.no_log_values.update(self._secrets)

    def environ(self):
        env = {str(k): str(v) for k, v in (self.params.get("plain_env") or {}).items()}
        env.update({str(k): str(v) for k, v in (self.params.get("env") or {}).items()})
        env["RESTIC_REPOSITORY"] = self.repository
        if self.params.get("password_file"):
            env["RESTIC_PASSWORD_FILE"] = self.params["password_file"]
        else:
            env["RESTIC_PASSWORD"] = self.params["password"]
        # never let an inherited setting pick another repository, password or password command
        for name in ("RESTIC_REPOSITORY_FILE", "RESTIC_PASSWORD_COMMAND", "RESTIC_PASSWORD_FILE",
                     "RESTIC_PASSWORD"):
            env.setdefault(name, "")
        env.setdefault("RESTIC_PROGRESS_FPS", "0.016")  # little progress noise on stdout
        return env

    def global_args(self, locking=True):
        args = ["--json"]
        if self.params.get("no_cache"):
            args.append("--no-cache")
        elif self.params.get("cache_dir"):
            args += ["--cache-dir", self.params["cache_dir"]]
        if self.params.get("cacert"):
            args += ["--cacert", self.params["cacert"]]
        if locking and self.params.get("retry_lock"):
            args += ["--retry-lock", self.params["retry_lock"]]
        return args

    def mask(self, text):
        text = mask_url(text)
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def mask_data(self, value):
        """Parsed JSON with every secret masked in its strings (keys included)."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, list):
            return [self.mask_data(v) for v in value]
        if isinstance(value, dict):
            return {self.mask(k): self.mask_data(v) for k, v in value.items()}
        return value

    def run(self, args, ok=(RC_OK,), locking=True, parse="json"):
        """Run `restic <global options> <args>`; returns a ResticResult or raises ResticError.

        `ok` lists the exit codes that are not failures; `parse` is "json" (one document),
        "lines" (a list of JSON lines) or None.
        """
        argv = [self.binary] + self.global_args(locking) + list(args)
        result = self._run(argv, parse)
        if result.rc == RC_LOCKED and self.params.get("unlock_stale") and RC_LOCKED not in ok:
            if not self._unlock_stale(result):
                raise self.error(args[0], result, argv, live_lock=True)
            result = self._run(argv, parse)
            if result.rc == RC_LOCKED:  # what is left after the stale locks went is live
                raise self.error(args[0], result, argv, live_lock=True)
        if result.rc not in ok:
            raise self.error(args[0], result, argv)
        return result

    def _run(self, argv, parse):
        self.commands.append(self.mask(" ".join(argv)))
        rc, stdout, stderr = self.execute(argv)
        data = None  # parsed before masking: a secret value may occur anywhere in the raw JSON
        if parse == "json":
            data = parse_json(stdout)
        elif parse == "lines":
            data = parse_json_lines(stdout)
        return ResticResult(rc, self.mask(stdout), self.mask(stderr), self.mask_data(data),
                            [self.mask(m) for m in error_messages(stderr)])

    def execute(self, argv):
        """(rc, stdout, stderr) of argv with environ(), stopped after `timeout` seconds (rc RC_TIMEOUT).

        bounded_run runs restic in its own session, so that what it started (ssh for sftp) is stopped
        with it: SIGTERM first (restic removes its locks), SIGKILL after a grace period.
        """
        env = dict(os.environ)
        env.update(self.environ())
        return bounded_run.run(argv, self.timeout, env=env, grace=_STOP_GRACE)

    def locks(self):
        """IDs of the lock files in the repository (`restic list locks`, which takes no lock itself)."""
        result = self.run(["list", "locks", "--no-lock"], locking=False, parse=None)
        return {line.strip() for line in result.stdout.splitlines() if _LOCK_ID.match(line.strip())}

    def _unlock_stale(self, locked):
        """`restic unlock`: removes only stale locks (their process is gone on this host, or they were
        not refreshed for 30 minutes). True when it removed any (worth a retry), False when every lock
        is live; never `--remove-all`, which would also remove the locks of running processes."""
        before = self.locks()
        self.run(["unlock"], locking=False, parse=None)
        removed = before - self.locks()
        if not removed:
            return False
        self.warnings.append(
            f"restic repository {self.location} was locked ({'; '.join(locked.messages) or 'no details'});"
            f" removed {len(removed)} stale lock(s) with `restic unlock` (unlock_stale=true, stale locks"
            " only) and retried")
        return True

    def error(self, verb, result, argv, live_lock=False):
        """A ResticError whose message says what went wrong with `restic <verb>` and how to fix it."""
        detail = "; ".join(result.messages) or result.stderr.strip() or result.stdout.strip()[-2000:]
        where = f"restic repository {self.location}"
        retry = self.params.get("retry_lock") or "0s"
        if result.rc == RC_TIMEOUT:
            msg = (f"restic {verb} on {where} did not finish within timeout={self.timeout} seconds and was"
                   " stopped: check that the repository backend is up and answering (a server that accepts"
                   " connections and never replies hangs restic), or raise the timeout option (seconds,"
                   f" 0 for no limit) if {verb} needs longer on this repository"
                   f" ({detail or 'no output before it was stopped'})")
        elif result.rc == RC_NO_REPOSITORY:
            msg = (f"{where} does not exist: create it with the kubedr.kubeadm.restic role or"
                   " kubedr.kubeadm.restic_repository (restic init), or correct the repository location"
                   f" ({detail})")
        elif result.rc == RC_WRONG_PASSWORD:
            msg = (f"wrong password for {where}: no key in the repository opens with the given password"
                   f" or password_file; fix the password (the repository was left untouched) ({detail})")
        elif result.rc == RC_LOCKED and live_lock:
            msg = (f"{where} is locked by a running restic process and stayed locked for retry_lock={retry}"
                   f" ({detail}); that lock is live (not stale), so it was left in place: wait for that"
                   " process to finish and run again, or raise retry_lock to wait longer; never remove a"
                   " live lock (restic unlock --remove-all), that would let two processes change the"
                   " repository at once")
        elif result.rc == RC_LOCKED:
            msg = (f"{where} is locked by another restic process and stayed locked for retry_lock={retry}"
                   f" ({detail}); wait for it to finish or raise retry_lock; if that process is gone"
                   " (killed, host rebooted), set unlock_stale=true to remove its stale lock with"
                   " `restic unlock` (stale locks only)")
        elif result.rc == RC_INTERRUPTED:
            msg = f"restic {verb} on {where} was interrupted ({detail})"
        elif _UNREACHABLE.search(detail):
            msg = (f"cannot reach the backend of {where} ({detail}): check that the repository host is up"
                   " and its SSH server (sftp) or REST server is running and reachable from this host"
                   " (routes, firewall), and for sftp that this host's SSH key is authorized there and"
                   " its host key trusted (the kubedr.kubeadm.restic role sets both up)")
        elif unknown := _UNKNOWN_FLAG.search(detail):
            msg = (f"{self.binary} does not know the option {unknown.group(1)}: it is older"
                   f" than restic {MINIMUM}, the oldest kubedr.kubeadm runs with (Debian 12 packages 0.14.0);"
                   " install a newer restic, for example with the kubedr.kubeadm.restic role"
                   f" (restic_install_method=file) ({detail})")
        else:
            msg = f"restic {verb} on {where} failed with rc {result.rc}: {detail or 'no error message'}"
        return ResticError(self.mask(msg), rc=result.rc, command=self.mask(" ".join(argv)),
                           stdout=result.stdout, stderr=result.stderr)

    def snapshots(self, ids=(), host=None, tags=None, paths=None):
        """Snapshots matching the filters, oldest first (restic's `snapshots --json`)."""
        args = ["snapshots"] + filter_args(host, tags, paths) + list(ids)
        result = self.run(args)  # a shared lock: waits out an exclusive one for up to retry_lock
        snapshots = result.data if isinstance(result.data, list) else []
        return sorted(snapshots, key=lambda s: s.get("time") or "")


def filter_args(host=None, tags=None, paths=None):
    """--host/--tag/--path options: a snapshot must match the host, carry all tags and hold all paths."""
    args = []
    if host:
        args += ["--host", host]
    if tags:
        args += ["--tag", ",".join(tags)]
    for path in paths or ():
        args += ["--path", path]
    return args


def snapshot_summary(snapshot):
    """The fields the modules return for a snapshot."""
    return {
        "id": snapshot.get("id"),
        "short_id": snapshot.get("short_id") or (snapshot.get("id") or "")[:8],
        "time": snapshot.get("time"),
        "hostname": snapshot.get("hostname"),
        "username": snapshot.get("username"),
        "paths": snapshot.get("paths") or [],
        "tags": snapshot.get("tags") or [],
        "parent": snapshot.get("parent"),
        "tree": snapshot.get("tree"),
        "program_version": snapshot.get("program_version"),
        "summary": snapshot.get("summary"),
    }


def parse_version(text):
    """(major, minor, patch) from `restic version` output ("restic 0.19.1 compiled with ..."), else None."""
    match = re.match(r"restic (\d+)\.(\d+)\.(\d+)", (text or "").strip())
    return tuple(int(x) for x in match.groups()) if match else None


def version_problem(path, text, pinned=None):
    """Why the restic at path (its `restic version` output) will not do, or None: older than MINIMUM, or,
    with pinned, not exactly that release."""
    found = parse_version(text)
    if found is None:
        return f"{path} does not report a restic version ({(text or '').strip()[:200]!r})"
    shown = ".".join(map(str, found))
    if found < MINIMUM_VERSION:
        return (f"{path} is restic {shown}, older than {MINIMUM}, the oldest kubedr.kubeadm runs with"
                " (no exit codes 10-12, no --skip-if-unchanged); install a newer restic, for example with"
                " restic_install_method=file and a binary of the pinned release")
    if pinned and shown != pinned:
        return f"{path} is restic {shown}, not {pinned}"
    return None
