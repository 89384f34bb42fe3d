#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: zabbix_info
short_description: What a Zabbix installation knows - HA nodes, proxies, hosts and how fresh their data is
version_added: "0.1.0"
description:
  - Reads, in one call per kind, the server's version, its high-availability nodes (which one is active), the
    proxies with their last contact, the hosts asked for with their availability, and for the item keys asked for
    the age of each host's last value - what a playbook or a test needs to check that monitoring works.
  - Runs from anywhere that reaches the frontend's API; changes nothing.
author:
  - Storm Clouds Platform developers (@stormclouds)
extends_documentation_fragment:
  - stormclouds.platform.zabbix_api
options:
  hosts:
    description: Technical names of the hosts to report; empty - none; C(*) - every host.
    type: list
    elements: str
    default: []
  item_keys:
    description: Item keys whose last value time is reported for each reported host (for example C(agent.ping)).
    type: list
    elements: str
    default: []
  ha_nodes:
    description: Report the HA nodes (needs a Super admin).
    type: bool
    default: true
  proxies:
    description: Report the proxies.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Reads only.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
"""

EXAMPLES = r"""
- name: Which Zabbix server node is active, and do the agents report?
  stormclouds.platform.zabbix_info:
    server_url: https://zabbix.example.org/zabbix
    api_token: "{{ vault_zabbix_api_token }}"
    hosts: "{{ groups['all'] }}"
    item_keys: [agent.ping]
  delegate_to: localhost
  run_once: true
  register: zabbix

- name: Fail unless exactly one node is active and every agent sent data in the last five minutes
  ansible.builtin.assert:
    that:
      - zabbix.ha_nodes | selectattr('status', 'eq', 'active') | list | length == 1
      - zabbix.hosts | map(attribute='items') | map('dict2items') | flatten | map(attribute='value.age_s')
        | reject('le', 300) | list | length == 0
"""

RETURN = r"""
version:
  description: The API's version.
  returned: always
  type: str
  sample: 6.0.14
ha_nodes:
  description: The server's HA nodes (a standalone server is one node with an empty name).
  returned: when O(ha_nodes)
  type: list
  elements: dict
  contains:
    name: {description: HANodeName, type: str}
    address: {description: NodeAddress and port, type: str}
    status: {description: "C(active), C(standby), C(stopped) or C(unavailable)", type: str}
    lastaccess_age_s: {description: Seconds since the node's last heartbeat, type: int}
active_node:
  description: Name of the active HA node (empty when none is, or a standalone server).
  returned: when O(ha_nodes)
  type: str
proxies:
  description: The proxies.
  returned: when O(proxies)
  type: list
  elements: dict
  contains:
    host: {description: Proxy name, type: str}
    mode: {description: C(active) or C(passive), type: str}
    lastaccess_age_s: {description: Seconds since the proxy last talked to the server (null - never), type: int}
    hosts: {description: Technical names of the hosts it monitors, type: list}
hosts:
  description: The hosts asked for.
  returned: always
  type: list
  elements: dict
  contains:
    host: {description: Technical name, type: str}
    hostid: {description: Host id, type: str}
    status: {description: C(enabled) or C(disabled), type: str}
    proxy: {description: Proxy name or empty, type: str}
    items:
      description: For each key of O(item_keys) on the host, C(age_s) of its last value (null - none yet) and C(value).
      type: dict
missing_hosts:
  description: Hosts asked for that Zabbix does not have.
  returned: always
  type: list
  elements: str
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stormclouds.platform.plugins.module_utils.zabbix_api import (
    ZABBIX_MUTUALLY_EXCLUSIVE, ZABBIX_REQUIRED_ONE_OF, ZABBIX_REQUIRED_TOGETHER, zabbix_api, zabbix_argument_spec)

HA_STATUS = {'0': 'standby', '1': 'stopped', '2': 'unavailable', '3': 'active'}


def age(clock, now):
    clock = int(clock or 0)
    return int(now - clock) if clock else None


def gather(params, api, now):
    result = {'version': api.version, 'hosts': [], 'missing_hosts': []}
    if params['ha_nodes']:
        nodes = api.call('hanode.get', output=['name', 'address', 'port', 'lastaccess', 'status'], sortfield='name')
        result['ha_nodes'] = [{'name': n['name'], 'address': '%s:%s' % (n['address'], n['port']),
                               'status': HA_STATUS.get(str(n['status']), str(n['status'])),
                               'lastaccess_age_s': age(n['lastaccess'], now)} for n in nodes]
        active = [n['name'] for n in result['ha_nodes'] if n['status'] == 'active']
        result['active_node'] = active[0] if len(active) == 1 else ''
    proxy_names = {}
    if params['proxies'] or params['hosts']:
        proxies = api.call('proxy.get', output=['proxyid', 'host', 'status', 'lastaccess'],
                           selectHosts=['host'], sortfield='host')
        proxy_names = dict((p['proxyid'], p['host']) for p in proxies)
        if params['proxies']:
            result['proxies'] = [{'host': p['host'], 'mode': 'active' if str(p['status']) == '5' else 'passive',
                                  'lastaccess_age_s': age(p['lastaccess'], now),
                                  'hosts': sorted(h['host'] for h in p.get('hosts', []))} for p in proxies]
    if params['hosts']:
        query = {'output': ['hostid', 'host', 'status', 'proxy_hostid']}
        if params['hosts'] != ['*']:
            query['filter'] = {'host': params['hosts']}
        hosts = api.call('host.get', **query)
        items = {}
        if params['item_keys'] and hosts:
            found = api.call('item.get', output=['hostid', 'key_', 'lastclock', 'lastvalue'],
                             hostids=[h['hostid'] for h in hosts], filter={'key_': params['item_keys']})
            for item in found:
                items.setdefault(item['hostid'], {})[item['key_']] = {
                    'age_s': age(item['lastclock'], now), 'value': item['lastvalue']}
        for host in sorted(hosts, key=lambda h: h['host']):
            result['hosts'].append({'host': host['host'], 'hostid': host['hostid'],
                                    'status': 'enabled' if str(host['status']) == '0' else 'disabled',
                                    'proxy': proxy_names.get(host['proxy_hostid'], ''),
                                    'items': items.get(host['hostid'], {})})
        if params['hosts'] != ['*']:
            known = set(h['host'] for h in hosts)
            result['missing_hosts'] = [h for h in params['hosts'] if h not in known]
    return result


def main():
    argument_spec = zabbix_argument_spec()
    argument_spec.update(
        hosts=dict(type='list', elements='str', default=[]),
        item_keys=dict(type='list', elements='str', default=[], no_log=False),
        ha_nodes=dict(type='bool', default=True),
        proxies=dict(type='bool', default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=ZABBIX_MUTUALLY_EXCLUSIVE, required_one_of=ZABBIX_REQUIRED_ONE_OF,
                           required_together=ZABBIX_REQUIRED_TOGETHER)
    with zabbix_api(module) as api:
        result = gather(module.params, api, time.time())
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
