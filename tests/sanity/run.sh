#!/usr/bin/env bash
# ansible-test sanity for the kubedr.kubeadm collection, run locally: no containers, controller Python only.
#
# ansible-test insists on running from <dir>/ansible_collections/<namespace>/<name>, so the collection
# is copied to such a path in a temporary directory. The copy holds what git knows about (tracked
# files plus untracked files that .gitignore does not ignore), so caches, .venv and the lab's own
# inventory never reach the tests. Development tooling that the collection does not ship and that
# ruff checks instead (lab/, bench/, .ci/, tools/, *.egg-info) is left out too.
#
# Each sanity test runs in its own virtualenv, which ansible-test creates under ~/.ansible/test/venv
# from its pinned requirements (pip, from PyPI) the first time and reuses afterwards.
#
# Usage: tests/sanity/run.sh [extra ansible-test sanity arguments, e.g. --test pylint]
# Set KUBEDR_SANITY_KEEP=1 to keep the copy (and its tests/output/) for a look after a failure.
set -euo pipefail

repo=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
bin=$repo/.venv/bin
if [[ ! -x $bin/ansible-test ]]; then
    bin=$(dirname "$(command -v ansible-test)")
fi
# The controller Python: the one ansible-test itself runs with.
python_version=$("$bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

cache=$HOME/.ansible/test
mkdir -p "$cache/cache"

# ansible-test's virtualenv cache is shared by every run under this $HOME and is not safe to build
# from two runs at once (a venv half made by one is deleted or reused by the other): take turns.
exec 9>"$cache/kubedr-sanity.lock"
if ! flock --nonblock 9; then
    echo "waiting for another sanity run to finish (lock $cache/kubedr-sanity.lock)" >&2
    flock 9
fi

# ansible-test makes each sanity virtualenv without pip, then bootstraps pip with a get-pip script it
# downloads from ci-files.testing.ansible.com, which is out of reach here (package registries only).
# It uses a copy in its cache when there is one (its error message says to save the script there),
# so if none is there put in a stand-in that does the same job through PyPI: pip from the
# interpreter's bundled ensurepip, upgraded to the exact pip version ansible-test asks for.
pip_version=$("$bin/python" - "$python_version" <<'EOF'
import sys, types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version=sys.argv[1]))["pip"])
EOF
)
get_pip=$cache/cache/get_pip_${pip_version//./_}.py
if [[ ! -s $get_pip ]]; then
    cat >"$get_pip.tmp" <<'EOF'
"""Stand-in for get-pip.py, written by kubedr.kubeadm's tests/sanity/run.sh (no access to ci-files).

Same contract as get-pip.py when ansible-test runs it: argv holds pip requirement(s) and options,
plus get-pip's own --no-setuptools / --no-wheel. Delete this file to let ansible-test download
the real script.
"""
import ensurepip
import os
import subprocess
import sys

own_flags = {"--no-setuptools", "--no-wheel"}
args = [arg for arg in sys.argv[1:] if arg not in own_flags]
env = dict(os.environ)  # ensurepip sets PIP_CONFIG_FILE=/dev/null in os.environ: keep pip.conf for the rest
ensurepip.bootstrap()
subprocess.check_call([sys.executable, "-m", "pip", "install", "--upgrade", *args], env=env)
if "--no-setuptools" in sys.argv:
    subprocess.check_call([sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", "setuptools"], env=env)
EOF
    mv "$get_pip.tmp" "$get_pip"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kubedr-sanity.XXXXXX")
if [[ ${KUBEDR_SANITY_KEEP:-0} == 1 ]]; then
    trap 'echo "sanity copy kept in $tmp" >&2' EXIT
else
    trap 'rm -rf "$tmp"' EXIT
fi
collection=$tmp/ansible_collections/kubedr/kubeadm
mkdir -p "$collection"

git -C "$repo" ls-files -z --cached --others --exclude-standard --deduplicate |
    while IFS= read -r -d '' path; do
        [[ -e $repo/$path || -L $repo/$path ]] || continue  # tracked, but deleted in the work tree
        case $path in
            lab/* | bench/* | .ci/* | tools/* | *.egg-info/*) continue ;;
        esac
        printf '%s\0' "$path"
    done |
    tar -C "$repo" --null --files-from=- -cf - |
    tar -C "$collection" -xf -

# Tests left out, and why:
#   pslint      PowerShell lint; needs pwsh, and the collection has no PowerShell.
# Every other test runs, for the controller Python only (--python): the machine has no other
# Python, so compile/import are not checked for the older target Pythons ansible-core supports.
cd "$collection"
"$bin/ansible-test" sanity \
    --python "$python_version" \
    --skip-test pslint \
    --color no \
    "$@"
