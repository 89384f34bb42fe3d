# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: pacemaker_config_errors
short_description: Every problem in a declared Pacemaker configuration, as messages
version_added: 0.1.0
description:
  - Checks the resources, groups, clones and constraints that the pacemaker role would apply,
    before any host changes, and returns one message per problem, each naming the variable.
  - Checks ids (valid, unique), agents, operations, group and clone members, the resources and
    nodes constraints refer to, and that every IPaddr2 address lies inside a subnet of the
    cluster nodes and is not a node's own address.
author:
  - Storm Clouds Platform developers (@stormclouds)
options:
  _input:
    description: The declaration, a dict with the keys C(resources), C(groups), C(clones) and C(constraints).
    type: dict
    required: true
  nodes:
    description: Names of the cluster nodes (location constraints must name one of them).
    type: list
    elements: str
  networks:
    description:
      - The nodes' networks as CIDR (V(10.0.0.0/24)) or interface address with prefix or netmask
        (V(10.0.0.11/255.255.255.0)); IPaddr2 addresses must lie in one.
    type: list
    elements: str
  node_addresses:
    description: The nodes' own addresses, which a VIP must not take.
    type: list
    elements: str
  var_names:
    description: Variable names to use in the messages, keyed by C(resources), C(groups), C(clones), C(constraints).
    type: dict
requirements:
  - netaddr (on the controller)
"""

EXAMPLES = r"""
- name: Refuse a bad declaration before changing anything
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('; ') }}"
  vars:
    problems: >-
      {{ {'resources': pacemaker_resources, 'groups': pacemaker_groups, 'clones': pacemaker_clones,
          'constraints': pacemaker_constraints}
         | stormclouds.platform.pacemaker_config_errors(nodes=groups['pacemaker_nodes'], networks=['10.0.0.0/24']) }}
"""

RETURN = r"""
_value:
  description: One message per problem; empty when the declaration is sound.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.stormclouds.platform.plugins.module_utils.pacemaker_cib import config_errors

try:
    import netaddr
except ImportError:  # pragma: no cover - netaddr is in requirements.txt
    netaddr = None

IPADDR_AGENTS = ("ocf:heartbeat:IPaddr2", "ocf:heartbeat:IPaddr", "ocf:heartbeat:IPv6addr")


def vip_errors(resources, networks, node_addresses, var_name="resources"):
    """Messages for IP address resources that no node could hold."""
    if netaddr is None:
        raise AnsibleFilterError("pacemaker_config_errors needs the Python library netaddr on the controller")
    errors = []
    nets = []
    for cidr in networks or []:
        try:
            nets.append(netaddr.IPNetwork(str(cidr)).cidr)
        except (netaddr.AddrFormatError, ValueError, TypeError):
            errors.append("node network %r is not a CIDR network" % (cidr,))
    own = set(str(a) for a in node_addresses or [])
    seen = {}
    for res in resources:
        if not isinstance(res, dict) or res.get("agent") not in IPADDR_AGENTS:
            continue
        params = res.get("params") or {}
        address = params.get("ip") or params.get("ipv6addr")
        if not address:
            errors.append("%s: %s: an %s resource needs params.ip" % (var_name, res.get("id"), res.get("agent")))
            continue
        try:
            ip = netaddr.IPAddress(str(address))
        except (netaddr.AddrFormatError, ValueError):
            errors.append("%s: %s: params.ip %r is not an IP address" % (var_name, res.get("id"), address))
            continue
        if str(ip) in seen:
            errors.append("%s: %s and %s both hold the address %s" % (var_name, seen[str(ip)], res.get("id"), ip))
        seen[str(ip)] = res.get("id")
        if str(ip) in own:
            errors.append("%s: %s: %s is the address of a cluster node, not a free VIP" % (var_name, res.get("id"), ip))
        if networks is None:
            continue
        inside = [n for n in nets if ip in n and ip not in (n.network, n.broadcast)]
        if not inside:
            errors.append(
                "%s: %s: VIP %s is outside the cluster nodes' subnets (%s), so no node could answer for it"
                % (var_name, res.get("id"), ip, ", ".join(str(n) for n in nets) or "none known"))
            continue
        mask = params.get("cidr_netmask")
        if mask is not None and str(mask) != str(inside[0].prefixlen):
            errors.append("%s: %s: cidr_netmask %s does not match the subnet %s"
                          % (var_name, res.get("id"), mask, inside[0]))
    return errors


def pacemaker_config_errors(declaration, nodes=None, networks=None, node_addresses=None, var_names=None):
    if not isinstance(declaration, dict):
        raise AnsibleFilterError("pacemaker_config_errors expects a dict of resources, groups, clones, constraints")
    resources = declaration.get("resources") or []
    errors = config_errors(
        resources,
        declaration.get("groups") or [],
        declaration.get("clones") or [],
        declaration.get("constraints") or [],
        nodes=list(nodes) if nodes is not None else None,
        var_names=var_names,
    )
    if isinstance(resources, list):
        errors.extend(vip_errors(resources, networks, node_addresses, (var_names or {}).get("resources", "resources")))
    return errors


class FilterModule(object):
    def filters(self):
        return {"pacemaker_config_errors": pacemaker_config_errors}
