# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)
"""A client of etcd's v3 JSON gateway (HTTPS, password authentication) and the
federation registry's record logic, shared by the federation modules and the
announcer service that the federation_member role installs.

Standard library only and no import of Ansible: the announcer runs this file as a
plain Python module on the site's manager host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import contextlib
import json
import re
import socket
import ssl
import time

import http.client as http_client
from urllib.parse import urlsplit

DEFAULT_PREFIX = "/stormclouds/federation/members/"
# A DNS label: the site id is a key's last element and an etcd user name, so never a slash.
SITE_ID_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.-]*$")
MIN_TTL = 5
MAX_TTL = 86400
# Fields of a record the operator declares; 'announced_at' is set by the writer.
RECORD_FIELDS = ("site_id", "endpoints", "capacity", "version")

# etcd's gRPC status codes as the gateway returns them.
CODE_INVALID_ARGUMENT = 3
CODE_PERMISSION_DENIED = 7
CODE_UNAUTHENTICATED = 16
CODE_DEADLINE_EXCEEDED = 4
CODE_UNAVAILABLE = 14
# Answers of a member during a leader election or under load: the request may succeed
# on another member or a moment later.
TRANSIENT_ERRORS = ("no leader", "leader changed", "request timed out", "too many requests",
                    "not capable", "timed out waiting for read index", "transport is closing", "server stopped")
TRANSIENT_CODES = (CODE_DEADLINE_EXCEEDED, CODE_UNAVAILABLE)
# A token etcd no longer takes: authenticate again and repeat the request once.
STALE_TOKEN_ERRORS = ("invalid auth token", "revision of auth store is old")


class EtcdError(Exception):
    """An answer of etcd other than success, with its gRPC code and message."""

    def __init__(self, message, code=None, endpoint=None):
        super(EtcdError, self).__init__(message)
        self.code = code
        self.endpoint = endpoint


class EtcdUnavailable(EtcdError):
    """No endpoint answered."""


# Keys are bytes to etcd; as text they round-trip byte for byte (surrogateescape), so a
# range end computed on the bytes survives the trip to the wire and back.
def b64(text):
    if not isinstance(text, bytes):
        text = text.encode("utf-8", "surrogateescape")
    return base64.b64encode(text).decode("ascii")


def unb64(text):
    return base64.b64decode(text or "").decode("utf-8", "surrogateescape")


def prefix_end(prefix):
    """The range_end that makes a range cover every key starting with prefix."""
    raw = bytearray(prefix.encode("utf-8", "surrogateescape"))
    for i in range(len(raw) - 1, -1, -1):
        if raw[i] < 0xFF:
            raw[i] += 1
            return bytes(raw[:i + 1]).decode("utf-8", "surrogateescape")
    return "\0"


def validate_endpoint_url(url):
    """None when url is an absolute URL with a scheme and a host, else the reason."""
    if not isinstance(url, str) or not url or url != url.strip():
        return "not a non-empty string without surrounding spaces"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return "not a URL (%s)" % exc
    if not parts.scheme or not SCHEME_RE.match(parts.scheme):
        return "no scheme (expected scheme://host[:port][/path])"
    if not parts.hostname:
        return "no host (expected scheme://host[:port][/path])"
    if port is not None and not 0 < port < 65536:
        return "port out of range"
    if any(c.isspace() for c in url):
        return "contains white space"
    return None


def validate_site(site_id, endpoints=None, ttl=None, capacity=None):
    """Every reason why these inputs cannot make a record, as a list of sentences."""
    errors = []
    if not isinstance(site_id, str) or not SITE_ID_RE.match(site_id):
        errors.append(
            "site id %r must be a DNS label: lowercase letters, digits and '-', 1-63 characters, "
            "no '/' (it is the last element of the record's key and the site's etcd user)" % (site_id,))
    for name, url in sorted((endpoints or {}).items()):
        reason = validate_endpoint_url(url)
        if reason:
            errors.append("endpoint %s (%r): %s" % (name, url, reason))
    if ttl is not None and not MIN_TTL <= ttl <= MAX_TTL:
        errors.append("ttl %s out of range: %d to %d seconds" % (ttl, MIN_TTL, MAX_TTL))
    for name, value in sorted((capacity or {}).items()):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            errors.append("capacity %s (%r) must be a number >= 0" % (name, value))
    return errors


def validate_registry_url(url):
    reason = validate_endpoint_url(url)
    if reason:
        return reason
    if urlsplit(url).scheme != "https":
        return "the registry is reached over HTTPS only"
    return None


def registry_argument_spec():
    """The options of the doc fragment stormclouds.platform.etcd_registry."""
    return dict(
        registry_urls=dict(type="list", elements="str", required=True),
        ca_cert=dict(type="path"),
        user=dict(type="str"),
        password=dict(type="str", no_log=True),
        timeout=dict(type="float", default=5.0),
    )


def registry_url_errors(urls):
    errors = []
    for url in urls:
        reason = validate_registry_url(url)
        if reason:
            errors.append("registry URL %r: %s" % (url, reason))
    if not urls:
        errors.append("registry_urls is empty")
    return errors


def gateway_from_params(params, user=None):
    """A Gateway from a module's registry options (user overrides params['user'])."""
    return Gateway(params["registry_urls"], ca_file=params["ca_cert"], user=user or params["user"],
                   password=params["password"], timeout=params["timeout"])


