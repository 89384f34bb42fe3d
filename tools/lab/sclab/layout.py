"""Lab layouts: which nodes a lab has, on which networks, in which inventory groups.

A layout is a YAML (or JSON) file::

    description: Three general-purpose Debian 12 nodes.
    networks: [lan]            # optional; the first one carries Ansible's traffic
    nodes:
      - name: node1
        groups: [nodes]
        networks: [lan]        # optional; default: every network of the layout
        volumes: [data]        # optional; a lab volume shared by every node naming
                               # it, at /srv/lab-volumes/NAME (a stand-in for a
                               # shared disk where the container kernel has no DRBD)
    scalable:                  # optional; lets `lab up --nodes N` resize the layout
      prefix: node
      min: 1
      max: 16
      groups: [nodes]

Everything is validated before anything is created, and every error names the
layout and the field at fault.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import paths

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
GROUP_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
#: Node addresses start at .11; .100-.199 stay free for VIPs of the roles under test.
MAX_NODES = 64


class LayoutError(ValueError):
    """A layout (or a request against it) that the lab refuses."""


@dataclass
class Node:
    name: str
    groups: list
    networks: list
    volumes: list = field(default_factory=list)


@dataclass
class Layout:
    name: str
    description: str
    networks: list
    nodes: list = field(default_factory=list)

    @property
    def volumes(self) -> list:
        """Every volume some node mounts, in order of appearance."""
        out: list = []
        for node in self.nodes:
            out += [v for v in node.volumes if v not in out]
        return out

    @property
    def groups(self) -> dict:
        """Group name -> node names, in node order."""
        out: dict = {}
        for node in self.nodes:
            for group in node.groups:
                out.setdefault(group, []).append(node.name)
        return out

    def to_dict(self) -> dict:
        return {
            "description": self.description,
            "networks": list(self.networks),
            "nodes": [{"name": n.name, "groups": list(n.groups), "networks": list(n.networks),
                       **({"volumes": list(n.volumes)} if n.volumes else {})} for n in self.nodes],
        }


def available() -> list:
    return sorted(p.stem for p in paths.LAYOUTS_DIR.glob("*.yml"))


def load(name_or_path: str, nodes: int | None = None) -> Layout:
    """Load a layout by name (lab/layouts/NAME.yml) or from a file path."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yml", ".yaml", ".json") or "/" in name_or_path:
        if not candidate.is_file():
            raise LayoutError(f"layout file {name_or_path} does not exist")
        path, name = candidate, candidate.stem
    else:
        if not NAME_RE.match(name_or_path):
            raise LayoutError(f"layout name {name_or_path!r} is not valid (lowercase letters, digits and '-')")
        path, name = paths.LAYOUTS_DIR / f"{name_or_path}.yml", name_or_path
        if not path.exists():
            raise LayoutError(f"unknown layout {name_or_path!r}; known layouts: {', '.join(available())}")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise LayoutError(f"layout file {path} cannot be read: {exc}") from None
    return parse(name, data, nodes)


def _str_list(value, where: str, pattern: re.Pattern) -> list:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LayoutError(f"{where} must be a list of strings")
    for item in value:
        if not pattern.match(item):
            raise LayoutError(f"{where}: {item!r} is not a valid name")
    if len(set(value)) != len(value):
        raise LayoutError(f"{where} lists a name twice")
    return list(value)


def parse(name: str, data, nodes: int | None = None) -> Layout:
    where = f"layout {name!r}"
    if not isinstance(data, dict):
        raise LayoutError(f"{where}: must be a mapping")
    unknown = set(data) - {"description", "networks", "nodes", "scalable"}
    if unknown:
        raise LayoutError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    networks = _str_list(data.get("networks", ["lan"]), f"{where}: networks", NAME_RE)
    if not networks:
        raise LayoutError(f"{where}: networks must not be empty")
    layout = Layout(name=name, description=str(data.get("description", "")), networks=networks)

    scalable = data.get("scalable")
    if nodes is not None:
        if not scalable:
            raise LayoutError(f"{where} has a fixed set of nodes; --nodes applies only to a scalable layout")
        layout.nodes = _scaled_nodes(where, scalable, nodes, networks)
    else:
        raw_nodes = data.get("nodes")
        if raw_nodes is None and scalable:
            raw_nodes = [n.__dict__ for n in _scaled_nodes(where, scalable, scalable.get("default", scalable.get("min", 1)), networks)]
        if not isinstance(raw_nodes, list) or not raw_nodes:
            raise LayoutError(f"{where}: nodes must be a non-empty list")
        layout.nodes = [_node(where, i, raw, networks) for i, raw in enumerate(raw_nodes)]

    if len(layout.nodes) > MAX_NODES:
        raise LayoutError(f"{where}: {len(layout.nodes)} nodes, more than the lab's maximum of {MAX_NODES}")
    names = [n.name for n in layout.nodes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise LayoutError(f"{where}: node name(s) used twice: {', '.join(duplicates)}")
    clash = sorted(set(names) & set(layout.groups))
    if clash:
        raise LayoutError(f"{where}: name(s) used both as node and as group: {', '.join(clash)}")
    return layout


def _node(where: str, index: int, raw, networks: list) -> Node:
    if not isinstance(raw, dict) or "name" not in raw:
        raise LayoutError(f"{where}: nodes[{index}] must be a mapping with a name")
    unknown = set(raw) - {"name", "groups", "networks", "volumes"}
    if unknown:
        raise LayoutError(f"{where}: nodes[{index}]: unknown field(s) {', '.join(sorted(unknown))}")
    node_name = raw["name"]
    if not isinstance(node_name, str) or not NAME_RE.match(node_name):
        raise LayoutError(f"{where}: nodes[{index}].name {node_name!r} is not valid (lowercase letters, digits and '-')")
    groups = _str_list(raw.get("groups", []), f"{where}: node {node_name}: groups", GROUP_RE)
    node_networks = _str_list(raw.get("networks", networks), f"{where}: node {node_name}: networks", NAME_RE)
    missing = [n for n in node_networks if n not in networks]
    if missing:
        raise LayoutError(f"{where}: node {node_name} is on network(s) {', '.join(missing)} that the layout does not declare")
    if not node_networks:
        raise LayoutError(f"{where}: node {node_name} must be on at least one network")
    volumes = _str_list(raw.get("volumes", []), f"{where}: node {node_name}: volumes", NAME_RE)
    return Node(name=node_name, groups=groups, networks=node_networks, volumes=volumes)


def _scaled_nodes(where: str, scalable, count, networks: list) -> list:
    if not isinstance(scalable, dict) or not isinstance(scalable.get("prefix"), str):
        raise LayoutError(f"{where}: scalable must be a mapping with a prefix")
    low, high = scalable.get("min", 1), scalable.get("max", 16)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) or low < 1 or high < low:
        raise LayoutError(f"{where}: scalable.min and scalable.max must be whole numbers with 1 <= min <= max")
    if not isinstance(count, int) or isinstance(count, bool) or not low <= count <= high:
        raise LayoutError(f"{where}: node count {count} is out of range: this layout takes {low} to {high} nodes")
    groups = scalable.get("groups", [])
    return [_node(where, i, {"name": f"{scalable['prefix']}{i + 1}", "groups": groups}, networks) for i in range(count)]
