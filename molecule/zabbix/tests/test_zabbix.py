"""The Zabbix scenario: two server nodes in Zabbix's native HA on one database, the
frontend on both, a proxy, agents everywhere. Checked through the real API (pyzabbix)
and the real agent protocol; the failover test kills the active node hard."""

import functools
import os
import socket
import struct
import sys
import time

import pytest
from pyzabbix import ZabbixAPI, ZabbixAPIException

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))
import labtest  # noqa: E402

SERVERS = ["zbx1", "zbx2"]
AGENTS = ["zbx1", "zbx2", "zdb1"]
SECRETS = "/etc/zabbix/stormclouds-secrets"
STATUS = {"0": "standby", "1": "stopped", "2": "unavailable", "3": "active"}


@functools.lru_cache(maxsize=None)
def admin_password():
    """Read once: the polling loops log in many times, the password never changes."""
    res = labtest.ssh("zbx1", f"cat {SECRETS}/admin.password")
    if res.returncode != 0:
        res = labtest.ssh("zbx2", f"cat {SECRETS}/admin.password")
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def api(via):
    client = ZabbixAPI(f"http://{labtest.hostvar(via, 'ansible_host')}/zabbix", timeout=10)
    client.login(user="Admin", password=admin_password())
    return client


def ha_nodes(via):
    return {n["name"]: STATUS[n["status"]] for n in api(via).hanode.get(output=["name", "status"])}


def agent_ping(via, host):
    """(lastclock, lastvalue) of the host's agent.ping item."""
    client = api(via)
    hosts = client.host.get(filter={"host": [host]}, output=["hostid"])
    assert hosts, f"{host} is not registered"
    items = client.item.get(hostids=hosts[0]["hostid"], filter={"key_": "agent.ping"},
                            output=["lastclock", "lastvalue"])
    assert items, f"{host} has no agent.ping item"
    return int(items[0]["lastclock"]), items[0]["lastvalue"]


def test_both_ha_nodes_are_known_and_exactly_one_is_active():
    nodes = ha_nodes("zbx1")
    assert set(nodes) >= set(SERVERS), nodes
    assert sorted(nodes[n] for n in SERVERS) == ["active", "standby"], nodes
    # Both frontends see the same cluster (they read it from the shared database).
    assert ha_nodes("zbx2") == nodes


def test_the_default_admin_password_is_gone():
    client = ZabbixAPI(f"http://{labtest.hostvar('zbx1', 'ansible_host')}/zabbix", timeout=10)
    with pytest.raises(ZabbixAPIException, match="Incorrect user name or password"):
        client.login(user="Admin", password="zabbix")


def test_agents_and_the_proxy_deliver_fresh_values():
    def fresh():
        now = time.time()
        ages = {}
        for host in AGENTS:
            clock, value = agent_ping("zbx1", host)
            ages[host] = (now - clock, value)
        return all(age < 180 and value == "1" for age, value in ages.values()), ages
    ages = labtest.wait_for(fresh, 420, "agent.ping values from every agent", interval=10)
    print(f"agent.ping age (s) and value per host: {ages}")
    client = api("zbx1")
    proxy = client.proxy.get(filter={"host": ["zdb1"]}, output=["host", "lastaccess", "tls_accept"])
    assert proxy and time.time() - int(proxy[0]["lastaccess"]) < 120, proxy
    assert proxy[0]["tls_accept"] == "2", "the server must accept the proxy over PSK only"
    hosts = client.host.get(filter={"host": AGENTS}, output=["host", "proxy_hostid", "tls_connect", "tls_accept"])
    by_name = {h["host"]: h for h in hosts}
    assert by_name["zdb1"]["proxy_hostid"] != "0" and by_name["zbx1"]["proxy_hostid"] == "0"
    assert all(h["tls_connect"] == "2" and h["tls_accept"] == "2" for h in hosts), hosts


def zabbix_get(address, key, port=10050):
    """An unencrypted passive check in Zabbix's protocol; the answer or b'' when refused."""
    payload = key.encode()
    with socket.create_connection((address, port), timeout=5) as conn:
        conn.sendall(b"ZBXD\x01" + struct.pack("<II", len(payload), 0) + payload)
        data = b""
        try:
            while chunk := conn.recv(4096):
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    return data[13:]


