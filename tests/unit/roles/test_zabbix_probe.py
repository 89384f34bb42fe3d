"""The Zabbix agent's probe of the collection's services
(roles/zabbix_agent/files/stormclouds_zabbix_probe.py): backup job discovery and ages
from the backup runner's status files, Galera's wsrep status and crm_mon's XML read into
the templates' JSON. The backup path is exercised against a real Zabbix by the zabbix
scenario."""

import importlib.util
import json
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[3] / "roles" / "zabbix_agent" / "files" / "stormclouds_zabbix_probe.py"
SPEC = importlib.util.spec_from_file_location("stormclouds_zabbix_probe", SOURCE)
probe = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(probe)

# crm_mon --one-shot --inactive --output-as=xml of Pacemaker 2.1 (Debian 12), trimmed:
# one node offline, a failed resource and a failed action.
CRM_MON = """<pacemaker-result api-version="2.30" request="crm_mon --one-shot --inactive --output-as=xml">
  <summary>
    <stack type="corosync"/>
    <current_dc present="true" version="2.1.5" name="lb1" id="1" with_quorum="true" mixed_version="false"/>
    <nodes_configured number="2"/>
    <resources_configured number="3" disabled="0" blocked="0"/>
  </summary>
  <nodes>
    <node name="lb1" id="1" online="true" standby="false" maintenance="false" type="member"/>
    <node name="lb2" id="2" online="false" standby="false" maintenance="false" type="member"/>
  </nodes>
  <resources>
    <group id="lb" number_resources="2" maintenance="false" managed="true" disabled="false">
      <resource id="vip" resource_agent="ocf:heartbeat:IPaddr2" role="Started" active="true" failed="false"/>
      <resource id="haproxy" resource_agent="systemd:haproxy" role="Stopped" active="false" failed="true"/>
    </group>
  </resources>
  <failures>
    <failure op_key="haproxy_start_0" node="lb1" exitstatus="error" exitreason="" exitcode="1" call="12"/>
  </failures>
  <status code="0" message="OK"/>
</pacemaker-result>"""


def test_crm_mon_is_read_into_quorum_nodes_and_failures():
    assert probe.parse_crm_mon(CRM_MON) == {"quorum": 1, "nodes_configured": 2, "nodes_online": 1,
                                            "nodes_standby": 0, "resources_failed": 1, "failed_actions": 1}


def test_a_partition_without_quorum_reads_zero():
    assert probe.parse_crm_mon(CRM_MON.replace('with_quorum="true"', 'with_quorum="false"'))["quorum"] == 0


def test_wsrep_status_is_read_and_a_server_without_galera_refused():
    out = ("wsrep_cluster_size\t3\nwsrep_cluster_status\tPrimary\nwsrep_connected\tON\n"
           "wsrep_local_state\t4\nwsrep_ready\tON\n")
    assert probe.parse_wsrep(out) == {"cluster_size": 3, "cluster_status": "Primary", "local_state": 4,
                                      "ready": 1, "connected": 1}
    assert probe.parse_wsrep(out.replace("Primary", "non-Primary").replace("ready\tON", "ready\tOFF"))["ready"] == 0
    with pytest.raises(ValueError, match="without Galera"):
        probe.parse_wsrep("Uptime\t5\n")


def test_backup_jobs_are_discovered_with_their_age_and_failure(tmp_path):
    (tmp_path / "files.json").write_text(json.dumps({"last_success": 1000, "last_failure": 900}))
    (tmp_path / "files.last_success").write_text("1000\n")
    (tmp_path / "db.json").write_text(json.dumps({"last_success": 0, "last_failure": 1500}))
    assert probe.backup_jobs(tmp_path) == [{"{#JOB}": "db"}, {"{#JOB}": "files"}]
    assert probe.backup_age("files", now=4600, status_dir=tmp_path) == 3600
    # Never a good run: the age counts from the epoch, far above any threshold.
    assert probe.backup_age("db", now=4600, status_dir=tmp_path) == 4600
    assert probe.backup_failed("files", status_dir=tmp_path) == 0
    assert probe.backup_failed("db", status_dir=tmp_path) == 1


def test_a_purged_job_is_an_error_not_an_ancient_success(tmp_path):
    with pytest.raises(ValueError, match="no backup job 'gone'"):
        probe.backup_age("gone", now=4600, status_dir=tmp_path)


def test_a_silent_service_reads_as_down_so_the_triggers_fire():
    def refused():
        raise RuntimeError("mariadb: Can't connect to local server through socket")
    down = probe.down_or(refused, probe.GALERA_DOWN)
    assert down["ready"] == 0 and down["cluster_status"] == "unreachable" and "Can't connect" in down["error"]
    assert probe.down_or(lambda: {"quorum": 1}, probe.PACEMAKER_DOWN) == {"quorum": 1}


# `show stat` of the haproxy role's configuration (HAProxy 2.6), cut after the 33rd
# column: the Galera listener with the writer up and the backup node down, and the
# stats page (no servers).
HEADER = ("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,"
          "weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type")


def stat_row(pxname, svname, status, kind):
    return f"{pxname},{svname},0,0,0,1,,5,0,0,,0,,0,0,0,0,{status},1,1,0,0,0,10,0,,1,2,1,,5,,{kind}"


SHOW_STAT = "\n".join([
    HEADER,
    stat_row("galera", "FRONTEND", "OPEN", "0"),
    stat_row("galera", "db1", "UP", "2"),
    stat_row("galera", "db2", "DOWN", "2"),
    stat_row("galera", "BACKEND", "UP", "1"),
    stat_row("stats", "FRONTEND", "OPEN", "0"),
    stat_row("stats", "BACKEND", "UP", "1"),
]) + "\n\n"


def test_haproxy_statistics_count_the_servers_in_service_per_backend():
    assert probe.parse_haproxy_stat(SHOW_STAT) == {
        "ok": 1, "backends": {"galera": {"status": "UP", "servers": 2, "servers_up": 1}}}
    going_down = SHOW_STAT.replace("galera,db1,0,0,0,1,,5,0,0,,0,,0,0,0,0,UP,", "galera,db1,0,0,0,1,,5,0,0,,0,,0,0,0,0,UP 1/3,")
    assert probe.parse_haproxy_stat(going_down)["backends"]["galera"]["servers_up"] == 1
    with pytest.raises(ValueError, match="not HAProxy statistics"):
        probe.parse_haproxy_stat("Unknown command\n")
