"""Lab layouts: what the lab accepts, and the message it gives for what it refuses."""

import pytest

from sclab import layout
from sclab.layout import LayoutError


def test_every_shipped_layout_loads_and_names_its_groups():
    names = layout.available()
    assert "site" in names and "default" in names
    for name in names:
        lay = layout.load(name)
        assert lay.nodes, name
        assert all(node.networks for node in lay.nodes), name


def test_site_layout_has_every_group_site_yml_deploys():
    lay = layout.load("site")
    groups = lay.groups
    for group, count in {"galera_nodes": 2, "galera_arbitrator": 1, "haproxy_nodes": 2, "pacemaker_nodes": 2,
                         "pacemaker_quorum": 1, "zabbix_servers": 2, "zabbix_web": 2, "zabbix_proxies": 1,
                         "backup_clients": 1, "object_store": 1, "frt_server": 1, "frt_clients": 2,
                         "federation_registry": 1, "federation_members": 1}.items():
        assert len(groups.get(group, [])) == count, (group, groups.get(group))
    assert sorted(groups["zabbix_agents"]) == sorted(n.name for n in lay.nodes)
    # Only the DMZ host is on the outside network.
    assert lay.networks == ["lan", "outside"]
    assert {n.name: n.networks for n in lay.nodes if n.networks != ["lan"]} == {"dmz1": ["lan", "outside"]}


def test_scalable_layout_resizes_within_its_range():
    lay = layout.load("default", nodes=5)
    assert [n.name for n in lay.nodes] == [f"node{i}" for i in range(1, 6)]
    assert lay.groups["nodes"] == [n.name for n in lay.nodes]


@pytest.mark.parametrize("count", [0, 17, -1])
def test_node_count_out_of_range_is_refused_with_the_range(count):
    with pytest.raises(LayoutError, match=r"node count .* out of range: this layout takes 1 to 16 nodes"):
        layout.load("default", nodes=count)


def test_nodes_option_on_a_fixed_layout_is_refused():
    with pytest.raises(LayoutError, match="fixed set of nodes"):
        layout.load("site", nodes=4)


def test_unknown_layout_lists_the_known_ones():
    with pytest.raises(LayoutError, match=r"unknown layout 'nosuch'; known layouts: .*site"):
        layout.load("nosuch")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"nodes": [{"name": "a"}, {"name": "a"}]}, "node name\\(s\\) used twice: a"),
        ({"nodes": [{"name": "Node_1"}]}, "nodes\\[0\\].name 'Node_1' is not valid"),
        ({"nodes": []}, "nodes must be a non-empty list"),
        ({"nodes": [{"name": "a", "networks": ["dmz"]}]}, "node a is on network\\(s\\) dmz that the layout does not declare"),
        ({"nodes": [{"name": "a", "groups": ["a"]}]}, "used both as node and as group: a"),
        ({"nodes": [{"name": "a", "colour": "red"}]}, "nodes\\[0\\]: unknown field\\(s\\) colour"),
        ({"nodes": [{"name": "a"}], "size": 3}, "unknown field\\(s\\) size"),
        ({"nodes": [{"name": "a", "groups": "db"}]}, "node a: groups must be a list of strings"),
        ({"networks": [], "nodes": [{"name": "a"}]}, "networks must not be empty"),
        ({"nodes": [{"name": "a", "volumes": ["Data"]}]}, "node a: volumes: 'Data' is not a valid name"),
        ({"nodes": [{"name": "a", "volumes": "data"}]}, "node a: volumes must be a list of strings"),
    ],
)
def test_bad_layouts_are_refused_naming_the_field(data, message):
    with pytest.raises(LayoutError, match=message):
        layout.parse("bad", data)


def test_multi_network_layout_keeps_node_networks_in_order():
    lay = layout.parse(
        "frt",
        {
            "networks": ["intranet", "outside"],
            "nodes": [
                {"name": "vm1", "groups": ["vms"], "networks": ["intranet"]},
                {"name": "dmz1", "groups": ["dmz"]},
                {"name": "client", "groups": ["outside"], "networks": ["outside"]},
            ],
        },
    )
    assert [n.networks for n in lay.nodes] == [["intranet"], ["intranet", "outside"], ["outside"]]
    assert lay.to_dict()["nodes"][1] == {"name": "dmz1", "groups": ["dmz"], "networks": ["intranet", "outside"]}


def test_volumes_are_shared_by_the_nodes_that_name_them():
    lay = layout.parse(
        "shared",
        {"nodes": [{"name": "a", "volumes": ["data"]}, {"name": "b", "volumes": ["data", "logs"]}, {"name": "q"}]},
    )
    assert lay.volumes == ["data", "logs"]
    assert [n["volumes"] for n in lay.to_dict()["nodes"][:2]] == [["data"], ["data", "logs"]]
    # A node without volumes keeps the layout file's shape (no empty field).
    assert "volumes" not in lay.to_dict()["nodes"][2]


def test_a_missing_layout_file_is_named(tmp_path):
    with pytest.raises(LayoutError, match="layout file .*nope.yml does not exist"):
        layout.load(str(tmp_path / "nope.yml"))


def test_a_malformed_layout_file_is_named(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("nodes: [unclosed\n", encoding="utf-8")
    with pytest.raises(LayoutError, match=f"layout file {bad} cannot be read"):
        layout.load(str(bad))


@pytest.mark.parametrize("scalable", [{"prefix": "n", "min": "1"}, {"prefix": "n", "min": 0}, {"prefix": "n", "min": 4, "max": 2}])
def test_bad_scalable_bounds_are_refused(scalable):
    with pytest.raises(LayoutError, match="scalable.min and scalable.max must be whole numbers"):
        layout.parse("bad", {"scalable": scalable}, nodes=2)