def test_agents_refuse_unencrypted_checks():
    for host in AGENTS:
        assert zabbix_get(labtest.hostvar(host, "ansible_host"), "agent.ping") == b"", host


def test_secrets_are_readable_by_their_service_only():
    for host in SERVERS:
        out = labtest.ssh(host, f"stat -c '%U:%G %a' /etc/zabbix/zabbix_server.conf {SECRETS} {SECRETS}/admin.password "
                                "/etc/zabbix/zabbix.conf.php /etc/zabbix/zabbix_agent2.psk").stdout.split("\n")
        assert out[:5] == ["root:zabbix 640", "root:root 700", "root:root 600", "root:www-data 640",
                           "root:zabbix 640"], (host, out)
        password = labtest.ssh(host, f"cat {SECRETS}/database.password").stdout.strip()
        assert len(password) >= 24
        listing = labtest.ssh(host, "ps -eo args; systemctl show zabbix-server -p Environment").stdout
        assert password not in listing


def check_now(client, itemids):
    """Zabbix's "Execute now" for items or discovery rules."""
    for itemid in itemids:
        client.task.create(type="6", request={"itemid": itemid})


def test_the_service_templates_are_imported_and_linked_where_the_services_run():
    client = api("zbx1")
    templates = {t["host"]: t for t in client.template.get(
        filter={"host": ["SCP Backup by Zabbix agent", "SCP Galera by Zabbix agent", "SCP HAProxy by Zabbix agent",
                         "SCP Pacemaker by Zabbix agent"]},
        output=["host"], selectTriggers="count", selectItems="count", selectDiscoveries="count")}
    assert len(templates) == 4, templates
    assert int(templates["SCP HAProxy by Zabbix agent"]["discoveries"]) == 1
    assert int(templates["SCP Galera by Zabbix agent"]["triggers"]) == 5
    assert int(templates["SCP Pacemaker by Zabbix agent"]["triggers"]) == 4
    assert int(templates["SCP Backup by Zabbix agent"]["discoveries"]) == 1
    linked = {h["host"]: sorted(t["host"] for t in h["parentTemplates"])
              for h in client.host.get(filter={"host": AGENTS}, output=["host"], selectParentTemplates=["host"])}
    # Only zbx1 has backup jobs; no node here runs Galera or Pacemaker.
    assert linked["zbx1"] == ["Linux by Zabbix agent", "SCP Backup by Zabbix agent"], linked
    assert linked["zbx2"] == ["Linux by Zabbix agent"] and linked["zdb1"] == ["Linux by Zabbix agent"], linked


def test_a_stale_and_failed_backup_job_raises_problems():
    client = api("zbx1")
    hostid = client.host.get(filter={"host": ["zbx1"]}, output=["hostid"])[0]["hostid"]
    rule = client.discoveryrule.get(hostids=hostid, filter={"key_": "stormclouds.backup.discovery"}, output=["itemid"])
    check_now(client, [rule[0]["itemid"]])
    keys = ["stormclouds.backup.age[nightly]", "stormclouds.backup.failed[nightly]"]

    def discovered():
        items = client.item.get(hostids=hostid, filter={"key_": keys},
                                output=["itemid", "key_", "lastvalue", "lastclock", "state", "error"])
        if len(items) == 2 and not all(i["lastclock"] != "0" for i in items):
            check_now(client, [i["itemid"] for i in items])
        return len(items) == 2 and all(i["lastclock"] != "0" for i in items), items
    items = {i["key_"]: i for i in labtest.wait_for(discovered, 240, "the discovered job's values", interval=10)}
    # The age the agent reported, against the job's last good run on zbx1 and the
    # time the value was collected.
    last_success = int(labtest.ssh("zbx1", "cat /var/lib/stormclouds-backup/status/nightly.last_success").stdout)
    item = items["stormclouds.backup.age[nightly]"]
    assert abs(int(item["lastvalue"]) - (int(item["lastclock"]) - last_success)) <= 5, items
    assert items["stormclouds.backup.failed[nightly]"]["lastvalue"] == "1", items

    def problems():
        found = client.trigger.get(hostids=hostid, filter={"value": "1"}, output=["description"],
                                   expandDescription=True)
        names = sorted(t["description"] for t in found if "Backup nightly" in t["description"])
        return len(names) == 2, names
    names = labtest.wait_for(problems, 120, "the backup problems", interval=5)
    print(f"backup problems on zbx1: {names}")
    assert any("no good run for more than 26h" in n for n in names), names


