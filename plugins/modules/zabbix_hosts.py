#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: zabbix_hosts
short_description: Declare many Zabbix hosts in a few API calls
version_added: "0.1.0"
description:
  - Makes a whole list of Zabbix hosts as declared (groups, templates, interfaces, proxy, PSK encryption, status,
    tags) with a few JSON-RPC calls per O(batch_size) hosts - one read of the hosts, one lookup each of
    their groups, templates and proxies, then at most one C(host.create), one C(host.update) and one
    C(host.delete) per O(batch_size) hosts - instead of several calls per host.
  - Runs from anywhere that reaches the frontend's API (the controller, AWX, a node); no need to delegate to the
    Zabbix server.
  - Hosts that already match are not written. Missing host groups are created (O(create_groups)).
  - Zabbix 6.0 never returns a host's PSK, so the module keeps a SHA-256 of the PSK identity and PSK in the host
    macro C({$SC_PSK_SHA256}) and compares that; a PSK changed outside the module is put back at the next run
    only if the macro no longer matches.
author:
  - Storm Clouds Platform developers (@stormclouds)
extends_documentation_fragment:
  - stormclouds.platform.zabbix_api
options:
  hosts:
    description: The hosts, each by its technical name.
    type: list
    elements: dict
    required: true
    suboptions:
      host:
        description: Technical name (the agent's C(Hostname)).
        type: str
        required: true
      name:
        description: Visible name; defaults to O(hosts[].host).
        type: str
      groups:
        description: Host group names (at least one with O(state=present)).
        type: list
        elements: str
        default: []
      templates:
        description: Templates linked to the host by name; templates not listed are unlinked (their items stay).
        type: list
        elements: str
        default: []
      interfaces:
        description: The host's interfaces; none for hosts that only send active checks.
        type: list
        elements: dict
        default: []
        suboptions:
          type:
            description: Interface type.
            type: str
            choices: [agent, snmp, ipmi, jmx]
            default: agent
          address:
            description: IP address or DNS name (the module tells which).
            type: str
            required: true
          port:
            description: Port; defaults to 10050 (agent), 161 (snmp), 623 (ipmi), 12345 (jmx).
            type: str
          main:
            description: The default interface of its type; defaults to true for the first of each type.
            type: bool
      proxy:
        description: Name of the proxy that monitors the host; empty - the server.
        type: str
        default: ""
      status:
        description: Whether the host is monitored.
        type: str
        choices: [enabled, disabled]
        default: enabled
      description:
        description: Free text.
        type: str
        default: ""
      tls_psk_identity:
        description: PSK identity; with O(hosts[].tls_psk) turns on PSK encryption to and from the host.
        type: str
      tls_psk:
        description: The pre-shared key, 32 to 512 hex digits, an even number (never logged).
        type: str
      tls_accept:
        description: Connections the server accepts from the host's active checks.
        type: list
        elements: str
        choices: [unencrypted, psk]
      tags:
        description: Host tags.
        type: list
        elements: dict
        default: []
        suboptions:
          tag:
            description: Tag name.
            type: str
            required: true
          value:
            description: Tag value.
            type: str
            default: ""
  state:
    description: C(present) - the hosts exist as declared; C(absent) - the listed hosts do not exist.
    type: str
    choices: [present, absent]
    default: present
  create_groups:
    description: Create host groups that do not exist; otherwise a missing group is an error.
    type: bool
    default: true
  batch_size:
    description:
      - Hosts per write call. Linking templates to many hosts in one request costs the frontend's PHP memory (the
        stock C(memory_limit) of 128M fails near 500 hosts with a template); larger batches need fewer calls where
        the frontend allows more.
    type: int
    default: 50
attributes:
  check_mode:
    support: full
    description: >-
      Reads the hosts, groups, templates and proxies and reports what would be created, changed or deleted;
      writes nothing (host groups that would be created included).
  diff_mode:
    support: full
    description: >-
      For each host changed, the fields before and after (groups and templates by id, interfaces normalised, the
      PSK only as set or changed).
