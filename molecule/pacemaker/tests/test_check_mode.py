"""Check mode and diff mode tell the truth about the CIB: an unchanged declaration
reports no change, a changed one shows the XML that would change and leaves the
cluster as it is."""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))

import labtest  # noqa: E402  (needs the path above)

MEMBERS = labtest.RUNNER.get_hosts("pacemaker_nodes")
VIP = labtest.first_vip()

testinfra_hosts = []


def declaration(monitor_interval):
    return {"pacemaker_resources": [
        {"id": "vip-web", "agent": "ocf:heartbeat:IPaddr2", "params": {"ip": VIP, "cidr_netmask": 24},
         "ops": [{"name": "monitor", "interval": monitor_interval, "timeout": "20s"}]},
        {"id": "web", "agent": "systemd:lab-web"}]}


def run_check(extra):
    proc = labtest.playbook(labtest.SCENARIO / "bad_input.yml", extra, args=["--check", "--diff"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc.stdout, dict(re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", proc.stdout, re.M))


def cib_monitor_intervals():
    out = labtest.in_node(MEMBERS[0], "cibadmin --query --xpath \"//primitive[@id='vip-web']//op\"").stdout
    return re.findall(r'interval="([^"]+)"', out)


def test_check_mode_on_the_converged_cluster_reports_no_change():
    out, changed = run_check(declaration("5s"))
    assert changed and all(count == "0" for count in changed.values()), out[-3000:]


def test_check_mode_shows_the_change_and_leaves_the_cib_alone():
    out, changed = run_check(declaration("7s"))
    assert changed[MEMBERS[0]] != "0", out[-3000:]
    shown = out[out.find("Apply the declared resources"):][:3000]
    assert re.search(r'^-\s+<op [^>]*interval="5s"', out, re.M), shown
    assert re.search(r'^\+\s+<op [^>]*interval="7s"', out, re.M), shown
    assert cib_monitor_intervals() == ["5s"]
