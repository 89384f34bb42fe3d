"""The pacemaker role's cluster, checked on the nodes: two members and a qnetd
arbitrator, quorate with three votes, encrypted, and surviving the hard kill of a
member (the survivor keeps quorum through the arbitrator, the killed node rejoins
by itself when it boots again)."""

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))

from labtest import RUNNER, boot_again, kill, node, wait_for  # noqa: E402  (needs the path above)

MEMBERS = RUNNER.get_hosts("pacemaker_nodes")
ARBITRATOR = RUNNER.get_hosts("pacemaker_quorum")[0]
CLUSTER = RUNNER.get_variables(MEMBERS[0])["pacemaker_cluster_name"]

# No per-host parametrisation: each test says which node it looks at.
testinfra_hosts = []


def quorum(host):
    out = host.run("corosync-quorumtool -s").stdout
    votes = re.search(r"Total votes:\s+(\d+)", out)
    return ("Quorate" in out.split("Flags:", 1)[-1], int(votes.group(1)) if votes else 0, out)


def test_members_are_quorate_with_both_nodes_and_the_qdevice():
    for name in MEMBERS:
        quorate, votes, out = quorum(node(name))
        assert quorate and votes == 3, out
        assert "Qdevice" in out, out


def test_every_member_is_online_in_pacemaker_with_the_options_set():
    out = node(MEMBERS[0]).check_output("crm_mon --one-shot")
    assert f"Online: [ {' '.join(sorted(MEMBERS))} ]" in out, out
    assert "partition with quorum" in out, out
    ha1 = node(MEMBERS[0])
    assert ha1.check_output("crm_attribute --type crm_config --name stonith-enabled --query --quiet") == "false"
    assert ha1.check_output("crm_attribute --type rsc_defaults --name resource-stickiness --query --quiet") == "100"


def test_cluster_traffic_is_encrypted_with_one_shared_key():
    digests = set()
    for name in MEMBERS:
        host = node(name)
        key = host.file("/etc/corosync/authkey")
        assert key.mode == 0o400 and key.user == "root"
        digests.add(host.check_output("sha256sum /etc/corosync/authkey").split()[0])
        assert host.check_output("corosync-cmapctl -g totem.crypto_cipher").endswith("= aes256")
        assert host.check_output("corosync-cmapctl -g totem.crypto_hash").endswith("= sha256")
    assert len(digests) == 1, "members hold different authkeys"


def test_the_quorum_node_is_an_arbitrator_only():
    arbitrator = node(ARBITRATOR)
    assert arbitrator.service("corosync-qnetd").is_running
    assert not arbitrator.package("pacemaker").is_installed
    assert not arbitrator.package("corosync").is_installed
    clusters = arbitrator.check_output("corosync-qnetd-tool -l")
    assert f'Cluster "{CLUSTER}"' in clusters, clusters
    assert clusters.count("Node ID") == len(MEMBERS), clusters
    # Every member reaches it over TLS with a client certificate the CA signed.
    verbose = arbitrator.check_output("corosync-qnetd-tool -l -v")
    assert len(re.findall(r"TLS active:\s+Yes \(client certificate verified\)", verbose)) == len(MEMBERS), verbose


def test_a_killed_member_leaves_the_survivor_quorate_and_rejoins_when_booted():
    survivor, victim = node(MEMBERS[0]), MEMBERS[1]
    kill(victim)
    started = time.monotonic()

    def survivor_alone():
        quorate, votes, out = quorum(survivor)
        return quorate and votes == 2, out

    wait_for(survivor_alone, 30, f"{MEMBERS[0]} quorate alone with the qdevice")
    lost_after = time.monotonic() - started
    assert "partition with quorum" in survivor.check_output("crm_mon --one-shot")

    # Booting the node again (what a hypervisor restart does) is the only step:
    # corosync, qdevice and pacemaker start at boot and it rejoins.
    boot_again()

    def both_online():
        out = survivor.run("crm_mon --one-shot").stdout
        quorate, votes = quorum(survivor)[:2]
        return f"Online: [ {' '.join(sorted(MEMBERS))} ]" in out and quorate and votes == 3, out

    wait_for(both_online, 90, f"{victim} back online")
    print(f"survivor saw the loss and kept quorum {lost_after:.1f} s after the kill")
