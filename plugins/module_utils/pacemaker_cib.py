# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)
"""Pacemaker CIB: desired resources and constraints as XML, compared by meaning.

Shared by the pacemaker_cib module (which applies the result) and the
pacemaker_config_errors filter (which checks the declared configuration before any
host changes). Pure Python on ElementTree: every function here can be unit-tested
without a cluster.

What "by meaning" means: two resource definitions are the same when they have the
same agent, the same parameter and meta-attribute values and the same operations,
whatever the ids of their nvpairs and ops and whatever tool wrote them (pcs, crmsh,
cibadmin). So a cluster built by hand is adopted without a rewrite, and a rerun of
the role changes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import xml.etree.ElementTree as ET

# Meta attributes an operator sets at run time (pcs resource disable/unmanage,
# crm_resource --meta). They are kept as they are unless the declaration names them.
RUNTIME_META = ("target-role", "is-managed")

# Constraints that Pacemaker's own tools and DRBD's fence-peer handler create at run
# time; never purged, whatever the purge option says.
RUNTIME_CONSTRAINT_PREFIXES = ("cli-prefer-", "cli-ban-", "drbd-fence-by-handler-")

CONSTRAINT_TAGS = {"location": "rsc_location", "colocation": "rsc_colocation", "order": "rsc_order"}
ROLES = ("Started", "Stopped", "Promoted", "Unpromoted", "Master", "Slave")
ORDER_ACTIONS = ("start", "stop", "promote", "demote")
ORDER_KINDS = ("Mandatory", "Optional", "Serialize")
ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
SCORE_RE = re.compile(r"^([+-]?INFINITY|[+-]?\d+)$")
AGENT_RE = re.compile(r"^(ocf:[A-Za-z0-9_.-]+:[A-Za-z0-9_.@-]+|(systemd|service|lsb|stonith):[A-Za-z0-9_.@:-]+)$")


class CibError(Exception):
    """A declaration or a CIB that cannot be worked with."""


def xml_id(text):
    """Turn any text into a valid XML id (what Pacemaker accepts in id attributes)."""
    out = re.sub(r"[^A-Za-z0-9_.-]", "-", str(text))
    if not re.match(r"^[A-Za-z_]", out):
        out = "_" + out
    return out


def to_text(value):
    """Render a value the way it is stored in the CIB (booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def split_agent(agent):
    """'ocf:heartbeat:IPaddr2' -> ('ocf', 'heartbeat', 'IPaddr2'); 'systemd:nginx' -> ('systemd', None, 'nginx')."""
    if not AGENT_RE.match(agent or ""):
        raise CibError(
            "agent %r is not class:provider:type (ocf:heartbeat:IPaddr2) or class:type "
            "(systemd:nginx, stonith:fence_openstack)" % (agent,)
        )
    parts = agent.split(":")
    if parts[0] == "ocf":
        return "ocf", parts[1], parts[2]
    return parts[0], None, ":".join(parts[1:])


# ---------------------------------------------------------------------------------
# Building desired XML from declarations


def _nvset(parent, tag, owner_id, values):
    if not values:
        return
    node = ET.SubElement(parent, tag, {"id": xml_id("%s-%s" % (owner_id, tag))})
    for name in sorted(values):
        ET.SubElement(node, "nvpair", {
            "id": xml_id("%s-%s-%s" % (owner_id, tag, name)),
            "name": str(name),
            "value": to_text(values[name]),
        })


def build_primitive(spec):
    cls, provider, kind = split_agent(spec["agent"])
    attrs = {"id": spec["id"], "class": cls, "type": kind}
    if provider:
        attrs["provider"] = provider
    elem = ET.Element("primitive", attrs)
    _nvset(elem, "instance_attributes", spec["id"], spec.get("params") or {})
    _nvset(elem, "meta_attributes", spec["id"], spec.get("meta") or {})
    ops = spec.get("ops") or []
    if ops:
        operations = ET.SubElement(elem, "operations")
        for op in ops:
            if "name" not in op or "interval" not in op:
                raise CibError("operation %r of %s needs a name and an interval" % (op, spec["id"]))
            given = dict((str(k), to_text(v)) for k, v in op.items() if k != "id")
            role = given.get("role")
            op_id = op.get("id") or xml_id("%s-%s-interval-%s%s" % (
                spec["id"], given["name"], given["interval"], "-" + role if role else ""))
            # Same XML whatever order the keys came in (inventories may sort them).
            op_attrs = {"name": given.pop("name"), "interval": given.pop("interval")}
            for key in sorted(given):
                op_attrs[key] = given[key]
            op_attrs["id"] = op_id
            ET.SubElement(operations, "op", op_attrs)
    return elem


def build_resources(primitives, groups, clones):
    """The top-level children of <resources> that the declarations describe, in order.

    Primitives inside a group and groups or primitives inside a clone are nested the
    way Pacemaker wants them; everything else stays at the top level.
    """
    prims = dict((p["id"], build_primitive(p)) for p in primitives)
    nested = set()
    group_elems = {}
    for group in groups:
        elem = ET.Element("group", {"id": group["id"]})
        _nvset(elem, "meta_attributes", group["id"], group.get("meta") or {})
        for member in group["members"]:
            if member not in prims:
                raise CibError("group %s names %s, which is not a declared primitive" % (group["id"], member))
            elem.append(prims[member])
            nested.add(member)
        group_elems[group["id"]] = elem
    clone_elems = {}
    for clone in clones:
        elem = ET.Element("clone", {"id": clone["id"]})
        meta = dict(clone.get("meta") or {})
        if clone.get("promotable"):
            meta["promotable"] = True
        _nvset(elem, "meta_attributes", clone["id"], meta)
        inner = clone["resource"]
        if inner in group_elems:
            elem.append(group_elems[inner])
        elif inner in prims and inner not in nested:
            elem.append(prims[inner])
        else:
            raise CibError("clone %s wraps %s, which is not a declared primitive or group" % (clone["id"], inner))
        nested.add(inner)
        clone_elems[clone["id"]] = elem
    top = []
    for p in primitives:
        if p["id"] not in nested:
            top.append(prims[p["id"]])
    for g in groups:
        if g["id"] not in nested:
            top.append(group_elems[g["id"]])
    for c in clones:
        top.append(clone_elems[c["id"]])
    return top


def constraint_id(spec):
    """Ids derived from what a constraint ties together, never from its score: changing
    a score updates the constraint instead of adding a second one."""
    if spec.get("id"):
        return spec["id"]
    kind = spec["kind"]
    if kind == "location":
        return xml_id("location-%s-%s" % (spec["resource"], spec["node"]))
    if kind == "colocation":
        return xml_id("colocation-%s-with-%s" % (spec["resource"], spec["with_resource"]))
    return xml_id("order-%s-then-%s" % (spec["first"], spec["then"]))


def build_constraint(spec):
    kind = spec.get("kind")
    if kind not in CONSTRAINT_TAGS:
        raise CibError("constraint kind %r is not one of location, colocation, order" % (kind,))
    attrs = {"id": constraint_id(spec)}
    if kind == "location":
        attrs.update({"rsc": spec["resource"], "node": spec["node"], "score": to_text(spec.get("score", "INFINITY"))})
        if spec.get("role"):
            attrs["role"] = spec["role"]
    elif kind == "colocation":
        attrs.update({
            "rsc": spec["resource"],
            "with-rsc": spec["with_resource"],
            "score": to_text(spec.get("score", "INFINITY")),
        })
        if spec.get("role"):
            attrs["rsc-role"] = spec["role"]
        if spec.get("with_role"):
            attrs["with-rsc-role"] = spec["with_role"]
    else:
        attrs.update({"first": spec["first"], "then": spec["then"]})
        attrs["first-action"] = spec.get("first_action") or "start"
        attrs["then-action"] = spec.get("then_action") or "start"
        attrs["kind"] = spec.get("order_kind") or "Mandatory"
        if spec.get("symmetrical") is not None:
            attrs["symmetrical"] = to_text(spec["symmetrical"])
    return ET.Element(CONSTRAINT_TAGS[kind], attrs)


# ---------------------------------------------------------------------------------
# Comparing by meaning

# Attribute defaults Pacemaker applies when they are absent: an absent attribute and
# its default mean the same thing.
_ATTR_DEFAULTS = {
    "rsc_order": {"first-action": "start", "then-action": "start", "kind": "Mandatory"},
    "rsc_colocation": {"rsc-role": "Started", "with-rsc-role": "Started"},
}


def _nvpairs(elem, tag):
    out = {}
    for nvset in elem.findall(tag):
        for nv in nvset.findall("nvpair"):
            out[nv.get("name")] = nv.get("value")
    return out


def canonical(elem):
    """A comparable, id-free description of a resource or constraint element."""
    tag = elem.tag
    attrs = dict(elem.attrib)
    for key, value in _ATTR_DEFAULTS.get(tag, {}).items():
        attrs.setdefault(key, value)
    for key in ("rsc-role", "with-rsc-role", "role"):
        if attrs.get(key) == "Master":
            attrs[key] = "Promoted"
        elif attrs.get(key) == "Slave":
            attrs[key] = "Unpromoted"
    out = {"tag": tag, "attrs": tuple(sorted(attrs.items()))}
    if tag in ("primitive", "group", "clone", "master", "bundle"):
        out["params"] = tuple(sorted(_nvpairs(elem, "instance_attributes").items()))
        out["meta"] = tuple(sorted(_nvpairs(elem, "meta_attributes").items()))
        ops = []
        for op in elem.findall("operations/op"):
            op_attrs = dict((k, v) for k, v in op.attrib.items() if k != "id")
            ops.append(tuple(sorted(op_attrs.items())))
        out["ops"] = tuple(sorted(ops))
        out["utilization"] = tuple(sorted(_nvpairs(elem, "utilization").items()))
        out["children"] = tuple(
            canonical_key(child) for child in elem if child.tag in ("primitive", "group")
        )
    else:
        # Constraints with resource sets or rules: compared as their children's XML.
        out["children"] = tuple(ET.tostring(child) for child in elem)
    return out


def canonical_key(elem):
    """canonical() as a hashable, comparable tuple."""
    data = canonical(elem)
    return tuple((key, data[key]) for key in sorted(data))


def carry_runtime_meta(desired, existing, keep=RUNTIME_META):
    """Copy run-time meta attributes (target-role, is-managed) of the existing element
    into the desired one, recursively, where the declaration does not set them."""
    if existing is None:
        return
    current = _nvpairs(existing, "meta_attributes")
    wanted = _nvpairs(desired, "meta_attributes")
    extra = dict((k, v) for k, v in current.items() if k in keep and k not in wanted)
    if extra:
        merged = dict(wanted)
        merged.update(extra)
        for nvset in desired.findall("meta_attributes"):
            desired.remove(nvset)
        # meta_attributes goes after instance_attributes, before operations/children.
        position = 1 if desired.find("instance_attributes") is not None else 0
        holder = ET.Element("tmp")
        _nvset(holder, "meta_attributes", desired.get("id"), merged)
        desired.insert(position, holder[0])
    existing_children = dict((c.get("id"), c) for c in existing if c.get("id"))
    for child in desired:
        if child.tag in ("primitive", "group") and child.get("id") in existing_children:
            carry_runtime_meta(child, existing_children[child.get("id")], keep)


# ---------------------------------------------------------------------------------
# Planning the change


def _index(section):
    """id -> (element, parent) for every element with an id under section."""
    out = {}
    for parent in section.iter():
        for child in parent:
            if child.get("id") is not None:
                out[child.get("id")] = (child, parent)
    return out


def _resource_ids(elem):
    return [e.get("id") for e in elem.iter() if e.tag in ("primitive", "group", "clone", "master", "bundle")]


def plan(cib_root, top_resources, constraints, purge=False, keep_meta=RUNTIME_META):
    """Work out the new configuration.

    cib_root: the CIB (ElementTree root, <cib>). It is changed in place into the
    wanted CIB. top_resources, constraints: elements from build_resources() and
    build_constraint(). Returns a dict of lists: created, updated, removed (ids).
    """
    config = cib_root.find("configuration")
    if config is None:
        raise CibError("the CIB has no configuration section")
    resources = config.find("resources")
    if resources is None:
        resources = ET.SubElement(config, "resources")
    cons = config.find("constraints")
    if cons is None:
        cons = ET.SubElement(config, "constraints")

    result = {"created": [], "updated": [], "removed": []}
    declared_ids = set()
    for elem in top_resources:
        declared_ids.update(_resource_ids(elem))

    for desired in top_resources:
        rid = desired.get("id")
        index = _index(resources)
        existing, parent = index.get(rid, (None, None))
        carry_runtime_meta(desired, existing, keep_meta)
        if existing is not None and parent is resources and canonical_key(existing) == canonical_key(desired):
            continue
        # Take out every element that holds one of the ids the new element brings,
        # wherever it is now (a primitive moving into a group, say).
        position = None
        for inner_id in _resource_ids(desired):
            found, found_parent = _index(resources).get(inner_id, (None, None))
            if found is None:
                continue
            if found_parent is resources and position is None:
                position = list(resources).index(found)
            found_parent.remove(found)
            if found_parent is not resources and found_parent.tag in ("group", "clone", "master") and \
                    not [c for c in found_parent if c.tag in ("primitive", "group")]:
                raise CibError(
                    "%s would leave %s (not declared) without resources; declare %s or remove it first"
                    % (inner_id, found_parent.get("id"), found_parent.get("id")))
        if position is None:
            resources.append(desired)
        else:
            resources.insert(position, desired)
        (result["updated"] if existing is not None else result["created"]).append(rid)

    for desired in constraints:
        cid = desired.get("id")
        existing = None
        for child in cons:
            if child.get("id") == cid:
                existing = child
                break
        if existing is not None and canonical_key(existing) == canonical_key(desired):
            continue
        if existing is not None:
            position = list(cons).index(existing)
            cons.remove(existing)
            cons.insert(position, desired)
            result["updated"].append(cid)
        else:
            cons.append(desired)
            result["created"].append(cid)

    if purge:
        wanted_constraints = set(c.get("id") for c in constraints)
        for child in list(resources):
            if child.get("id") not in declared_ids:
                resources.remove(child)
                result["removed"].append(child.get("id"))
        remaining = set(_resource_ids(resources))
        for child in list(cons):
            cid = child.get("id") or ""
            if cid in wanted_constraints:
                continue
            # Run-time constraints stay, unless the resource they name is gone (then
            # they would be invalid).
            if cid.startswith(RUNTIME_CONSTRAINT_PREFIXES) and constraint_refs(child) <= remaining:
                continue
            cons.remove(child)
            result["removed"].append(cid)
    return result


def constraint_refs(elem):
    """Resource ids a constraint element refers to."""
    refs = set()
    for key in ("rsc", "with-rsc", "first", "then"):
        if elem.get(key):
            refs.add(elem.get(key))
    for ref in elem.iter("resource_ref"):
        refs.add(ref.get("id"))
    return refs


def pretty(elements):
    """Indented XML text of some elements, for diff output."""
    out = []
    for elem in elements:
        copy = ET.fromstring(ET.tostring(elem))
        _indent(copy)
        out.append(ET.tostring(copy, encoding="unicode").rstrip() + "\n")
    return "".join(out)


def _indent(elem, level=0):
    pad = "\n" + level * "  "
    if len(elem):
        if not (elem.text or "").strip():
            elem.text = pad + "  "
        for child in elem:
            _indent(child, level + 1)
        if not (child.tail or "").strip():
            child.tail = pad
    if level and not (elem.tail or "").strip():
        elem.tail = pad


def managed_view(cib_root, resource_ids, constraint_ids):
    """The elements (top-level resources and constraints) with the given ids, as
    pretty XML: what diff mode shows before and after."""
    config = cib_root.find("configuration")
    picked = []
    for section, ids in (("resources", resource_ids), ("constraints", constraint_ids)):
        node = config.find(section) if config is not None else None
        if node is None:
            continue
        for child in node:
            if child.get("id") in ids or set(_resource_ids(child)) & set(ids):
                picked.append(child)
    return pretty(picked)


# ---------------------------------------------------------------------------------
# Checking declarations (used by the filter before any host changes)


def config_errors(primitives, groups, clones, constraints, nodes=None, var_names=None, existing_ids=None):
    """Every problem in the declarations, each as a message naming the variable.

    nodes: the cluster's node names (location constraints must name one), or None.
    existing_ids: ids of resources already in the CIB that constraints may refer to
    (another role's), or None when only the declarations count.
    var_names: dict mapping 'resources', 'groups', 'clones', 'constraints' to the
    names of the variables they came from, for the messages.
    """
    names = {"resources": "resources", "groups": "groups", "clones": "clones", "constraints": "constraints"}
    names.update(var_names or {})
    errors = []
    seen = {}
    malformed = []

    def note_id(kind, rid):
        if not isinstance(rid, str) or not ID_RE.match(rid):
            errors.append("%s: id %r is not a valid id (letters, digits, '_', '.', '-'; not starting with a digit)"
                          % (names[kind], rid))
            return
        if rid in seen:
            errors.append("%s: id %s is declared twice (also in %s)" % (names[kind], rid, names[seen[rid]]))
        seen[rid] = kind

    for kind, items in (("resources", primitives), ("groups", groups), ("clones", clones)):
        if not isinstance(items, list):
            malformed.append("%s must be a list, got %s" % (names[kind], type(items).__name__))
            continue
        for item in items:
            if not isinstance(item, dict) or "id" not in item:
                malformed.append("%s: every entry needs an id, got %r" % (names[kind], item))
                continue
            note_id(kind, item["id"])
    if malformed:
        return malformed + errors

    prim_ids = set(p["id"] for p in primitives)
    group_ids = set(g["id"] for g in groups)
    all_ids = set(seen)

    for p in primitives:
        try:
            split_agent(p.get("agent"))
        except CibError as exc:
            errors.append("%s: %s: %s" % (names["resources"], p["id"], exc))
        for key in ("params", "meta"):
            if p.get(key) is not None and not isinstance(p.get(key), dict):
                errors.append("%s: %s: %s must be a dict" % (names["resources"], p["id"], key))
        ops = p.get("ops") or []
        if not isinstance(ops, list):
            errors.append("%s: %s: ops must be a list" % (names["resources"], p["id"]))
            ops = []
        op_keys = set()
        for op in ops:
            if not isinstance(op, dict) or "name" not in op or "interval" not in op:
                errors.append("%s: %s: every operation needs a name and an interval, got %r"
                              % (names["resources"], p["id"], op))
                continue
            key = (op["name"], str(op["interval"]), op.get("role"))
            if key in op_keys:
                errors.append("%s: %s: operation %s with interval %s is declared twice"
                              % (names["resources"], p["id"], op["name"], op["interval"]))
            op_keys.add(key)

    membership = {}
    for g in groups:
        members = g.get("members")
        if not isinstance(members, list) or not members:
            errors.append("%s: %s: members must be a non-empty list of resource ids" % (names["groups"], g["id"]))
            continue
        for member in members:
            if member not in prim_ids:
                errors.append("%s: %s: member %s is not declared in %s"
                              % (names["groups"], g["id"], member, names["resources"]))
            elif member in membership:
                errors.append("%s: %s is a member of both %s and %s"
                              % (names["groups"], member, membership[member], g["id"]))
            else:
                membership[member] = g["id"]

    wrapped = {}
    for c in clones:
        inner = c.get("resource")
        if inner not in prim_ids and inner not in group_ids:
            errors.append("%s: %s: resource %s is not declared in %s or %s"
                          % (names["clones"], c["id"], inner, names["resources"], names["groups"]))
        elif inner in membership:
            errors.append("%s: %s: %s is a member of group %s; clone the group instead"
                          % (names["clones"], c["id"], inner, membership[inner]))
        elif inner in wrapped:
            errors.append("%s: %s is cloned twice (%s and %s)" % (names["clones"], inner, wrapped[inner], c["id"]))
        else:
            wrapped[inner] = c["id"]

    if not isinstance(constraints, list):
        errors.append("%s must be a list" % names["constraints"])
        return errors
    con_ids = set()
    for spec in constraints:
        if not isinstance(spec, dict):
            errors.append("%s: every entry must be a dict, got %r" % (names["constraints"], spec))
            continue
        kind = spec.get("kind")
        if kind not in CONSTRAINT_TAGS:
            errors.append("%s: kind must be location, colocation or order, got %r in %r"
                          % (names["constraints"], kind, spec))
            continue
        needed = {"location": ("resource", "node"), "colocation": ("resource", "with_resource"),
                  "order": ("first", "then")}[kind]
        missing = [key for key in needed if not spec.get(key)]
        if missing:
            errors.append("%s: %s constraint needs %s, got %r"
                          % (names["constraints"], kind, " and ".join(needed), spec))
            continue
        cid = constraint_id(spec)
        if cid in con_ids or cid in all_ids:
            errors.append("%s: constraint id %s is used twice" % (names["constraints"], cid))
        con_ids.add(cid)
        for key in ("resource", "with_resource", "first", "then"):
            if spec.get(key) and spec[key] not in all_ids and spec[key] not in (existing_ids or ()):
                errors.append("%s: %s refers to %s, which is not declared in %s, %s or %s%s"
                              % (names["constraints"], cid, spec[key], names["resources"],
                                 names["groups"], names["clones"],
                                 "" if existing_ids is None else ", nor in the cluster's configuration"))
        if "score" in spec and not SCORE_RE.match(to_text(spec["score"])):
            errors.append("%s: %s: score %r must be an integer or [-]INFINITY"
                          % (names["constraints"], cid, spec["score"]))
        for key in ("role", "with_role"):
            if spec.get(key) and spec[key] not in ROLES:
                errors.append("%s: %s: %s %r must be one of %s"
                              % (names["constraints"], cid, key, spec[key], ", ".join(ROLES)))
        for key in ("first_action", "then_action"):
            if spec.get(key) and spec[key] not in ORDER_ACTIONS:
                errors.append("%s: %s: %s %r must be one of %s"
                              % (names["constraints"], cid, key, spec[key], ", ".join(ORDER_ACTIONS)))
        if spec.get("order_kind") and spec["order_kind"] not in ORDER_KINDS:
            errors.append("%s: %s: order_kind %r must be one of %s"
                          % (names["constraints"], cid, spec["order_kind"], ", ".join(ORDER_KINDS)))
        if kind == "location" and nodes is not None and spec["node"] not in nodes:
            errors.append("%s: %s: node %s is not a cluster node (%s)"
                          % (names["constraints"], cid, spec["node"], ", ".join(nodes)))
    return errors


def resource_ids(cib):
    """Ids of every resource, group, clone and bundle in a CIB."""
    section = cib.find("configuration/resources")
    if section is None:
        return set()
    return set(el.get("id") for el in section.iter() if el.tag in ("primitive", "group", "clone", "master", "bundle"))