"""

EXAMPLES = r"""
- name: Monitor every node of the platform (a list built once for the whole play)
  stormclouds.platform.zabbix_hosts:
    server_url: https://zabbix.example.org/zabbix
    api_token: "{{ vault_zabbix_api_token }}"
    hosts: "{{ platform_monitored_hosts }}"
  delegate_to: localhost
  run_once: true

- name: Two hosts, declared one by one
  stormclouds.platform.zabbix_hosts:
    server_url: http://192.0.2.10/zabbix
    login_user: Admin
    login_password: "{{ vault_zabbix_admin_password }}"
    hosts:
      - host: db1
        groups: [Databases, Storm Clouds]
        templates: [Linux by Zabbix agent active]
        interfaces: [{address: 192.0.2.21}]
        proxy: proxy-site-a
        tls_psk_identity: db1
        tls_psk: "{{ vault_psk_db1 }}"
      - host: web1
        groups: [Web]
        interfaces: [{address: web1.example.org}]

- name: Remove decommissioned hosts
  stormclouds.platform.zabbix_hosts:
    server_url: https://zabbix.example.org/zabbix
    api_token: "{{ vault_zabbix_api_token }}"
    state: absent
    hosts: [{host: old1}, {host: old2}]
"""

RETURN = r"""
created:
  description: Technical names of the hosts created (or that would be).
  returned: always
  type: list
  elements: str
updated:
  description: Technical names of the hosts changed (or that would be).
  returned: always
  type: list
  elements: str
deleted:
  description: Technical names of the hosts deleted (or that would be).
  returned: always
  type: list
  elements: str
unchanged:
  description: How many hosts already matched.
  returned: always
  type: int
hostids:
  description: Host id by technical name of every listed host that exists (after the run; not in check mode for new hosts).
  returned: always
  type: dict
groups_created:
  description: Host groups created (or that would be).
  returned: always
  type: list
  elements: str
api_calls:
  description: JSON-RPC calls made, reads and writes (for comparisons with per-host modules).
  returned: always
  type: int
