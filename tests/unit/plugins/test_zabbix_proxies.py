"""zabbix_proxies' planning: created, updated (with the PSK resent when its digest
changed) or matching proxies, as Zabbix 6.0 returns them, and every input error. The
module's calls against a real Zabbix server are exercised by the Zabbix scenario."""

import hashlib

from ansible_collections.stormclouds.platform.plugins.modules import zabbix_proxies as zp

PSK = "b" * 64


def entry(**over):
    base = {"name": "proxy-a", "mode": "active", "allowed_addresses": [], "address": None, "port": 10051,
            "tls_psk_identity": None, "tls_psk": None, "description": ""}
    base.update(over)
    return base


def as_zabbix_returns(obj, proxyid="10600"):
    """What proxy.get gives back for a proxy created from obj (no PSK)."""
    current = {"proxyid": proxyid, "host": obj["host"], "status": obj["status"], "description": obj["description"],
               "proxy_address": obj.get("proxy_address", ""), "tls_connect": obj["tls_connect"],
               "tls_accept": obj["tls_accept"], "interface": obj.get("interface", [])}
    return current


def created(**over):
    creates, _u, _d, _n = zp.plan([entry(**over)], {})
    return creates[0]


def test_an_active_proxy_with_a_psk_accepts_only_psk_and_carries_its_digest():
    obj = created(allowed_addresses=["192.0.2.40"], tls_psk_identity="proxy-a", tls_psk=PSK, description="site A")
    digest = hashlib.sha256(f"proxy-a:{PSK}".encode()).hexdigest()
    assert obj["status"] == "5" and obj["proxy_address"] == "192.0.2.40"
    assert (obj["tls_connect"], obj["tls_accept"], obj["tls_psk"]) == ("1", "2", PSK)
    assert obj["description"] == f"site A\npsk-sha256:{digest}"
    assert "interface" not in obj


def test_a_passive_proxy_is_connected_to_over_psk_at_its_interface():
    obj = created(mode="passive", address="proxy.example.org", port=10052, tls_psk_identity="p", tls_psk=PSK)
    assert obj["status"] == "6" and (obj["tls_connect"], obj["tls_accept"]) == ("2", "1")
    assert obj["interface"] == {"useip": "0", "ip": "", "dns": "proxy.example.org", "port": "10052"}


def test_a_proxy_as_declared_is_left_alone():
    want = entry(allowed_addresses=["192.0.2.40"], tls_psk_identity="proxy-a", tls_psk=PSK)
    current = as_zabbix_returns(created(**want))
    assert zp.plan([want], {"proxy-a": current}) == ([], [], [], 1)


def test_a_new_psk_is_sent_again_with_its_digest():
    current = as_zabbix_returns(created(tls_psk_identity="proxy-a", tls_psk=PSK))
    _c, updates, diffs, _n = zp.plan([entry(tls_psk_identity="proxy-a", tls_psk="c" * 64)], {"proxy-a": current})
    assert updates[0]["tls_psk"] == "c" * 64 and updates[0]["proxyid"] == "10600"
    assert diffs[0]["after"]["psk"] == "set" and PSK not in str(diffs) and "c" * 64 not in str(diffs)


def test_dropping_the_psk_turns_encryption_off():
    current = as_zabbix_returns(created(tls_psk_identity="proxy-a", tls_psk=PSK))
    _c, updates, _d, _n = zp.plan([entry()], {"proxy-a": current})
    assert updates[0]["tls_accept"] == "1" and updates[0]["description"] == "" and "tls_psk" not in updates[0]


def test_allowed_addresses_and_a_passive_interface_are_compared():
    current = as_zabbix_returns(created(allowed_addresses=["192.0.2.40"]))
    _c, updates, _d, _n = zp.plan([entry(allowed_addresses=["192.0.2.41", "192.0.2.42"])], {"proxy-a": current})
    assert updates[0]["proxy_address"] == "192.0.2.41,192.0.2.42"
    passive = as_zabbix_returns(created(mode="passive", address="192.0.2.50"))
    _c, updates, _d, _n = zp.plan([entry(mode="passive", address="192.0.2.51")], {"proxy-a": passive})
    assert updates[0]["interface"]["ip"] == "192.0.2.51"


def test_the_operators_description_survives_the_digest_line():
    assert zp.split_description("one\ntwo\npsk-sha256:abc") == ("one\ntwo", "abc")
    assert zp.split_description("plain") == ("plain", "")


def test_every_input_error_is_named():
    errors = zp.input_errors([
        entry(name="bad/name"),
        entry(name="p1", mode="passive"),
        entry(name="p2", address="192.0.2.9"),
        entry(name="p3", tls_psk="ab" * 10, tls_psk_identity="p3"),
        entry(name="p4", tls_psk=PSK),
        entry(name="p5", port=70000),
        entry(name="p5"),
    ], "present")
    text = "; ".join(errors)
    for expected in ("'bad/name'", "'p1': a passive proxy needs", "'p2': address is for passive",
                     "'p3': tls_psk must be 32 to 512 hex digits, an even number (it has 20",
                     "'p4': tls_psk and tls_psk_identity go together", "'p5': port 70000", "'p5' is listed twice"):
        assert expected in text, expected
    assert zp.input_errors([entry(name="gone", mode="passive")], "absent") == []
