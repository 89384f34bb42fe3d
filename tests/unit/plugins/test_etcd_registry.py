"""The federation registry's client, record logic and modules, against a real etcd
(Debian's etcd-server, started here with TLS on free ports): validation, the record's
life (announce, renew without rewrite, change, expire, withdraw), etcd_auth's users and
roles, and what a site's credentials may not do."""

import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.stormclouds.platform.plugins.module_utils import etcd_gateway as eg

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
COLLECTIONS = Path(__file__).resolve().parents[3] / ".cache" / "collections"
PREFIX = "/test/federation/members/"
ROOT_PASSWORD = "root-secret-for-this-test"


# -- validation (no etcd) --------------------------------------------------------------------
@pytest.mark.parametrize("site_id", ["a/b", "", "Site", "-a", "a-", "a" * 64, "a b", "../x"])
def test_site_ids_that_cannot_be_keys_or_users_are_refused(site_id):
    assert any("DNS label" in e for e in eg.validate_site(site_id))


@pytest.mark.parametrize("url", ["not a url", "http//x", "https://", "://host", "https://host:99999",
                                 " https://host", "https://ho st/"])
def test_malformed_endpoint_urls_are_refused(url):
    errors = eg.validate_site("site-a", {"api": url})
    assert len(errors) == 1 and errors[0].startswith("endpoint api"), errors


@pytest.mark.parametrize("ttl", [0, -1, 4, 86401])
def test_ttl_out_of_range_is_refused(ttl):
    assert any("ttl" in e for e in eg.validate_site("site-a", ttl=ttl))


def test_good_input_passes():
    assert eg.validate_site("site-a", {"api": "https://api.example.org:8182/v1", "frt": "ssh://[2001:db8::1]:2222"},
                            30, {"cores": 8, "ram_mb": 16384.0}) == []


def test_negative_or_boolean_capacity_is_refused():
    assert len(eg.validate_site("site-a", capacity={"cores": -1, "gpus": True, "ram": "lots"})) == 3


def test_registry_urls_must_be_https():
    assert eg.validate_registry_url("http://r1:2379") == "the registry is reached over HTTPS only"
    assert eg.validate_registry_url("https://r1:2379") is None


def test_prefix_end_covers_exactly_the_prefix():
    assert eg.prefix_end("/a/") == "/a0"
    assert eg.prefix_end("/members/site") == "/members/sitf"
    # On the bytes: a non-ASCII prefix's end survives the trip to the wire and back.
    end = eg.prefix_end("/sites/é")
    assert eg.unb64(eg.b64(end)) == end and end.encode("utf-8", "surrogateescape") == b"/sites/\xc3\xaa"


