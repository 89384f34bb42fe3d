#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: openstack_capacity_info
short_description: What this cloud can still give the project - quota minus usage for cores, RAM and instances
version_added: "0.1.0"
description:
  - Reads Nova's absolute limits for the authenticated project (C(GET /limits)) and returns, for cores, RAM and
    instances, the quota, what is used and what is free - the figures a federation member advertises and a
    provisioning run checks before asking for servers.
  - An unlimited quota (C(-1)) is reported as C(unlimited=true) with C(free=null).
  - Optionally checks that a request fits (O(require)) and fails naming what is short.
author:
  - Storm Clouds Platform developers (@stormclouds)
extends_documentation_fragment:
  - openstack.cloud.openstack
options:
  require:
    description: Amounts the project must still have free (C(cores), C(ram_mb), C(instances)); missing keys are not checked.
    type: dict
    default: {}
notes:
  - Reads only; supports check mode.
"""

EXAMPLES = r"""
- name: Read the capacity left
  stormclouds.platform.openstack_capacity_info:
    cloud: scp
  register: capacity

- name: Fail early when the platform's 9 servers do not fit
  stormclouds.platform.openstack_capacity_info:
    cloud: scp
    require: {cores: 18, ram_mb: 36864, instances: 9}
"""

RETURN = r"""
capacity:
  description: Per resource (C(cores), C(ram_mb), C(instances)) - C(quota), C(used), C(free), C(unlimited).
  returned: always
  type: dict
  sample:
    cores: {quota: 20, used: 6, free: 14, unlimited: false}
    ram_mb: {quota: 51200, used: 12288, free: 38912, unlimited: false}
    instances: {quota: 10, used: 3, free: 7, unlimited: false}
"""

from ansible_collections.openstack.cloud.plugins.module_utils.openstack import OpenStackModule

# Our name -> (quota attribute, usage attribute) of openstacksdk's AbsoluteLimits.
RESOURCES = {
    "cores": ("total_cores", "total_cores_used"),
    "ram_mb": ("total_ram", "total_ram_used"),
    "instances": ("instances", "instances_used"),
}


def capacity_from(absolute):
    """{resource: {quota, used, free, unlimited}} from an object or dict of absolute limits."""
    def get(name):
        value = absolute.get(name) if isinstance(absolute, dict) else getattr(absolute, name, None)
        return int(value) if value is not None else None
    out = {}
    for resource, (quota_name, used_name) in RESOURCES.items():
        quota, used = get(quota_name), get(used_name) or 0
        unlimited = quota is None or quota < 0
        out[resource] = {"quota": None if unlimited else quota, "used": used,
                         "free": None if unlimited else max(quota - used, 0), "unlimited": unlimited}
    return out


def shortfalls(capacity, require):
    """Messages for each required amount that is not free."""
    out = []
    for resource, amount in sorted((require or {}).items()):
        if resource not in RESOURCES:
            out.append("require names %r; known: %s" % (resource, ", ".join(sorted(RESOURCES))))
            continue
        entry = capacity[resource]
        if not entry["unlimited"] and entry["free"] < int(amount):
            out.append("%s: %d needed, %d free (quota %d, used %d)"
                       % (resource, int(amount), entry["free"], entry["quota"], entry["used"]))
    return out


class OpenStackCapacityInfoModule(OpenStackModule):
    argument_spec = dict(require=dict(type="dict", default={}))
    module_kwargs = dict(supports_check_mode=True)

    def run(self):
        limits = self.conn.compute.get_limits()
        capacity = capacity_from(limits.absolute)
        short = shortfalls(capacity, self.params["require"])
        if short:
            self.fail_json(msg="this cloud's project cannot take the request: " + "; ".join(short), capacity=capacity)
        self.exit_json(changed=False, capacity=capacity)


def main():
    module = OpenStackCapacityInfoModule()
    module()


if __name__ == "__main__":
    main()
