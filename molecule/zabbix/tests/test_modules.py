"""The Zabbix modules (hosts, proxies, template, info) against the scenario's real
server, from the controller: modules.yml asserts each step (check mode writes nothing,
a second run changes nothing, diffs never show a key, removal)."""

import os
import sys

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))
import labtest  # noqa: E402


def test_the_modules_drive_the_real_api():
    password = labtest.ssh("zbx1", "cat /etc/zabbix/stormclouds-secrets/admin.password").stdout.strip()
    run = labtest.playbook(labtest.SCENARIO / "modules.yml", {"zabbix_test_admin_password": password}, timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-5000:]
    assert "failed=0" in run.stdout
