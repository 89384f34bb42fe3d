"""playbooks/site.yml against its inventories: every group the lab layout and the lab
inventory name has a play, every play's group exists; every variable a role requires
is set by the lab's group_vars (which need no editing) and by the example production
inventory, where each value an operator must choose is marked `# SET`."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "playbooks" / "site.yml"
# Roles site.yml runs in production: the lab's Swift stand-in is not one of them.
LAB_ONLY_ROLES = {"swift_aio"}
# Plays for the alternative database layer, whose groups the lab leaves empty.
ALTERNATIVE_GROUPS = {"ha_database_nodes", "ha_database_quorum"}
# Roles that only the alternative's plays run: the example shows their variables
# commented out, the lab does not use them.
ALTERNATIVE_ROLES = {"ha_database"}


def _plays():
    return [play for play in yaml.safe_load(SITE.read_text()) if "hosts" in play]


def _play_groups():
    return {group for play in _plays() for group in re.split(r"[:,]", play["hosts"]) if group and group != "all"}


def _site_roles():
    return {role["role"].split(".")[-1] for play in _plays() for role in play.get("roles", [])}


def _required(role):
    spec = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"].get("options", {})
    return {name for name, option in options.items() if option.get("required")}


def _group_vars_lines(inventory):
    lines = {}
    for path in sorted((ROOT / "inventory" / inventory / "group_vars").rglob("*.yml")):
        for line in path.read_text().splitlines():
            match = re.match(r"^(?:# )?([a-z][a-z0-9_]*):", line)
            if match:
                lines[match.group(1)] = line
    return lines


def test_every_group_of_the_lab_has_a_play_and_every_play_a_group():
    layout = yaml.safe_load((ROOT / "tools" / "lab" / "layouts" / "site.yml").read_text())
    layout_groups = {group for node in layout["nodes"] for group in node["groups"]}
    inventory_groups = set(yaml.safe_load((ROOT / "inventory" / "lab" / "groups.yml").read_text())["all"]["children"])
    assert layout_groups == inventory_groups
    assert layout_groups - _play_groups() == set(), "groups of the lab that no play of site.yml deploys"
    assert _play_groups() - layout_groups - ALTERNATIVE_GROUPS == set(), "plays for groups the lab does not have"


def test_every_play_has_a_layer_tag():
    for play in _plays():
        assert play.get("tags"), f"play {play['name']!r} has no tag: --tags could not select its layer"


def test_the_report_ends_every_layer_but_not_provision():
    site = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())
    report = next(entry for entry in site if entry.get("ansible.builtin.import_playbook") == "report.yml")
    layer_tags = {tag for play in _plays() for tag in play["tags"]}
    assert layer_tags <= set(report["tags"]), "a one-layer run would end without the report"
    # provision.yml's `--tags provision` must not reach site.yml's servers.
    assert "always" not in report["tags"] and "provision" not in report["tags"]


def test_the_lab_sets_every_required_variable():
    defined = _group_vars_lines("lab")
    defined = {name for name, line in defined.items() if not line.startswith("#")}
    missing = {role: sorted(_required(role) - defined) for role in _site_roles() - ALTERNATIVE_ROLES}
    assert {role: names for role, names in missing.items() if names} == {}


def test_the_example_sets_and_marks_every_required_variable():
    lines = _group_vars_lines("example")
    for role in sorted(_site_roles() - LAB_ONLY_ROLES):
        for name in sorted(_required(role)):
            assert name in lines, f"inventory/example does not set {name} (required by {role})"
            assert role in ALTERNATIVE_ROLES or not lines[name].startswith("#"), f"{name} is only a comment: {lines[name]}"
            assert "# SET" in lines[name], f"inventory/example sets {name} without marking it '# SET': {lines[name]}"


def test_the_example_keeps_secrets_in_the_vault():
    for name, line in _group_vars_lines("example").items():
        if re.search(r"password|passphrase|secret", name) and not name.endswith("_file"):
            assert "{{ vault_" in line, f"{name} must come from the vault: {line}"


def test_the_site_scenario_runs_the_lab_layout():
    layout = yaml.safe_load((ROOT / "tools" / "lab" / "layouts" / "site.yml").read_text())
    scenario = yaml.safe_load((ROOT / "molecule" / "site" / "molecule.yml").read_text())
    as_layout = [{"name": p["name"], "groups": p["groups"], "networks": [n["name"] for n in p["networks"]]}
                 for p in scenario["platforms"]]
    assert as_layout == [{"name": n["name"], "groups": n["groups"], "networks": n["networks"]} for n in layout["nodes"]]
    assert scenario["provisioner"]["playbooks"]["converge"] == "../../playbooks/site.yml"
