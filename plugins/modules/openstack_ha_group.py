#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: openstack_ha_group
short_description: Place the servers of an HA group over availability zones, on distinct hosts
version_added: "0.1.0"
description:
  - Makes the servers C(NAME-1) .. C(NAME-N) of one role of the platform exist, spread round robin over
    O(availability_zones) (server I in zone number C((I - 1) mod Z), deterministic), all in one Nova server group
    C(NAME) with an anti-affinity (or soft anti-affinity) policy, so no two of them share a compute host - the
    architecture's rule that each VM of an HA cluster runs on a different physical server.
  - Creates the missing servers together, then waits until every one is C(ACTIVE), and returns their names,
    addresses and zones ready for an inventory.
  - A rerun changes nothing; a larger O(count) adds the missing numbers in their zones; a smaller one deletes the
    highest numbers only with O(shrink=true). Servers are never moved between zones (Nova cannot); a server whose
    zone no longer matches a changed zone list is reported in RV(misplaced).
  - Every server carries the metadata C(stormclouds_group=NAME) (and O(metadata), e.g. the role an inventory groups
    by); a server named like a member but without it is refused, never adopted.
  - A server Nova cannot place (no valid host - e.g. a strict anti-affinity group larger than the zone's hosts) is
    deleted again and the module fails with Nova's reason.
author:
  - Storm Clouds Platform developers (@stormclouds)
extends_documentation_fragment:
  - openstack.cloud.openstack
options:
  name:
    description: The group's name; its servers are C(NAME-1), C(NAME-2), ... and its server group is C(NAME).
    type: str
    required: true
  count:
    description: How many servers the group has.
    type: int
    required: true
  availability_zones:
    description: The zones to spread over, in order (server 1 in the first).
    type: list
    elements: str
    required: true
  policy:
    description:
      - The server group's policy. C(anti-affinity) fails a server no host can take; C(soft-anti-affinity) puts
        it beside another member instead.
      - The policy of an existing server group cannot change (Nova); a different one is an error.
    type: str
    choices: [anti-affinity, soft-anti-affinity]
    default: anti-affinity
  image:
    description: Image name or ID for new servers (required when servers are created).
    type: str
  flavor:
    description: Flavor name or ID for new servers (required when servers are created).
    type: str
  networks:
    description: Networks (names or IDs) each new server gets a port on, in order.
    type: list
    elements: str
    default: []
  key_name:
    description: Key pair injected into new servers.
    type: str
  security_groups:
    description: Security groups (names or IDs) of new servers' ports.
    type: list
    elements: str
    default: []
  metadata:
    description: Metadata of new servers (the module adds C(stormclouds_group)).
    type: dict
    default: {}
  userdata:
    description: User data (cloud-init) for new servers.
    type: str
  shrink:
    description: Allow deleting the servers numbered above O(count).
    type: bool
    default: false
  state:
    description: C(absent) deletes every server of the group, then the server group.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Check mode computes the plan (RV(created), RV(deleted)) without any change.
  - Existing servers keep their image, flavor and networks; the module places servers, it does not rebuild them.
"""

EXAMPLES = r"""
- name: Three Galera nodes over two zones, each on its own host
  stormclouds.platform.openstack_ha_group:
    cloud: scp
    name: galera
    count: 3
    availability_zones: [az1, az2]
    image: debian-12
    flavor: m1.medium
    networks: [services]
    key_name: deploy
    security_groups: [galera]
    metadata:
      stormclouds_groups: galera_nodes
  register: galera

- name: Add them to the inventory
  ansible.builtin.add_host:
    name: "{{ item.name }}"
    ansible_host: "{{ item.address }}"
    groups: galera_nodes
  loop: "{{ galera.servers }}"

- name: Shrink the group to two (deletes galera-3)
  stormclouds.platform.openstack_ha_group:
    cloud: scp
    name: galera
    count: 2
    availability_zones: [az1, az2]
    shrink: true
"""

RETURN = r"""
servers:
  description: The group's servers after the run, by number.
  returned: success
  type: list
  elements: dict
  contains:
    name: {description: Server name, type: str, sample: galera-1}
    index: {description: Its number in the group, type: int, sample: 1}
    id: {description: Server ID, type: str}
    availability_zone: {description: The zone it runs in, type: str, sample: az1}
    status: {description: Nova's status, type: str, sample: ACTIVE}
    address: {description: Its first fixed IPv4 address (for ansible_host), type: str, sample: 10.0.0.11}
    addresses: {description: Fixed addresses per network name, type: dict}
server_group:
  description: The server group.
  returned: success and state=present
  type: dict
  contains:
    id: {description: Server group ID, type: str}
    name: {description: Its name, type: str}
    policy: {description: Its policy, type: str}
created:
  description: Names of the servers created (to be created in check mode).
  returned: always
  type: list
  elements: str
deleted:
  description: Names of the servers deleted (to be deleted in check mode).
  returned: always
  type: list
  elements: str
misplaced:
  description: Servers whose zone differs from the one the round robin gives them now (after a zone list change).
  returned: always
  type: list
  elements: dict
spread:
  description: Number of servers per zone.
  returned: success
  type: dict
  sample: {az1: 2, az2: 1}
"""

from ansible_collections.openstack.cloud.plugins.module_utils.openstack import OpenStackModule
from ansible_collections.stormclouds.platform.plugins.module_utils.openstack_placement import (
    index_of,
    input_errors,
    no_valid_host_message,
    plan,
    spread,
)

GROUP_KEY = "stormclouds_group"


def first_ipv4(addresses):
    for entries in (addresses or {}).values():
        for entry in entries:
            if entry.get("version") == 4 and entry.get("OS-EXT-IPS:type", "fixed") == "fixed":
                return entry.get("addr")
    return None


def describe(server, index):
    addresses = server.addresses or {}
    return {
        "name": server.name,
        "index": index,
        "id": server.id,
        "availability_zone": server.availability_zone,
        "status": server.status,
        "address": first_ipv4(addresses),
        "addresses": {net: [e.get("addr") for e in entries] for net, entries in addresses.items()},
    }


class OpenStackHAGroupModule(OpenStackModule):
    argument_spec = dict(
        name=dict(type="str", required=True),
        count=dict(type="int", required=True),
        availability_zones=dict(type="list", elements="str", required=True),
        policy=dict(type="str", choices=["anti-affinity", "soft-anti-affinity"], default="anti-affinity"),
        image=dict(type="str"),
        flavor=dict(type="str"),
        networks=dict(type="list", elements="str", default=[]),
        key_name=dict(type="str", no_log=False),
        security_groups=dict(type="list", elements="str", default=[]),
        metadata=dict(type="dict", default={}),
        userdata=dict(type="str"),
        shrink=dict(type="bool", default=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module_kwargs = dict(supports_check_mode=True)

    def run(self):
        group = self.params["name"]
        zones = self.params["availability_zones"]
        state = self.params["state"]
        errors = input_errors(group, self.params["count"], zones, self.params["policy"])
        if errors and state == "present":
            self.fail_json(msg="; ".join(errors))

        members = self._members(group)
        server_group = self._server_group(group)
        if state == "absent":
            self._absent(group, members, server_group)
            return

        broken = [s for s in members.values() if s.status == "ERROR"]
        if broken:
            self.fail_json(msg="; ".join(
                "%s is in ERROR (%s): delete it or fix it first" % (s.name, (s.fault or {}).get("message", "no fault"))
                for s in broken))
        wanted = plan(group, self.params["count"], zones, {i: s.availability_zone for i, s in members.items()},
                      shrink=self.params["shrink"])
        if wanted["errors"]:
            self.fail_json(msg="; ".join(wanted["errors"]))
        if server_group is not None and self._policy(server_group) != self.params["policy"]:
            self.fail_json(msg="server group %s has policy %s, not %s; Nova cannot change a group's policy (delete "
                           "the group with state=absent, or keep its policy)"
                           % (group, self._policy(server_group), self.params["policy"]))
        if wanted["create"]:
            missing = [opt for opt in ("image", "flavor") if not self.params[opt]]
            if missing:
                self.fail_json(msg="%s required to create %s" % (" and ".join(missing),
                                                                 ", ".join(c[1] for c in wanted["create"])))
        misplaced = [{"name": n, "availability_zone": z, "expected": e} for n, z, e in wanted["misplaced"]]
        changed = bool(wanted["create"] or wanted["delete"] or server_group is None)
        created = [c[1] for c in wanted["create"]]
        deleted = [d[1] for d in wanted["delete"]]

        if self.ansible.check_mode:
            planned = [describe(members[i], i) for i, _n, _z in wanted["keep"]]
            planned += [{"name": n, "index": i, "id": None, "availability_zone": z, "status": "PLANNED",
                         "address": None, "addresses": {}} for i, n, z in wanted["create"]]
            self.exit_json(changed=changed, servers=sorted(planned, key=lambda s: s["index"]), created=created,
                           deleted=deleted, misplaced=misplaced, spread=spread(planned),
                           server_group=self._group_dict(server_group, group))

        if server_group is None:
            server_group = self.conn.compute.create_server_group(name=group, policy=self.params["policy"])
        for _index, name in wanted["delete"]:
            self.conn.delete_server(members[_index].id, wait=self.params["wait"], timeout=self.params["timeout"])
        new = {}
        for index, name, zone in wanted["create"]:
            new[index] = self._create(name, zone, server_group)
        failures = []
        for index, server in sorted(new.items()):
            done = self._wait_active(server)
            if done.status != "ACTIVE":
                fault = (done.fault or {}).get("message") if hasattr(done, "fault") else None
                failures.append(no_valid_host_message(done.name, done.availability_zone or wanted_zone(wanted, index),
                                                      self.params["policy"], fault or "status %s" % done.status))
                # A server that did not come up is removed: a rerun starts from the same state.
                self.conn.delete_server(done.id, wait=True, timeout=self.params["timeout"])
                continue
            new[index] = done
        if failures:
            up = [n for i, n, _z in wanted["create"] if new[i].status == "ACTIVE"]
            self.fail_json(msg="; ".join(failures), changed=True, created=up)
        final = {i: s for i, s in members.items() if i <= self.params["count"]}
        final.update(new)
        servers = [describe(final[i], i) for i in sorted(final)]
        self.exit_json(changed=changed, servers=servers, created=created, deleted=deleted, misplaced=misplaced,
                       spread=spread(servers), server_group=self._group_dict(server_group, group))

    def _members(self, group):
        """{index: server} of the group, refusing look-alikes the module did not make."""
        members = {}
        for server in self.conn.compute.servers(details=True, name="^%s-[0-9]+$" % group):
            index = index_of(group, server.name)
            if index is None:
                continue
            if (server.metadata or {}).get(GROUP_KEY) != group:
                self.fail_json(msg="server %s (%s) is named like a member of group %s but lacks the metadata %s=%s: "
                               "it was not made by this module; rename or delete it"
                               % (server.name, server.id, group, GROUP_KEY, group))
            if index in members:
                self.fail_json(msg="two servers are named %s (%s, %s); delete one"
                               % (server.name, members[index].id, server.id))
            members[index] = server
        return members

    def _server_group(self, group):
        found = [g for g in self.conn.compute.server_groups() if g.name == group]
        if len(found) > 1:
            self.fail_json(msg="%d server groups are named %s; delete all but one" % (len(found), group))
        return found[0] if found else None

    @staticmethod
    def _policy(server_group):
        return server_group.policy or (server_group.policies or [None])[0]

    def _group_dict(self, server_group, group):
        if server_group is None:
            return {"id": None, "name": group, "policy": self.params["policy"]}
        return {"id": server_group.id, "name": server_group.name, "policy": self._policy(server_group)}

    def _create(self, name, zone, server_group):
        metadata = dict(self.params["metadata"])
        metadata[GROUP_KEY] = self.params["name"]
        kwargs = dict(
            name=name, image=self.params["image"], flavor=self.params["flavor"], availability_zone=zone,
            meta=metadata, group=server_group.id, wait=False, auto_ip=False,
            network=self.params["networks"] or None,
        )
        if self.params["key_name"]:
            kwargs["key_name"] = self.params["key_name"]
        if self.params["security_groups"]:
            kwargs["security_groups"] = self.params["security_groups"]
        if self.params["userdata"]:
            kwargs["userdata"] = self.params["userdata"]
        return self.conn.create_server(**kwargs)

    def _wait_active(self, server):
        if not self.params["wait"]:
            return self.conn.compute.get_server(server.id)
        try:
            return self.conn.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"],
                                                     wait=self.params["timeout"])
        except self.sdk.exceptions.ResourceFailure:
            return self.conn.compute.get_server(server.id)
        except self.sdk.exceptions.ResourceTimeout:
            self.fail_json(msg="%s did not become ACTIVE within %s s" % (server.name, self.params["timeout"]),
                           changed=True)

    def _absent(self, group, members, server_group):
        deleted = sorted((s.name for s in members.values()), reverse=True)
        changed = bool(members) or server_group is not None
        if not self.ansible.check_mode:
            for server in members.values():
                self.conn.delete_server(server.id, wait=True, timeout=self.params["timeout"])
            if server_group is not None:
                self.conn.compute.delete_server_group(server_group, ignore_missing=True)
        self.exit_json(changed=changed, servers=[], created=[], deleted=deleted, misplaced=[], spread={})


def wanted_zone(wanted, index):
    return next((z for i, _n, z in wanted["create"] if i == index), None)


def main():
    module = OpenStackHAGroupModule()
    module()


if __name__ == "__main__":
    main()
