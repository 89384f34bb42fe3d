"""The CIB planner: XML built from declarations, compared by meaning, changed minimally."""

import xml.etree.ElementTree as ET

import pytest

from ansible_collections.stormclouds.platform.plugins.module_utils import pacemaker_cib as cib

EMPTY = '<cib epoch="3" num_updates="0" admin_epoch="0"><configuration><crm_config/><nodes/>' \
        '<resources/><constraints/></configuration><status/></cib>'

VIP = {"id": "vip", "agent": "ocf:heartbeat:IPaddr2", "params": {"ip": "10.0.0.100", "cidr_netmask": 24},
       "ops": [{"name": "monitor", "interval": "5s", "timeout": "20s"}]}
WEB = {"id": "web", "agent": "systemd:nginx"}


def run_plan(root, resources=(), groups=(), clones=(), constraints=(), purge=False):
    top = cib.build_resources(list(resources), list(groups), list(clones))
    cons = [cib.build_constraint(c) for c in constraints]
    return cib.plan(root, top, cons, purge=purge)


def test_primitive_xml_has_agent_params_and_ops():
    elem = cib.build_primitive(VIP)
    assert elem.attrib == {"id": "vip", "class": "ocf", "provider": "heartbeat", "type": "IPaddr2"}
    params = {nv.get("name"): nv.get("value") for nv in elem.findall("instance_attributes/nvpair")}
    assert params == {"ip": "10.0.0.100", "cidr_netmask": "24"}
    op = elem.find("operations/op")
    assert op.attrib == {"id": "vip-monitor-interval-5s", "name": "monitor", "interval": "5s", "timeout": "20s"}


def test_systemd_agent_has_no_provider():
    assert cib.build_primitive(WEB).attrib == {"id": "web", "class": "systemd", "type": "nginx"}


@pytest.mark.parametrize("agent", ["IPaddr2", "ocf:heartbeat", "bogus:thing", "", None])
def test_bad_agents_are_refused(agent):
    with pytest.raises(cib.CibError, match="class:provider:type"):
        cib.split_agent(agent)


def test_first_run_creates_then_second_run_changes_nothing():
    root = ET.fromstring(EMPTY)
    decl = dict(resources=[VIP, WEB], groups=[{"id": "g", "members": ["vip", "web"]}],
                constraints=[{"kind": "location", "resource": "g", "node": "ha1", "score": 50}])
    first = run_plan(root, **decl)
    assert first == {"created": ["g", "location-g-ha1"], "updated": [], "removed": []}
    group = root.find("configuration/resources/group")
    assert [p.get("id") for p in group.findall("primitive")] == ["vip", "web"]
    again = ET.fromstring(ET.tostring(root))
    assert run_plan(again, **decl) == {"created": [], "updated": [], "removed": []}


def test_same_meaning_with_other_ids_and_order_is_unchanged():
    # What pcs writes for the same VIP: other nvpair/op ids, other attribute order.
    pcs_xml = EMPTY.replace("<resources/>", """<resources>
      <primitive class="ocf" id="vip" type="IPaddr2" provider="heartbeat">
        <instance_attributes id="vip-instance_attributes">
          <nvpair id="vip-instance_attributes-cidr_netmask" name="cidr_netmask" value="24"/>
          <nvpair id="vip-instance_attributes-ip" name="ip" value="10.0.0.100"/>
        </instance_attributes>
        <operations><op id="vip-monitor-interval-5s" interval="5s" timeout="20s" name="monitor"/></operations>
      </primitive></resources>""")
    assert run_plan(ET.fromstring(pcs_xml), resources=[VIP])["updated"] == []


def test_changed_parameter_updates_in_place():
    root = ET.fromstring(EMPTY)
    run_plan(root, resources=[WEB, VIP])
    moved = dict(VIP, params={"ip": "10.0.0.101", "cidr_netmask": 24})
    assert run_plan(root, resources=[WEB, moved]) == {"created": [], "updated": ["vip"], "removed": []}
    ids = [e.get("id") for e in root.find("configuration/resources")]
    assert ids == ["web", "vip"], "an updated resource keeps its place"
    assert root.find(".//nvpair[@name='ip']").get("value") == "10.0.0.101"