@contextlib.contextmanager
def module_gateway(module, user=None):
    """For the modules: a Gateway from module.params, closed at the end; an error of the
    registry (or of its CA file) fails the module with its cause."""
    try:
        gateway = gateway_from_params(module.params, user=user)
    except EtcdError as exc:
        module.fail_json(msg="The registry cannot be reached: %s" % exc)
    try:
        yield gateway
    except EtcdError as exc:
        module.fail_json(msg="The registry refused or did not answer: %s" % exc)
    finally:
        gateway.close()


def utc_iso(seconds=None):
    """A time (now when None) as the records write it: UTC, ISO 8601, whole seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class Gateway(object):
    """etcd's JSON gateway on one or more members, tried in order.

    Authentication tokens of etcd's default ("simple") kind belong to the member that
    issued them, so one is kept per endpoint; an expired or foreign token is renewed once.
    """

    def __init__(self, endpoints, ca_file=None, user=None, password=None, timeout=5.0, context=None):
        if not endpoints:
            raise ValueError("no registry endpoint given")
        self.endpoints = list(endpoints)
        self.user = user
        self.password = password
        self.timeout = timeout
        self.context = context
        if context is None:
            try:
                self.context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
            except (OSError, ssl.SSLError) as exc:
                raise EtcdError("cannot use the CA certificate %s: %s" % (ca_file, exc))
        self._tokens = {}
        self._connections = {}
        self.last_endpoint = None

    # -- transport ------------------------------------------------------------------
    def _connection(self, endpoint):
        conn = self._connections.get(endpoint)
        if conn is None:
            parts = urlsplit(endpoint)
            if parts.scheme == "https":
                conn = http_client.HTTPSConnection(parts.hostname, parts.port or 2379, timeout=self.timeout,
                                                   context=self.context)
            else:
                conn = http_client.HTTPConnection(parts.hostname, parts.port or 2379, timeout=self.timeout)
            self._connections[endpoint] = conn
        return conn

    def _drop(self, endpoint):
        conn = self._connections.pop(endpoint, None)
        if conn is not None:
            conn.close()

    def close(self):
        for endpoint in list(self._connections):
            self._drop(endpoint)

    def sibling(self, user=None, password=None):
        """The same members and trust as another (or no) user; close it after use."""
        return Gateway(self.endpoints, user=user, password=password, timeout=self.timeout, context=self.context)

    def _post_once(self, endpoint, path, body, token):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = token
        data = json.dumps(body).encode("utf-8")
        for attempt in (1, 2):
            conn = self._connection(endpoint)
            try:
                conn.request("POST", path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (http_client.HTTPException, socket.error, ssl.SSLError) as exc:
                self._drop(endpoint)
                # A kept-alive connection the server closed fails once; a second failure is real.
                if attempt == 2 or isinstance(exc, (ssl.SSLCertVerificationError, socket.timeout)):
                    raise
        text = raw.decode("utf-8", "replace")
        unexpected = EtcdError("%s%s answered HTTP %s with %r" % (endpoint, path, resp.status, text[:200]),
                               endpoint=endpoint)
        try:
            answer = json.loads(text) if text.strip() else {}
        except ValueError:
            raise unexpected
        # The keepalive stream answers {"result": {...}} or {"error": {...}}.
        if isinstance(answer.get("error"), dict):
            answer = answer["error"]
        elif isinstance(answer.get("result"), dict):
            answer = answer["result"]
        if "code" in answer and answer.get("code") not in (0, None) and ("error" in answer or "message" in answer):
            message = answer.get("message") or answer.get("error")
            raise EtcdError("%s: %s" % (endpoint, message), code=answer.get("code"), endpoint=endpoint)
        if resp.status >= 400:
            raise unexpected
        return answer

    def _authenticate(self, endpoint):
        answer = self._post_once(endpoint, "/v3/auth/authenticate", {"name": self.user, "password": self.password},
                                 None)
        self._tokens[endpoint] = answer["token"]
        return answer["token"]

    def post(self, path, body, auth=True, rounds=3):
        """POST to the first endpoint that answers; errors from etcd itself are final,
        except the passing ones of a leader election, which are tried again (up to
        rounds times over all endpoints, half a second apart)."""
        failures = []
        for round_ in range(rounds):
            if round_:
                time.sleep(0.5)
            endpoints = self.endpoints
            if self.last_endpoint in endpoints:
                # Stay on the member that answered last: its token is valid, its view current.
                endpoints = [self.last_endpoint] + [e for e in endpoints if e != self.last_endpoint]
            for endpoint in endpoints:
                try:
                    answer = self._post_authenticated(endpoint, path, body, auth)
                    self.last_endpoint = endpoint
                    return answer
                except EtcdError as exc:
                    if exc.code not in TRANSIENT_CODES and not any(text in str(exc) for text in TRANSIENT_ERRORS):
                        raise
                    failures.append(str(exc))
                except ssl.SSLCertVerificationError as exc:
                    raise EtcdError("%s: TLS verification failed: %s" % (endpoint, exc.verify_message),
                                    endpoint=endpoint)
                except (http_client.HTTPException, socket.error, ssl.SSLError) as exc:
                    failures.append("%s: %s" % (endpoint, exc))
        raise EtcdUnavailable("no registry endpoint answered: " + "; ".join(failures[-len(self.endpoints):]))

    def _post_authenticated(self, endpoint, path, body, auth):
        token = None
        if auth and self.user:
            token = self._tokens.get(endpoint) or self._authenticate(endpoint)
        try:
            return self._post_once(endpoint, path, body, token)
        except EtcdError as exc:
            if token and (exc.code == CODE_UNAUTHENTICATED or any(text in str(exc) for text in STALE_TOKEN_ERRORS)):
                return self._post_once(endpoint, path, body, self._authenticate(endpoint))
            raise

    # -- key/value and leases --------------------------------------------------------
    def get(self, key, serializable=False):
        """The key's {'value', 'lease', 'mod_revision'} or None. A serializable read answers
        from the member's own copy, without asking the leader."""
        body = {"key": b64(key)}
        if serializable:
            body["serializable"] = True
        kvs = self.post("/v3/kv/range", body).get("kvs", [])
        return _kv(kvs[0]) if kvs else None

    def get_prefix(self, prefix):
        """Every key under prefix as {'key', 'value', 'lease', 'mod_revision'}."""
        answer = self.post("/v3/kv/range", {"key": b64(prefix), "range_end": b64(prefix_end(prefix))})
        return [_kv(kv) for kv in answer.get("kvs", [])]

    def put(self, key, value, lease=0):
        body = {"key": b64(key), "value": b64(value)}
        if lease:
            body["lease"] = str(lease)
        return self.post("/v3/kv/put", body)

    def delete(self, key):
        return int(self.post("/v3/kv/deleterange", {"key": b64(key)}).get("deleted", 0))

    def lease_grant(self, ttl):
        answer = self.post("/v3/lease/grant", {"TTL": str(ttl)})
        return int(answer["ID"])

    def lease_keepalive(self, lease):
        """The lease's renewed TTL, 0 when it no longer exists."""
        answer = self.post("/v3/lease/keepalive", {"ID": str(lease)})
        return int(answer.get("TTL", 0))

    def lease_ttl(self, lease):
        """(remaining, granted) seconds; remaining is -1 when the lease has expired or never was."""
        answer = self.post("/v3/lease/timetolive", {"ID": str(lease)})
        return int(answer.get("TTL", -1)), int(answer.get("grantedTTL", 0))

    def lease_revoke(self, lease):
        try:
            self.post("/v3/lease/revoke", {"ID": str(lease)})
        except EtcdError as exc:
            if "requested lease not found" not in str(exc):
                raise

    # -- authentication administration ------------------------------------------------
    def auth_enabled(self):
        """Whether authentication is on, asked without credentials (anonymous reads fail then)."""
        anonymous = self.sibling()
        try:
            anonymous.post("/v3/kv/range", {"key": b64("/"), "limit": "1"}, auth=False)
            return False
        except EtcdError as exc:
            if "user name is empty" in str(exc) or exc.code in (CODE_PERMISSION_DENIED, CODE_UNAUTHENTICATED):
                return True
            raise
        finally:
            anonymous.close()

    def can_authenticate(self, user, password):
        probe = self.sibling(user, password)
        try:
            probe.post("/v3/auth/authenticate", {"name": user, "password": password}, auth=False)
            return True
        except EtcdError as exc:
            if "authentication failed" in str(exc) or exc.code == CODE_INVALID_ARGUMENT:
                return False
            raise
        finally:
            probe.close()

    def users(self):
        return sorted(self.post("/v3/auth/user/list", {}).get("users", []))

    def user_roles(self, name):
        return sorted(self.post("/v3/auth/user/get", {"name": name}).get("roles", []))

    def roles(self):
        return sorted(self.post("/v3/auth/role/list", {}).get("roles", []))

    def role_permissions(self, name):
        perms = self.post("/v3/auth/role/get", {"role": name}).get("perm", [])
        return sorted(permission_from_wire(p) for p in perms)