def unit_state(host):
    res = labtest.ssh(host, "systemctl show --property=ActiveState,MainPID,NRestarts zabbix-server")
    assert res.returncode == 0, res.stderr
    return dict(line.split("=", 1) for line in res.stdout.split())


def test_a_server_that_stops_by_itself_is_started_again():
    """Zabbix's HA manager stops the server with exit status 0 on a database error (seen
    when Galera moved its writer under a standby's heartbeat). A clean SIGTERM exit is
    the same exit as far as systemd can tell; the package's Restart=on-abnormal would
    leave the node stopped."""
    nodes = ha_nodes("zbx1")
    standby = next(n for n in SERVERS if nodes[n] == "standby")
    before = unit_state(standby)
    res = labtest.ssh(standby, "systemctl kill --signal=SIGTERM zabbix-server")
    assert res.returncode == 0, res.stderr

    def started_again():
        now = unit_state(standby)
        return (now["ActiveState"] == "active" and now["MainPID"] not in ("0", before["MainPID"])
                and int(now["NRestarts"]) > int(before["NRestarts"])), now
    labtest.wait_for(started_again, 60, f"zabbix-server on {standby} started again by systemd", interval=1)
    log = labtest.ssh(standby, "journalctl -u zabbix-server --no-pager -n 20").stdout
    assert "Scheduled restart job" in log, log

    def standby_again():
        now = ha_nodes("zbx1")
        return now.get(standby) == "standby" and sorted(now[n] for n in SERVERS) == ["active", "standby"], now
    labtest.wait_for(standby_again, 120, f"{standby} standby again", interval=2)


def test_killing_the_active_node_hands_over_to_the_standby_and_data_keeps_arriving():
    nodes = ha_nodes("zbx1")
    active = next(n for n in SERVERS if nodes[n] == "active")
    standby = next(n for n in SERVERS if n != active)
    killed_at = time.time()
    labtest.kill(active)
    began = time.monotonic()

    def taken_over():
        try:
            now = ha_nodes(standby)
        except Exception as exc:  # pylint: disable=broad-except  # the frontend may wait on the database
            return False, repr(exc)
        return now.get(standby) == "active", now
    labtest.wait_for(taken_over, 180, f"{standby} active after {active} was killed", interval=0.5)
    takeover = time.monotonic() - began

    # Values collected after the kill: the new active node polls the agents, the
    # proxy sends to it.
    def new_values():
        clocks = {host: agent_ping(standby, host)[0] for host in AGENTS if host != active}
        return all(clock > killed_at for clock in clocks.values()), clocks
    labtest.wait_for(new_values, 240, "agent.ping values after the kill", interval=5)
    data_back = time.monotonic() - began
    print(f"failover: {standby} active {takeover:.1f} s after {active} was killed (failover delay 10 s); "
          f"fresh values from the agents and the proxy {data_back:.1f} s after the kill")
    # The role's delay, not Zabbix's default minute, decided the takeover.
    delay = labtest.ssh(standby, "mariadb --defaults-extra-file=/etc/zabbix/stormclouds-secrets/client.cnf -N -B "
                                 "-e 'SELECT ha_failover_delay FROM config'").stdout.strip()
    assert delay == "10s" and takeover < 40, (delay, takeover)

    labtest.boot_again()

    def rejoined():
        now = ha_nodes(standby)
        return now.get(active) == "standby" and now.get(standby) == "active", now
    labtest.wait_for(rejoined, 240, f"{active} back as standby", interval=3)
