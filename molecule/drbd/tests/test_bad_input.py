"""Wrong variable sets and unsafe disks for the drbd role, each refused by the role's
validation with a message naming the cause, before any host changes."""

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))

from labtest import RUNNER, SCENARIO, node, playbook  # noqa: E402  (needs the path above)

GOOD = {"name": "data", "minor": 0, "port": 7789, "disk": "/var/lib/lab-drbd/data.img", "mount_point": "/srv/data"}
USED_DISK = "/var/lib/lab-drbd/used.img"
NODES = RUNNER.get_hosts("pacemaker_nodes")

CASES = [
    ({"drbd_protocol": "D"}, "value of drbd_protocol must be one of: A, B, C, got: D"),
    ({"drbd_after_sb_2pri": "discard-secondary"}, "drbd_after_sb_2pri (discard-secondary)"),
    ({"drbd_resources": [GOOD, dict(GOOD, name="other", minor=1)]},
     "every resource needs its own name, minor, port and mount_point"),
    ({"drbd_resources": [dict(GOOD, mount_point="srv")]}, "needs name (letters, digits, - or _), minor"),
    ({"drbd_resources": [dict(GOOD, disk="/dev/nonexistent")]}, "/dev/nonexistent on ha1 does not exist"),
    ({"drbd_resources": [dict(GOOD, disk=USED_DISK)]},
     f"{USED_DISK} on ha1 already holds ext4 and no DRBD metadata"),
    ({"drbd_dry_run": False}, "has no DRBD module"),
    ({"drbd_nodes_group": "nosuch"}, "must hold exactly the two replicating nodes"),
]


@pytest.fixture(scope="module", autouse=True)
def disk_with_a_filesystem():
    for name in NODES:
        node(name).check_output(f"truncate --size 16M {USED_DISK} && mkfs.ext4 -q -F {USED_DISK}")
    yield
    for name in NODES:
        node(name).run(f"rm -f {USED_DISK}")


@pytest.mark.parametrize(("extra", "message"), CASES, ids=[c[1][:40] for c in CASES])
def test_wrong_input_is_refused_before_any_change(extra, message):
    proc = playbook(SCENARIO / "bad_input.yml", extra, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert message in " ".join(output.split()), output[-3000:]
    recaps = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", proc.stdout, re.M)
    assert recaps and all(changed == "0" for _host, changed in recaps), f"a host changed: {recaps}"
