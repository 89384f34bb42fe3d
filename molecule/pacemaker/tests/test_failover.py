"""The VIP and the service behind it, seen from a client (the lab host): served by one
node, moved to the other when that node dies or is cut off the network, never held by
two nodes once the network heals, and the lost node back with no manual step."""

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))

import labtest  # noqa: E402  (needs the path above)
from sclab.probe import http_body  # noqa: E402  (labtest puts tools/lab on the path)

MEMBERS = labtest.RUNNER.get_hosts("pacemaker_nodes")
# The scenario's VIP: the first address of the lab's VIP range (molecule.yml).
VIP = labtest.first_vip()
PORT = 8080

testinfra_hosts = []


def ask_vip(timeout=0.3):
    """The name of the node answering on the VIP, or None."""
    return http_body(VIP, PORT, timeout)


def holders():
    """Members that have the VIP configured on an interface (seen through podman, so
    a node cut off the network still answers)."""
    found = []
    for name in MEMBERS:
        out = labtest.in_node(name, "ip -4 -o addr show").stdout
        if f" {VIP}/" in out:
            found.append(name)
    return found


def wait_healthy(timeout=120):
    def check():
        out = labtest.in_node(MEMBERS[0], "crm_mon --one-shot").stdout
        online = f"Online: [ {' '.join(sorted(MEMBERS))} ]" in out
        serving = ask_vip() in MEMBERS
        return online and serving and "partition with quorum" in out and len(holders()) == 1, out

    labtest.wait_for(check, timeout, "both members online and the VIP served by one of them")
    # And it stays that way: the same Corosync membership (ring id) for a while, so a
    # flapping membership (false failovers) fails here rather than in a later test.
    ring = ring_id()
    time.sleep(8)
    assert ring_id() == ring, f"the membership changed while the cluster was idle:\n{ring} -> {ring_id()}"


def ring_id():
    out = labtest.in_node(MEMBERS[0], "corosync-quorumtool -s").stdout
    match = re.search(r"Ring ID:\s+(\S+)", out)
    return match.group(1) if match else out


def test_the_vip_serves_the_web_service_from_the_node_pacemaker_chose():
    wait_healthy()
    answer = ask_vip()
    located = labtest.in_node(MEMBERS[0], "crm_resource --locate --resource web-group").stdout
    assert f"running on: {answer}" in located, located
    assert holders() == [answer]


def test_a_hard_kill_of_the_active_node_moves_the_vip_and_the_node_rejoins():
    wait_healthy()
    victim = ask_vip()
    survivor = next(m for m in MEMBERS if m != victim)
    labtest.kill(victim)
    started = time.monotonic()
    labtest.wait_for(lambda: (ask_vip() == survivor, ask_vip()), 30, f"the VIP answered by {survivor}",
                     interval=0.05)
    moved_after = time.monotonic() - started
    labtest.boot_again()
    wait_healthy()
    # Stickiness keeps the service where it is now: no second move when the node returns.
    assert ask_vip() == survivor
    print(f"VIP answered from {survivor} {moved_after:.2f} s after {victim} was killed")


def test_a_node_cut_off_the_network_stops_its_resources_and_never_shares_the_vip_after_healing():
    wait_healthy()
    isolated = ask_vip()
    survivor = next(m for m in MEMBERS if m != isolated)
    labtest.cut(isolated)
    healed = False
    try:
        started = time.monotonic()
        labtest.wait_for(lambda: (ask_vip() == survivor, ask_vip()), 60, f"the VIP answered by {survivor}",
                         interval=0.1)
        took_over = time.monotonic() - started

        def isolated_stopped():
            out = labtest.in_node(isolated, "corosync-quorumtool -s").stdout
            return isolated not in holders() and re.search(r"Quorate:\s+No", out) is not None, out

        # Without quorum the isolated node must stop everything (no-quorum-policy=stop).
        labtest.wait_for(isolated_stopped, 30, f"{isolated} without quorum and without the VIP")
        stopped_after = time.monotonic() - started
        assert labtest.in_node(isolated, "systemctl is-active lab-web").stdout.strip() != "active"

        labtest.heal(isolated)
        healed = True
        # From the moment the link is back, never two nodes with the address.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            now = holders()
            assert len(now) <= 1, f"two nodes hold the VIP after healing: {now}"
            time.sleep(0.2)
        wait_healthy()
        assert ask_vip() == survivor
        print(f"{survivor} took the VIP over {took_over:.2f} s after the cut; "
              f"{isolated} had stopped it {stopped_after:.2f} s after the cut")
    finally:
        if not healed:
            labtest.heal(isolated)