def _kv(kv):
    """A key-value of the gateway's answer, decoded."""
    return {"key": unb64(kv.get("key")), "value": unb64(kv.get("value")), "lease": int(kv.get("lease", 0)),
            "mod_revision": int(kv.get("mod_revision", 0))}


PERM_TYPES = {"read": "READ", "write": "WRITE", "readwrite": "READWRITE"}


def permission_from_wire(perm):
    """(permission, key, range_end) from the gateway's form (READ is the zero value, so absent)."""
    kind = (perm.get("permType") or "READ").lower()
    return (kind, unb64(perm.get("key")), unb64(perm.get("range_end")))


def permission_to_tuple(spec):
    """(permission, key, range_end) from a declaration {key, prefix, permission}."""
    key = spec["key"]
    range_end = prefix_end(key) if spec.get("prefix") else ""
    return (spec.get("permission", "read"), key, range_end)


# -- the federation record ---------------------------------------------------------------
def record_key(prefix, site_id):
    return prefix + site_id


def make_record(site_id, endpoints, capacity, version):
    return {"site_id": site_id, "endpoints": dict(endpoints or {}), "capacity": dict(capacity or {}),
            "version": "" if version is None else str(version)}


def same_record(current, wanted):
    """Whether two records announce the same thing (the announcement time aside)."""
    return all(current.get(f) == wanted.get(f) for f in RECORD_FIELDS + ("ttl",))


