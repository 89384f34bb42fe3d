"""Subnet rules of the lab, checked against this machine's real routes and addresses."""

import ipaddress
import json
import subprocess

import pytest

from sclab import network
from sclab.system import LabError


def _host_routes():
    """Destinations of the machine's own routes (not the lab's bridges)."""
    routes = json.loads(subprocess.run(["ip", "-j", "-4", "route"], capture_output=True, text=True, check=True).stdout)
    return [
        r["dst"] for r in routes
        if r.get("dst") not in (None, "default") and not ipaddress.ip_network(r["dst"], strict=False).subnet_of(network.POOL)
    ]


def test_addresses_follow_the_lab_conventions():
    subnet = ipaddress.ip_network("10.213.7.0/24")
    assert network.gateway(subnet) == "10.213.7.1"
    assert [network.node_address(subnet, i) for i in range(3)] == ["10.213.7.11", "10.213.7.12", "10.213.7.13"]
    assert network.vip_range(subnet) == "10.213.7.100-10.213.7.199"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10.213.7.5/24", "not a network in CIDR form"),
        ("banana", "not a network in CIDR form"),
        ("8.8.8.0/24", "must be a private IPv4 network"),
        ("10.213.7.0/25", "smaller than a /24"),
    ],
)
def test_bad_subnets_are_refused(text, message):
    with pytest.raises(LabError, match=message):
        network.parse_subnet(text, "--subnet")


def test_a_subnet_on_a_host_route_is_refused_naming_it():
    routes = _host_routes()
    assert routes, "a machine with a network has at least the route of its own subnet"
    taken = ipaddress.ip_network(routes[0], strict=False)
    with pytest.raises(LabError, match=r"collides with (route|address) "):
        network.check_free(taken, "test", [])


def test_two_networks_of_one_request_may_not_overlap():
    first = network.pick_free("test", [])
    with pytest.raises(LabError, match="given for another network of this lab"):
        network.check_free(first, "test", [first])


def test_picked_subnets_are_free_and_distinct():
    first = network.pick_free("test", [])
    second = network.pick_free("test", [first])
    assert first != second
    assert first.subnet_of(network.POOL) and second.subnet_of(network.POOL)
    network.check_free(first, "test", [])
