#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: zabbix_proxies
short_description: Declare Zabbix proxies (active or passive, PSK encrypted) in a few API calls
version_added: "0.1.0"
description:
  - Makes a list of Zabbix 6.0 proxies as declared - mode, the addresses an active proxy may connect from, a
    passive proxy's interface, PSK encryption, description - with one read and at most one C(proxy.create), one
    C(proxy.update) and one C(proxy.delete) for the whole list.
  - Runs from anywhere that reaches the frontend's API (the controller, AWX, a node).
  - The hosts a proxy monitors are not managed here (see M(stormclouds.platform.zabbix_hosts), option
    C(proxy)); deleting a proxy that still monitors hosts fails with Zabbix's message.
  - Zabbix never returns a proxy's PSK, so the module keeps a SHA-256 of the identity and PSK as the last line of
    the proxy's description (C(psk-sha256:...)) and compares that; a PSK changed outside the module is put back
    only once that line no longer matches.
author:
  - Storm Clouds Platform developers (@stormclouds)
extends_documentation_fragment:
  - stormclouds.platform.zabbix_api
options:
  proxies:
    description: The proxies, each by its name (the proxy's C(Hostname)).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The proxy's name, equal to C(Hostname) in its configuration.
        type: str
        required: true
      mode:
        description: C(active) - the proxy connects to the server; C(passive) - the server connects to it.
        type: str
        choices: [active, passive]
        default: active
      allowed_addresses:
        description: Active proxies only - addresses or DNS names the proxy may connect from; empty - any.
        type: list
        elements: str
        default: []
      address:
        description: Passive proxies only (required for them) - the address the server connects to.
        type: str
      port:
        description: Passive proxies only - the port the proxy listens on.
        type: int
        default: 10051
      tls_psk_identity:
        description: PSK identity; with O(proxies[].tls_psk) the server and the proxy only talk over PSK.
        type: str
      tls_psk:
        description: The pre-shared key, 32 to 512 hex digits, an even number (never logged).
        type: str
      description:
        description: Free text (the module appends its PSK digest line when a PSK is set).
        type: str
        default: ""
  state:
    description: C(present) - the proxies exist as declared; C(absent) - the listed proxies do not exist.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    support: full
    description: Reads the proxies and reports what would be created, changed or deleted; writes nothing.
  diff_mode:
    support: full
    description: For each proxy changed, the fields before and after (the PSK only as set or changed).
"""

EXAMPLES = r"""
- name: Register the site's active proxy with its PSK
  stormclouds.platform.zabbix_proxies:
    server_url: https://zabbix.example.org/zabbix
    api_token: "{{ vault_zabbix_api_token }}"
    proxies:
      - name: proxy-site-a
        allowed_addresses: [192.0.2.40]
        tls_psk_identity: proxy-site-a
        tls_psk: "{{ vault_proxy_psk }}"
  delegate_to: localhost
  run_once: true

- name: A passive proxy the server polls
  stormclouds.platform.zabbix_proxies:
    server_url: http://192.0.2.10/zabbix
    login_user: Admin
    login_password: "{{ vault_zabbix_admin_password }}"
    proxies:
      - name: proxy-dmz
        mode: passive
        address: 198.51.100.7

- name: Remove a decommissioned proxy (its hosts moved first)
  stormclouds.platform.zabbix_proxies:
    server_url: https://zabbix.example.org/zabbix
    api_token: "{{ vault_zabbix_api_token }}"
    state: absent
    proxies: [{name: proxy-old}]
"""

RETURN = r"""
created:
  description: Names of the proxies created (or that would be).
  returned: always
  type: list
  elements: str
updated:
  description: Names of the proxies changed (or that would be).
  returned: always
  type: list
  elements: str
deleted:
  description: Names of the proxies deleted (or that would be).
  returned: always
  type: list
  elements: str
unchanged:
  description: How many proxies already matched.
  returned: always
  type: int
proxyids:
  description: Proxy id by name of every listed proxy that exists (after the run; not in check mode for new ones).
  returned: always
  type: dict
"""

import ipaddress

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stormclouds.platform.plugins.module_utils.zabbix_api import (
    ZABBIX_MUTUALLY_EXCLUSIVE, ZABBIX_REQUIRED_ONE_OF, ZABBIX_REQUIRED_TOGETHER, name_errors, psk_digest, psk_errors,
    zabbix_api, zabbix_argument_spec)

STATUS = {'active': '5', 'passive': '6'}
TLS_NONE = '1'
TLS_PSK = '2'
DIGEST_PREFIX = 'psk-sha256:'


def input_errors(proxies, state):
    """Every problem of the declared list, each naming its proxy (empty: none)."""
    errors = name_errors('proxy', [entry['name'] for entry in proxies], r'^[0-9A-Za-z. _-]{1,128}$')
    if state == 'absent':
        return errors
    for entry in proxies:
        name = entry['name']
        if entry['mode'] == 'passive' and not entry['address']:
            errors.append('proxy %r: a passive proxy needs the address the server connects to' % name)
        if entry['mode'] == 'active' and entry['address']:
            errors.append('proxy %r: address is for passive proxies; an active one takes allowed_addresses' % name)
        if entry['mode'] == 'passive' and entry['allowed_addresses']:
            errors.append('proxy %r: allowed_addresses is for active proxies' % name)
        if not 1 <= entry['port'] <= 65535:
            errors.append('proxy %r: port %s is not a TCP port' % (name, entry['port']))
        errors += psk_errors('proxy', name, entry['tls_psk_identity'], entry['tls_psk'])
        if DIGEST_PREFIX in (entry['description'] or ''):
            errors.append('proxy %r: the description may not contain %r (the module keeps it there)' % (name, DIGEST_PREFIX))
    return errors


def split_description(text):
    """(the operator's text, the digest line's value or '') of a stored description."""
    lines = (text or '').split('\n')
    if lines and lines[-1].startswith(DIGEST_PREFIX):
        return '\n'.join(lines[:-1]), lines[-1][len(DIGEST_PREFIX):]
    return text or '', ''


def desired_proxy(entry):
    """The API object of a declared proxy (without proxyid or PSK), and its PSK digest."""
    digest = psk_digest(entry['tls_psk_identity'], entry['tls_psk']) if entry['tls_psk'] else ''
    description = entry['description'] or ''
    if digest:
        description = (description + '\n' if description else '') + DIGEST_PREFIX + digest
    obj = {'host': entry['name'], 'status': STATUS[entry['mode']], 'description': description}
    if entry['mode'] == 'active':
        obj['proxy_address'] = ','.join(entry['allowed_addresses'])
        # An active proxy connects: the server accepts; it never connects to the proxy.
        obj['tls_connect'] = TLS_NONE
        obj['tls_accept'] = TLS_PSK if digest else TLS_NONE
    else:
        try:
            ipaddress.ip_address(entry['address'])
            useip = '1'
        except ValueError:
            useip = '0'
        obj['interface'] = {'useip': useip, 'ip': entry['address'] if useip == '1' else '',
                            'dns': '' if useip == '1' else entry['address'], 'port': str(entry['port'])}
        obj['tls_connect'] = TLS_PSK if digest else TLS_NONE
        obj['tls_accept'] = TLS_NONE
    return obj, digest


def comparable_interface(interface):
    if not interface:
        return None
    return tuple(str(interface.get(k, '')) for k in ('useip', 'ip', 'dns', 'port'))


def proxy_changes(want, current):
    """The fields of a proxy update (empty: it matches) and a readable before/after."""
    update, before, after = {}, {}, {}
    for field in ('status', 'description', 'tls_connect', 'tls_accept'):
        if str(current.get(field, '')) != want[field]:
            update[field] = want[field]
            before[field], after[field] = current.get(field), want[field]
    if want['status'] == STATUS['active']:
        if str(current.get('proxy_address', '')) != want['proxy_address']:
            update['proxy_address'] = want['proxy_address']
            before['proxy_address'], after['proxy_address'] = current.get('proxy_address'), want['proxy_address']
    else:
        have = current.get('interface') or {}
        # proxy.get returns [] for an active proxy's missing interface.
        have = have if isinstance(have, dict) else {}
        if comparable_interface(have) != comparable_interface(want['interface']):
            update['interface'] = want['interface']
            before['interface'], after['interface'] = comparable_interface(have), comparable_interface(want['interface'])
    return update, before, after


def plan(entries, current_by_name):
    """(creates, updates, diffs, unchanged) for state present."""
    creates, updates, diffs = [], [], []
    unchanged = 0
    for entry in entries:
        want, digest = desired_proxy(entry)
        psk = {'tls_psk_identity': entry['tls_psk_identity'], 'tls_psk': entry['tls_psk']} if digest else {}
        current = current_by_name.get(entry['name'])
        if current is None:
            creates.append(dict(want, **psk))
            diffs.append({'name': entry['name'], 'before': None, 'after': redacted(want)})
            continue
        update, before, after = proxy_changes(want, current)
        if not update:
            unchanged += 1
            continue
        if any(field in update for field in ('description', 'tls_connect', 'tls_accept')) and digest:
            # The digest lives in the description: any change there resends the PSK,
            # which is what a changed digest means.
            update.update(psk)
            update.update(tls_connect=want['tls_connect'], tls_accept=want['tls_accept'])
        update['proxyid'] = current['proxyid']
        updates.append(update)
        diffs.append({'name': entry['name'], 'before': redacted(before), 'after': redacted(after)})
    return creates, updates, diffs, unchanged


def redacted(fields):
    """A diff's fields with the digest line shown as whether a PSK is set."""
    out = dict(fields)
    if 'description' in out:
        text, digest = split_description(out['description'])
        out['description'] = text
        out['psk'] = 'set' if digest else 'none'
    return out


def run(module, api):
    params = module.params
    entries = params['proxies']
    names = [e['name'] for e in entries]
    result = dict(changed=False, created=[], updated=[], deleted=[], unchanged=0, proxyids={})
    current = api.call('proxy.get', output=['proxyid', 'host', 'status', 'description', 'proxy_address',
                                            'tls_connect', 'tls_accept'],
                       filter={'host': names}, selectInterface=['useip', 'ip', 'dns', 'port']) if names else []
    current_by_name = dict((p['host'], p) for p in current)
    result['proxyids'] = dict((n, current_by_name[n]['proxyid']) for n in names if n in current_by_name)

    if params['state'] == 'absent':
        gone = [n for n in names if n in current_by_name]
        result.update(deleted=gone, unchanged=len(names) - len(gone), changed=bool(gone))
        if gone and not module.check_mode:
            api.call('proxy.delete', *[current_by_name[n]['proxyid'] for n in gone])
            for name in gone:
                result['proxyids'].pop(name, None)
        if module._diff:
            result['diff'] = {'before': {'proxies': gone}, 'after': {'proxies': []}}
        return result

    creates, updates, diffs, unchanged = plan(entries, current_by_name)
    result.update(created=[c['host'] for c in creates], unchanged=unchanged,
                  updated=[d['name'] for d in diffs if d['before'] is not None], changed=bool(creates or updates))
    if not module.check_mode:
        if creates:
            made = api.call('proxy.create', *creates)
            result['proxyids'].update(zip([c['host'] for c in creates], made['proxyids']))
        if updates:
            api.call('proxy.update', *updates)
    if module._diff:
        result['diff'] = {'before': dict((d['name'], d['before']) for d in diffs),
                          'after': dict((d['name'], d['after']) for d in diffs)}
    return result


def main():
    proxy = dict(
        name=dict(type='str', required=True),
        mode=dict(type='str', choices=['active', 'passive'], default='active'),
        allowed_addresses=dict(type='list', elements='str', default=[]),
        address=dict(type='str'),
        port=dict(type='int', default=10051),
        tls_psk_identity=dict(type='str'),
        tls_psk=dict(type='str', no_log=True),
        description=dict(type='str', default=''),
    )
    argument_spec = zabbix_argument_spec()
    argument_spec.update(
        proxies=dict(type='list', elements='dict', required=True, options=proxy),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=ZABBIX_MUTUALLY_EXCLUSIVE, required_one_of=ZABBIX_REQUIRED_ONE_OF,
                           required_together=ZABBIX_REQUIRED_TOGETHER)
    errors = input_errors(module.params['proxies'], module.params['state'])
    if errors:
        module.fail_json(msg='; '.join(errors))
    with zabbix_api(module) as api:
        result = run(module, api)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
