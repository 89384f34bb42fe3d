"""pacemaker_quorum_mode: member. The quorum node is a Corosync/Pacemaker member with
a vote, in permanent standby so that no resource can ever run on it."""

import os
import re

import testinfra
import testinfra.utils.ansible_runner

INVENTORY_DIR = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY_DIR)
MEMBERS = RUNNER.get_hosts("pacemaker_nodes")
QUORUM = RUNNER.get_hosts("pacemaker_quorum")[0]

testinfra_hosts = []


def node(name):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY_DIR}")


def test_three_members_vote_without_a_quorum_device():
    for name in MEMBERS + [QUORUM]:
        out = node(name).check_output("corosync-quorumtool -s")
        assert "Quorate" in out and "Qdevice" not in out, out
        assert re.search(r"Total votes:\s+3\b", out), out


def test_the_quorum_node_stays_in_standby_and_the_others_online():
    out = node(MEMBERS[0]).check_output("crm_mon --one-shot")
    assert f"Node {QUORUM}: standby" in out, out
    assert f"Online: [ {' '.join(sorted(MEMBERS))} ]" in out, out
    standby = node(MEMBERS[0]).check_output(f"crm_attribute --node {QUORUM} --name standby --lifetime forever --query --quiet")
    assert standby == "on"


def test_no_arbitrator_is_installed_anywhere():
    for name in MEMBERS + [QUORUM]:
        host = node(name)
        assert not host.package("corosync-qnetd").is_installed
        assert not host.package("corosync-qdevice").is_installed
        assert host.service("pacemaker").is_running


def test_the_declared_group_runs_on_a_member_and_never_on_the_quorum_node():
    located = node(MEMBERS[0]).check_output("crm_resource --locate --resource web-group")
    assert any(f"running on: {name}" in located for name in MEMBERS), located
    assert QUORUM not in located, located
