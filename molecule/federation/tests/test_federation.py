"""The federation registry as the sites see it: each site lists the others with what
they publish; a site whose announcer stops drops out within its TTL and comes back;
a site's credentials cannot touch another site's record, anonymous clients get nothing,
TLS is verified; with one etcd member killed, announcing and listing go on and the member
rejoins with the data it missed.

The tests run in file order; each leaves both announcers running for the next."""

import json
import os
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))
sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "plugins", "module_utils"))
import etcd_gateway as eg  # noqa: E402
import labtest  # noqa: E402

MEMBERS = ("fed1", "fed2", "fed3")
SITES = {"fed1": "site-a", "fed2": "site-b"}
PREFIX = "/stormclouds/federation/members/"


def url(name):
    return f"https://{labtest.hostvar(name, 'ansible_host')}:2379"


@pytest.fixture(scope="module")
def ca_file():
    res = labtest.ssh("fed1", "cat /etc/etcd/pki/ca.crt")
    assert res.returncode == 0 and "BEGIN CERTIFICATE" in res.stdout, res.stderr
    with tempfile.NamedTemporaryFile("w", suffix=".crt", delete=False) as handle:
        handle.write(res.stdout)
    yield handle.name
    os.unlink(handle.name)


def password(site):
    return next(s["password"] for s in labtest.hostvar("fed1", "federation_registry_sites") if s["id"] == site)


def gateway(ca, site=None, urls=None, timeout=2.0):
    return eg.Gateway(urls or [url(m) for m in MEMBERS], ca_file=ca, user=site,
                      password=password(site) if site else None, timeout=timeout)


def listed(ca, site="site-c"):
    return {m["site_id"]: m for m in eg.live_members(gateway(ca, site), PREFIX)}


def test_each_site_sees_the_others_with_what_they_publish(ca_file):
    for name, site in SITES.items():
        members = listed(ca_file, site)
        assert set(members) == {"site-a", "site-b"}, members
        for other_name, other in SITES.items():
            assert members[other]["endpoints"] == labtest.hostvar(other_name, "federation_member_endpoints")
            assert members[other]["capacity"] == labtest.hostvar(other_name, "federation_member_capacity")
            assert members[other]["lease_ttl"] == 10 and members[other]["lease_remaining"] > 0
            assert members[other]["version"] and members[other]["announced_at"] and members[other]["last_seen"]


def test_a_stopped_announcer_drops_out_within_its_ttl_and_comes_back(ca_file):
    stopped = time.monotonic()
    assert labtest.ssh("fed2", "systemctl stop federation-announce").returncode == 0
    try:
        labtest.wait_for(lambda: ("site-b" not in (m := listed(ca_file)), sorted(m)), 10 + 5,
                         "site-b gone after its announcer stopped (TTL 10 s)")
        gone_after = time.monotonic() - stopped
        assert "site-a" in listed(ca_file), "the other site dropped out too"
    finally:
        assert labtest.ssh("fed2", "systemctl start federation-announce").returncode == 0
    started = time.monotonic()
    labtest.wait_for(lambda: ("site-b" in (m := listed(ca_file)), sorted(m)), 10, "site-b listed again")
    print(f"site-b dropped out {gone_after:.1f} s after its announcer stopped (TTL 10 s); "
          f"listed again {time.monotonic() - started:.1f} s after it started")
    assert 5 <= gone_after <= 10 + 3, f"dropped out after {gone_after:.1f} s, TTL is 10 s"


def test_a_site_cannot_write_or_delete_another_sites_record(ca_file):
    site_a = gateway(ca_file, "site-a")
    before = site_a.get(PREFIX + "site-b")
    assert before is not None
    forged = eg.make_record("site-b", {"api": "https://attacker.example.org"}, {"cores": 0}, "x")
    with pytest.raises(eg.EtcdError, match="permission denied"):
        site_a.put(PREFIX + "site-b", json.dumps(forged))
    with pytest.raises(eg.EtcdError, match="permission denied"):
        site_a.delete(PREFIX + "site-b")
    with pytest.raises(eg.EtcdError, match="permission denied"):
        site_a.lease_revoke(before["lease"])
    with pytest.raises(eg.EtcdError, match="permission denied"):
        site_a.put(PREFIX + "site-c", json.dumps(eg.make_record("site-c", {}, {}, "x")))
    after = site_a.get(PREFIX + "site-b")
    assert after["value"] == before["value"] and after["mod_revision"] == before["mod_revision"]