def read_record(value):
    try:
        record = json.loads(value)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def announce(gateway, prefix, record, ttl, check_mode=False, now=None):
    """Make the site's record current under a lease of ttl seconds.

    An unchanged record keeps its lease alive and is not rewritten (no new revision,
    no watcher woken). The record carries the TTL asked for: etcd raises a TTL below
    its minimum (1.5 election timeouts) silently, so the lease's granted TTL is not
    what to compare. Returns a dict: changed, written (the record was put), lease,
    previous (the record before, or None), record (as stored).
    """
    key = record_key(prefix, record["site_id"])
    wanted = dict(record, ttl=ttl)
    current = gateway.get(key)
    previous = read_record(current["value"]) if current else None
    alive = bool(current and current["lease"] and gateway.lease_ttl(current["lease"])[0] > 0)
    same_ttl = previous is not None and previous.get("ttl") == ttl
    if previous is not None and same_record(previous, wanted) and alive:
        if check_mode or gateway.lease_keepalive(current["lease"]) > 0:
            return {"changed": False, "written": False, "lease": current["lease"], "previous": previous,
                    "record": previous}
        # Expired between the two requests: announce again below.
        alive = False
    stored = dict(wanted)
    stored["announced_at"] = utc_iso(now)
    if check_mode:
        return {"changed": True, "written": False, "lease": current["lease"] if current else 0,
                "previous": previous, "record": stored}
    reuse = alive and same_ttl
    lease = current["lease"] if reuse else gateway.lease_grant(ttl)
    gateway.put(key, json.dumps(stored, sort_keys=True), lease)
    if reuse:
        # A new record lives a whole TTL from now, not what was left of the old one's.
        gateway.lease_keepalive(lease)
    elif alive:
        gateway.lease_revoke(current["lease"])
    return {"changed": True, "written": True, "lease": lease, "previous": previous, "record": stored}


