"""zabbix_hosts' planning: which hosts are created, which updated and with what, which
already match (the same API objects Zabbix 6.0 returns), and every input error. The
module's calls against a real Zabbix server are exercised by the Zabbix scenario."""

import hashlib

from ansible_collections.stormclouds.platform.plugins.modules import zabbix_hosts as zh

GROUPS = {"Databases": "20", "Storm Clouds": "21"}
TEMPLATES = {"Linux by Zabbix agent active": "10342"}
PROXIES = {"proxy-a": "10600"}
PSK = "a" * 64


def entry(**over):
    base = {"host": "db1", "name": None, "groups": ["Databases"], "templates": [], "interfaces": [],
            "proxy": "", "status": "enabled", "description": "", "tls_psk_identity": None, "tls_psk": None,
            "tls_accept": None, "tags": []}
    base.update(over)
    return base


def iface(address, kind="agent", port=None, main=None):
    return {"type": kind, "address": address, "port": port, "main": main}


def as_zabbix_returns(obj, hostid="10501", digest=""):
    """What host.get gives back for a host created from obj (strings, ids, no PSK)."""
    current = {"hostid": hostid, "host": obj["host"], "name": obj["name"], "status": obj["status"],
               "description": obj["description"], "proxy_hostid": obj["proxy_hostid"],
               "tls_connect": obj["tls_connect"], "tls_accept": obj["tls_accept"],
               "groups": [{"groupid": g["groupid"]} for g in obj["groups"]],
               "parentTemplates": [{"templateid": t["templateid"]} for t in obj["templates"]],
               "interfaces": [dict(i, interfaceid=str(30 + n)) for n, i in enumerate(obj["interfaces"])],
               "tags": obj["tags"], "macros": []}
    if digest:
        current["macros"] = [{"hostmacroid": "77", "macro": zh.PSK_MACRO, "value": digest}]
    return current


def plan(entries, current=None):
    return zh.plan(entries, current or {}, GROUPS, TEMPLATES, PROXIES)


def test_new_hosts_are_created_in_one_list_with_the_psk_and_its_digest():
    creates, updates, macros, _diffs, unchanged = plan([
        entry(interfaces=[iface("192.0.2.21")], tls_psk_identity="db1", tls_psk=PSK, proxy="proxy-a",
              templates=["Linux by Zabbix agent active"]),
        entry(host="web1", groups=["Storm Clouds"], interfaces=[iface("web1.example.org")]),
    ])
    assert (len(creates), updates, macros, unchanged) == (2, [], [], 0)
    db1, web1 = creates
    assert db1["tls_connect"] == "2" and db1["tls_accept"] == "2" and db1["tls_psk"] == PSK
    assert db1["proxy_hostid"] == "10600" and db1["templates"] == [{"templateid": "10342"}]
    assert db1["interfaces"] == [{"type": "1", "main": "1", "useip": "1", "ip": "192.0.2.21", "dns": "",
                                  "port": "10050"}]
    assert db1["macros"][0]["value"] == hashlib.sha256(f"db1:{PSK}".encode()).hexdigest()
    assert web1["interfaces"][0]["useip"] == "0" and web1["interfaces"][0]["dns"] == "web1.example.org"
    assert web1["tls_connect"] == "1" and "tls_psk" not in web1 and "macros" not in web1


def test_a_host_as_declared_is_left_alone():
    declared = entry(interfaces=[iface("192.0.2.21")], tls_psk_identity="db1", tls_psk=PSK,
                     tags=[{"tag": "role", "value": "db"}])
    obj, digest = zh.desired_host(declared, GROUPS, TEMPLATES, PROXIES)
    creates, updates, _m, _d, unchanged = plan([declared], {"db1": as_zabbix_returns(obj, digest=digest)})
    assert (creates, updates, unchanged) == ([], [], 1)


