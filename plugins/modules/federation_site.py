#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: federation_site
short_description: Announce this site in the federation registry, or withdraw it
version_added: 0.1.0
description:
  - Writes this site's record into the federation registry (an etcd cluster set up by the
    P(stormclouds.platform.federation_registry#role) role) under a lease, so a site that stops
    announcing disappears from every member's list once O(ttl) seconds pass.
  - The record is JSON - the site id, the endpoints it publishes, the capacity it offers, its
    software version and the time it was written (C(announced_at)).
  - An unchanged record is not rewritten; only its lease is kept alive, and the task reports no
    change. A changed record (or O(ttl)) is written again; a record whose lease expired is announced
    again under a new lease.
  - With O(state=absent) the record and its lease are removed at once.
  - Keeping the record alive between playbook runs is the job of the announcer service that the
    P(stormclouds.platform.federation_member#role) role installs; this module is for the first
    announcement, changes, and withdrawal.
author:
  - Storm Clouds Platform developers (@stormclouds)
extends_documentation_fragment:
  - stormclouds.platform.etcd_registry
attributes:
  check_mode:
    support: full
    description: Reads the registry and reports what would change; writes nothing, renews no lease.
  diff_mode:
    support: full
    description: The record before and after.
options:
  site_id:
    description:
      - This site's id, a DNS label (lowercase letters, digits, C(-); no C(/)). The record's key is
        O(prefix) followed by it.
    type: str
    required: true
  user:
    description: etcd user to authenticate as; defaults to O(site_id) (the registry role makes one user per site).
    type: str
  state:
    description: V(present) announces the record; V(absent) withdraws it.
    type: str
    choices: [present, absent]
    default: present
  endpoints:
    description:
      - The endpoints this site publishes, by name (for example C(api), C(frt), C(monitoring)); each an
        absolute URL with a scheme and a host.
    type: dict
    default: {}
  capacity:
    description:
      - The capacity this site offers to the federation (for example C(cores), C(ram_mb), C(instances)),
        numbers >= 0. Read it from the cloud with the OpenStack capacity module and pass it here.
    type: dict
    default: {}
  version:
    description: Software version the site runs, published as is.
    type: str
    default: ''
  ttl:
    description: Seconds the record lives without an announcement (etcd lease TTL), 5 to 86400.
    type: int
    default: 30
  prefix:
    description: Key prefix of the member records; the same for every site of a federation.
    type: str
    default: /stormclouds/federation/members/
"""

EXAMPLES = r"""
- name: Announce this site
  stormclouds.platform.federation_site:
    registry_urls:
      - https://registry1.example.org:2379
      - https://registry2.example.org:2379
      - https://registry3.example.org:2379
    ca_cert: /etc/stormclouds/federation/registry-ca.crt
    site_id: lsd-ufcg
    password: "{{ vault_federation_password }}"
    endpoints:
      api: https://fogbow.lsd.example.org:8182
      frt: ssh://dmz.lsd.example.org:2222
    capacity: {cores: 96, ram_mb: 196608, instances: 40}
    version: "0.1.0"
    ttl: 30

- name: Leave the federation
  stormclouds.platform.federation_site:
    registry_urls: [https://registry1.example.org:2379]
    ca_cert: /etc/stormclouds/federation/registry-ca.crt
    site_id: lsd-ufcg
    password: "{{ vault_federation_password }}"
    state: absent
"""

RETURN = r"""
record:
  description: The record as stored (or, in check mode, as it would be); null after withdrawal.
  returned: always
  type: dict
  sample:
    site_id: lsd-ufcg
    endpoints: {api: "https://fogbow.lsd.example.org:8182"}
    capacity: {cores: 96}
    version: 0.1.0
    announced_at: "2026-11-22T10:00:00Z"
previous:
  description: The record found before this run, null when there was none.
  returned: always
  type: dict
lease:
  description: The etcd lease id holding the record (0 when none).
  returned: always
  type: int
written:
  description: Whether the record was written (false when only its lease was renewed).
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stormclouds.platform.plugins.module_utils.etcd_gateway import (
    DEFAULT_PREFIX,
    announce,
    make_record,
    module_gateway,
    registry_argument_spec,
    registry_url_errors,
    validate_site,
    withdraw,
)


def main():
    argument_spec = registry_argument_spec()
    argument_spec.update(
        site_id=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        endpoints=dict(type="dict", default={}),
        capacity=dict(type="dict", default={}),
        version=dict(type="str", default=""),
        ttl=dict(type="int", default=30),
        prefix=dict(type="str", default=DEFAULT_PREFIX),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    errors = validate_site(p["site_id"], p["endpoints"], p["ttl"], p["capacity"])
    errors += registry_url_errors(p["registry_urls"])
    if not p["prefix"].startswith("/") or not p["prefix"].endswith("/"):
        errors.append("prefix %r must start and end with '/'" % p["prefix"])
    if errors:
        module.fail_json(msg="Refusing the input: " + "; ".join(errors), errors=errors)

    with module_gateway(module, user=p["user"] or p["site_id"]) as gateway:
        if p["state"] == "absent":
            changed, previous = withdraw(gateway, p["prefix"], p["site_id"], check_mode=module.check_mode)
            result = dict(changed=changed, record=None, previous=previous, lease=0, written=False)
        else:
            record = make_record(p["site_id"], p["endpoints"], p["capacity"], p["version"])
            outcome = announce(gateway, p["prefix"], record, p["ttl"], check_mode=module.check_mode)
            result = dict(changed=outcome["changed"], record=outcome["record"], previous=outcome["previous"],
                          lease=outcome["lease"], written=outcome["written"])
    if module._diff:
        result["diff"] = dict(before=result["previous"] or {}, after=result["record"] or {})
    module.exit_json(**result)


if __name__ == "__main__":
    main()
