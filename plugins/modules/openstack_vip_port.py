#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: openstack_vip_port
short_description: Reserve a VIP in Neutron and let the members of an HA pair hold it
version_added: "0.1.0"
description:
  - Makes a Neutron port that holds the virtual IP address of a cluster (keepalived, Pacemaker's IPaddr2), so
    Neutron never gives that address to another port, and puts the address in the allowed address pairs of every
    member's port on the same network - without which port security drops the VIP's traffic once it moves.
  - Adds and removes only its own pair on each member port; pairs of other VIPs stay. Port security stays on.
  - C(state=absent) removes the pair from the members' ports and deletes the VIP port.
  - Check mode and diff mode report the pairs each member port would get or lose.
author:
  - Storm Clouds Platform developers (@stormclouds)
extends_documentation_fragment:
  - openstack.cloud.openstack
options:
  name:
    description: Name of the VIP port.
    type: str
    required: true
  network:
    description: Network (name or ID) of the VIP and of the members' ports.
    type: str
    required: true
  subnet:
    description: Subnet (name or ID) the VIP is in; default the network's only IPv4 subnet.
    type: str
  fixed_ip_address:
    description: The VIP; default an address Neutron picks in O(subnet) (kept on reruns, as the port holds it).
    type: str
  members:
    description: Servers (names or IDs) whose port on O(network) may hold the VIP.
    type: list
    elements: str
    default: []
  state:
    description: C(present) or C(absent).
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: The HAProxy pair's VIP
  stormclouds.platform.openstack_vip_port:
    cloud: scp
    name: haproxy-vip
    network: services
    fixed_ip_address: 10.0.0.100
    members: [lb-1, lb-2]
  register: vip

- name: Hand it to the haproxy role
  ansible.builtin.set_fact:
    haproxy_vip: "{{ vip.port.fixed_ip_address }}"
"""

RETURN = r"""
port:
  description: The VIP port.
  returned: state=present
  type: dict
  contains:
    id: {description: Port ID (null in check mode before it exists), type: str}
    name: {description: Port name, type: str}
    fixed_ip_address: {description: The VIP, type: str, sample: 10.0.0.100}
    network_id: {description: Network ID, type: str}
    subnet_id: {description: Subnet ID, type: str}
members:
  description: Each member's port on the network and its allowed address pairs after the run.
  returned: always
  type: list
  elements: dict
  contains:
    server: {description: Server name, type: str}
    port_id: {description: Its port on the network, type: str}
    allowed_address_pairs: {description: The port's pairs, type: list, elements: dict}
"""

import ipaddress

from ansible_collections.openstack.cloud.plugins.module_utils.openstack import OpenStackModule


def with_pair(pairs, address):
    """The pairs with the VIP added (kept as is when present)."""
    pairs = [dict(p) for p in pairs or []]
    if not any(p.get("ip_address") == address for p in pairs):
        pairs.append({"ip_address": address})
    return pairs


def without_pair(pairs, address):
    return [dict(p) for p in pairs or [] if p.get("ip_address") != address]


def in_subnet(address, cidr):
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(cidr)
    except ValueError:
        return False


class OpenStackVIPPortModule(OpenStackModule):
    argument_spec = dict(
        name=dict(type="str", required=True),
        network=dict(type="str", required=True),
        subnet=dict(type="str"),
        fixed_ip_address=dict(type="str"),
        members=dict(type="list", elements="str", default=[]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module_kwargs = dict(supports_check_mode=True)

    def run(self):
        network = self.conn.network.find_network(self.params["network"], ignore_missing=True)
        if network is None:
            self.fail_json(msg="network %s not found" % self.params["network"])
        subnet = self._subnet(network)
        address = self.params["fixed_ip_address"]
        if address is not None:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                self.fail_json(msg="fixed_ip_address %r is not an IP address" % address)
            if not in_subnet(address, subnet.cidr):
                self.fail_json(msg="fixed_ip_address %s is outside subnet %s (%s) of network %s: the members could "
                               "not reach it" % (address, subnet.name or subnet.id, subnet.cidr, network.name))
        port = self.conn.network.find_port(self.params["name"], network_id=network.id, ignore_missing=True)
        if port is not None and address is not None:
            held = [ip["ip_address"] for ip in port.fixed_ips or []]
            if address not in held:
                self.fail_json(msg="port %s holds %s, not %s; a VIP does not move silently - delete the port "
                               "(state=absent) to change the address" % (port.name, ", ".join(held), address))
        if port is not None and address is None:
            address = next((ip["ip_address"] for ip in port.fixed_ips or [] if ip.get("subnet_id") == subnet.id),
                           None)

        member_ports = self._member_ports(network)
        state = self.params["state"]
        changed = False
        diff = {"before": {}, "after": {}}
        if state == "present" and port is None:
            changed = True
            if not self.ansible.check_mode:
                fixed = {"subnet_id": subnet.id}
                if address:
                    fixed["ip_address"] = address
                port = self.conn.network.create_port(name=self.params["name"], network_id=network.id,
                                                     fixed_ips=[fixed], device_owner="stormclouds:vip",
                                                     description="VIP reserved by stormclouds.platform")
                address = port.fixed_ips[0]["ip_address"]
            diff["before"]["port"] = None
            diff["after"]["port"] = {"name": self.params["name"], "fixed_ip_address": address}

        members = []
        for server_name, member_port in member_ports:
            before = member_port.allowed_address_pairs or []
            if state == "present" and address is None:
                # Check mode before the port exists: Neutron picks the address at creation.
                after = with_pair(before, "(picked by Neutron)")
            elif state == "present":
                after = with_pair(before, address)
            else:
                after = without_pair(before, address) if address else before
            if after != before:
                changed = True
                diff["before"][server_name] = [p.get("ip_address") for p in before]
                diff["after"][server_name] = [p.get("ip_address") for p in after]
                if not self.ansible.check_mode:
                    if state == "present" and member_port.is_port_security_enabled is False:
                        self.fail_json(msg="port %s of %s has port security disabled: allowed address pairs need it "
                                       "on (this module never turns it off); enable it on the port or network"
                                       % (member_port.id, server_name))
                    try:
                        member_port = self.conn.network.update_port(member_port, allowed_address_pairs=after)
                    except self.sdk.exceptions.HttpException as exc:
                        self.fail_json(msg="Neutron refused the allowed address pair %s on port %s of %s: %s (the "
                                       "network may forbid it: port security or the allowed-address-pairs extension "
                                       "off)" % (address, member_port.id, server_name, exc))
            members.append({"server": server_name, "port_id": member_port.id,
                            "allowed_address_pairs": [dict(p) for p in after]})

        if state == "absent" and port is not None:
            changed = True
            diff["before"]["port"] = {"name": port.name, "fixed_ip_address": address}
            diff["after"]["port"] = None
            if not self.ansible.check_mode:
                self.conn.network.delete_port(port, ignore_missing=True)

        result = dict(changed=changed, members=members)
        if self.ansible._diff:
            result["diff"] = diff
        if state == "present":
            result["port"] = {"id": port.id if port is not None else None, "name": self.params["name"],
                              "fixed_ip_address": address, "network_id": network.id, "subnet_id": subnet.id}
        self.exit_json(**result)

    def _subnet(self, network):
        if self.params["subnet"]:
            subnet = self.conn.network.find_subnet(self.params["subnet"], network_id=network.id, ignore_missing=True)
            if subnet is None:
                self.fail_json(msg="subnet %s not found in network %s" % (self.params["subnet"], network.name))
            return subnet
        subnets = [s for s in self.conn.network.subnets(network_id=network.id) if s.ip_version == 4]
        if len(subnets) != 1:
            self.fail_json(msg="network %s has %d IPv4 subnets: name the VIP's with subnet"
                           % (network.name, len(subnets)))
        return subnets[0]

    def _member_ports(self, network):
        """(server name, its port on the network) for every member."""
        out = []
        for ref in self.params["members"]:
            server = self.conn.compute.find_server(ref, ignore_missing=True)
            if server is None:
                self.fail_json(msg="member server %s not found" % ref)
            ports = list(self.conn.network.ports(device_id=server.id, network_id=network.id))
            if len(ports) != 1:
                self.fail_json(msg="server %s has %d ports on network %s; the VIP needs exactly one"
                               % (server.name, len(ports), network.name))
            out.append((server.name, ports[0]))
        return out


def main():
    module = OpenStackVIPPortModule()
    module()


if __name__ == "__main__":
    main()
