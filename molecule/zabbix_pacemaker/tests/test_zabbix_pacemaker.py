"""The Zabbix server pair in pacemaker mode: one server at a time, in a Pacemaker group
with its VIP, colocated with the active-passive database on the (shared) disk. Checked
through the real API, the cluster's own tools, and the collection's Pacemaker template
on the monitored nodes; the failover test kills the active node hard."""

import functools
import ipaddress
import os
import sys
import time

import pytest
from pyzabbix import ZabbixAPI, ZabbixAPIException

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))
import labtest  # noqa: E402

NODES = ["zpa1", "zpa2"]
AGENTS = ["zpa1", "zpa2", "zpq1"]
SECRETS = "/etc/zabbix/stormclouds-secrets"
BAD_INPUT = labtest.PROJECT / "molecule" / "zabbix" / "bad_input.yml"


def server_vip():
    """The second address of the VIP range (molecule.yml; the database has the first)."""
    return str(ipaddress.ip_address(labtest.first_vip()) + 1)


@functools.lru_cache(maxsize=None)
def admin_password():
    for host in NODES:
        res = labtest.ssh(host, f"cat {SECRETS}/admin.password")
        if res.returncode == 0:
            return res.stdout.strip()
    raise AssertionError(res.stderr)


def api():
    """The frontend through the server's VIP: what a user's browser reaches."""
    client = ZabbixAPI(f"http://{server_vip()}/zabbix", timeout=10)
    client.login(user="Admin", password=admin_password())
    return client


def locate(resource, via="zpa1"):
    """The nodes a resource runs on, as the cluster says."""
    res = labtest.ssh(via, f"crm_resource --resource {resource} --locate --quiet")
    return sorted(res.stdout.split()) if res.returncode == 0 else []


def item_values(client, host, keys):
    hostid = client.host.get(filter={"host": [host]}, output=["hostid"])[0]["hostid"]
    items = client.item.get(hostids=hostid, filter={"key_": keys}, output=["itemid", "key_", "lastclock", "lastvalue"])
    return {i["key_"]: i for i in items}


def test_the_server_runs_on_one_node_with_its_database_and_vip():
    server, database, disk = locate("zabbix-server"), locate("mariadb-group"), locate("fs-data")
    assert len(server) == 1 and server == database == disk, (server, database, disk)
    active = server[0]
    standby = next(n for n in NODES if n != active)
    assert f" {server_vip()}/" in labtest.ssh(active, "ip -o -4 addr show").stdout
    assert labtest.ssh(standby, "systemctl is-active zabbix-server").stdout.strip() == "inactive"
    # Only Pacemaker starts it: a unit enabled at boot would start a second server.
    for host in NODES:
        assert labtest.ssh(host, "systemctl is-enabled zabbix-server").stdout.strip() == "disabled", host
    conf = labtest.ssh(active, "grep -E '^(SourceIP|NodeAddress|HANodeName)=' /etc/zabbix/zabbix_server.conf").stdout.split()
    assert conf == [f"SourceIP={server_vip()}", f"NodeAddress={server_vip()}:10051"], conf


def test_the_frontend_answers_on_the_vip_and_the_default_password_is_gone():
    assert api().api_version().startswith("6.0.")
    client = ZabbixAPI(f"http://{server_vip()}/zabbix", timeout=10)
    with pytest.raises(ZabbixAPIException, match="Incorrect user name or password"):
        client.login(user="Admin", password="zabbix")


def test_agents_report_to_the_vip_and_deliver_fresh_values():
    for host in AGENTS:
        conf = labtest.ssh(host, "grep -E '^Server(Active)?=' /etc/zabbix/zabbix_agent2.conf").stdout.split()
        assert conf == [f"Server={server_vip()}", f"ServerActive={server_vip()}"], (host, conf)

    def fresh():
        client, now = api(), time.time()
        ages = {h: now - int(item_values(client, h, ["agent.ping"])["agent.ping"]["lastclock"]) for h in AGENTS}
        return all(age < 180 for age in ages.values()), ages
    print(f"agent.ping age (s) per host: {labtest.wait_for(fresh, 420, 'agent.ping from every agent', interval=10)}")


PACEMAKER_KEYS = ["stormclouds.pacemaker.quorum", "stormclouds.pacemaker.nodes_offline", "stormclouds.pacemaker.failures"]


