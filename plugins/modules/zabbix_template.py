#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: zabbix_template
short_description: Make Zabbix templates as an export file declares them
version_added: "0.1.0"
description:
  - Imports templates (with their groups, items, triggers, discovery rules, graphs, web scenarios, value maps,
    dashboards and linked templates) from a Zabbix export in YAML, JSON or XML, the format the frontend exports.
  - Compares first with C(configuration.importcompare) (Zabbix 6.0 and later) and imports only when Zabbix reports
    a difference, so an unchanged template is not written and the task reports no change.
  - With O(delete_missing) the templates end up exactly as declared - items, triggers and the rest that the file
    no longer holds are removed; without it they are only added and updated.
  - Runs from anywhere that reaches the frontend's API (the controller, AWX, a node).
author:
  - Storm Clouds Platform developers (@stormclouds)
extends_documentation_fragment:
  - stormclouds.platform.zabbix_api
options:
  source:
    description: The export's text (for example C(lookup('ansible.builtin.file', 'templates/app.yaml'))).
    type: str
    required: true
  format:
    description: The export's format.
    type: str
    choices: [yaml, json, xml]
    default: yaml
  delete_missing:
    description: Remove from the templates what the export does not hold (items, triggers, discovery rules, ...).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Asks Zabbix what the import would change (C(configuration.importcompare)) and imports nothing.
  diff_mode:
    support: none
    description: The changes Zabbix reports are returned in RV(changes).
"""

EXAMPLES = r"""
- name: The platform's service templates, as the collection ships them
  stormclouds.platform.zabbix_template:
    server_url: https://zabbix.example.org/zabbix
    api_token: "{{ vault_zabbix_api_token }}"
    source: "{{ lookup('ansible.builtin.file', 'scp-services.yaml') }}"
  delegate_to: localhost
  run_once: true

- name: A template exported from another installation, added to but never pruned
  stormclouds.platform.zabbix_template:
    server_url: http://192.0.2.10/zabbix
    login_user: Admin
    login_password: "{{ vault_zabbix_admin_password }}"
    source: "{{ lookup('ansible.builtin.file', 'exported.xml') }}"
    format: xml
    delete_missing: false
"""

RETURN = r"""
changes:
  description: What Zabbix reported would change (C(configuration.importcompare)), by object type; empty when the templates match.
  returned: always
  type: dict
templates:
  description: Technical names of the templates in the export.
  returned: when the export is YAML or JSON
  type: list
  elements: str
"""

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stormclouds.platform.plugins.module_utils.zabbix_api import (
    ZABBIX_MUTUALLY_EXCLUSIVE, ZABBIX_REQUIRED_ONE_OF, ZABBIX_REQUIRED_TOGETHER, zabbix_api, zabbix_argument_spec)

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - Ansible itself needs PyYAML
    HAS_YAML = False

# Zabbix 6.0's import rules for template content; the ones that can delete.
DELETABLE = ('templateDashboards', 'templateLinkage', 'items', 'discoveryRules', 'triggers', 'graphs',
             'httptests', 'valueMaps')


def import_rules(delete_missing):
    """The configuration.import rules: create and update everything a template holds,
    delete what the export lacks when asked."""
    rules = {
        'groups': {'createMissing': True},
        'templates': {'createMissing': True, 'updateExisting': True},
    }
    for name in DELETABLE:
        rule = {'deleteMissing': bool(delete_missing)}
        if name != 'templateLinkage':
            rule['updateExisting'] = True
        rule['createMissing'] = True
        rules[name] = rule
    return rules


def template_names(source, fmt):
    """The templates an export declares (YAML/JSON); fails on a text that is not an
    export, with the parser's message."""
    if fmt == 'xml':
        return None
    data = json.loads(source) if fmt == 'json' else yaml.safe_load(source)
    if not isinstance(data, dict) or not isinstance(data.get('zabbix_export'), dict):
        raise ValueError('the source is not a Zabbix export (no zabbix_export mapping at its top)')
    templates = data['zabbix_export'].get('templates') or []
    return [t.get('template') for t in templates if isinstance(t, dict)]


def has_changes(changes):
    """importcompare answers [] (nothing to do) or a mapping by object type."""
    return bool(changes) and changes != []


def main():
    argument_spec = zabbix_argument_spec()
    argument_spec.update(
        source=dict(type='str', required=True),
        format=dict(type='str', choices=['yaml', 'json', 'xml'], default='yaml'),
        delete_missing=dict(type='bool', default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=ZABBIX_MUTUALLY_EXCLUSIVE, required_one_of=ZABBIX_REQUIRED_ONE_OF,
                           required_together=ZABBIX_REQUIRED_TOGETHER)
    params = module.params
    result = dict(changed=False, changes={})
    try:
        names = template_names(params['source'], params['format'])
    except (ValueError, yaml.YAMLError) as err:
        module.fail_json(msg='the %s source cannot be read: %s' % (params['format'], err))
    if names is not None:
        result['templates'] = names
    rules = import_rules(params['delete_missing'])
    with zabbix_api(module) as api:
        changes = api.call('configuration.importcompare', format=params['format'], source=params['source'],
                           rules=rules)
        if has_changes(changes):
            result.update(changed=True, changes=changes)
            if not module.check_mode:
                api.call('configuration.import', format=params['format'], source=params['source'], rules=rules)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
