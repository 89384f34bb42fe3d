"""A Corosync configuration change on a formed cluster restarts one node at a time:
while the role rolls the change out, some member stays quorate throughout, and the
new setting is live on every member afterwards. Runs after the other checks (it
changes the cluster's token timeout) and puts the scenario's value back at the end."""

import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))

from labtest import RUNNER, SCENARIO, node, playbook, ssh  # noqa: E402  (needs the path above)

MEMBERS = RUNNER.get_hosts("pacemaker_nodes")

testinfra_hosts = []


def converge(extra):
    return playbook(SCENARIO / "bad_input.yml", extra)


def quorate_members():
    found = []
    for name in MEMBERS:
        out = ssh(name, "corosync-quorumtool -s").stdout
        if "Quorate: Yes" in " ".join(out.split()):
            found.append(name)
    return found


def test_a_token_change_rolls_through_the_members_without_losing_quorum():
    samples, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            samples.append((time.monotonic(), quorate_members()))
            time.sleep(0.3)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        proc = converge({"pacemaker_totem_token": 1500, "pacemaker_totem_consensus": 1800})
    finally:
        stop.set()
        watcher.join(timeout=30)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "RUNNING HANDLER [stormclouds.platform.pacemaker : Restart corosync]" in proc.stdout
    assert samples, "the watcher took no sample"
    lost = [t for t, members in samples if not members]
    assert not lost, f"no member was quorate at {len(lost)} of {len(samples)} samples"
    for name in MEMBERS:
        assert node(name).check_output("corosync-cmapctl -g runtime.config.totem.token").endswith("= 1500")
    restore = converge({})
    assert restore.returncode == 0, restore.stdout[-3000:]
