"""SELinux as a restore meets it, for tests on a machine without it (SELinux cannot run here): a selinuxfs
directory with an `enforce` file in place of /sys/fs/selinux, and a stand-in `restorecon` on the PATH that
relabels like the real one (`-R -v PATH`: one "Relabeled ..." line per entry whose label was wrong, and
none once every label is right) and records each call."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from ansible_collections.kubedr.kubeadm.plugins.module_utils import _fs

RESTORECON = """#!/bin/sh
# stand-in restorecon: {calls} records the calls, {labeled} the paths given their policy label
echo "$*" >> {calls}
[ "$1 $2" = "-R -v" ] || {{ echo "unexpected arguments: $*" >&2; exit 64; }}
{fail}
find "$3" | sort | while IFS= read -r path; do
  if ! grep -qxF -- "$path" {labeled} 2>/dev/null; then
    echo "$path" >> {labeled}
    echo "Relabeled $path from unconfined_u:object_r:var_lib_t:s0 to system_u:object_r:container_var_lib_t:s0"
  fi
done
"""


class FakeSelinux:
    def __init__(self, root: Path):
        self.root = root
        self.calls = root / "restorecon.calls"
        self.labeled = root / "restorecon.labeled"

    def call_log(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


def enable(monkeypatch, root: Path, fail: str | None = None) -> FakeSelinux:
    """SELinux on for _fs (and the modules using it); `fail`: restorecon prints it and exits 1."""
    selinuxfs = root / "selinuxfs"
    selinuxfs.mkdir(parents=True)
    (selinuxfs / "enforce").write_text("1")
    monkeypatch.setattr(_fs, "SELINUX_FS", str(selinuxfs))
    fake = FakeSelinux(root)
    bindir = root / "bin"
    bindir.mkdir()
    script = bindir / "restorecon"
    script.write_text(RESTORECON.format(
        calls=shlex.quote(str(fake.calls)), labeled=shlex.quote(str(fake.labeled)),
        fail=f"echo {shlex.quote(fail)} >&2; exit 1" if fail else ""))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    return fake
