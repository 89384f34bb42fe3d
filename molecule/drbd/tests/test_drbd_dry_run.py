"""The drbd role's dry run, checked on the nodes: one configuration on both nodes that
DRBD 8.4's parser accepts, peers authenticated with one secret, explicit split-brain
policies and Pacemaker fence-peer handlers, and a Pacemaker CIB (built offline) that
crm_verify accepts, with the filesystem tied to the promoted DRBD instance."""

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))

from labtest import RUNNER, node  # noqa: E402  (needs the path above)

NODES = RUNNER.get_hosts("pacemaker_nodes")
OFFLINE_CIB = "/var/lib/stormclouds/drbd-dry-run-cib.xml"

testinfra_hosts = []


def test_both_nodes_hold_the_same_configuration_with_one_secret():
    dumps, secrets = set(), set()
    for name in NODES:
        host = node(name)
        res = host.file("/etc/drbd.d/data.res")
        assert res.mode == 0o600 and res.user == "root"
        secrets.add(re.search(r'shared-secret "([^"]+)"', res.content_string).group(1))
        dump = host.check_output("/lib/drbd/drbdadm-84 dump all")
        # drbdadm marks which host it runs on in comments; the configuration is the rest.
        dumps.add("\n".join(line for line in dump.splitlines() if not line.lstrip().startswith("#")))
    assert len(secrets) == 1 and len(secrets.pop()) >= 32
    assert len(dumps) == 1, "the nodes see different configurations"


def test_the_configuration_says_what_an_operator_expects():
    dump = node(NODES[0]).check_output("/lib/drbd/drbdadm-84 dump all")
    flat = " ".join(dump.replace('"', "").split())
    for expected in ("protocol C;", "after-sb-0pri discard-zero-changes;", "after-sb-1pri discard-secondary;",
                     "after-sb-2pri disconnect;", "fencing resource-only;", "cram-hmac-alg sha256;",
                     "fence-peer /usr/lib/drbd/crm-fence-peer.sh;",
                     "after-resync-target /usr/lib/drbd/crm-unfence-peer.sh;"):
        assert expected in flat, dump
    for name in NODES:
        address = RUNNER.get_variables(name)["ansible_host"]
        assert f"address ipv4 {address}:7789;" in flat and f"address ipv4 {address}:7790;" in flat, dump


def test_drbdadm_would_attach_and_connect_each_device():
    out = node(NODES[0]).check_output("/lib/drbd/drbdadm-84 -d up all")
    assert re.search(r"drbdsetup-84 attach 0 /var/lib/lab-drbd/data.img /var/lib/lab-drbd/data.img internal", out), out
    assert re.search(r"drbdsetup-84 connect data ipv4:\S+:7789 ipv4:\S+:7789", out), out
    assert re.search(r"drbdsetup-84 attach 1 /var/lib/lab-drbd/logs.img", out), out


def test_the_offline_cib_ties_each_filesystem_to_the_promoted_drbd_instance():
    host = node(NODES[0])
    host.check_output(f"crm_verify --xml-file {OFFLINE_CIB}")
    cib = ET.fromstring(host.check_output(f"cat {OFFLINE_CIB}"))
    for res in ("data", "logs"):
        clone = cib.find(f".//clone[@id='drbd-{res}-clone']")
        meta = {nv.get("name"): nv.get("value") for nv in clone.findall("meta_attributes/nvpair")}
        assert meta["promotable"] == "true" and meta["promoted-max"] == "1" and meta["notify"] == "true"
        primitive = clone.find("primitive")
        assert (primitive.get("provider"), primitive.get("type")) == ("linbit", "drbd")
        colocation = cib.find(f".//rsc_colocation[@rsc='fs-{res}']")
        assert colocation.get("with-rsc") == f"drbd-{res}-clone" and colocation.get("with-rsc-role") == "Promoted"
        order = cib.find(f".//rsc_order[@then='fs-{res}']")
        assert order.get("first") == f"drbd-{res}-clone" and order.get("first-action") == "promote"
    assert cib.find(".//primitive[@id='fs-logs']/instance_attributes/nvpair[@name='fstype']").get("value") == "xfs"