"""

import ipaddress

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stormclouds.platform.plugins.module_utils.zabbix_api import (
    ZABBIX_MUTUALLY_EXCLUSIVE, ZABBIX_REQUIRED_ONE_OF, ZABBIX_REQUIRED_TOGETHER, ids_by_name, name_errors,
    psk_digest, psk_errors, zabbix_api, zabbix_argument_spec)

PSK_MACRO = '{$SC_PSK_SHA256}'
INTERFACE_TYPES = {'agent': '1', 'snmp': '2', 'ipmi': '3', 'jmx': '4'}
DEFAULT_PORTS = {'agent': '10050', 'snmp': '161', 'ipmi': '623', 'jmx': '12345'}
TLS_NONE = 1
TLS_PSK = 2


def input_errors(hosts, state):
    """Every problem of the declared list, each naming its host (empty: none)."""
    errors = name_errors('host', [entry['host'] for entry in hosts])
    if state == 'absent':
        return errors
    for entry in hosts:
        name = entry['host']
        if not entry['groups']:
            errors.append('host %r needs at least one group' % name)
        errors += psk_errors('host', name, entry['tls_psk_identity'], entry['tls_psk'])
        if entry['tls_accept'] and 'psk' in entry['tls_accept'] and not entry['tls_psk']:
            errors.append('host %r: tls_accept psk needs tls_psk' % name)
    return errors


def entry_digest(entry):
    return psk_digest(entry['tls_psk_identity'], entry['tls_psk'])


def desired_interfaces(entry):
    out = []
    first_of = set()
    for iface in entry['interfaces']:
        kind = iface['type']
        try:
            ipaddress.ip_address(iface['address'])
            useip = '1'
        except ValueError:
            useip = '0'
        main = iface['main'] if iface['main'] is not None else kind not in first_of
        first_of.add(kind)
        out.append({'type': INTERFACE_TYPES[kind], 'main': '1' if main else '0', 'useip': useip,
                    'ip': iface['address'] if useip == '1' else '', 'dns': '' if useip == '1' else iface['address'],
                    'port': str(iface['port'] or DEFAULT_PORTS[kind])})
    return out


def comparable_interfaces(interfaces):
    keys = ('type', 'main', 'useip', 'ip', 'dns', 'port')
    return sorted(tuple(str(i.get(k, '')) for k in keys) for i in interfaces)


def desired_host(entry, group_ids, template_ids, proxy_ids):
    """The API object of a declared host (without hostid), and its PSK digest."""
    psk = bool(entry['tls_psk'])
    accept = entry['tls_accept'] or (['psk'] if psk else ['unencrypted'])
    obj = {
        'host': entry['host'],
        'name': entry['name'] or entry['host'],
        'status': '0' if entry['status'] == 'enabled' else '1',
        'description': entry['description'] or '',
        'proxy_hostid': proxy_ids.get(entry['proxy'], '0') if entry['proxy'] else '0',
        'groups': [{'groupid': group_ids[g]} for g in sorted(set(entry['groups']))],
        'templates': [{'templateid': template_ids[t]} for t in sorted(set(entry['templates']))],
        'interfaces': desired_interfaces(entry),
        'tags': [{'tag': t['tag'], 'value': t['value'] or ''} for t in entry['tags']],
        'tls_connect': str(TLS_PSK if psk else TLS_NONE),
        'tls_accept': str(sum(TLS_PSK if a == 'psk' else TLS_NONE for a in set(accept))),
    }
    return obj, (entry_digest(entry) if psk else '')


def current_digest(current):
    for macro in current.get('macros', []):
        if macro.get('macro') == PSK_MACRO:
            return macro.get('value', '')
    return ''


def host_changes(want, digest, current):
    """The fields of a host update (empty: the host matches) and a readable diff."""
    update = {}
    before, after = {}, {}
    for field in ('name', 'status', 'description', 'proxy_hostid'):
        if str(current.get(field, '')) != want[field]:
            update[field] = want[field]
            before[field], after[field] = current.get(field), want[field]
    have_groups = sorted(g['groupid'] for g in current.get('groups', []))
    if have_groups != sorted(g['groupid'] for g in want['groups']):
        update['groups'] = want['groups']
        before['groups'], after['groups'] = have_groups, sorted(g['groupid'] for g in want['groups'])
    have_templates = sorted(t['templateid'] for t in current.get('parentTemplates', []))
    if have_templates != sorted(t['templateid'] for t in want['templates']):
        update['templates'] = want['templates']
        before['templates'], after['templates'] = have_templates, sorted(t['templateid'] for t in want['templates'])
    if comparable_interfaces(current.get('interfaces', [])) != comparable_interfaces(want['interfaces']):
        # Interfaces of the same type and rank keep their ids (and the items using them).
        existing = dict(((i['type'], i['main']), i['interfaceid']) for i in current.get('interfaces', []))
        update['interfaces'] = [dict(i, interfaceid=existing[(i['type'], i['main'])])
                                if (i['type'], i['main']) in existing else i for i in want['interfaces']]
        before['interfaces'] = comparable_interfaces(current.get('interfaces', []))
        after['interfaces'] = comparable_interfaces(want['interfaces'])
    have_tags = sorted((t['tag'], t.get('value', '')) for t in current.get('tags', []))
    if have_tags != sorted((t['tag'], t['value']) for t in want['tags']):
        update['tags'] = want['tags']
        before['tags'], after['tags'] = have_tags, sorted((t['tag'], t['value']) for t in want['tags'])
    tls_same = (str(current.get('tls_connect')) == want['tls_connect']
                and str(current.get('tls_accept')) == want['tls_accept'] and current_digest(current) == digest)
    if not tls_same:
        for field in ('tls_connect', 'tls_accept'):
            update[field] = want[field]
        before['tls'] = {'connect': current.get('tls_connect'), 'accept': current.get('tls_accept'),
                         'psk': 'set' if current_digest(current) else 'not known'}
        after['tls'] = {'connect': want['tls_connect'], 'accept': want['tls_accept'],
                        'psk': 'changed' if digest else 'none'}
    return update, before, after


def plan(entries, current_by_name, group_ids, template_ids, proxy_ids):
    """(creates, updates, psk_macros, diffs, unchanged) for state present.

    creates: API objects for host.create; updates: objects with hostid for host.update;
    psk_macros: (hostid or None for a new host, host name, digest or '' to remove, hostmacroid or None)."""
    creates, updates, macros, diffs = [], [], [], []
    unchanged = 0
    for entry in entries:
        want, digest = desired_host(entry, group_ids, template_ids, proxy_ids)
        current = current_by_name.get(entry['host'])
        tls = {}
        if digest:
            tls = {'tls_psk_identity': entry['tls_psk_identity'], 'tls_psk': entry['tls_psk']}
        if current is None:
            obj = dict(want, **tls)
            if digest:
                obj['macros'] = [{'macro': PSK_MACRO, 'value': digest, 'description': 'SHA-256 of the PSK (set by '
                                  'stormclouds.platform.zabbix_hosts)'}]
            creates.append(obj)
            diffs.append({'host': entry['host'], 'before': None, 'after': dict(
                (k, v) for k, v in want.items() if k != 'interfaces')})
            continue
        update, before, after = host_changes(want, digest, current)
        if not update:
            unchanged += 1
            continue
        if 'tls_connect' in update:
            update.update(tls)
            hostmacroid = next((m['hostmacroid'] for m in current.get('macros', []) if m.get('macro') == PSK_MACRO),
                               None)
            macros.append((current['hostid'], entry['host'], digest, hostmacroid))
        update['hostid'] = current['hostid']
        updates.append(update)
        diffs.append({'host': entry['host'], 'before': before, 'after': after})
    return creates, updates, macros, diffs, unchanged


def batches(items, size):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def run(module, api):
    params = module.params
    entries = params['hosts']
    names = [e['host'] for e in entries]
    result = dict(changed=False, created=[], updated=[], deleted=[], unchanged=0, hostids={}, groups_created=[])
    current = api.call('host.get', output=['hostid', 'host', 'name', 'status', 'description', 'proxy_hostid',
                                           'tls_connect', 'tls_accept'],
                       filter={'host': names}, selectGroups=['groupid'], selectParentTemplates=['templateid'],
                       selectInterfaces=['interfaceid', 'type', 'main', 'useip', 'ip', 'dns', 'port'],
                       selectTags=['tag', 'value'], selectMacros=['hostmacroid', 'macro', 'value']) if names else []
    current_by_name = dict((h['host'], h) for h in current)

    if params['state'] == 'absent':
        gone = [h for h in names if h in current_by_name]
        result.update(deleted=gone, unchanged=len(names) - len(gone), changed=bool(gone))
        if gone and not module.check_mode:
            for chunk in batches([current_by_name[h]['hostid'] for h in gone], params['batch_size']):
                api.call('host.delete', *chunk)
        if module._diff:
            result['diff'] = {'before': {'hosts': gone}, 'after': {'hosts': []}}
        return result

    group_names = sorted(set(g for e in entries for g in e['groups']))
    group_ids = ids_by_name(api, 'hostgroup.get', 'name', group_names, 'groupid')
    missing_groups = [g for g in group_names if g not in group_ids]
    if missing_groups and not params['create_groups']:
        module.fail_json(msg='host groups do not exist (create_groups is off): %s' % ', '.join(missing_groups))
    template_names = sorted(set(t for e in entries for t in e['templates']))
    template_ids = ids_by_name(api, 'template.get', 'host', template_names, 'templateid')
    missing_templates = [t for t in template_names if t not in template_ids]
    proxy_names = sorted(set(e['proxy'] for e in entries if e['proxy']))
    proxy_ids = ids_by_name(api, 'proxy.get', 'host', proxy_names, 'proxyid')
    missing_proxies = [p for p in proxy_names if p not in proxy_ids]
    if missing_templates or missing_proxies:
        module.fail_json(msg='not in Zabbix: %s' % '; '.join(filter(None, [
            ('templates %s' % ', '.join(missing_templates)) if missing_templates else '',
            ('proxies %s' % ', '.join(missing_proxies)) if missing_proxies else ''])))
    if missing_groups:
        result['groups_created'] = missing_groups
        result['changed'] = True
        if module.check_mode:
            group_ids.update((g, 'new:%s' % g) for g in missing_groups)
        else:
            made = api.call('hostgroup.create', *[{'name': g} for g in missing_groups])
            group_ids.update(zip(missing_groups, made['groupids']))

    creates, updates, macros, diffs, unchanged = plan(entries, current_by_name, group_ids, template_ids, proxy_ids)
    result.update(created=[c['host'] for c in creates], unchanged=unchanged,
                  updated=[d['host'] for d in diffs if d['before'] is not None])
    result['changed'] = result['changed'] or bool(creates or updates)
    result['hostids'] = dict((h, current_by_name[h]['hostid']) for h in names if h in current_by_name)
    if not module.check_mode:
        for chunk in batches(creates, params['batch_size']):
            made = api.call('host.create', *chunk)
            result['hostids'].update(zip([c['host'] for c in chunk], made['hostids']))
        for chunk in batches(updates, params['batch_size']):
            api.call('host.update', *chunk)
        new_macros = [{'hostid': hostid, 'macro': PSK_MACRO, 'value': digest}
                      for hostid, _name, digest, macroid in macros if digest and not macroid]
        changed_macros = [{'hostmacroid': macroid, 'value': digest} for _h, _n, digest, macroid in macros
                          if digest and macroid]
        dropped_macros = [macroid for _h, _n, digest, macroid in macros if not digest and macroid]
        for method, objects in (('usermacro.create', new_macros), ('usermacro.update', changed_macros),
                                ('usermacro.delete', dropped_macros)):
            for chunk in batches(objects, params['batch_size']):
                api.call(method, *chunk)
    if module._diff:
        result['diff'] = {'before': dict((d['host'], d['before']) for d in diffs),
                          'after': dict((d['host'], d['after']) for d in diffs)}
    return result


def main():
    interface = dict(type=dict(type='str', choices=list(INTERFACE_TYPES), default='agent'),
                     address=dict(type='str', required=True), port=dict(type='str'), main=dict(type='bool'))
    host = dict(
        host=dict(type='str', required=True),
        name=dict(type='str'),
        groups=dict(type='list', elements='str', default=[]),
        templates=dict(type='list', elements='str', default=[]),
        interfaces=dict(type='list', elements='dict', default=[], options=interface),
        proxy=dict(type='str', default=''),
        status=dict(type='str', choices=['enabled', 'disabled'], default='enabled'),
        description=dict(type='str', default=''),
        tls_psk_identity=dict(type='str'),
        tls_psk=dict(type='str', no_log=True),
        tls_accept=dict(type='list', elements='str', choices=['unencrypted', 'psk']),
        tags=dict(type='list', elements='dict', default=[],
                  options=dict(tag=dict(type='str', required=True), value=dict(type='str', default=''))),
    )
    argument_spec = zabbix_argument_spec()
    argument_spec.update(
        hosts=dict(type='list', elements='dict', required=True, options=host),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        create_groups=dict(type='bool', default=True),
        batch_size=dict(type='int', default=50),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=ZABBIX_MUTUALLY_EXCLUSIVE, required_one_of=ZABBIX_REQUIRED_ONE_OF,
                           required_together=ZABBIX_REQUIRED_TOGETHER)
    errors = input_errors(module.params['hosts'], module.params['state'])
    if module.params['batch_size'] < 1:
        errors.append('batch_size must be 1 or more')
    if errors:
        module.fail_json(msg='; '.join(errors))
    with zabbix_api(module) as api:
        result = run(module, api)
        result['api_calls'] = api.calls + 2  # apiinfo.version and the login
    module.exit_json(**result)


if __name__ == '__main__':
    main()
