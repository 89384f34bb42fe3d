"""The role's pre-flight check of VIP addresses (netaddr) on top of the CIB checks."""

from ansible_collections.stormclouds.platform.plugins.filter.pacemaker_config_errors import (
    pacemaker_config_errors,
)

NETS = ["10.213.1.0/24"]


def vip(address, mask=None, rid="vip"):
    params = {"ip": address}
    if mask is not None:
        params["cidr_netmask"] = mask
    return {"id": rid, "agent": "ocf:heartbeat:IPaddr2", "params": params}


def check(resources, **kwargs):
    kwargs.setdefault("networks", NETS)
    kwargs.setdefault("node_addresses", ["10.213.1.11", "10.213.1.12"])
    return pacemaker_config_errors({"resources": resources}, var_names={"resources": "pacemaker_resources"}, **kwargs)


def test_vip_inside_the_subnet_is_fine():
    assert check([vip("10.213.1.100", 24)]) == []


def test_vip_outside_every_subnet_is_refused():
    errors = check([vip("192.0.2.10")])
    assert errors == ["pacemaker_resources: vip: VIP 192.0.2.10 is outside the cluster nodes' subnets "
                      "(10.213.1.0/24), so no node could answer for it"]


def test_vip_on_a_node_address_network_or_broadcast_is_refused():
    assert "address of a cluster node" in check([vip("10.213.1.12")])[0]
    assert "outside" in check([vip("10.213.1.0")])[0]
    assert "outside" in check([vip("10.213.1.255")])[0]


def test_vip_mask_must_match_the_subnet():
    assert check([vip("10.213.1.100", 16)]) == [
        "pacemaker_resources: vip: cidr_netmask 16 does not match the subnet 10.213.1.0/24"]


def test_two_resources_on_one_address_are_refused():
    errors = check([vip("10.213.1.100"), vip("10.213.1.100", rid="vip2")])
    assert errors == ["pacemaker_resources: vip and vip2 both hold the address 10.213.1.100"]


def test_not_an_address():
    assert check([vip("10.213.1.300")]) == ["pacemaker_resources: vip: params.ip '10.213.1.300' is not an IP address"]