def withdraw(gateway, prefix, site_id, check_mode=False):
    """Delete the site's record and its lease. Returns (changed, previous record or None)."""
    key = record_key(prefix, site_id)
    current = gateway.get(key)
    if not current:
        return False, None
    previous = read_record(current["value"])
    if not check_mode:
        gateway.delete(key)
        if current["lease"]:
            gateway.lease_revoke(current["lease"])
    return True, previous


def live_members(gateway, prefix, now=None, lease_details=True):
    """The records under prefix, each with its liveness figures.

    A member's id is its key's (the one thing etcd's permissions vouch for): a record
    claiming another id, or that is not a JSON object, is left out. etcd deletes a key
    when its lease expires, so every record present is live: the list is one request.
    lease_details adds, per member, one request for its lease (seconds left, last
    renewal)."""
    now = time.time() if now is None else now
    members = []
    for kv in gateway.get_prefix(prefix):
        site_id = kv["key"][len(prefix):]
        record = read_record(kv["value"])
        if record is None or record.get("site_id") != site_id:
            continue
        member = dict(record, site_id=site_id, key=kv["key"])
        if lease_details:
            remaining, granted = gateway.lease_ttl(kv["lease"]) if kv["lease"] else (-1, 0)
            if kv["lease"] and remaining <= 0:
                # Expired between the two requests.
                continue
            member["lease_ttl"] = granted
            member["lease_remaining"] = remaining
            # The last keepalive, as far as the lease tells (a keepalive resets it to granted).
            member["last_seen"] = utc_iso(now - (granted - remaining)) if kv["lease"] else None
        members.append(member)
    return sorted(members, key=lambda m: m["site_id"])
