#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pacemaker_cib
short_description: Declare Pacemaker resources and constraints; apply only what differs
version_added: 0.1.0
description:
  - Makes the resources (primitives, groups, clones, promotable clones) and the location,
    colocation and order constraints of a Pacemaker cluster match a declaration.
  - Compares by meaning, not by text. A resource is unchanged when its agent, parameters,
    meta attributes and operations are the same, whatever ids its nvpairs and operations
    carry and whichever tool created it. A second run with the same declaration reports
    no change.
  - Changes go to the cluster as one patch (C(crm_diff) + C(cibadmin --patch)), so the
    cluster sees a single new configuration, never half of it.
  - Resources and constraints that the declaration does not name are left alone unless
    O(purge=true). Constraints created at run time (C(cli-prefer-*), C(cli-ban-*) from
    moves and bans, C(drbd-fence-by-handler-*) from DRBD's fence-peer handler) are never
    purged.
  - Run it on one node of the cluster (C(run_once)), or on any host with O(cib_file) to
    build a CIB offline.
author:
  - Storm Clouds Platform developers (@stormclouds)
requirements:
  - Pacemaker's command line tools (C(cibadmin), C(crm_diff), C(crm_resource); Debian package pacemaker-cli-utils)
extends_documentation_fragment: []
attributes: {}
options:
  resources:
    description:
      - Primitive resources.
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: Resource id.
        type: str
        required: true
      agent:
        description:
          - Resource agent as V(class:provider:type) for OCF agents (V(ocf:heartbeat:IPaddr2))
            or V(class:type) (V(systemd:nginx), V(stonith:fence_openstack)).
        type: str
        required: true
      params:
        description: Instance attributes (the agent's parameters).
        type: dict
        default: {}
      meta:
        description:
          - Meta attributes. C(target-role) and C(is-managed) set at run time (for example by
            C(pcs resource disable)) are kept unless named here.
        type: dict
        default: {}
      ops:
        description:
          - Operations, each a dict with at least C(name) and C(interval), plus any operation
            attribute (C(timeout), C(role), C(on-fail), ...).
        type: list
        elements: dict
        default: []
  groups:
    description: Groups of primitives, started in list order and kept together.
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: Group id.
        type: str
        required: true
      members:
        description: Ids of primitives from O(resources), in start order.
        type: list
        elements: str
        required: true
      meta:
        description: Meta attributes of the group.
        type: dict
        default: {}
  clones:
    description: Clones (and promotable clones) of a primitive or a group.
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: Clone id.
        type: str
        required: true
      resource:
        description: Id of the primitive or group that is cloned.
        type: str
        required: true
      promotable:
        description: Whether instances are promoted and demoted (DRBD, for example).
        type: bool
        default: false
      meta:
        description: Meta attributes (C(clone-max), C(promoted-max), C(notify), ...).
        type: dict
        default: {}
  constraints:
    description:
      - Location, colocation and order constraints. Without O(constraints[].id), the id is made
        from what the constraint ties together (C(location-RSC-NODE), C(colocation-RSC-with-WITH),
        C(order-FIRST-then-THEN)), never from its score, so a new score updates the constraint.
      - A constraint may refer to a resource this call does not declare if the cluster already
        has it (another role's, like the drbd role's filesystem), unless O(purge=true).
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: Constraint id.
        type: str
      kind:
        description: Kind of constraint.
        type: str
        required: true
        choices: [location, colocation, order]
      resource:
        description: Resource the constraint applies to (location, colocation).
        type: str
      node:
        description: Node name (location).
        type: str
      with_resource:
        description: Resource that O(constraints[].resource) is placed with (colocation).
        type: str
      score:
        description: Score, an integer or V(INFINITY)/V(-INFINITY) (location, colocation). Defaults to V(INFINITY).
        type: str
      role:
        description: Role of O(constraints[].resource) the constraint applies to (V(Promoted), V(Started), ...).
        type: str
      with_role:
        description: Role of O(constraints[].with_resource) (colocation).
        type: str
      first:
        description: Resource acted on first (order).
        type: str
      then:
        description: Resource acted on after it (order).
        type: str
      first_action:
        description: Action of O(constraints[].first) (order).
        type: str
        choices: [start, stop, promote, demote]
      then_action:
        description: Action of O(constraints[].then) (order).
        type: str
        choices: [start, stop, promote, demote]
      order_kind:
        description: Kind of order constraint.
        type: str
        choices: [Mandatory, Optional, Serialize]
      symmetrical:
        description: Whether the reverse order applies when stopping (order).
        type: bool
  purge:
    description:
      - Remove the top-level resources and the constraints that the declaration does not name
        (run-time constraints excepted).
    type: bool
    default: false
  wait:
    description:
      - Seconds to wait, after a change, until the cluster has carried it out (C(crm_resource --wait)).
        V(0) returns at once. Ignored with O(cib_file).
    type: int
    default: 0
  cib_file:
    description:
      - Work on this CIB file instead of the live cluster (it must exist; C(cibadmin --empty) makes one).
    type: path
notes:
  - Check mode reports what would change; diff mode shows the XML of the changed resources and constraints before and after.
"""

EXAMPLES = r"""
- name: A VIP and a web server that follows it, never on the quorum side
  stormclouds.platform.pacemaker_cib:
    resources:
      - id: vip-web
        agent: ocf:heartbeat:IPaddr2
        params: {ip: 192.0.2.100, cidr_netmask: 24}
        ops:
          - {name: monitor, interval: 5s, timeout: 20s}
      - id: web
        agent: systemd:nginx
        ops:
          - {name: monitor, interval: 10s, timeout: 30s}
    groups:
      - id: web-group
        members: [vip-web, web]
    constraints:
      - kind: location
        resource: web-group
        node: ha1
        score: 50
    wait: 60
  run_once: true

- name: DRBD as a promotable clone with a filesystem on the promoted side
  stormclouds.platform.pacemaker_cib:
    resources:
      - id: drbd-data
        agent: ocf:linbit:drbd
        params: {drbd_resource: data}
        ops:
          - {name: monitor, interval: 29s, role: Promoted}
          - {name: monitor, interval: 31s, role: Unpromoted}
      - id: fs-data
        agent: ocf:heartbeat:Filesystem
        params: {device: /dev/drbd0, directory: /srv/data, fstype: ext4}
    clones:
      - id: drbd-data-clone
        resource: drbd-data
        promotable: true
        meta: {promoted-max: 1, promoted-node-max: 1, clone-max: 2, notify: true}
    constraints:
      - {kind: colocation, resource: fs-data, with_resource: drbd-data-clone, with_role: Promoted}
      - {kind: order, first: drbd-data-clone, first_action: promote, then: fs-data}
  run_once: true

- name: Build a CIB offline and check it
  stormclouds.platform.pacemaker_cib:
    cib_file: /tmp/offline-cib.xml
    resources:
      - {id: dummy, agent: "ocf:pacemaker:Dummy"}
"""

RETURN = r"""
created:
  description: Ids of resources and constraints that were (or, in check mode, would be) created.
  returned: always
  type: list
  elements: str
  sample: [vip-web, location-web-group-ha1]
updated:
  description: Ids of resources and constraints whose definition was (or would be) changed.
  returned: always
  type: list
  elements: str
  sample: [web-group]
removed:
  description: Ids of resources and constraints that were (or would be) removed (O(purge=true) only).
  returned: always
  type: list
  elements: str
  sample: []
patch:
  description: The XML patch applied to the CIB (empty when nothing changed).
  returned: always
  type: str
"""

import os
import tempfile
import xml.etree.ElementTree as ET

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stormclouds.platform.plugins.module_utils.pacemaker_cib import (
    CibError,
    build_constraint,
    build_resources,
    config_errors,
    managed_view,
    resource_ids,
    plan,
)


class Cib:
    """The live CIB or a CIB file, through Pacemaker's own tools."""

    def __init__(self, module, cib_file=None):
        self.module = module
        self.env = {"CIB_file": cib_file} if cib_file else {}
        for tool in ("cibadmin", "crm_diff"):
            module.get_bin_path(tool, required=True)

    def run(self, argv, data=None, check_rc=True, ok_rcs=(0,)):
        rc, out, err = self.module.run_command(argv, data=data, environ_update=self.env, binary_data=True)
        if check_rc and rc not in ok_rcs:
            self.module.fail_json(msg="%s failed (rc %s): %s" % (" ".join(argv), rc, (err or out).strip()),
                                  rc=rc, stdout=out, stderr=err)
        return rc, out, err

    def query(self):
        out = self.run(["cibadmin", "--query"])[1]
        try:
            return ET.fromstring(out)
        except ET.ParseError as exc:
            self.module.fail_json(msg="cibadmin --query returned no readable CIB: %s" % exc)

    def diff(self, before, after):
        with tempfile.TemporaryDirectory(prefix="pacemaker_cib.") as tmpdir:
            paths = []
            for name, root in (("before.xml", before), ("after.xml", after)):
                path = os.path.join(tmpdir, name)
                ET.ElementTree(root).write(path, encoding="utf-8")
                paths.append(path)
            # crm_diff exits 1 when the files differ, 0 when they do not.
            rc, out, err = self.run(["crm_diff", "--original", paths[0], "--new", paths[1], "--no-version"],
                                    ok_rcs=(0, 1))
            return out.strip() if rc == 1 else ""

    def patch(self, patch_xml):
        self.run(["cibadmin", "--patch", "--xml-pipe"], data=patch_xml)


def main():
    op_spec = dict(type="list", elements="dict", default=[])
    module = AnsibleModule(
        argument_spec=dict(
            resources=dict(type="list", elements="dict", default=[], options=dict(
                id=dict(type="str", required=True),
                agent=dict(type="str", required=True),
                params=dict(type="dict", default={}),
                meta=dict(type="dict", default={}),
                ops=op_spec,
            )),
            groups=dict(type="list", elements="dict", default=[], options=dict(
                id=dict(type="str", required=True),
                members=dict(type="list", elements="str", required=True),
                meta=dict(type="dict", default={}),
            )),
            clones=dict(type="list", elements="dict", default=[], options=dict(
                id=dict(type="str", required=True),
                resource=dict(type="str", required=True),
                promotable=dict(type="bool", default=False),
                meta=dict(type="dict", default={}),
            )),
            constraints=dict(type="list", elements="dict", default=[], options=dict(
                id=dict(type="str"),
                kind=dict(type="str", required=True, choices=["location", "colocation", "order"]),
                resource=dict(type="str"),
                node=dict(type="str"),
                with_resource=dict(type="str"),
                score=dict(type="str"),
                role=dict(type="str"),
                with_role=dict(type="str"),
                first=dict(type="str"),
                then=dict(type="str"),
                first_action=dict(type="str", choices=["start", "stop", "promote", "demote"]),
                then_action=dict(type="str", choices=["start", "stop", "promote", "demote"]),
                order_kind=dict(type="str", choices=["Mandatory", "Optional", "Serialize"]),
                symmetrical=dict(type="bool"),
            )),
            purge=dict(type="bool", default=False),
            wait=dict(type="int", default=0),
            cib_file=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    # Ansible fills absent suboptions with None; the builders want them absent.
    constraints = [dict((k, v) for k, v in c.items() if v is not None) for c in p["constraints"]]

    if p["cib_file"] and not os.path.exists(p["cib_file"]):
        module.fail_json(msg="cib_file %s does not exist (cibadmin --empty > FILE makes an empty CIB)" % p["cib_file"])

    cib = Cib(module, p["cib_file"])
    before = cib.query()
    # Constraints may tie declared resources to ones another role declared (a database
    # group to the drbd role's filesystem); with purge those others are about to go.
    errors = config_errors(p["resources"], p["groups"], p["clones"], constraints,
                           existing_ids=None if p["purge"] else resource_ids(before))
    if errors:
        module.fail_json(msg="; ".join(errors), errors=errors)
    after = ET.fromstring(ET.tostring(before))
    try:
        top = build_resources(p["resources"], p["groups"], p["clones"])
        wanted_constraints = [build_constraint(c) for c in constraints]
        result = plan(after, top, wanted_constraints, purge=p["purge"])
    except CibError as exc:
        module.fail_json(msg=str(exc))

    patch_xml = cib.diff(before, after) if (result["created"] or result["updated"] or result["removed"]) else ""
    changed = bool(patch_xml)
    output = dict(changed=changed, patch=patch_xml, **result)
    if module._diff and changed:
        touched = set(result["created"] + result["updated"] + result["removed"])
        output["diff"] = dict(
            before=managed_view(before, touched, touched),
            after=managed_view(after, touched, touched),
            before_header="CIB (declared resources and constraints)",
            after_header="CIB (declared resources and constraints)",
        )
    if changed and not module.check_mode:
        cib.patch(patch_xml.encode("utf-8"))
        if p["wait"] > 0 and not p["cib_file"]:
            cib.run(["crm_resource", "--wait", "--timeout", "%ss" % p["wait"]])
    module.exit_json(**output)


if __name__ == "__main__":
    main()
