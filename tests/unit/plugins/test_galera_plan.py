"""The Galera role's decisions: join, new cluster, recovery from the most advanced node,
and refusals whenever acting could lose commits."""

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.stormclouds.platform.plugins.filter.galera_plan import galera_plan

UUID = "6b2f1c6e-2f1a-11f0-9a9e-2b6b1b0c0d01"
OTHER = "9d1e0a42-2f1a-11f0-8c3c-1f4a0e9b7c02"
NODES = ["db1", "db2"]


def up(status="Primary", state="Synced", uuid=UUID, committed=10):
    return {"service": "active", "wsrep": {"wsrep_cluster_status": status, "wsrep_local_state_comment": state,
                                           "wsrep_cluster_state_uuid": uuid, "wsrep_last_committed": str(committed)}}


def down(seqno=None, uuid=UUID, safe=0, recovered=None):
    grastate = {} if seqno is None else {"uuid": uuid, "seqno": str(seqno), "safe_to_bootstrap": str(safe)}
    return {"service": "failed", "wsrep": {}, "grastate": grastate, "recovered": recovered or {}}


def test_healthy_cluster_needs_nothing():
    plan = galera_plan({"db1": up(), "db2": up()}, NODES)
    assert plan["action"] == "running" and plan["join"] == [] and plan["problems"] == []


def test_stopped_node_joins_the_running_cluster():
    plan = galera_plan({"db1": up(), "db2": down(5)}, NODES)
    assert plan["action"] == "running" and plan["join"] == ["db2"] and plan["problems"] == []


def test_partitioned_and_unreadable_nodes_are_problems_of_a_running_cluster():
    plan = galera_plan({"db1": up(), "db2": up(status="non-Primary")}, ["db1", "db2", "db3"])
    assert plan["action"] == "running"
    assert any("db2 runs outside the primary component" in p for p in plan["problems"])
    assert any("db3 could not be read" in p for p in plan["problems"])


def test_joiner_is_not_synced():
    plan = galera_plan({"db1": up(), "db2": up(state="Joiner")}, NODES)
    assert plan["problems"] == ["db2 is Joiner, not Synced"]


def test_fresh_nodes_make_a_new_cluster_from_the_first():
    plan = galera_plan({"db1": down(), "db2": down()}, NODES)
    assert plan == {"action": "new", "bootstrap": "db1", "join": ["db2"], "problems": [], "positions": {}}


def test_new_cluster_waits_for_every_node_to_be_known():
    plan = galera_plan({"db1": down()}, NODES)
    assert plan["action"] == "refuse" and "db2 could not be read" in plan["problems"][0]


def test_full_outage_bootstraps_the_most_advanced_clean_node():
    plan = galera_plan({"db1": down(7), "db2": down(9)}, NODES)
    assert plan["action"] == "recover" and plan["bootstrap"] == "db2" and plan["join"] == ["db1"]
    assert plan["positions"] == {"db1": UUID + ":7", "db2": UUID + ":9"}


def test_crashed_nodes_are_compared_by_their_recovered_positions():
    states = {"db1": down(-1, recovered={"uuid": UUID, "seqno": "42"}),
              "db2": down(-1, recovered={"uuid": UUID, "seqno": "41"})}
    plan = galera_plan(states, NODES)
    assert plan["bootstrap"] == "db1"


def test_equal_positions_prefer_the_node_galera_marked_safe():
    plan = galera_plan({"db1": down(9), "db2": down(9, safe=1)}, NODES)
    assert plan["bootstrap"] == "db2"


def test_unknown_position_refuses_with_commands():
    plan = galera_plan({"db1": down(-1), "db2": down(9)}, NODES)
    assert plan["action"] == "refuse"
    assert "position of db1 is unknown" in plan["problems"][0]
    assert "galera_bootstrap_node" in plan["problems"][-1]


def test_unreachable_node_refuses_recovery():
    plan = galera_plan({"db2": down(9)}, NODES)
    assert plan["action"] == "refuse" and "db1 could not be read" in plan["problems"][0]


def test_operator_choice_resolves_an_unknown_node():
    plan = galera_plan({"db2": down(9)}, NODES, bootstrap_node="db2")
    assert plan["action"] == "recover" and plan["bootstrap"] == "db2"


def test_operator_choice_of_a_stale_node_is_refused():
    plan = galera_plan({"db1": down(7), "db2": down(9)}, NODES, bootstrap_node="db1")
    assert plan["action"] == "refuse" and "db1 is behind" in plan["problems"][0]


def test_operator_choice_outside_the_cluster_is_refused():
    plan = galera_plan({"db1": down(7), "db2": down(9)}, NODES, bootstrap_node="db9")
    assert plan["action"] == "refuse" and "db9 is not one of the data nodes" in plan["problems"][0]


def test_different_cluster_uuids_are_refused():
    plan = galera_plan({"db1": down(7), "db2": down(9, uuid=OTHER)}, NODES)
    assert plan["action"] == "refuse" and "different clusters" in plan["problems"][0]


def test_running_without_primary_component_is_refused_with_the_command():
    plan = galera_plan({"db1": up(status="non-Primary", committed=12), "db2": down(-1)}, NODES)
    assert plan["action"] == "refuse" and "pc.bootstrap=YES" in plan["problems"][0]


def test_standalone_server_is_refused_when_no_cluster_runs():
    plan = galera_plan({"db1": {"service": "active", "wsrep": {}}, "db2": down()}, NODES)
    assert plan["action"] == "refuse" and "without Galera" in plan["problems"][0]


def test_new_node_joins_a_recovered_cluster():
    plan = galera_plan({"db1": down(9), "db2": down(9), "db3": down()}, ["db1", "db2", "db3"])
    assert plan["action"] == "recover" and plan["bootstrap"] == "db1" and plan["join"] == ["db2", "db3"]


def test_bad_input_is_an_error():
    with pytest.raises(AnsibleFilterError):
        galera_plan([], NODES)
    with pytest.raises(AnsibleFilterError):
        galera_plan({}, [])


def test_status_output_becomes_a_dict():
    from ansible_collections.stormclouds.platform.plugins.filter.galera_status import galera_status
    out = "wsrep_cluster_size\t3\nwsrep_local_state_comment\tJoining: receiving State Transfer\nWarning line\n"
    assert galera_status(out) == {"wsrep_cluster_size": "3",
                                  "wsrep_local_state_comment": "Joining: receiving State Transfer"}
    assert galera_status("") == {} and galera_status(None) == {}
    with pytest.raises(AnsibleFilterError):
        galera_status(["not", "text"])
