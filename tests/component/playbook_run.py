"""ansible-playbook run as the unit tests run it: this checkout's ansible.cfg (the collection from here),
the venv's ansible-playbook, output captured as text, no colour, bounded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def ansible_playbook(*args, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`ansible-playbook *args` in the repository root; never raises on a failed run (check returncode)."""
    environ = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
               **(env or {})}
    return subprocess.run([str(ANSIBLE_PLAYBOOK), *map(str, args)], cwd=REPO, env=environ,
                          capture_output=True, text=True, timeout=timeout, check=False)


def on_localhost(*args, **kwargs) -> subprocess.CompletedProcess:
    """ansible_playbook against localhost over the local connection, with this interpreter."""
    return ansible_playbook("-i", "localhost,", "-c", "local",
                            "-e", f"ansible_python_interpreter={sys.executable}", *args, **kwargs)
