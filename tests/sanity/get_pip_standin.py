"""Offline stand-in for the get-pip bootstrap script that ansible-test downloads.

ansible-test bootstraps pip into each (empty) sanity-test virtual environment by running
``https://ci-files.testing.ansible.com/ansible-test/get-pip-<version>.py``, cached as
``~/.ansible/test/cache/get_pip_<version>.py``.  That host is unreachable from CI, so
tests/sanity/run.sh installs this file at the cache path instead.

It accepts the same command line ansible-test gives get-pip.py (pip install arguments plus
``--no-setuptools`` / ``--no-wheel``), bootstraps pip from the interpreter's bundled
``ensurepip`` wheels (no network), then installs the requested pip version from the package
index.  ansible-test strips PIP_CERT and friends from the environment, so the CA bundle is
passed to pip explicitly; run.sh bakes the bundle in effect at install time into
BAKED_CA_BUNDLE.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

# Replaced by tests/sanity/run.sh when it copies this file into ansible-test's cache.
BAKED_CA_BUNDLE = ''

DEFAULT_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt'


def find_ca_bundle() -> str | None:
    """Return the CA bundle pip should use, or None to use pip's own default."""
    candidates = [
        os.environ.get('PIP_CERT'),
        os.environ.get('REQUESTS_CA_BUNDLE'),
        os.environ.get('SSL_CERT_FILE'),
        BAKED_CA_BUNDLE,
        DEFAULT_CA_BUNDLE,
    ]

    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            return candidate

    return None


def run(cmd: list[str]) -> None:
    """Run a command, exiting with its status if it fails."""
    sys.stdout.flush()
    result = subprocess.run(cmd, check=False)

    if result.returncode:
        sys.exit(result.returncode)


def main() -> None:
    """Bootstrap pip the way get-pip.py would, without downloading get-pip.py."""
    args = sys.argv[1:]
    no_setuptools = '--no-setuptools' in args or bool(os.environ.get('PIP_NO_SETUPTOOLS'))
    no_wheel = '--no-wheel' in args or bool(os.environ.get('PIP_NO_WHEEL'))
    install_args = [arg for arg in args if arg not in ('--no-setuptools', '--no-wheel')]

    python = sys.executable

    # 1. Offline bootstrap from the wheels bundled with the interpreter.
    run([python, '-m', 'ensurepip', '--default-pip'])

    # 2. Install the requested pip version (and, like get-pip.py, setuptools/wheel unless disabled).
    cmd = [python, '-m', 'pip', 'install', '--upgrade', '--force-reinstall']

    ca_bundle = find_ca_bundle()

    if ca_bundle:
        cmd.extend(['--cert', ca_bundle])

    cmd.extend(install_args)

    if not any(re.match(r'pip\s*([=<>!~;\[]|$)', arg, re.IGNORECASE) for arg in install_args):
        cmd.append('pip')

    if not no_setuptools:
        cmd.append('setuptools')

    if not no_wheel:
        cmd.append('wheel')

    run(cmd)

    # 3. ensurepip on Python < 3.12 also installs setuptools; get-pip.py --no-setuptools would not.
    if no_setuptools:
        run([python, '-m', 'pip', 'uninstall', '--yes', '--quiet', '--disable-pip-version-check', 'setuptools'])


if __name__ == '__main__':
    main()
