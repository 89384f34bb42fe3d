"""Wrong inputs to the Zabbix roles, each refused with a message naming the cause before
any host changes (the play recap shows no change). Runs against the converged scenario."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))
import labtest  # noqa: E402

SERVER = {"bad_input_role": "zabbix_server", "bad_input_group": "zabbix_servers"}
AGENT = {"bad_input_role": "zabbix_agent", "bad_input_group": "zabbix_agents"}
PROXY = {"bad_input_role": "zabbix_proxy", "bad_input_group": "zabbix_proxies"}

CASES = [
    (dict(AGENT, zabbix_agent_psk="abcdef0123"),
     "zabbix_agent_psk must be 32 to 512 hex digits, an even number (it has 10 characters)"),
    (dict(PROXY, zabbix_proxy_psk="a" * 33), "zabbix_proxy_psk 32 to 512 hex digits, an even number (it has 33 characters)"),
    # The argument specification refuses it before the role's own checks.
    (dict(SERVER, zabbix_server_ha_mode="multi-active"),
     "value of zabbix_server_ha_mode must be one of: native, pacemaker, got: multi-active"),
    # On the server nodes: zdb1's agent reports to its proxy and needs no server list.
    (dict(AGENT, bad_input_group="zabbix_servers", zabbix_agent_servers=[]),
     "zabbix_agent_servers ([]) must list the server nodes"),
    (dict(SERVER, zabbix_server_ha_failover_delay="5s"), "zabbix_server_ha_failover_delay (5s) from 10s to 15m"),
    (dict(SERVER, zabbix_server_database_host=""), "zabbix_server_database_host is empty"),
    (dict(SERVER, zabbix_server_config={"DBPassword": "x"}), "may not set what the role owns"),
]


@pytest.mark.parametrize(("extra", "message"), CASES, ids=[f"{c[0]['bad_input_role']}-{i}" for i, c in enumerate(CASES)])
def test_wrong_input_is_refused_before_any_change(extra, message):
    run = labtest.playbook(labtest.SCENARIO / "bad_input.yml", extra, timeout=600)
    labtest.assert_refused_before_any_change(run, message)
