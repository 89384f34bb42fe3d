"""Wrong inputs to the galera, garbd and haproxy roles, each refused by the role's
validation with a message naming the cause, before any host changes (the play recap
shows no change on any host). Runs against the converged scenario."""

import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))
import labtest  # noqa: E402

CASES = [
    # Two data nodes and no arbitrator: losing one costs the other its quorum.
    ("galera_nodes", {"galera_arbitrator_group": "nosuch"},
     "2 member(s). A Galera cluster needs an odd number of members, at least three"),
    ("galera_nodes", {"galera_users": [{"name": "app", "password": ""}]},
     "a password of at least 12 characters or none (one is generated)"),
    ("galera_nodes", {"galera_secrets_dir": "relative/dir"}, "galera_secrets_dir (relative/dir) an absolute path"),
    ("galera_nodes", {"galera_config": {"wsrep-on": "OFF"}}, "galera_config must be a mapping and must not set wsrep_on"),
    ("galera_nodes", {"galera_tls_ca_cert": "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----"},
     "galera_tls_ca_cert and galera_tls_ca_key come together"),
    ("galera_nodes", {"galera_users": [{"name": "app", "databases": ["nosuch"]}]}, "app (databases)"),
    ("galera_nodes", {"galera_evs_suspect_timeout": 0.6}, "galera_evs_suspect_timeout (0.6) < galera_evs_inactive_timeout"),
    ("galera_arbitrator", {"garbd_cluster_name": "another"}, "the arbitrator could never join"),
    ("haproxy_nodes", {"haproxy_vip": "192.0.2.10"}, "haproxy_vip: haproxy-vip: VIP 192.0.2.10 is outside"),
    ("haproxy_nodes", {"haproxy_stats_password": "short"}, "haproxy_stats_password must have at least 12 characters"),
    ("haproxy_nodes", {"haproxy_health_check": "ping"}, "haproxy_health_check"),
]


@pytest.mark.parametrize(("limit", "extra", "message"), CASES, ids=[next(iter(c[1])) for c in CASES])
def test_wrong_input_is_refused_before_any_change(limit, extra, message):
    run = labtest.playbook(labtest.SCENARIO / "bad_input.yml", extra, timeout=600, args=("--limit", limit))
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-3000:]
    assert message in " ".join(output.split()), output[-3000:]
    recaps = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", run.stdout, re.M)
    assert recaps, output[-3000:]
    assert all(changed == "0" for _host, changed in recaps), f"a host changed: {recaps}"
