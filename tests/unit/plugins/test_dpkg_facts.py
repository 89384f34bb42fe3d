"""dpkg_facts: dpkg-query's lines read into package_facts' format, and on this Debian host the same
packages and versions as package_facts with the apt backend, which the roles used before."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.stormclouds.platform.plugins.modules import dpkg_facts

ROOT = Path(__file__).resolve().parents[3]
ANSIBLE = Path(sys.executable).with_name("ansible")


def test_only_installed_packages_are_reported_in_package_facts_format():
    output = (
        "mariadb-server\t1:10.11.6-0+deb12u1\tamd64\tinstalled\n"
        "galera-4\t26.4.14-0+deb12u1\tamd64\tunpacked\n"
        "chrony\t4.3-2+deb12u1\tamd64\tconfig-files\n"
        "zabbix-agent2\t1:6.0.14+dfsg-1+b1\tamd64\thalf-configured\n"
        "tzdata\t2024a-0+deb12u1\tall\tinstalled\n"
    )
    assert dpkg_facts.parse(output) == {
        "mariadb-server": [{"name": "mariadb-server", "version": "1:10.11.6-0+deb12u1", "arch": "amd64", "source": "apt"}],
        "tzdata": [{"name": "tzdata", "version": "2024a-0+deb12u1", "arch": "all", "source": "apt"}],
    }


def test_a_package_installed_for_two_architectures_has_two_instances():
    output = "libc6\t2.36-9+deb12u4\tamd64\tinstalled\nlibc6\t2.36-9+deb12u4\ti386\tinstalled\n"
    assert [instance["arch"] for instance in dpkg_facts.parse(output)["libc6"]] == ["amd64", "i386"]


@pytest.mark.parametrize("line", ["", "just-a-name", "name\tversion\tinstalled", "a\tb\tc\td\te"])
def test_lines_not_in_the_query_format_are_skipped(line):
    assert dpkg_facts.parse(line + "\n") == {}


def _facts(tree, module, *args):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    proc = subprocess.run([str(ANSIBLE), "localhost", "-c", "local", "-e", "ansible_python_interpreter=/usr/bin/python3",
                           "--tree", str(tree), "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False, stdin=subprocess.DEVNULL, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((tree / "localhost").read_text())
    assert result["changed"] is False
    return {name: sorted((i["version"], i["arch"]) for i in instances)
            for name, instances in result["ansible_facts"]["packages"].items()}


@pytest.mark.skipif(not Path("/usr/bin/dpkg-query").exists() or not Path("/usr/lib/python3/dist-packages/apt").exists(),
                    reason="needs a Debian host with python3-apt")
def test_this_host_reads_the_same_as_package_facts_with_the_apt_backend(tmp_path):
    ours = _facts(tmp_path / "ours", "stormclouds.platform.dpkg_facts")
    theirs = _facts(tmp_path / "theirs", "ansible.builtin.package_facts", "-a", "manager=apt")
    assert "dpkg" in ours
    assert ours == theirs
