#!/usr/bin/env bash
# Run `ansible-test sanity` for this collection without access to anything but PyPI.
#
#   tests/sanity/run.sh [extra ansible-test sanity args, e.g. --test pylint]
#
# Environment:
#   SANITY_VENV    virtualenv holding ansible-core/ansible-test (default: <repo>/.venv)
#   SANITY_PYTHON  Python version for ansible-test --python     (default: 3.11)
#
# What it does:
#   1. Installs tests/sanity/get_pip_standin.py as ansible-test's cached get-pip script
#      (~/.ansible/test/cache/get_pip_<ver>.py), for the pip version this ansible-test
#      wants. ansible-test would otherwise download it from ci-files.testing.ansible.com.
#   2. Copies the tracked + untracked-not-ignored files into a fresh
#      build/sanity/ansible_collections/<namespace>/<name> (ansible-test needs that layout).
#   3. Runs ansible-test sanity there. The controller is SANITY_VENV's Python (origin host,
#      nothing is installed into it); every sanity test gets its own venv, created by
#      ansible-test under ~/.ansible/test/venv/ and reused while its requirements are unchanged.
#      Exit status is ansible-test's: non-zero on any sanity failure.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(git -C "${script_dir}" rev-parse --show-toplevel)
venv=${SANITY_VENV:-${repo_root}/.venv}
python_version=${SANITY_PYTHON:-3.11}
python=${venv}/bin/python
ansible_test=${venv}/bin/ansible-test

for exe in "${python}" "${ansible_test}"; do
    if [[ ! -x ${exe} ]]; then
        echo "run.sh: ${exe} not found; set SANITY_VENV to a virtualenv with ansible-core installed" >&2
        exit 2
    fi
done

# CA bundle for the get-pip stand-in (ansible-test drops PIP_CERT & co. from the environment).
ca_bundle=${PIP_CERT:-${REQUESTS_CA_BUNDLE:-${SSL_CERT_FILE:-}}}
if [[ -z ${ca_bundle} && -f /etc/ssl/certs/ca-certificates.crt ]]; then
    ca_bundle=/etc/ssl/certs/ca-certificates.crt
fi

# 1. Install the get-pip stand-in where ansible-test looks for its cached download.
#    Pip version and cache file name are read from the installed ansible-test, not hard-coded.
"${python}" - "${python_version}" "${script_dir}/get_pip_standin.py" "${ca_bundle}" <<'PY'
import os
import re
import sys
import types

import ansible_test
from ansible_test._internal.python_requirements import get_venv_packages

python_version, standin_path, ca_bundle = sys.argv[1:4]

pip_version = get_venv_packages(types.SimpleNamespace(version=python_version))['pip']

setup = os.path.join(os.path.dirname(ansible_test.__file__), '_util', 'target', 'setup', 'requirements.py')
with open(setup, encoding='utf-8') as f:
    match = re.search(r"""cache_path = os\.path\.expanduser\('([^']*%s[^']*)' % pip_version\.replace\("\.", "_"\)\)""", f.read())
if not match:
    sys.exit(f'run.sh: cannot find the get-pip cache path in {setup}; ansible-test changed, update tests/sanity/run.sh')
cache_path = os.path.expanduser(match.group(1) % pip_version.replace('.', '_'))

with open(standin_path, encoding='utf-8') as f:
    source = f.read()
source, count = re.subn(r"^BAKED_CA_BUNDLE = ''$", f'BAKED_CA_BUNDLE = {ca_bundle!r}', source, flags=re.MULTILINE)
if count != 1:
    sys.exit(f'run.sh: expected one "BAKED_CA_BUNDLE = \'\'" line in {standin_path}')

try:
    with open(cache_path, encoding='utf-8') as f:
        current = f.read()
except FileNotFoundError:
    current = None

if current != source:
    os.makedirs(os.path.dirname(cache_path), exist_ok=True)
    with open(cache_path + '.tmp', 'w', encoding='utf-8') as f:
        f.write(source)
    os.replace(cache_path + '.tmp', cache_path)
    print(f'run.sh: installed get-pip stand-in for pip {pip_version}: {cache_path}')
else:
    print(f'run.sh: get-pip stand-in for pip {pip_version} up to date: {cache_path}')
PY

# 2. Fresh copy of the collection in the layout ansible-test requires.
read -r namespace name < <("${python}" -c '
import sys, yaml
with open(sys.argv[1], encoding="utf-8") as f:
    g = yaml.safe_load(f)
print(g["namespace"], g["name"])' "${repo_root}/galaxy.yml")

build_root=${repo_root}/build/sanity
collection=${build_root}/ansible_collections/${namespace}/${name}
rm -rf "${build_root}"
mkdir -p "${collection}"

(
    cd "${repo_root}"
    # -c also lists tracked files deleted from the work tree; skip those.
    git ls-files -z -co --exclude-standard |
        while IFS= read -r -d '' path; do
            if [[ -e ${path} || -L ${path} ]]; then
                printf '%s\0' "${path}"
            fi
        done |
        xargs -0 -r cp -P --preserve=mode,links --parents -t "${collection}"
)

# The collections this one imports from (openstack.cloud's module_utils and doc fragment),
# beside it in the same collection root, where ansible-test looks for dependencies: the
# copies bundled in the venv's pinned `ansible` package.
bundled=$("${python}" -c 'import ansible_collections; print(list(ansible_collections.__path__)[0])')
dependencies=(openstack/cloud)
for dependency in "${dependencies[@]}"; do
    mkdir -p "${build_root}/ansible_collections/${dependency%/*}"
    cp -a "${bundled}/${dependency}" "${build_root}/ansible_collections/${dependency}"
done

# 3. Run the sanity tests.
#    ANSIBLE_TEST_CONTENT_ROOT pins the content root to the copy. Without it ansible-test walks
#    up from the working directory, finds /work/main/.git, asks git for the file list of the
#    (git-ignored) build/ copy, gets nothing, and "passes" having tested no files.
cd "${collection}"
export ANSIBLE_TEST_CONTENT_ROOT=${collection}
"${ansible_test}" sanity --python "${python_version}" --color no "$@"