def test_runtime_target_role_is_kept_unless_declared():
    root = ET.fromstring(EMPTY)
    run_plan(root, resources=[WEB])
    prim = root.find("configuration/resources/primitive")
    meta = ET.SubElement(prim, "meta_attributes", {"id": "web-meta"})
    ET.SubElement(meta, "nvpair", {"id": "web-meta-tr", "name": "target-role", "value": "Stopped"})
    # An operator disabled it: a rerun leaves it disabled.
    assert run_plan(root, resources=[WEB])["updated"] == []
    # A declared target-role wins.
    assert run_plan(root, resources=[dict(WEB, meta={"target-role": "Started"})])["updated"] == ["web"]


def test_primitive_moves_into_a_group():
    root = ET.fromstring(EMPTY)
    run_plan(root, resources=[VIP, WEB])
    result = run_plan(root, resources=[VIP, WEB], groups=[{"id": "g", "members": ["vip", "web"]}])
    assert result["created"] == ["g"]
    assert [e.get("id") for e in root.find("configuration/resources")] == ["g"]


def test_undeclared_resources_stay_unless_purged():
    root = ET.fromstring(EMPTY)
    run_plan(root, resources=[VIP, WEB],
             constraints=[{"kind": "colocation", "resource": "web", "with_resource": "vip"}])
    cons = root.find("configuration/constraints")
    ET.SubElement(cons, "rsc_location", {"id": "cli-ban-web-on-ha1", "rsc": "web", "node": "ha1", "score": "-INFINITY"})
    ET.SubElement(cons, "rsc_location", {"id": "cli-ban-vip-on-ha1", "rsc": "vip", "node": "ha1", "score": "-INFINITY"})
    assert run_plan(root, resources=[VIP])["removed"] == []
    result = run_plan(root, resources=[VIP], purge=True)
    assert sorted(result["removed"]) == ["cli-ban-web-on-ha1", "colocation-web-with-vip", "web"]
    assert [c.get("id") for c in cons] == ["cli-ban-vip-on-ha1"], "run-time bans of kept resources stay"


def test_promotable_clone_and_constraints_with_roles():
    root = ET.fromstring(EMPTY)
    drbd = {"id": "drbd", "agent": "ocf:linbit:drbd", "params": {"drbd_resource": "data"},
            "ops": [{"name": "monitor", "interval": "29s", "role": "Promoted"},
                    {"name": "monitor", "interval": "31s", "role": "Unpromoted"}]}
    fs = {"id": "fs", "agent": "ocf:heartbeat:Filesystem"}
    clone = {"id": "drbd-clone", "resource": "drbd", "promotable": True, "meta": {"notify": True}}
    cons = [{"kind": "colocation", "resource": "fs", "with_resource": "drbd-clone", "with_role": "Promoted"},
            {"kind": "order", "first": "drbd-clone", "first_action": "promote", "then": "fs"}]
    run_plan(root, resources=[drbd, fs], clones=[clone], constraints=cons)
    elem = root.find("configuration/resources/clone")
    meta = {nv.get("name"): nv.get("value") for nv in elem.findall("meta_attributes/nvpair")}
    assert meta == {"notify": "true", "promotable": "true"}
    assert len(elem.findall("primitive/operations/op")) == 2
    order = root.find("configuration/constraints/rsc_order")
    assert order.attrib == {"id": "order-drbd-clone-then-fs", "first": "drbd-clone", "then": "fs",
                            "first-action": "promote", "then-action": "start", "kind": "Mandatory"}
    # Master is the old name of Promoted: same meaning.
    order_again = ET.fromstring(ET.tostring(root))
    colo = order_again.find("configuration/constraints/rsc_colocation")
    colo.set("with-rsc-role", "Master")
    assert run_plan(order_again, resources=[drbd, fs], clones=[clone], constraints=cons)["updated"] == []


def test_new_score_updates_the_same_constraint():
    root = ET.fromstring(EMPTY)
    run_plan(root, resources=[WEB], constraints=[{"kind": "location", "resource": "web", "node": "ha1", "score": 10}])
    moved = [{"kind": "location", "resource": "web", "node": "ha1", "score": 20}]
    result = run_plan(root, resources=[WEB], constraints=moved)
    assert result["updated"] == ["location-web-ha1"]
    assert len(root.find("configuration/constraints")) == 1


