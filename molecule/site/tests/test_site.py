"""The whole platform after playbooks/site.yml, as its users see it: the database
through the HAProxy VIP, replicated; Zabbix's HA pair with every node's agent
reporting; the frontend reachable from outside only through the DMZ host's tunnel; a
backup landing in Swift; the site announced in the federation; the report naming every
layer; then the operations playbooks: the failover drill (each HA service fails over
and comes back) and a rolling upgrade, after which everything still works.

The tests run in file order; each leaves the platform whole for the next."""

import functools
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pymysql
from pyzabbix import ZabbixAPI

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))
sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "plugins", "module_utils"))
import etcd_gateway as eg  # noqa: E402
import labtest  # noqa: E402

NODES = ("db1", "db2", "quorum1", "lb1", "lb2", "zbx1", "zbx2", "ctl1", "dmz1")
LAB_INVENTORY = ("-i", str(labtest.PROJECT / "inventory" / "lab"))
PLAYBOOKS = labtest.PROJECT / "playbooks"
STATUS = {"0": "standby", "1": "stopped", "2": "unavailable", "3": "active"}


def operate(playbook, extra=None, timeout=1800):
    """An operations playbook as the operator runs it on the lab (its inventory too)."""
    return labtest.playbook(PLAYBOOKS / playbook, extra or {}, timeout=timeout, args=LAB_INVENTORY)


def lab_secret(name):
    return (Path("/var/lib/stormclouds-lab/secrets") / labtest.hostvar("db1", "lab_name") / name).read_text().strip()


def galera(name):
    res = labtest.ssh(name, "mariadb --batch --skip-column-names -e \"SHOW GLOBAL STATUS LIKE 'wsrep%'\"", timeout=15)
    return dict(line.split("\t", 1) for line in res.stdout.splitlines() if "\t" in line) if res.returncode == 0 else {}


def galera_whole():
    seen = {name: galera(name) for name in ("db1", "db2")}
    ok = all(s.get("wsrep_local_state_comment") == "Synced" and s.get("wsrep_cluster_size") == "3" for s in seen.values())
    return ok, {n: (s.get("wsrep_local_state_comment"), s.get("wsrep_cluster_size")) for n, s in seen.items()}


@functools.lru_cache(maxsize=1)
def smoke_password():
    secret = labtest.ssh("db1", "cat /etc/mysql/stormclouds-secrets/smoke.password").stdout.strip()
    assert secret, "no generated password for the smoke account on db1"
    return secret


def through_the_vip():
    return pymysql.connect(host=labtest.first_vip(), port=3306, user="smoke", password=smoke_password(),
                           database="smoke", connect_timeout=3, read_timeout=10, write_timeout=10, autocommit=True)


@functools.lru_cache(maxsize=1)
def zabbix_admin_password():
    for server in ("zbx1", "zbx2"):
        res = labtest.ssh(server, "cat /etc/zabbix/stormclouds-secrets/admin.password")
        if res.returncode == 0:
            return res.stdout.strip()
    raise AssertionError("no Zabbix Admin password on the server nodes")


def zabbix(via="zbx1"):
    client = ZabbixAPI(f"http://{labtest.hostvar(via, 'ansible_host')}/zabbix", timeout=10)
    client.login(user="Admin", password=zabbix_admin_password())
    return client


def ha_nodes():
    return {n["name"]: STATUS[n["status"]] for n in zabbix().hanode.get(output=["name", "status"])}


def test_a_write_through_the_database_vip_is_on_both_data_nodes():
    marker = f"site-{time.time_ns()}"
    with through_the_vip() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS marks (id INT AUTO_INCREMENT PRIMARY KEY, mark VARCHAR(64))")
        cur.execute("INSERT INTO marks (mark) VALUES (%s)", (marker,))
    for name in ("db1", "db2"):
        res = labtest.ssh(name, f"mariadb -N -e \"SELECT COUNT(*) FROM smoke.marks WHERE mark = '{marker}'\"")
        assert res.stdout.strip() == "1", (name, res.stdout, res.stderr)
    assert galera_whole()[0], galera_whole()[1]


def test_zabbix_runs_one_active_server_and_every_node_reports():
    nodes = ha_nodes()
    assert sorted(nodes.get(n) for n in ("zbx1", "zbx2")) == ["active", "standby"], nodes

    def every_agent_fresh():
        client = zabbix()
        hosts = {h["host"]: h["hostid"] for h in client.host.get(output=["host"], filter={"host": list(NODES)})}
        items = client.item.get(hostids=list(hosts.values()), filter={"key_": "agent.ping"},
                                output=["hostid", "lastclock"], selectHosts=["host"])
        fresh = {i["hosts"][0]["host"] for i in items if int(i["lastclock"]) > time.time() - 300}
        return fresh == set(NODES), sorted(set(NODES) - fresh)

    labtest.wait_for(every_agent_fresh, 300, "agent.ping from every node", interval=10)


