"""zabbix_template's import rules and its reading of an export; the comparison and import
themselves (configuration.importcompare/import) run against the real Zabbix of the
zabbix scenario, which imports the collection's service templates."""

from pathlib import Path

import pytest

from ansible_collections.stormclouds.platform.plugins.modules import zabbix_template as zt

SERVICES = Path(__file__).resolve().parents[3] / "roles" / "zabbix_agent" / "files" / "scp-services.yaml"


def test_rules_create_and_update_everything_and_delete_only_when_asked():
    rules = zt.import_rules(True)
    assert rules["templates"] == {"createMissing": True, "updateExisting": True}
    assert rules["groups"] == {"createMissing": True}
    assert rules["triggers"] == {"createMissing": True, "updateExisting": True, "deleteMissing": True}
    # Linkage has no update in Zabbix's rules: links are made or removed.
    assert rules["templateLinkage"] == {"createMissing": True, "deleteMissing": True}
    assert not any(rule.get("deleteMissing") for rule in zt.import_rules(False).values())


def test_the_collections_service_templates_are_a_valid_export():
    names = zt.template_names(SERVICES.read_text(encoding="utf-8"), "yaml")
    assert names == ["SCP Backup by Zabbix agent", "SCP Galera by Zabbix agent", "SCP HAProxy by Zabbix agent",
                     "SCP Pacemaker by Zabbix agent"]


def test_the_service_templates_list_their_macros_in_zabbixs_order():
    # configuration.importcompare compares lists in order: unsorted macros would be a
    # change on every run.
    import yaml  # pylint: disable=import-outside-toplevel

    for template in yaml.safe_load(SERVICES.read_text(encoding="utf-8"))["zabbix_export"]["templates"]:
        names = [m["macro"] for m in template.get("macros", [])]
        assert names == sorted(names), template["template"]


def test_triggers_on_one_item_sit_under_that_item_as_zabbix_exports_them():
    # Elsewhere (on the template or discovery rule) importcompare sees them moved on
    # every run; there go only triggers that compare several items.
    import re  # pylint: disable=import-outside-toplevel
    import yaml  # pylint: disable=import-outside-toplevel

    for template in yaml.safe_load(SERVICES.read_text(encoding="utf-8"))["zabbix_export"]["templates"]:
        outer = list(template.get("triggers", []))
        for rule in template.get("discovery_rules", []):
            outer += rule.get("trigger_prototypes", [])
        for trigger in outer:
            keys = set(re.findall(r"/[^/]+/([^)]+?)[,)]", trigger["expression"]))
            assert len(keys) > 1, (template["template"], trigger["expression"])


def test_json_exports_are_read_and_other_text_refused():
    assert zt.template_names('{"zabbix_export": {"version": "6.0", "templates": [{"template": "A"}]}}', "json") == ["A"]
    assert zt.template_names("<zabbix_export/>", "xml") is None
    with pytest.raises(ValueError, match="not a Zabbix export"):
        zt.template_names("- just\n- a list\n", "yaml")


def test_an_empty_comparison_means_no_change():
    assert not zt.has_changes([])
    assert not zt.has_changes({})
    assert zt.has_changes({"templates": {"updated": [{"before": {}, "after": {}}]}})