def test_anonymous_clients_and_wrong_passwords_get_nothing(ca_file):
    with pytest.raises(eg.EtcdError, match="user name is empty"):
        gateway(ca_file).get_prefix(PREFIX)
    with pytest.raises(eg.EtcdError, match="user name is empty"):
        gateway(ca_file).put(PREFIX + "site-c", "{}")
    wrong = eg.Gateway([url("fed1")], ca_file=ca_file, user="site-a", password="not-the-password")
    with pytest.raises(eg.EtcdError, match="authentication failed"):
        wrong.get_prefix(PREFIX)


def test_tls_is_verified_and_plain_http_is_refused(ca_file):
    # The host's trust store does not know the federation CA.
    with pytest.raises(eg.EtcdError, match="TLS verification failed"):
        eg.Gateway([url("fed1")], user="site-a", password=password("site-a")).get_prefix(PREFIX)
    plain = eg.Gateway([url("fed1").replace("https://", "http://")], user="site-a", password=password("site-a"))
    with pytest.raises(eg.EtcdError):
        plain.get_prefix(PREFIX)
    # Peers accept only certificates of the federation CA.
    res = labtest.ssh("fed3", "curl -sS --max-time 5 --cacert /etc/etcd/pki/ca.crt "
                              f"https://{labtest.hostvar('fed1', 'ansible_host')}:2380/members; echo rc=$?")
    assert "rc=0" not in res.stdout, res.stdout + res.stderr


def member_health(name, ca):
    try:
        answer = eg.Gateway([url(name)], ca_file=ca, timeout=2).post("/v3/maintenance/status", {}, auth=False)
        return True, answer
    except (eg.EtcdError, OSError) as exc:
        return False, str(exc)


def test_with_one_member_killed_the_registry_works_and_the_member_rejoins(ca_file):
    labtest.kill("fed3")
    # fed3 first: every request has to fail over to a live member. site-c has no
    # announcer, so what it writes now stays as written.
    site_c = gateway(ca_file, "site-c", urls=[url("fed3"), url("fed1"), url("fed2")], timeout=1)
    try:
        started = time.monotonic()
        written = eg.make_record("site-c", {"api": "https://site-c.example.org"}, {"cores": 2}, "while-fed3-is-down")
        outcome = eg.announce(site_c, PREFIX, written, 120)
        print(f"announced with fed3 down in {time.monotonic() - started:.2f} s through {site_c.last_endpoint}")
        assert outcome["written"]
        assert set(listed(ca_file)) == {"site-a", "site-b", "site-c"}
    finally:
        labtest.boot_again()
    labtest.wait_for(lambda: member_health("fed3", ca_file), 90, "fed3 serving again")
    # From fed3's own copy (a serializable read): it caught up on what it missed.
    only_fed3 = gateway(ca_file, "site-c", urls=[url("fed3")])

    def fed3_has_it():
        kv = only_fed3.get(PREFIX + "site-c", serializable=True)
        return kv is not None and json.loads(kv["value"])["version"] == "while-fed3-is-down", kv

    labtest.wait_for(fed3_has_it, 30, "fed3 has the record written while it was down")
    members = eg.Gateway([url("fed1")], ca_file=ca_file).post("/v3/cluster/member/list", {}, auth=False)["members"]
    assert sorted(m["name"] for m in members) == list(MEMBERS)
    assert eg.withdraw(site_c, PREFIX, "site-c")[0]
    assert set(listed(ca_file)) == {"site-a", "site-b"}