def test_the_frontend_is_reachable_from_outside_through_the_dmz_tunnel():
    res = labtest.ssh("dmz1", "frt-admin list --json")
    assert res.returncode == 0, res.stderr
    tunnels = json.loads(res.stdout)
    assert tunnels and all(t["up"] for t in tunnels), tunnels
    port = next(t["port"] for t in tunnels if t["client"] == "zbx1" and t["name"] == "web")
    outside = labtest.hostvar("dmz1", "lab_addresses")["outside"]
    with urllib.request.urlopen(f"http://{outside}:{port}/zabbix/", timeout=10) as response:
        assert response.status == 200 and b"Zabbix" in response.read()


def test_a_database_backup_lands_encrypted_in_swift():
    res = labtest.ssh("db1", "systemctl start stormclouds-backup@databases.service", timeout=900)
    journal = labtest.ssh("db1", "journalctl -u stormclouds-backup@databases -n 30 --no-pager").stdout
    assert res.returncode == 0, journal
    status = json.loads(labtest.ssh("db1", "cat /var/lib/stormclouds-backup/status/databases.json").stdout)
    assert status["last_result"] == "ok", status


def test_the_site_is_announced_in_the_registry():
    ca = labtest.ssh("ctl1", "cat /etc/etcd/pki/ca.crt").stdout
    assert "BEGIN CERTIFICATE" in ca
    with tempfile.NamedTemporaryFile("w", suffix=".crt") as handle:
        handle.write(ca)
        handle.flush()
        gateway = eg.Gateway([f"https://{labtest.hostvar('ctl1', 'ansible_host')}:2379"], ca_file=handle.name,
                             user="lab-site", password=lab_secret("federation_site"), timeout=5.0)
        members = {m["site_id"]: m for m in eg.live_members(gateway, "/stormclouds/federation/members/")}
    assert "lab-site" in members, members
    assert members["lab-site"]["endpoints"]["database"] == f"mysql://{labtest.first_vip()}:3306"


def test_the_report_names_every_layer():
    run = operate("report.yml", timeout=600)
    out = run.stdout
    assert run.returncode == 0, (out + run.stderr)[-3000:]
    assert f"database VIP {labtest.first_vip()}:3306 held by lb" in out, out[-3000:]
    assert "galera: Primary, size 3" in out
    assert "zabbix HA nodes:" in out and "active" in out and "standby" in out
    assert "tunnels: 4 of 4 up" in out
    assert "federation announcer: ctl1 active" in out


def test_the_failover_drill_moves_each_service_and_brings_it_back(tmp_path):
    results = tmp_path / "drill.json"
    run = operate("failover_drill.yml", {"failover_drill_results_file": str(results)})
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    drill = json.loads(results.read_text())
    print("failover drill:", json.dumps(drill))
    assert set(drill) == {"haproxy_vip", "galera", "zabbix_server"}, drill
    for service, figures in drill.items():
        assert figures["from"] != figures["to"], (service, figures)
        assert 0 < figures["seconds"] < 180, (service, figures)
    labtest.wait_for(galera_whole, 300, "Galera whole again after the drill", interval=3)
    assert sorted(ha_nodes().get(n) for n in ("zbx1", "zbx2")) == ["active", "standby"]
    with through_the_vip() as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM marks")
        assert cur.fetchone()[0] >= 1


def test_a_rolling_upgrade_keeps_the_database_answering():
    run = operate("rolling_upgrade.yml", {"rolling_upgrade_groups": "galera_nodes,pacemaker_nodes,zabbix_servers"}, timeout=2400)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    # Each node was taken out in turn: every data node, then each HAProxy node in standby.
    assert run.stdout.count("TASK [Put the node in standby]") == 2, run.stdout[-3000:]
    assert galera_whole()[0], galera_whole()[1]
    with through_the_vip() as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone()[0] == 1


def test_bad_input_to_the_operations_playbooks_is_refused_with_its_cause():
    drill = operate("failover_drill.yml", {"failover_drill_services": "galera,nosuch"}, timeout=300)
    assert drill.returncode != 0 and "failover_drill_services must name one or more of" in drill.stdout, drill.stdout[-2000:]
    upgrade = operate("rolling_upgrade.yml", {"rolling_upgrade_groups": "everything"}, timeout=300)
    assert upgrade.returncode != 0 and "rolling_upgrade_groups must name one or more of" in upgrade.stdout, upgrade.stdout[-2000:]
    # Refused before anything changed: no host got past the check.
    assert "Put the node in standby" not in upgrade.stdout
