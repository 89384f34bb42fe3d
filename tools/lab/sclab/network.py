"""Lab networks: --internal podman networks with fixed subnets that collide with nothing."""

import ipaddress
import json
import os
import shlex

from .system import LabError, podman_json, run

#: Subnets the lab picks from when none is given: one /24 per lab network.
POOL = ipaddress.ip_network("10.213.0.0/16")
#: Host part of node i (0-based) on every lab network: .11, .12, ...
FIRST_NODE_HOST = 11
#: Host parts reserved for the VIPs of the roles under test.
VIP_HOSTS = (100, 199)


def network_name(lab: str, net: str) -> str:
    return f"{lab}-{net}"


def node_address(subnet: ipaddress.IPv4Network, index: int) -> str:
    return str(subnet.network_address + FIRST_NODE_HOST + index)


def gateway(subnet: ipaddress.IPv4Network) -> str:
    return str(subnet.network_address + 1)


def vip_range(subnet: ipaddress.IPv4Network) -> str:
    return f"{subnet.network_address + VIP_HOSTS[0]}-{subnet.network_address + VIP_HOSTS[1]}"


LABEL = "stormclouds.lab"


def lab_networks(lab: str | None = None) -> dict:
    """name -> subnet of the networks in the lab's podman store; with `lab`, only the
    networks that carry that lab's label (names alone are ambiguous: lab "m" and
    lab "m-ha" both make names starting "m-")."""
    out = {}
    for net in podman_json("network", "ls", "--format", "json"):
        if lab is not None and (net.get("labels") or {}).get(LABEL) != lab:
            continue
        for sub in net.get("subnets") or []:
            out[net["name"]] = ipaddress.ip_network(sub["subnet"])
    return out


def owner(name: str) -> str | None:
    """The lab a network of the lab's store belongs to, or None."""
    info = podman_json("network", "inspect", name)
    return (info[0].get("labels") or {}).get(LABEL) if info else None


def _host_networks() -> list:
    """(description, network) of every route and address on the machine, and of the
    machine's own podman networks (another tool's, outside the lab's store)."""
    taken = []
    routes = json.loads(run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout or "[]")
    for route in routes:
        dst = route.get("dst", "")
        if dst in ("default", "") or route.get("type") in ("local", "broadcast"):
            continue
        try:
            taken.append((f"route {dst} dev {route.get('dev', '?')}", ipaddress.ip_network(dst, strict=False)))
        except ValueError:
            continue
    for link in json.loads(run(["ip", "-j", "-4", "addr"]).stdout or "[]"):
        for addr in link.get("addr_info", []):
            net = ipaddress.ip_network(f"{addr['local']}/{addr['prefixlen']}", strict=False)
            taken.append((f"address {addr['local']}/{addr['prefixlen']} on {link['ifname']}", net))
    # The machine's own podman store and networks: without the lab's settings.
    machine_env = {k: v for k, v in os.environ.items() if k not in ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF")}
    machine = run(["podman", "network", "ls", "--format", "json"], check=False, env=machine_env)
    if machine.returncode == 0 and machine.stdout.strip():
        for net in json.loads(machine.stdout):
            for sub in net.get("subnets") or []:
                taken.append((f"podman network {net['name']} of this machine", ipaddress.ip_network(sub["subnet"])))
    return taken


def check_free(subnet: ipaddress.IPv4Network, what: str, planned: list) -> None:
    """Refuse a new network's subnet that overlaps any network on the machine, or
    another network planned in the same request."""
    for name, existing in lab_networks().items():
        if subnet.overlaps(existing):
            raise LabError(f"{what}: subnet {subnet} collides with lab network {name} ({existing})")
    for description, existing in _host_networks():
        if subnet.overlaps(existing):
            raise LabError(f"{what}: subnet {subnet} collides with {description}")
    for other in planned:
        if subnet.overlaps(other):
            raise LabError(f"{what}: subnet {subnet} collides with {other}, given for another network of this lab")


def parse_subnet(text: str, what: str) -> ipaddress.IPv4Network:
    try:
        subnet = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise LabError(f"{what}: {text!r} is not a network in CIDR form ({exc})") from None
    if subnet.version != 4 or not subnet.is_private:
        raise LabError(f"{what}: {subnet} must be a private IPv4 network")
    if subnet.num_addresses < 256:
        raise LabError(f"{what}: {subnet} is smaller than a /24; the lab needs room for nodes and VIPs")
    return subnet


def pick_free(what: str, exclude: list) -> ipaddress.IPv4Network:
    taken = [net for _description, net in _host_networks()] + list(lab_networks().values()) + exclude
    for candidate in POOL.subnets(new_prefix=24):
        if candidate.network_address == POOL.network_address:
            continue
        if not any(candidate.overlaps(t) for t in taken):
            return candidate
    raise LabError(f"{what}: no free /24 left in {POOL}; give one with --subnet")


def bridge_of(name: str) -> str:
    """The host-side bridge interface of a lab network."""
    info = podman_json("network", "inspect", name)
    return info[0]["network_interface"]


def _comment(lab: str, net: str) -> str:
    return f"stormclouds-lab lab={lab} net={net}"


def _forward_rules(bridge: str, lab: str, net: str) -> list:
    comment = ["-m", "comment", "--comment", _comment(lab, net)]
    # With br_netfilter (as here) frames between two nodes of one bridge pass FORWARD
    # too, with the bridge as both in and out interface: those must pass.
    return [
        ["FORWARD", "-i", bridge, "!", "-o", bridge, *comment, "-j", "DROP"],
        ["FORWARD", "-o", bridge, "!", "-i", bridge, *comment, "-j", "DROP"],
    ]


def isolate(lab: str, net: str, name: str) -> bool:
    """Drop everything the host would route into or out of a lab network.

    --internal only means podman sets up no NAT: with forwarding on (as here) the host
    would still route a node's packets out of the machine, and between two networks of
    a lab (the FRT test needs an "outside" that cannot reach the intranet). Traffic
    inside one network passes, and the nodes still reach the host's gateway address
    (the apt cache), which is local delivery, not forwarding.
    """
    changed = False
    for rule in _forward_rules(bridge_of(name), lab, net):
        if run(["iptables", "-w", "-C", *rule], check=False).returncode != 0:
            run(["iptables", "-w", "-I", *rule])
            changed = True
    return changed


def isolation_rules(lab: str) -> list:
    """The FORWARD rules of one lab, as `iptables -S` prints them."""
    marker = f'"stormclouds-lab lab={lab} net='
    return [r for r in run(["iptables", "-w", "-S", "FORWARD"]).stdout.splitlines() if marker in r]


def release(lab: str) -> None:
    """Remove every FORWARD rule of a lab, found by its comment: also the rules of a
    network that is already gone (an interrupted `down`)."""
    for rule in isolation_rules(lab):
        args = shlex.split(rule)
        if args[:1] == ["-A"]:
            run(["iptables", "-w", "-D", *args[1:]], check=False)
