# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)
"""The Zabbix modules' connection to the JSON-RPC API (pyzabbix), from anywhere: the
controller, AWX, or a node. Authentication by API token or user and password; TLS
verified unless turned off; errors named by their cause."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import hashlib
import re
import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib

try:
    from pyzabbix import ZabbixAPI, ZabbixAPIException
    import requests
    HAS_PYZABBIX = True
    PYZABBIX_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - reported by connect()
    HAS_PYZABBIX = False
    PYZABBIX_IMPORT_ERROR = traceback.format_exc()


def zabbix_argument_spec():
    """The options every Zabbix module of the collection takes (doc fragment zabbix_api)."""
    return dict(
        server_url=dict(type='str', required=True, fallback=(env_fallback, ['ZABBIX_SERVER_URL'])),
        api_token=dict(type='str', no_log=True, fallback=(env_fallback, ['ZABBIX_API_TOKEN'])),
        login_user=dict(type='str', fallback=(env_fallback, ['ZABBIX_USER'])),
        login_password=dict(type='str', no_log=True, fallback=(env_fallback, ['ZABBIX_PASSWORD'])),
        validate_certs=dict(type='bool', default=True),
        ca_cert=dict(type='path'),
        timeout=dict(type='int', default=30),
    )


ZABBIX_MUTUALLY_EXCLUSIVE = [('api_token', 'login_user')]
ZABBIX_REQUIRED_ONE_OF = [('api_token', 'login_user')]
ZABBIX_REQUIRED_TOGETHER = [('login_user', 'login_password')]


class ZabbixError(Exception):
    """An API error with the method that raised it."""


class Api(object):
    """A logged-in pyzabbix client whose calls raise ZabbixError naming the method."""

    def __init__(self, client):
        self.client = client
        # Calls made through call(), for the modules' reports (login and version excluded).
        self.calls = 0

    def call(self, method, *args, **kwargs):
        """method is 'host.get' and the like; a list of objects goes as *args (pyzabbix
        sends a JSON array then), one object as **kwargs."""
        self.calls += 1
        group, name = method.split('.')
        try:
            return getattr(getattr(self.client, group), name)(*args, **kwargs)
        except ZabbixAPIException as err:
            raise ZabbixError('%s failed: %s' % (method, err))

    @property
    def version(self):
        return str(self.client.api_version())


@contextlib.contextmanager
def zabbix_api(module):
    """Yields an Api logged in with the module's options; fails the module with the
    cause when pyzabbix is missing, the server cannot be reached or refuses the login.
    A password session is logged out at the end (a token needs no logout)."""
    if not HAS_PYZABBIX:
        module.fail_json(msg=missing_required_lib('pyzabbix'), exception=PYZABBIX_IMPORT_ERROR)
    params = module.params
    url = params['server_url'].rstrip('/')
    if not url.startswith(('http://', 'https://')):
        module.fail_json(msg='server_url must be the frontend URL (http(s)://host/zabbix), not %r' % url)
    session = requests.Session()
    session.verify = params['ca_cert'] or params['validate_certs']
    client = ZabbixAPI(url, session=session, timeout=params['timeout'])
    try:
        if params['api_token']:
            client.login(api_token=params['api_token'])
            # A bad token is only noticed by the first call that needs authentication.
            client.host.get(output=['hostid'], limit=1)
        else:
            client.login(user=params['login_user'], password=params['login_password'])
    except ZabbixAPIException as err:
        module.fail_json(msg='Zabbix at %s refused the login as %s: %s' % (
            url, 'the API token' if params['api_token'] else params['login_user'], err))
    except requests.exceptions.SSLError as err:
        module.fail_json(msg='TLS verification of %s failed (ca_cert, validate_certs): %s' % (url, err))
    except requests.exceptions.RequestException as err:
        module.fail_json(msg='cannot reach the Zabbix API at %s/api_jsonrpc.php: %s' % (url, err))
    except ValueError as err:  # an HTML page instead of JSON: not the frontend's URL
        module.fail_json(msg='%s/api_jsonrpc.php did not answer JSON-RPC (is server_url the frontend?): %s' % (url, err))
    try:
        yield Api(client)
    except ZabbixError as err:
        module.fail_json(msg=str(err))
    except requests.exceptions.RequestException as err:
        module.fail_json(msg='the Zabbix API at %s stopped answering: %s' % (url, err))
    finally:
        if not params['api_token']:
            try:
                client.user.logout()
            except Exception:  # pylint: disable=broad-except  # the session ends anyway
                pass


def ids_by_name(api, method, field, names, id_field):
    """{name: id} of the named objects (one call for the whole list)."""
    if not names:
        return {}
    found = api.call(method, output=[id_field, field], filter={field: sorted(set(names))})
    return dict((obj[field], obj[id_field]) for obj in found)


def name_errors(kind, names, pattern=r'^[0-9A-Za-z. _-]+$'):
    """Malformed and repeated names of a declared list, each named with its kind."""
    errors, seen = [], set()
    for name in names:
        if not name or not re.match(pattern, name):
            errors.append('%s %r: a name of letters, digits, dots, spaces, "_" and "-"' % (kind, name))
        if name in seen:
            errors.append('%s %r is listed twice' % (kind, name))
        seen.add(name)
    return errors


def psk_errors(kind, name, identity, psk):
    """What is wrong with a declared PSK (Zabbix: 32 to 512 hex digits, an even number,
    always with an identity)."""
    errors = []
    if bool(psk) != bool(identity):
        errors.append('%s %r: tls_psk and tls_psk_identity go together' % (kind, name))
    if psk and not (re.match(r'^[0-9A-Fa-f]{32,512}$', psk) and len(psk) % 2 == 0):
        errors.append('%s %r: tls_psk must be 32 to 512 hex digits, an even number (it has %d characters)'
                      % (kind, name, len(psk)))
    return errors


def psk_digest(identity, psk):
    """What the modules keep of a PSK to notice a change (Zabbix never returns one)."""
    return hashlib.sha256(('%s:%s' % (identity, psk)).encode()).hexdigest()
