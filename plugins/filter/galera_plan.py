# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: galera_plan
short_description: What to do with a Galera cluster, from the state of its data nodes
version_added: 0.2.0
description:
  - Decides, from what each data node reports, whether a Galera cluster is running (then which
    stopped nodes join it), is new (then which node bootstraps it), or went down completely (then
    which node holds the most advanced data and bootstraps it), or whether acting would risk data
    (then it refuses and says why, with the commands an operator needs).
  - Never picks a node known to be behind another, and never picks any node while a data node's
    position is unknown, unless the operator names one.
  - Also lists what is unhealthy in a running cluster (a node outside the primary component, two
    cluster UUIDs, a server running without Galera, a node whose state could not be read).
author:
  - Storm Clouds Platform developers (@stormclouds)
options:
  _input:
    description:
      - The state of each data node whose state could be read, keyed by inventory name. Each value is a
        dict with C(service) (systemd ActiveState of the server), C(wsrep) (the server's wsrep status
        variables when it runs, name to value), C(grastate) (C(uuid), C(seqno), C(safe_to_bootstrap)
        from grastate.dat; empty when the file is missing) and C(recovered) (C(uuid) and C(seqno)
        found by C(galera_recovery) after a crash; empty when not run or nothing found).
    type: dict
    required: true
  nodes:
    description: All data nodes of the cluster in inventory order; those missing from the input are unknown.
    type: list
    elements: str
    required: true
  bootstrap_node:
    description: The operator's choice of the node to bootstrap from, for a choice the data cannot make.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Decide what the cluster needs
  ansible.builtin.set_fact:
    galera_plan: "{{ states | stormclouds.platform.galera_plan(nodes=groups['galera_nodes']) }}"
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    action:
      description: C(running), C(new), C(recover) or C(refuse).
      type: str
    bootstrap:
      description: The node to bootstrap from (C(new) and C(recover)); empty otherwise.
      type: str
    join:
      description: Stopped nodes to start, one at a time, after the bootstrap (if any).
      type: list
      elements: str
    problems:
      description: What is unhealthy (action C(running)) or why the role refuses (action C(refuse)).
      type: list
      elements: str
    positions:
      description: The position (C(uuid:seqno)) of each node whose position is known.
      type: dict