def test_only_what_changed_is_sent_and_interfaces_keep_their_ids():
    declared = entry(interfaces=[iface("192.0.2.21")])
    obj, _digest = zh.desired_host(declared, GROUPS, TEMPLATES, PROXIES)
    current = as_zabbix_returns(obj)
    moved = entry(interfaces=[iface("192.0.2.99")], groups=["Databases", "Storm Clouds"])
    _c, updates, macros, diffs, _u = plan([moved], {"db1": current})
    assert macros == []
    (update,) = updates
    assert set(update) == {"hostid", "groups", "interfaces"}
    assert update["interfaces"][0]["interfaceid"] == "30" and update["interfaces"][0]["ip"] == "192.0.2.99"
    assert diffs[0]["after"]["groups"] == ["20", "21"]


def test_a_changed_psk_is_noticed_through_its_digest_only():
    declared = entry(tls_psk_identity="db1", tls_psk=PSK)
    obj, digest = zh.desired_host(declared, GROUPS, TEMPLATES, PROXIES)
    current = as_zabbix_returns(obj, digest=digest)
    rotated = entry(tls_psk_identity="db1", tls_psk="b" * 64)
    _c, updates, macros, diffs, _u = plan([rotated], {"db1": current})
    (update,) = updates
    assert update["tls_psk"] == "b" * 64 and update["tls_psk_identity"] == "db1"
    assert macros == [("10501", "db1", zh.entry_digest(rotated), "77")]
    assert PSK not in repr(diffs) and "b" * 64 not in repr(diffs)  # no key in the diff


def test_a_host_without_the_digest_macro_gets_its_psk_again():
    declared = entry(tls_psk_identity="db1", tls_psk=PSK)
    obj, _digest = zh.desired_host(declared, GROUPS, TEMPLATES, PROXIES)
    _c, updates, macros, _d, _u = plan([declared], {"db1": as_zabbix_returns(obj)})
    assert updates and macros == [("10501", "db1", zh.entry_digest(declared), None)]


def test_turning_encryption_off_drops_the_digest():
    declared = entry(tls_psk_identity="db1", tls_psk=PSK)
    obj, digest = zh.desired_host(declared, GROUPS, TEMPLATES, PROXIES)
    _c, updates, macros, _d, _u = plan([entry()], {"db1": as_zabbix_returns(obj, digest=digest)})
    assert updates[0]["tls_connect"] == "1" and updates[0]["tls_accept"] == "1"
    assert macros == [("10501", "db1", "", "77")]


def test_unlinked_templates_and_disabled_status_are_updates():
    declared = entry(templates=["Linux by Zabbix agent active"])
    obj, _digest = zh.desired_host(declared, GROUPS, TEMPLATES, PROXIES)
    _c, updates, _m, _d, _u = plan([entry(status="disabled")], {"db1": as_zabbix_returns(obj)})
    assert updates[0]["templates"] == [] and updates[0]["status"] == "1"


def test_second_interfaces_of_a_type_are_not_main():
    obj, _digest = zh.desired_host(entry(interfaces=[iface("192.0.2.1"), iface("192.0.2.2"), iface("192.0.2.3", "snmp")]),
                                   GROUPS, TEMPLATES, PROXIES)
    assert [(i["type"], i["main"], i["port"]) for i in obj["interfaces"]] == [("1", "1", "10050"), ("1", "0", "10050"),
                                                                              ("2", "1", "161")]


def test_input_errors_name_their_host():
    errors = zh.input_errors([
        entry(host="a", groups=[]),
        entry(host="b", tls_psk="abc", tls_psk_identity="b"),
        entry(host="c", tls_psk=PSK),
        entry(host="c"),
        entry(host="d/e"),
        entry(host="f", tls_accept=["psk"]),
        entry(host="g", tls_psk="a" * 33, tls_psk_identity="g"),
    ], "present")
    # The names first (the whole list), then each host's own problems.
    assert errors == [
        "host 'c' is listed twice",
        "host 'd/e': a name of letters, digits, dots, spaces, \"_\" and \"-\"",
        "host 'a' needs at least one group",
        "host 'b': tls_psk must be 32 to 512 hex digits, an even number (it has 3 characters)",
        "host 'c': tls_psk and tls_psk_identity go together",
        "host 'f': tls_accept psk needs tls_psk",
        "host 'g': tls_psk must be 32 to 512 hex digits, an even number (it has 33 characters)",
    ]


def test_absent_needs_only_names():
    assert zh.input_errors([entry(host="a", groups=[])], "absent") == []