def pacemaker_values(client, host, newer_than=0):
    """The Pacemaker template's values on a node, once all are newer than a time."""
    def collected():
        items = item_values(client, host, PACEMAKER_KEYS + ["stormclouds.pacemaker.status"])
        values = {k: items[k]["lastvalue"] for k in PACEMAKER_KEYS if int(items[k]["lastclock"]) > newer_than}
        if len(values) < len(PACEMAKER_KEYS):
            client.task.create(type="6", request={"itemid": items["stormclouds.pacemaker.status"]["itemid"]})
        return len(values) == len(PACEMAKER_KEYS), values
    return labtest.wait_for(collected, 240, f"the Pacemaker template's values on {host}", interval=10)


def test_the_pacemaker_template_reads_the_cluster_on_its_nodes():
    client = api()
    linked = {h["host"]: sorted(t["host"] for t in h["parentTemplates"])
              for h in client.host.get(filter={"host": AGENTS}, output=["host"], selectParentTemplates=["host"])}
    for host in NODES:
        assert "SCP Pacemaker by Zabbix agent" in linked[host], linked
    for host in NODES:
        values = pacemaker_values(client, host)
        assert values == {"stormclouds.pacemaker.quorum": "1", "stormclouds.pacemaker.nodes_offline": "0",
                          "stormclouds.pacemaker.failures": "0"}, (host, values)


def test_killing_the_active_node_moves_database_and_server_and_nothing_is_lost():
    active = locate("zabbix-server")[0]
    survivor = next(n for n in NODES if n != active)
    # Written before the fault through the API (a commit in the database on the disk
    # that moves): it must be there after the failover.
    marker = f"failover-marker-{int(time.time())}"
    api().hostgroup.create(name=marker)
    killed_at = time.time()
    labtest.kill(active)
    began = time.monotonic()

    def moved():
        where = locate("zabbix-server", via=survivor)
        return where == [survivor], where
    labtest.wait_for(moved, 240, f"the server started on {survivor}", interval=0.5)
    started = time.monotonic() - began

    def answering():
        try:
            return True, api().hostgroup.get(filter={"name": [marker]}, output=["name"])
        except Exception as exc:  # pylint: disable=broad-except  # the VIP, PHP or the database still moving
            return False, repr(exc)
    groups = labtest.wait_for(answering, 180, "the API on the VIP after the failover", interval=0.5)
    api_back = time.monotonic() - began
    assert [g["name"] for g in groups] == [marker], groups

    def new_values():
        client = api()
        clocks = {h: int(item_values(client, h, ["agent.ping"])["agent.ping"]["lastclock"]) for h in AGENTS if h != active}
        return all(c > killed_at for c in clocks.values()), clocks
    labtest.wait_for(new_values, 300, "agent.ping values after the kill", interval=5)
    data_back = time.monotonic() - began
    print(f"pacemaker failover: server started on {survivor} {started:.1f} s after {active} was killed, API on the VIP "
          f"{api_back:.1f} s, fresh agent values {data_back:.1f} s")

    # The survivor's agent reports the lost node through the Pacemaker template.
    client = api()
    values = pacemaker_values(client, survivor, newer_than=killed_at)
    assert values["stormclouds.pacemaker.nodes_offline"] == "1" and values["stormclouds.pacemaker.quorum"] == "1", values

    def problem():
        found = client.trigger.get(host=survivor, filter={"value": "1"}, output=["description"], expandDescription=True)
        names = [t["description"] for t in found if "node(s) offline" in t["description"]]
        return bool(names), names
    print(f"problem on {survivor}: {labtest.wait_for(problem, 120, 'the node offline problem', interval=5)}")

    labtest.boot_again()

    def rejoined():
        out = labtest.ssh(survivor, "crm_mon --one-shot --output-as=xml").stdout
        online = out.count('online="true"')
        return online >= 2 and locate("zabbix-server", via=survivor) == [survivor], online
    labtest.wait_for(rejoined, 240, f"{active} back in the cluster, the server staying on {survivor}", interval=3)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"zabbix_server_vip": "10.255.255.10"}, "zabbix_server_vip (10.255.255.10) must be a free IPv4 address"),
        ({"zabbix_server_pacemaker_database_group": "no-such-group"},
         "zabbix_server_pacemaker_database_group no-such-group: the cluster does not know it"),
    ],
    ids=["vip-outside-the-subnet", "database-group-missing"],
)
def test_wrong_pacemaker_input_is_refused_before_any_change(extra, message):
    run = labtest.playbook(BAD_INPUT, extra, timeout=600)
    labtest.assert_refused_before_any_change(run, message)
