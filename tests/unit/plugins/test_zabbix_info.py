"""zabbix_info's reading of Zabbix 6.0's answers: HA states by name, the one active
node, ages of heartbeats and values, proxies by mode, hosts missing. The answers are
the shapes Zabbix 6.0.14 returned in the lab; the module against a live server is
exercised by the Zabbix scenario."""

from ansible_collections.stormclouds.platform.plugins.modules import zabbix_info as zi

NOW = 1_800_000_000


class Answers:
    """Replays one answer per API method, recording the calls."""

    version = "6.0.14"

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def call(self, method, *args, **kwargs):
        self.calls.append((method, args, kwargs))
        return self.answers[method]


PARAMS = {"hosts": ["db1", "web1", "gone"], "item_keys": ["agent.ping"], "ha_nodes": True, "proxies": True}
ANSWERS = {
    "hanode.get": [{"name": "zbx1", "address": "10.0.0.1", "port": "10051", "lastaccess": str(NOW - 3), "status": "3"},
                   {"name": "zbx2", "address": "10.0.0.2", "port": "10051", "lastaccess": str(NOW - 4), "status": "0"}],
    "proxy.get": [{"proxyid": "10600", "host": "proxy-a", "status": "5", "lastaccess": str(NOW - 1),
                   "hosts": [{"host": "web1"}]},
                  {"proxyid": "10601", "host": "proxy-b", "status": "6", "lastaccess": "0", "hosts": []}],
    "host.get": [{"hostid": "10502", "host": "web1", "status": "1", "proxy_hostid": "10600"},
                 {"hostid": "10501", "host": "db1", "status": "0", "proxy_hostid": "0"}],
    "item.get": [{"hostid": "10501", "key_": "agent.ping", "lastclock": str(NOW - 30), "lastvalue": "1"},
                 {"hostid": "10502", "key_": "agent.ping", "lastclock": "0", "lastvalue": "0"}],
}


def test_the_state_of_an_installation_is_read():
    api = Answers(ANSWERS)
    result = zi.gather(PARAMS, api, NOW)
    assert result["active_node"] == "zbx1"
    assert [(n["name"], n["status"], n["lastaccess_age_s"]) for n in result["ha_nodes"]] == [
        ("zbx1", "active", 3), ("zbx2", "standby", 4)]
    assert result["proxies"][0] == {"host": "proxy-a", "mode": "active", "lastaccess_age_s": 1, "hosts": ["web1"]}
    assert result["proxies"][1]["mode"] == "passive" and result["proxies"][1]["lastaccess_age_s"] is None
    db1, web1 = result["hosts"]
    assert db1 == {"host": "db1", "hostid": "10501", "status": "enabled", "proxy": "",
                   "items": {"agent.ping": {"age_s": 30, "value": "1"}}}
    assert web1["proxy"] == "proxy-a" and web1["status"] == "disabled"
    assert web1["items"]["agent.ping"]["age_s"] is None  # no value yet
    assert result["missing_hosts"] == ["gone"]
    item_call = next(c for c in api.calls if c[0] == "item.get")
    assert item_call[2]["hostids"] == ["10502", "10501"] and item_call[2]["filter"] == {"key_": ["agent.ping"]}


def test_no_single_active_node_is_no_active_node():
    answers = dict(ANSWERS, **{"hanode.get": [dict(n, status="2") for n in ANSWERS["hanode.get"]]})
    assert zi.gather(PARAMS, Answers(answers), NOW)["active_node"] == ""


def test_every_host_is_asked_for_with_a_star():
    api = Answers(ANSWERS)
    result = zi.gather(dict(PARAMS, hosts=["*"], item_keys=[], ha_nodes=False, proxies=False), api, NOW)
    assert "filter" not in next(c for c in api.calls if c[0] == "host.get")[2]
    assert result["missing_hosts"] == [] and "ha_nodes" not in result and "proxies" not in result
    assert [m for m, _a, _k in api.calls] == ["proxy.get", "host.get"]