"""

from ansible.errors import AnsibleFilterError

ZERO_UUID = "00000000-0000-0000-0000-000000000000"
# wsrep_local_state_comment values of a member that is not serving yet.
TRANSITIONAL = ("Joining", "Joined", "Donor/Desynced", "Initialized", "Joining: receiving State Transfer")


def _seqno(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _position(state):
    """(uuid, seqno) of a stopped node's data, or None when it is not known.

    A clean shutdown writes the seqno to grastate.dat; after a crash it says -1 and the
    position comes from galera_recovery (InnoDB's own record of the last commit)."""
    grastate = state.get("grastate") or {}
    recovered = state.get("recovered") or {}
    uuid = grastate.get("uuid") or ""
    if uuid and uuid != ZERO_UUID and _seqno(grastate.get("seqno")) >= 0:
        return uuid, _seqno(grastate.get("seqno"))
    if recovered.get("uuid") and recovered.get("uuid") != ZERO_UUID and _seqno(recovered.get("seqno")) >= 0:
        return recovered["uuid"], _seqno(recovered["seqno"])
    return None


def _has_cluster_data(state):
    """Whether the node's data directory ever belonged to a Galera cluster."""
    grastate = state.get("grastate") or {}
    recovered = state.get("recovered") or {}
    return any(u and u != ZERO_UUID for u in (grastate.get("uuid"), recovered.get("uuid")))


def _recovery_commands(nodes):
    return (
        "Find the most advanced node: on each of %s run 'cat /var/lib/mysql/grastate.dat' (a clean shutdown "
        "records its seqno there) and, where seqno is -1, 'systemctl stop mariadb; galera_recovery' (prints "
        "--wsrep_start_position=UUID:SEQNO). Then run the role again with -e galera_bootstrap_node=NODE naming "
        "the node with the highest seqno of the common UUID." % ", ".join(nodes)
    )


def galera_plan(states, nodes, bootstrap_node=""):
    if not isinstance(states, dict):
        raise AnsibleFilterError("galera_plan expects a dict of node states keyed by node name")
    nodes = list(nodes or [])
    if not nodes:
        raise AnsibleFilterError("galera_plan needs the list of data nodes")
    if bootstrap_node and bootstrap_node not in nodes:
        return _refuse(["galera_bootstrap_node %s is not one of the data nodes (%s)" % (bootstrap_node, ", ".join(nodes))])

    unknown = [n for n in nodes if n not in states]
    running = [n for n in nodes if n in states and states[n].get("service") == "active"]
    stopped = [n for n in nodes if n in states and n not in running]
    wsrep = dict((n, states[n].get("wsrep") or {}) for n in running)
    primary = [n for n in running if wsrep[n].get("wsrep_cluster_status") == "Primary"]
    positions = {}
    for n in stopped:
        pos = _position(states[n])
        if pos:
            positions[n] = "%s:%d" % pos
    for n in running:
        if wsrep[n].get("wsrep_cluster_state_uuid"):
            positions[n] = "%s:%s" % (wsrep[n]["wsrep_cluster_state_uuid"], wsrep[n].get("wsrep_last_committed", "?"))

    if primary:
        return _running(nodes, unknown, running, stopped, wsrep, primary, positions)

    non_primary = [n for n in running if wsrep[n].get("wsrep_cluster_status")]
    if non_primary:
        # Servers up but none in a primary component (a partition that lost quorum on every
        # side): the most advanced of them must be told to form one; not a job for a rerun.
        detail = ", ".join("%s (%s, last committed %s)"
                           % (n, wsrep[n].get("wsrep_cluster_status"), wsrep[n].get("wsrep_last_committed", "?"))
                           for n in non_primary)
        return _refuse(["no primary component: %s run without one. On the node with the highest last committed "
                        "run: mariadb -e \"SET GLOBAL wsrep_provider_options='pc.bootstrap=YES'\" (the others rejoin "
                        "it), then run the role again." % detail], positions)
    standalone = [n for n in running if n not in non_primary]
    if standalone:
        return _refuse(["%s run(s) MariaDB without Galera while no cluster is up; stop it (systemctl stop mariadb) "
                        "so the role can start it as a cluster member" % ", ".join(standalone)], positions)

    # Nothing runs: a new cluster, or a full outage to recover from.
    with_data = [n for n in stopped if _has_cluster_data(states[n])]
    if not with_data and not unknown:
        first = bootstrap_node or nodes[0]
        return _plan("new", first, [n for n in stopped if n != first], [], positions)

    problems = []
    if unknown:
        problems.append("the state of %s could not be read (unreachable or failed); it may hold the most recent "
                        "commits" % ", ".join(unknown))
    unpositioned = [n for n in with_data if n not in positions]
    if unpositioned:
        problems.append("the position of %s is unknown (grastate.dat says seqno -1 and galera_recovery found none)"
                        % ", ".join(unpositioned))
    uuids = sorted(set(positions[n].split(":")[0] for n in positions))
    if len(uuids) > 1:
        listed = "; ".join("%s: %s" % (n, positions[n]) for n in sorted(positions))
        return _refuse(["the data nodes hold data of different clusters (%s); bootstrapping any of them would throw "
                        "the others' data away. %s" % (listed, _recovery_commands(nodes))], positions)

    best = max([_seqno(positions[n].split(":")[1]) for n in positions] or [-1])
    most_advanced = [n for n in nodes if n in positions and _seqno(positions[n].split(":")[1]) == best]
    if bootstrap_node:
        if bootstrap_node in positions and bootstrap_node not in most_advanced:
            return _refuse(["galera_bootstrap_node %s is behind (%s; %s has seqno %d): bootstrapping it would lose "
                            "the commits it lacks" % (bootstrap_node, positions[bootstrap_node],
                                                      ", ".join(most_advanced), best)], positions)
        if bootstrap_node in unknown:
            return _refuse(["galera_bootstrap_node %s could not be reached" % bootstrap_node], positions)
        chosen = bootstrap_node
    elif problems:
        return _refuse(problems + [_recovery_commands(nodes)], positions)
    elif not most_advanced:
        return _refuse(["no data node has a known position. " + _recovery_commands(nodes)], positions)
    else:
        # Equal positions hold the same data: prefer the node Galera itself marked safe.
        safe = [n for n in most_advanced if _seqno((states[n].get("grastate") or {}).get("safe_to_bootstrap")) == 1]
        chosen = (safe or most_advanced)[0]
    return _plan("recover", chosen, [n for n in stopped if n != chosen], [], positions)


def _running(nodes, unknown, running, stopped, wsrep, primary, positions):
    problems = []
    uuids = sorted(set(wsrep[n].get("wsrep_cluster_state_uuid", "") for n in primary))
    if len(uuids) > 1:
        problems.append("two primary components with different cluster UUIDs: %s"
                        % "; ".join("%s: %s" % (n, wsrep[n].get("wsrep_cluster_state_uuid")) for n in primary))
    for n in running:
        status = wsrep[n].get("wsrep_cluster_status")
        if n in primary:
            state = wsrep[n].get("wsrep_local_state_comment", "")
            if state != "Synced":
                problems.append("%s is %s, not Synced" % (n, state or "in an unknown state"))
        elif status:
            problems.append("%s runs outside the primary component (%s): a network partition" % (n, status))
        else:
            problems.append("%s runs MariaDB without Galera (no wsrep status)" % n)
    for n in unknown:
        problems.append("the state of %s could not be read (unreachable or failed)" % n)
    return _plan("running", "", list(stopped), problems, positions)


def _plan(action, bootstrap, join, problems, positions):
    return {"action": action, "bootstrap": bootstrap, "join": join, "problems": problems, "positions": positions}


def _refuse(problems, positions=None):
    return _plan("refuse", "", [], problems, positions or {})


class FilterModule(object):
    def filters(self):
        return {"galera_plan": galera_plan}
