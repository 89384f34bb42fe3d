"""Wrong variable sets for the pacemaker role, each refused by the role's validation
with a message naming the variable, before any host changes (the play recap shows
no change on any host). Runs against the converged scenario cluster."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
INVENTORY_DIR = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])

VIP_OUTSIDE = [{"id": "vip-out", "agent": "ocf:heartbeat:IPaddr2", "params": {"ip": "192.0.2.10"}}]
TWICE = [{"id": "web", "agent": "systemd:lab-web"}, {"id": "web", "agent": "systemd:lab-web"}]

CASES = [
    ({"pacemaker_fencing_disabled_acknowledged": False}, "pacemaker_fencing is 'none'"),
    ({"pacemaker_fencing": "openstack"},
     "pacemaker_fencing is 'openstack' but pacemaker_fence_openstack_auth lacks auth_url, username, password"),
    ({"pacemaker_quorum_group": "nosuch"}, "Two cluster nodes and no quorum node"),
    ({"pacemaker_cluster_name": "bad name!"}, "pacemaker_cluster_name 'bad name!' must be"),
    ({"pacemaker_totem_consensus": 250}, "pacemaker_totem_consensus (250 ms) above it"),
    ({"pacemaker_qdevice_timeout": 1000}, "pacemaker_qdevice_timeout (1000 ms) at least 1250"),
    ({"pacemaker_quorum_mode": "arbiter"}, "pacemaker_quorum_mode"),
    ({"pacemaker_cluster_properties": {"stonith-enabled": True}}, "stonith-enabled follows pacemaker_fencing"),
    ({"pacemaker_nodes_group": "pacemaker_quorum"}, "has 1 hosts; an active-passive cluster needs 2 to 16 nodes"),
    ({"pacemaker_resources": VIP_OUTSIDE},
     "pacemaker_resources: vip-out: VIP 192.0.2.10 is outside the cluster nodes' subnets"),
    ({"pacemaker_resources": TWICE}, "pacemaker_resources: id web is declared twice"),
    ({"pacemaker_groups": [{"id": "g", "members": ["ghost"]}]},
     "pacemaker_groups: g: member ghost is not declared in pacemaker_resources"),
    ({"pacemaker_constraints": [{"kind": "location", "resource": "web-group", "node": "ha9"}]},
     "pacemaker_constraints: location-web-group-ha9: node ha9 is not a cluster node"),
    ({"pacemaker_constraints": [{"kind": "order", "first": "web-group", "then": "nothing"}]},
     "order-web-group-then-nothing refers to nothing, which is not declared"),
]


@pytest.mark.parametrize(("extra", "message"), CASES, ids=[next(iter(c[0])) for c in CASES])
def test_wrong_variables_are_refused_before_any_change(extra, message):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(
        ["ansible-playbook", "-i", INVENTORY_DIR, str(SCENARIO / "bad_input.yml"), "-e", json.dumps(extra)],
        capture_output=True, text=True, env=env, check=False, timeout=300, stdin=subprocess.DEVNULL,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    flat = " ".join(output.split())
    assert message in flat, output[-3000:]
    recaps = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", proc.stdout, re.M)
    assert recaps, output[-3000:]
    assert all(changed == "0" for _host, changed in recaps), f"a host changed: {recaps}"
