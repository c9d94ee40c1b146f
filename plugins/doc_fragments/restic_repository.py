# Copyright: (c) 2026, kubedr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the restic repository options (twin of restic_common.restic_argument_spec)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  repository:
    description:
      - The restic repository, in any form restic accepts, for example V(/srv/backup/restic),
        V(rest:https://user:secret@backup.example.com:8000/cluster1/) or V(s3:https://s3.example.com/bucket/cluster1).
      - It is handed to restic in the E(RESTIC_REPOSITORY) environment variable, never on the command
        line; a password embedded in a URL is masked (C(********)) in everything the module returns.
    type: str
    required: true
  password:
    description:
      - Password of the repository, handed to restic in the E(RESTIC_PASSWORD) environment variable.
      - Exactly one of O(password) and O(password_file) is required.
    type: str
  password_file:
    description:
      - File on the managed host whose first line is the repository password (E(RESTIC_PASSWORD_FILE)).
    type: path
  env:
    description:
      - Extra environment variables for restic, for backend credentials such as E(AWS_ACCESS_KEY_ID),
        E(AWS_SECRET_ACCESS_KEY), E(RESTIC_REST_USERNAME) or E(RESTIC_REST_PASSWORD).
      - The values are secrets; they are masked (C(********)) wherever they occur in the module's results
        and messages, after restic's output was parsed. A value shorter than 4 characters fails the task, as
        it could not be masked without masking ordinary output (snapshot ids, sizes) with it.
      - Known non-secret settings given here (E(GOMAXPROCS), E(GOGC), E(TMPDIR), E(RESTIC_COMPRESSION),
        E(RESTIC_PACK_SIZE), E(RESTIC_READ_CONCURRENCY), E(RESTIC_REST_USERNAME), E(AWS_DEFAULT_REGION) and
        a few more) are not masked; put any other setting that is not a secret in O(plain_env).
    type: dict
    default: {}
  plain_env:
    description:
      - Environment variables for restic that are not secrets, such as E(GOMAXPROCS), E(RESTIC_COMPRESSION)
        or E(TMPDIR). They are never masked and show in the task's invocation.
      - A variable set in both O(env) and O(plain_env) takes its O(env) value.
    type: dict
    default: {}
  restic_path:
    description:
      - Path of the restic binary. Default is C(restic) from E(PATH).
      - restic 0.17 or later is required.
    type: path
  cache_dir:
    description:
      - Local cache directory (C(--cache-dir)). Default is restic's, C(~/.cache/restic).
      - Mutually exclusive with O(no_cache).
    type: path
  no_cache:
    description:
      - Run without a local cache (C(--no-cache)); slower, but leaves nothing behind on the host.
    type: bool
    default: false
  retry_lock:
    description:
      - How long to keep retrying when the repository is locked, as a restic duration such as
        V(30s), V(5m) or V(1h) (C(--retry-lock)). Set to an empty string to fail at once.
      - Not used by commands that take no lock.
    type: str
    default: 1m
  unlock_stale:
    description:
      - When restic still cannot lock the repository after O(retry_lock), run C(restic unlock), which
        removes only stale locks (their process is gone on the same host, or they were not refreshed for
        30 minutes; a running restic refreshes its locks every 5 minutes), and retry once. A warning says so.
      - When C(restic unlock) removed nothing, the lock is live; the task fails at once with a message
        naming the lock holder, and the lock is left alone. C(--remove-all) is never used.
      - When false, a locked repository fails the task with a message naming the lock holder.
    type: bool
    default: false
  cacert:
    description:
      - CA certificate (PEM) to trust for a TLS backend such as rest-server with a private CA (C(--cacert)).
    type: path
  timeout:
    description:
      - Seconds each restic command may run. A command still running then is stopped (SIGTERM, which
        lets restic remove its locks, then SIGKILL after 10 seconds) and the task fails with a message
        naming this option.
      - The default, one hour, is meant for backups and restores of a cluster's etcd snapshot and
        local volumes; raise it for larger data or slower links. V(0) means no limit.
      - Guards against a backend that accepts connections but never answers, where restic would wait
        for a long time.
    type: int
    default: 3600
"""
