#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: federation_members_info
short_description: The live members of the federation, with their endpoints and capacity
version_added: 0.1.0
description:
  - Reads every member record from the federation registry and returns those whose lease is alive
    (the Rendezvous's answer to "who is active, where, and what do they offer").
  - Each member carries when it was last seen (its last announcement or lease renewal) and how long
    it stays listed without another one.
author:
  - Storm Clouds Platform developers (@stormclouds)
extends_documentation_fragment:
  - stormclouds.platform.etcd_registry
attributes:
  check_mode:
    support: full
    description: Only reads.
options:
  prefix:
    description: Key prefix of the member records.
    type: str
    default: /stormclouds/federation/members/
  site_id:
    description: Return only this site's record (an empty list when it is not live).
    type: str
  lease_details:
    description:
      - Add each member's C(lease_ttl), C(lease_remaining) and C(last_seen) (one more request per member).
        Without them the whole list is one request.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Who is in the federation now
  stormclouds.platform.federation_members_info:
    registry_urls: "{{ federation_registry_urls }}"
    ca_cert: /etc/stormclouds/federation/registry-ca.crt
    user: lsd-ufcg
    password: "{{ vault_federation_password }}"
  register: federation

- name: Sites offering at least 8 cores
  ansible.builtin.debug:
    msg: "{{ federation.members | selectattr('capacity.cores', 'ge', 8) | map(attribute='site_id') }}"
"""

RETURN = r"""
members:
  description: The live members, by site id.
  returned: always
  type: list
  elements: dict
  contains:
    site_id:
      description: The site's id.
      type: str
    endpoints:
      description: The endpoints it publishes, by name.
      type: dict
    capacity:
      description: The capacity it offers.
      type: dict
    version:
      description: Its software version.
      type: str
    announced_at:
      description: When its record was last written (UTC, ISO 8601).
      type: str
    last_seen:
      description: When it last announced itself or renewed its lease (UTC, ISO 8601; with O(lease_details)).
      type: str
    lease_ttl:
      description: Seconds a member stays listed without an announcement (with O(lease_details)).
      type: int
    lease_remaining:
      description: Seconds left before this member drops out unless it announces (with O(lease_details)).
      type: int
    key:
      description: The record's etcd key.
      type: str
site_ids:
  description: The live members' ids, sorted.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stormclouds.platform.plugins.module_utils.etcd_gateway import (
    DEFAULT_PREFIX,
    live_members,
    module_gateway,
    registry_argument_spec,
    registry_url_errors,
)


def main():
    argument_spec = registry_argument_spec()
    argument_spec.update(prefix=dict(type="str", default=DEFAULT_PREFIX), site_id=dict(type="str"),
                         lease_details=dict(type="bool", default=True))
    module = AnsibleModule(argument_spec=argument_spec, required_together=[("user", "password")],
                           supports_check_mode=True)
    p = module.params
    errors = registry_url_errors(p["registry_urls"])
    if errors:
        module.fail_json(msg="Refusing the input: " + "; ".join(errors), errors=errors)
    with module_gateway(module) as gateway:
        members = live_members(gateway, p["prefix"], lease_details=p["lease_details"])
    if p["site_id"]:
        members = [m for m in members if m.get("site_id") == p["site_id"]]
    module.exit_json(changed=False, members=members, site_ids=[m.get("site_id") for m in members])


if __name__ == "__main__":
    main()