# -- a real etcd -------------------------------------------------------------------------------
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_pki(directory):
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test federation CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "etcd1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    (directory / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "etcd.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "etcd.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    # A second CA the server's certificate does not chain to.
    other = ec.generate_private_key(ec.SECP256R1())
    other_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "some other CA")])
    other_ca = (x509.CertificateBuilder().subject_name(other_name).issuer_name(other_name)
                .public_key(other.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + datetime.timedelta(1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(other, hashes.SHA256()))
    (directory / "other-ca.crt").write_bytes(other_ca.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="module")
def etcd(tmp_path_factory):
    if not os.path.exists(ETCD):
        pytest.fail("etcd is not installed (Debian package etcd-server; ./run-tests installs it)")
    directory = tmp_path_factory.mktemp("etcd")
    _write_pki(directory)
    client, peer = _free_port(), _free_port()
    url = f"https://localhost:{client}"
    proc = subprocess.Popen(
        [ETCD, "--name", "etcd1", "--data-dir", str(directory / "data"),
         "--listen-client-urls", f"https://127.0.0.1:{client}", "--advertise-client-urls", url,
         "--listen-peer-urls", f"https://127.0.0.1:{peer}", "--initial-advertise-peer-urls",
         f"https://127.0.0.1:{peer}", "--initial-cluster", f"etcd1=https://127.0.0.1:{peer}",
         "--cert-file", str(directory / "etcd.crt"), "--key-file", str(directory / "etcd.key"),
         "--peer-cert-file", str(directory / "etcd.crt"), "--peer-key-file", str(directory / "etcd.key"),
         "--peer-trusted-ca-file", str(directory / "ca.crt"), "--peer-client-cert-auth"],
        stdout=open(directory / "etcd.log", "wb"), stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while True:
        try:
            eg.Gateway([url], ca_file=str(directory / "ca.crt")).post("/v3/maintenance/status", {}, auth=False)
            break
        except (eg.EtcdError, OSError):
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("etcd did not start: " + (directory / "etcd.log").read_text()[-2000:])
            time.sleep(0.2)
    yield {"url": url, "ca": str(directory / "ca.crt"), "other_ca": str(directory / "other-ca.crt")}
    proc.terminate()
    proc.wait(timeout=10)


def run_module(name, args, check=False, diff=False):
    """Run one of the collection's modules as Ansible would (arguments file, JSON answer)."""
    payload = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
    proc = subprocess.run([sys.executable, "-m", f"ansible_collections.stormclouds.platform.plugins.modules.{name}"],
                          input=json.dumps({"ANSIBLE_MODULE_ARGS": payload}), capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"{name} did not answer JSON: {proc.stdout[-2000:]} {proc.stderr[-2000:]}")


def site_role(site):
    return {"name": f"site-{site}", "permissions": [
        {"key": PREFIX + site, "permission": "readwrite"},
        {"key": PREFIX, "prefix": True, "permission": "read"}]}


SITES = {"site-a": "a-password", "site-b": "b-password"}


@pytest.fixture(scope="module")
def registry(etcd):
    """Authentication on, one user per site (the federation_registry role's layout)."""
    args = {"registry_urls": [etcd["url"]], "ca_cert": etcd["ca"], "password": ROOT_PASSWORD,
            "roles": [site_role(s) for s in SITES],
            "users": [{"name": s, "password": p, "roles": [f"site-{s}"]} for s, p in SITES.items()]}
    first = run_module("etcd_auth", args, diff=True)
    assert first.get("changed") is True, first
    assert "enable authentication" in first["actions"], first
    assert ROOT_PASSWORD not in json.dumps(first) and "a-password" not in json.dumps(first)
    return dict(etcd, auth_args=args)


def gateway(etcd, user=None, password=None):
    return eg.Gateway([etcd["url"]], ca_file=etcd["ca"], user=user, password=password or SITES.get(user))


def test_etcd_auth_second_run_changes_nothing_and_check_mode_predicts(registry):
    again = run_module("etcd_auth", registry["auth_args"])
    assert again["changed"] is False and again["actions"] == [], again
    changed = dict(registry["auth_args"], roles=registry["auth_args"]["roles"] + [site_role("site-c")],
                   users=registry["auth_args"]["users"] + [{"name": "site-c", "password": "c-password", "roles": ["site-site-c"]}])
    predicted = run_module("etcd_auth", changed, check=True)
    assert predicted["changed"] is True and "add user site-c" in predicted["actions"], predicted
    assert "site-c" not in gateway(registry, "root", ROOT_PASSWORD).users(), "check mode wrote"


def test_etcd_auth_changes_a_password_and_refuses_a_wrong_root_password(registry):
    args = registry["auth_args"]
    users = [dict(u, password="a-new-password") if u["name"] == "site-a" else u for u in args["users"]]
    changed = run_module("etcd_auth", dict(args, users=users))
    assert changed["actions"] == ["change the password of user site-a"], changed
    assert gateway(registry).can_authenticate("site-a", "a-new-password")
    assert run_module("etcd_auth", args)["actions"] == ["change the password of user site-a"]
    wrong = run_module("etcd_auth", dict(args, password="not-the-root-password"))
    assert wrong.get("failed") and "root password given is not the registry's" in wrong["msg"], wrong


def test_anonymous_access_is_denied(registry):
    with pytest.raises(eg.EtcdError, match="user name is empty"):
        gateway(registry).get(PREFIX + "site-a")
    with pytest.raises(eg.EtcdError, match="user name is empty"):
        gateway(registry).put(PREFIX + "site-a", "{}")


def test_certificates_are_verified(registry):
    stranger = eg.Gateway([registry["url"]], ca_file=registry["other_ca"], user="site-a", password=SITES["site-a"])
    with pytest.raises(eg.EtcdError, match="TLS verification failed"):
        stranger.get(PREFIX + "site-a")


def record(site, cores=8):
    return eg.make_record(site, {"api": f"https://{site}.example.org:8182"}, {"cores": cores}, "0.1.0")


def test_a_record_lives_renews_without_rewrite_changes_and_is_withdrawn(registry):
    gw = gateway(registry, "site-a")
    first = eg.announce(gw, PREFIX, record("site-a"), 10)
    assert first["changed"] and first["written"]
    revision = gw.get(PREFIX + "site-a")["mod_revision"]
    time.sleep(2)
    again = eg.announce(gw, PREFIX, record("site-a"), 10)
    assert not again["changed"] and again["lease"] == first["lease"]
    assert gw.get(PREFIX + "site-a")["mod_revision"] == revision, "an unchanged record was rewritten"
    assert gw.lease_ttl(first["lease"])[0] >= 9, "the lease was not renewed"
    time.sleep(2)
    bigger = eg.announce(gw, PREFIX, record("site-a", cores=16), 10)
    assert bigger["written"] and bigger["lease"] == first["lease"] and bigger["previous"]["capacity"] == {"cores": 8}
    assert gw.lease_ttl(first["lease"])[0] >= 9, "a rewritten record must live a whole TTL"
    longer = eg.announce(gw, PREFIX, record("site-a", cores=16), 20)
    assert longer["written"] and longer["lease"] != first["lease"]
    assert gw.lease_ttl(first["lease"])[0] == -1, "the old lease was left behind"
    changed, previous = eg.withdraw(gw, PREFIX, "site-a")
    assert changed and previous["capacity"] == {"cores": 16}
    assert gw.get(PREFIX + "site-a") is None and gw.lease_ttl(longer["lease"])[0] == -1
    assert eg.withdraw(gw, PREFIX, "site-a") == (False, None)


def test_a_site_that_stops_announcing_expires(registry):
    gw_a, gw_b = gateway(registry, "site-a"), gateway(registry, "site-b")
    eg.announce(gw_a, PREFIX, record("site-a"), 5)
    eg.announce(gw_b, PREFIX, record("site-b"), 30)
    members = {m["site_id"]: m for m in eg.live_members(gw_b, PREFIX)}
    assert set(members) == {"site-a", "site-b"}
    assert members["site-a"]["endpoints"] == {"api": "https://site-a.example.org:8182"}
    assert 0 < members["site-a"]["lease_remaining"] <= 5 and members["site-a"]["lease_ttl"] == 5
    brief = eg.live_members(gw_b, PREFIX, lease_details=False)
    assert [m["site_id"] for m in brief] == ["site-a", "site-b"] and "lease_remaining" not in brief[0]
    deadline = time.time() + 15
    while "site-a" in [m["site_id"] for m in eg.live_members(gw_b, PREFIX)]:
        assert time.time() < deadline, "site-a still listed 15 s after its last announcement (TTL 5)"
        time.sleep(0.5)
    back = eg.announce(gw_a, PREFIX, record("site-a"), 5)
    assert back["written"], "an expired record must be announced again"
    assert "site-a" in [m["site_id"] for m in eg.live_members(gw_b, PREFIX)]
    eg.withdraw(gw_a, PREFIX, "site-a")
    eg.withdraw(gw_b, PREFIX, "site-b")


def test_a_site_cannot_touch_another_sites_record(registry):
    gw_a, gw_b = gateway(registry, "site-a"), gateway(registry, "site-b")
    b = eg.announce(gw_b, PREFIX, record("site-b"), 30)
    with pytest.raises(eg.EtcdError, match="permission denied"):
        gw_a.put(PREFIX + "site-b", json.dumps(record("site-b", cores=0)))
    with pytest.raises(eg.EtcdError, match="permission denied"):
        gw_a.delete(PREFIX + "site-b")
    with pytest.raises(eg.EtcdError, match="permission denied"):
        gw_a.lease_revoke(b["lease"])
    with pytest.raises(eg.EtcdError, match="permission denied"):
        eg.announce(gw_a, PREFIX, record("site-b", cores=0), 30)
    with pytest.raises(eg.EtcdError, match="permission denied"):
        gw_a.put(PREFIX + "site-a/extra", "{}")
    assert json.loads(gw_b.get(PREFIX + "site-b")["value"])["capacity"] == {"cores": 8}
    eg.withdraw(gw_b, PREFIX, "site-b")


def test_a_record_claiming_another_sites_id_is_not_listed(registry):
    gw_a, gw_b = gateway(registry, "site-a"), gateway(registry, "site-b")
    eg.announce(gw_b, PREFIX, record("site-b"), 30)
    # site-a may write its own key only, but could put any content there.
    lease = gw_a.lease_grant(30)
    gw_a.put(PREFIX + "site-a", json.dumps(dict(record("site-b"), endpoints={"api": "https://attacker.example.org"})),
             lease)
    members = eg.live_members(gw_b, PREFIX)
    assert [(m["site_id"], m["endpoints"]["api"]) for m in members] == [("site-b", "https://site-b.example.org:8182")]
    gw_a.put(PREFIX + "site-a", "[1, 2]", lease)
    assert [m["site_id"] for m in eg.live_members(gw_b, PREFIX, lease_details=False)] == ["site-b"]
    eg.withdraw(gw_a, PREFIX, "site-a")
    eg.withdraw(gw_b, PREFIX, "site-b")


def test_etcd_auth_refuses_two_permissions_on_one_key(registry):
    role = {"name": "site-x", "permissions": [{"key": PREFIX, "prefix": True, "permission": "read"},
                                              {"key": PREFIX, "prefix": True, "permission": "readwrite"}]}
    answer = run_module("etcd_auth", dict(registry["auth_args"], roles=registry["auth_args"]["roles"] + [role]))
    assert answer.get("failed") and "gives the same key or prefix twice" in answer["msg"], answer


def test_a_missing_ca_file_is_named_not_a_traceback(registry):
    args = {"registry_urls": [registry["url"]], "ca_cert": "/nonexistent/ca.crt", "user": "site-a",
            "password": SITES["site-a"]}
    answer = run_module("federation_members_info", args)
    assert answer.get("failed") and "cannot use the CA certificate /nonexistent/ca.crt" in answer["msg"], answer


def test_federation_site_module_check_mode_idempotence_and_no_secret_in_output(registry):
    args = {"registry_urls": [registry["url"]], "ca_cert": registry["ca"], "site_id": "site-b",
            "password": SITES["site-b"], "endpoints": {"api": "https://b.example.org"}, "capacity": {"cores": 4},
            "version": "0.1.0", "ttl": 30, "prefix": PREFIX}
    predicted = run_module("federation_site", args, check=True, diff=True)
    assert predicted["changed"] is True and predicted["diff"]["before"] == {}, predicted
    assert gateway(registry, "site-b").get(PREFIX + "site-b") is None, "check mode wrote"
    first = run_module("federation_site", args)
    assert first["changed"] is True and first["written"] is True, first
    second = run_module("federation_site", args)
    assert second["changed"] is False and second["written"] is False, second
    assert SITES["site-b"] not in json.dumps(first) + json.dumps(second)
    reader = {"registry_urls": [registry["url"]], "ca_cert": registry["ca"], "user": "site-a",
              "password": SITES["site-a"], "prefix": PREFIX}
    listed = run_module("federation_members_info", reader)
    assert listed["site_ids"] == ["site-b"] and listed["members"][0]["capacity"] == {"cores": 4}, listed
    gone = run_module("federation_site", dict(args, state="absent"))
    assert gone["changed"] is True and gone["previous"]["site_id"] == "site-b", gone
    assert run_module("federation_site", dict(args, state="absent"))["changed"] is False


def test_federation_site_module_refuses_bad_input_before_contacting_the_registry(registry):
    base = {"registry_urls": ["https://unreachable.invalid:2379"], "site_id": "site-a", "password": "x"}
    for extra, message in (({"ttl": 0}, "ttl 0 out of range"), ({"site_id": "a/b"}, "DNS label"),
                           ({"endpoints": {"api": "http//x"}}, "endpoint api"),
                           ({"registry_urls": ["http://r1:2379"]}, "HTTPS only")):
        answer = run_module("federation_site", dict(base, **extra))
        assert answer.get("failed") and message in answer["msg"] and "did not answer" not in answer["msg"], answer


def test_an_unreachable_registry_is_named(registry):
    unreachable = {"registry_urls": ["https://127.0.0.1:1"], "user": "site-a", "password": "x", "timeout": 1}
    answer = run_module("federation_members_info", unreachable)
    assert answer.get("failed") and "no registry endpoint answered" in answer["msg"], answer


ANNOUNCER = Path(__file__).resolve().parents[3] / "roles" / "federation_member" / "files" / "federation_announce.py"


def start_announcer(registry, tmp_path, site, withdraw_on_stop=False, capacity=None):
    """The federation_member role's announcer, as its unit runs it (beside the client module)."""
    lib = tmp_path / "lib"
    lib.mkdir(exist_ok=True)
    shutil.copy(ANNOUNCER, lib / "federation_announce.py")
    shutil.copy(Path(eg.__file__), lib / "etcd_gateway.py")
    (tmp_path / "password").write_text(SITES[site] + "\n", encoding="utf-8")
    config = {"site_id": site, "user": site, "registry_urls": [registry["url"]], "ca_cert": registry["ca"],
              "password_file": str(tmp_path / "password"), "prefix": PREFIX,
              "endpoints": {"api": f"https://{site}.example.org"}, "capacity": capacity or {"cores": 1},
              "version": "0.1.0", "ttl": 5, "interval": 1.0, "withdraw_on_stop": withdraw_on_stop}
    (tmp_path / "announce.json").write_text(json.dumps(config), encoding="utf-8")
    return subprocess.Popen([sys.executable, "-I", str(lib / "federation_announce.py"), str(tmp_path / "announce.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_listed(gw, site, present, timeout):
    deadline = time.time() + timeout
    while (site in [m["site_id"] for m in eg.live_members(gw, PREFIX, lease_details=False)]) != present:
        assert time.time() < deadline, f"{site} {'not ' if present else ''}listed after {timeout} s"
        time.sleep(0.2)
    return time.time()


def test_the_announcer_keeps_a_record_alive_survives_a_password_change_and_lets_it_expire(registry, tmp_path):
    reader = gateway(registry, "site-b")
    proc = start_announcer(registry, tmp_path, "site-a")
    try:
        wait_listed(reader, "site-a", True, 10)
        revision = reader.get(PREFIX + "site-a")["mod_revision"]
        time.sleep(7)  # longer than the TTL: only renewals keep it
        assert reader.get(PREFIX + "site-a")["mod_revision"] == revision, "an unchanged record was rewritten"
        # The registry changes the password (etcd drops the site's tokens), the file follows.
        root = gateway(registry, "root", ROOT_PASSWORD)
        root.post("/v3/auth/user/changepw", {"name": "site-a", "password": "a-rotated-password"})
        (tmp_path / "password").write_text("a-rotated-password\n", encoding="utf-8")
        time.sleep(7)
        # Still the same record under the same lease: the announcer took the new password
        # before the lease ran out.
        assert reader.get(PREFIX + "site-a")["mod_revision"] == revision
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0]
        root = gateway(registry, "root", ROOT_PASSWORD)
        root.post("/v3/auth/user/changepw", {"name": "site-a", "password": SITES["site-a"]})
    stopped = time.time()
    gone = wait_listed(reader, "site-a", False, 10)
    assert gone - stopped > 1, "stopping the announcer withdrew the record (it should expire)"
    assert "announced site-a" in output and proc.returncode == 0, output
    assert "authentication failed" in output and "registry reachable again" in output, output


def test_the_announcer_withdraws_on_stop_when_asked(registry, tmp_path):
    reader = gateway(registry, "site-b")
    proc = start_announcer(registry, tmp_path, "site-a", withdraw_on_stop=True)
    try:
        wait_listed(reader, "site-a", True, 10)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0]
    assert "withdrew site-a" in output, output
    assert "site-a" not in [m["site_id"] for m in eg.live_members(reader, PREFIX, lease_details=False)]
