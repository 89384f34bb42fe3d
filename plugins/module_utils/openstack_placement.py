# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)
"""Placement of an HA group's servers over availability zones, as pure functions.

The servers of group NAME are NAME-1 .. NAME-N; server i goes to zone
zones[(i - 1) % len(zones)]: deterministic, so a rerun, a grown group or a rebuilt
controller computes the same zone for the same server, and consecutive servers
never share a zone while there are at least two."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,54}$")
POLICIES = ("anti-affinity", "soft-anti-affinity")


def server_name(group, index):
    return "%s-%d" % (group, index)


def zone_of(zones, index):
    """The zone of server number index (1-based)."""
    return zones[(index - 1) % len(zones)]


def input_errors(group, count, zones, policy):
    """What is wrong with the request, before any API call."""
    errors = []
    if not isinstance(group, str) or not NAME_RE.match(group):
        errors.append("name %r must start with a letter and hold up to 55 letters, digits and '-' "
                      "(its servers are NAME-1, NAME-2, ...)" % (group,))
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        errors.append("count must be a whole number from 0, not %r" % (count,))
    if not zones:
        errors.append("availability_zones is empty: name at least one zone (an HA group spreads its servers "
                      "over them; with one zone only the server group keeps them on distinct hosts)")
    else:
        blank = [z for z in zones if not isinstance(z, str) or not z.strip()]
        if blank:
            errors.append("availability_zones holds an empty name")
        doubles = sorted(set(z for z in zones if zones.count(z) > 1))
        if doubles:
            errors.append("availability_zones lists %s twice (round robin would weigh it double)" % ", ".join(doubles))
    if policy not in POLICIES:
        errors.append("policy %r is not one of %s" % (policy, ", ".join(POLICIES)))
    return errors


def index_of(group, name):
    """The number of a server named GROUP-N, or None for any other name."""
    match = re.match(r"^%s-([1-9][0-9]*)$" % re.escape(group), name or "")
    return int(match.group(1)) if match else None


def plan(group, count, zones, existing, shrink=False):
    """What to do so the group has servers 1..count in their zones.

    existing: {index: zone} of the group's servers found in the cloud.
    Returns a dict: create [(index, name, zone)], delete [(index, name)], keep
    [(index, name, zone)], misplaced [(name, zone, expected)], errors [str]."""
    result = {"create": [], "delete": [], "keep": [], "misplaced": [], "errors": []}
    extra = sorted(i for i in existing if i > count)
    if extra and not shrink:
        result["errors"].append(
            "the group %s has %d servers (%s), more than count=%d: shrinking deletes servers, so it must be asked "
            "for with shrink=true (the highest numbers go first)"
            % (group, len(existing), ", ".join(server_name(group, i) for i in sorted(existing)), count))
        return result
    for index in sorted(existing):
        name = server_name(group, index)
        if index > count:
            result["delete"].append((index, name))
            continue
        expected = zone_of(zones, index)
        result["keep"].append((index, name, existing[index]))
        if existing[index] != expected:
            result["misplaced"].append((name, existing[index], expected))
    for index in range(1, count + 1):
        if index not in existing:
            result["create"].append((index, server_name(group, index), zone_of(zones, index)))
    # The highest numbers go first: the survivors stay NAME-1..NAME-count.
    result["delete"].sort(reverse=True)
    return result


def spread(servers):
    """{zone: number of servers} for a list of dicts with availability_zone."""
    out = {}
    for server in servers:
        zone = server.get("availability_zone")
        out[zone] = out.get(zone, 0) + 1
    return out


def no_valid_host_message(name, zone, policy, fault):
    """The error for a server Nova could not place, naming the likely cause."""
    text = "Nova could not place %s in %s: %s" % (name, zone, (fault or "no fault reported").strip())
    if "No valid host" in (fault or "") and policy == "anti-affinity":
        text += (" - with policy anti-affinity every server of the group needs its own compute host; this zone has "
                 "fewer hosts than the group's servers there. Add hosts or zones, or use soft-anti-affinity")
    return text