def test_taking_the_last_member_out_of_an_undeclared_group_is_refused():
    root = ET.fromstring(EMPTY.replace("<resources/>", '<resources><group id="old"><primitive id="web" '
                                       'class="systemd" type="nginx"/></group></resources>'))
    with pytest.raises(cib.CibError, match="old"):
        run_plan(root, resources=[dict(WEB, meta={"x": 1})])


def test_config_errors_name_the_variable():
    names = {"resources": "pacemaker_resources", "groups": "pacemaker_groups",
             "clones": "pacemaker_clones", "constraints": "pacemaker_constraints"}
    errors = cib.config_errors(
        [VIP, dict(WEB, id="vip"), {"id": "x", "agent": "nope"}],
        [{"id": "g", "members": ["ghost"]}],
        [{"id": "c", "resource": "missing"}],
        [{"kind": "location", "resource": "nothing", "node": "ha9", "score": "lots"},
         {"kind": "order", "first": "vip"}],
        nodes=["ha1", "ha2"], var_names=names)
    text = "\n".join(errors)
    assert "pacemaker_resources: id vip is declared twice" in text
    assert "pacemaker_resources: x: agent 'nope'" in text
    assert "pacemaker_groups: g: member ghost is not declared" in text
    assert "pacemaker_clones: c: resource missing is not declared" in text
    assert "location-nothing-ha9 refers to nothing" in text
    assert "node ha9 is not a cluster node" in text
    assert "score 'lots'" in text
    assert "order constraint needs first and then" in text


def test_sound_declaration_has_no_errors():
    assert cib.config_errors([VIP, WEB], [{"id": "g", "members": ["vip", "web"]}], [],
                             [{"kind": "location", "resource": "g", "node": "ha1", "score": "INFINITY"}],
                             nodes=["ha1", "ha2"]) == []


def test_member_in_group_cannot_be_cloned_alone():
    errors = cib.config_errors([VIP, WEB], [{"id": "g", "members": ["vip", "web"]}],
                               [{"id": "c", "resource": "web"}], [])
    assert errors == ["clones: c: web is a member of group g; clone the group instead"]


def test_diff_view_shows_only_the_touched_elements_before_and_after():
    root = ET.fromstring(EMPTY)
    run_plan(root, resources=[VIP, WEB])
    before = ET.fromstring(ET.tostring(root))
    result = run_plan(root, resources=[dict(VIP, ops=[{"name": "monitor", "interval": "7s"}]), WEB])
    touched = set(result["updated"])
    old, new = cib.managed_view(before, touched, touched), cib.managed_view(root, touched, touched)
    assert 'interval="5s"' in old and 'interval="7s"' in new
    assert "lab-web" not in old + new and 'type="nginx"' not in old + new, "untouched resources stay out"
    assert new.splitlines()[0].startswith('<primitive id="vip"')


def test_operation_xml_does_not_depend_on_key_order():
    # Inventories written with sorted keys give {interval, name, timeout}.
    elem = cib.build_primitive(dict(VIP, ops=[{"timeout": "20s", "interval": "5s", "name": "monitor"}]))
    assert list(elem.find("operations/op").attrib) == ["name", "interval", "timeout", "id"]


def test_constraints_may_refer_to_resources_already_in_the_cib():
    xml = ET.fromstring(
        "<cib><configuration><resources>"
        "<primitive id='fs-data' class='ocf' provider='heartbeat' type='Filesystem'/>"
        "</resources><constraints/></configuration></cib>"
    )
    resources = [{"id": "db", "agent": "systemd:mariadb"}]
    constraints = [{"kind": "colocation", "resource": "db", "with_resource": "fs-data"}]
    assert cib.config_errors(resources, [], [], constraints) != []
    assert cib.config_errors(resources, [], [], constraints, existing_ids=cib.resource_ids(xml)) == []
    missing = cib.config_errors(resources, [], [], [{"kind": "order", "first": "fs-logs", "then": "db"}],
                                existing_ids=cib.resource_ids(xml))
    assert missing and "nor in the cluster's configuration" in missing[0]
