"""Wrong inputs to the frt_server and frt_client roles, each refused by the role's
validation with a message naming the cause, before any host changes (the play recap
shows no change on any host). Runs against the converged scenario."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))
import labtest  # noqa: E402

CASES = [
    # 10 ports cannot hold vm1 (1 static + quota 1) and vm2 (2 static + quota 2) when cut to 4.
    ({"frt_server_port_range_end": 20003}, "has 4 ports; the clients in 'frt_clients' need 6"),
    # Inside the kernel's ephemeral ports (32768-60999 by default).
    ({"frt_server_port_range_start": 30000, "frt_server_port_range_end": 40000}, "overlaps the kernel's ephemeral ports"),
    ({"frt_server_port": 20005}, "frt_server_port (20005) a port outside it"),
    ({"frt_server_expose": {"*": ["not-a-network"]}}, "a mapping of tunnel names (or '*') to lists of networks"),
    ({"frt_client_generate_key": False}, "has no key for its tunnels"),
    ({"frt_client_tunnels": [{"name": "ssh", "port": 22}, {"name": "ssh", "port": 80}]}, "name (as the VM name, unique)"),
]


@pytest.mark.parametrize(("extra", "message"), CASES, ids=[next(iter(c[0])) for c in CASES])
def test_wrong_input_is_refused_before_any_change(extra, message):
    run = labtest.playbook(labtest.SCENARIO / "bad_input.yml", extra, timeout=600)
    labtest.assert_refused_before_any_change(run, message)
