"""The HA group's placement over availability zones (round robin, deterministic),
growth, explicit shrinking and every input error; the capacity arithmetic and the VIP
port's allowed-address-pair edits. The modules' calls against real Nova and Neutron
are exercised by the openstack scenario."""

import pytest

from ansible_collections.stormclouds.platform.plugins.module_utils import openstack_placement as op
from ansible_collections.stormclouds.platform.plugins.modules import openstack_capacity_info as cap
from ansible_collections.stormclouds.platform.plugins.modules import openstack_vip_port as vip


def test_three_servers_over_two_zones_alternate_and_start_in_the_first():
    result = op.plan("galera", 3, ["az1", "az2"], {})
    assert result["create"] == [(1, "galera-1", "az1"), (2, "galera-2", "az2"), (3, "galera-3", "az1")]
    assert result["delete"] == [] and result["errors"] == [] and result["misplaced"] == []


def test_a_rerun_changes_nothing():
    result = op.plan("galera", 3, ["az1", "az2"], {1: "az1", 2: "az2", 3: "az1"})
    assert result["create"] == [] and result["delete"] == []
    assert [k[1] for k in result["keep"]] == ["galera-1", "galera-2", "galera-3"]


def test_growing_adds_the_missing_numbers_in_their_zones():
    result = op.plan("galera", 4, ["az1", "az2"], {1: "az1", 2: "az2", 3: "az1"})
    assert result["create"] == [(4, "galera-4", "az2")]


def test_a_lost_server_is_recreated_in_its_own_zone():
    result = op.plan("galera", 3, ["az1", "az2"], {1: "az1", 3: "az1"})
    assert result["create"] == [(2, "galera-2", "az2")]


def test_shrinking_is_refused_unless_asked_for():
    existing = {1: "az1", 2: "az2", 3: "az1", 4: "az2"}
    refused = op.plan("galera", 2, ["az1", "az2"], existing)
    assert refused["delete"] == [] and "more than count=2" in refused["errors"][0]
    assert "shrink=true" in refused["errors"][0]
    allowed = op.plan("galera", 2, ["az1", "az2"], existing, shrink=True)
    # The highest numbers go first, so the survivors stay galera-1..galera-2.
    assert allowed["delete"] == [(4, "galera-4"), (3, "galera-3")] and allowed["errors"] == []


def test_a_changed_zone_list_reports_servers_it_would_place_elsewhere():
    result = op.plan("galera", 3, ["az2", "az1"], {1: "az1", 2: "az2", 3: "az1"})
    assert result["create"] == []
    assert result["misplaced"] == [("galera-1", "az1", "az2"), ("galera-2", "az2", "az1"), ("galera-3", "az1", "az2")]


def test_the_placement_is_the_same_from_any_controller():
    zones = ["a", "b", "c"]
    assert [op.zone_of(zones, i) for i in range(1, 8)] == ["a", "b", "c", "a", "b", "c", "a"]
    assert op.spread([{"availability_zone": op.zone_of(zones, i)} for i in range(1, 8)]) == {"a": 3, "b": 2, "c": 2}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("galera", 3, [], "anti-affinity"), "availability_zones is empty"),
        (("galera", 3, ["az1", "az1"], "anti-affinity"), "availability_zones lists az1 twice"),
        (("galera", 3, ["az1", " "], "anti-affinity"), "availability_zones holds an empty name"),
        (("galera", -1, ["az1"], "anti-affinity"), "count must be a whole number from 0"),
        (("galera", 3, ["az1"], "affinity"), "policy 'affinity' is not one of anti-affinity, soft-anti-affinity"),
        (("1galera", 3, ["az1"], "anti-affinity"), "name '1galera' must start with a letter"),
        (("gal_era", 3, ["az1"], "anti-affinity"), "name 'gal_era' must start with a letter"),
    ],
)
def test_bad_input_is_named(args, message):
    errors = op.input_errors(*args)
    assert any(message in e for e in errors), errors


def test_only_servers_named_group_number_belong_to_the_group():
    assert op.index_of("galera", "galera-12") == 12
    assert op.index_of("galera", "galera-0") is None
    assert op.index_of("galera", "galera-db-1") is None
    assert op.index_of("gal.era", "galxera-1") is None


def test_no_valid_host_under_strict_anti_affinity_names_the_cause():
    text = op.no_valid_host_message("galera-4", "az1", "anti-affinity",
                                    "No valid host was found. There are not enough hosts available.")
    assert "galera-4 in az1" in text and "its own compute host" in text and "soft-anti-affinity" in text
    assert "own compute host" not in op.no_valid_host_message("galera-4", "az1", "soft-anti-affinity", "boom")


def test_capacity_is_quota_minus_usage_and_unlimited_is_not_a_number():
    capacity = cap.capacity_from({"total_cores": 20, "total_cores_used": 6, "total_ram": 51200,
                                  "total_ram_used": 12288, "instances": -1, "instances_used": 3})
    assert capacity["cores"] == {"quota": 20, "used": 6, "free": 14, "unlimited": False}
    assert capacity["ram_mb"]["free"] == 38912
    assert capacity["instances"] == {"quota": None, "used": 3, "free": None, "unlimited": True}
    assert cap.shortfalls(capacity, {"cores": 14, "instances": 1000}) == []
    assert cap.shortfalls(capacity, {"cores": 15, "ram_mb": 40000}) == [
        "cores: 15 needed, 14 free (quota 20, used 6)", "ram_mb: 40000 needed, 38912 free (quota 51200, used 12288)"]
    assert "require names 'disk'" in cap.shortfalls(capacity, {"disk": 1})[0]


def test_the_vip_pair_is_added_once_and_removed_alone():
    pairs = [{"ip_address": "10.0.0.50", "mac_address": "fa:16:3e:00:00:01"}]
    added = vip.with_pair(pairs, "10.0.0.100")
    assert added == pairs + [{"ip_address": "10.0.0.100"}]
    assert vip.with_pair(added, "10.0.0.100") == added
    assert vip.without_pair(added, "10.0.0.100") == pairs
    assert vip.in_subnet("10.0.0.100", "10.0.0.0/24") and not vip.in_subnet("10.0.1.5", "10.0.0.0/24")
    assert not vip.in_subnet("not-an-ip", "10.0.0.0/24")
