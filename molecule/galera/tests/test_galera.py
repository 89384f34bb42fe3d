"""Galera behind the HAProxy pair, as a client and an operator see it: three members
over TLS, writes through the VIP on both data nodes, a joiner kept out of service, a
hard kill of the writer under load without a lost acknowledged write, and a full outage
recovered by a converge that bootstraps from the most advanced node.

The tests run in file order; each leaves the cluster whole for the next."""

import functools
import os
import re
import sys
import time
import urllib.error
import urllib.request

import pymysql

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))
import dbclient  # noqa: E402
import labtest  # noqa: E402

DATA = ("db1", "db2")
SECRETS = "/etc/mysql/stormclouds-secrets"


def sql(name, query, timeout=30):
    """A query as root over the node's socket; rows as lists of strings."""
    res = labtest.ssh(name, f"mariadb --batch --skip-column-names -e {query!r}", timeout=timeout)
    assert res.returncode == 0, f"{name}: {query}: {res.stderr}"
    return [line.split("\t") for line in res.stdout.splitlines()]


def status(name):
    res = labtest.ssh(name, "mariadb --batch --skip-column-names -e \"SHOW GLOBAL STATUS LIKE 'wsrep%'\"", timeout=15)
    return dict(line.split("\t", 1) for line in res.stdout.splitlines() if "\t" in line) if res.returncode == 0 else {}


def synced(name, size=3):
    seen = status(name)
    ok = (seen.get("wsrep_local_state_comment") == "Synced" and seen.get("wsrep_cluster_status") == "Primary"
          and int(seen.get("wsrep_cluster_size", 0)) == size)
    return ok, {k: seen.get(k) for k in ("wsrep_cluster_status", "wsrep_local_state_comment", "wsrep_cluster_size")}


def wait_whole(timeout=300):
    for name in DATA:
        labtest.wait_for(lambda name=name: synced(name), timeout, f"{name} Synced in a 3-member cluster", interval=2)


@functools.lru_cache(maxsize=1)
def password():
    """The generated password of the drill account (read once: a test may kill db1)."""
    secret = labtest.ssh("db1", f"cat {SECRETS}/drill.password").stdout.strip()
    assert len(secret) == 32, "no generated password on db1"
    return secret


def connect():
    return pymysql.connect(host=labtest.first_vip(), port=3306, user="drill", password=password(),
                           database="drill", connect_timeout=3, read_timeout=10, write_timeout=10)


def fresh_table(table):
    dbclient.fresh_table(connect, table)


def ids_on(name, table):
    return {int(row[0]) for row in sql(name, f"SELECT id FROM drill.{table}")}


def table_is_empty(name, table):
    """(True, _) once the node has the table and it holds no row; for wait_for."""
    res = labtest.ssh(name, f"mariadb --batch --skip-column-names -e 'SELECT COUNT(*) FROM drill.{table}'", timeout=15)
    return res.returncode == 0 and res.stdout.strip() == "0", (res.stdout + res.stderr).strip()


def haproxy_server_state(server):
    """The status HAProxy on the VIP holder gives a data node (UP, DOWN, ...)."""
    holder = next(n for n in ("lb1", "lb2")
                  if labtest.first_vip() in labtest.ssh(n, "ip -4 -o addr show").stdout)
    out = labtest.ssh(holder, "python3 -c \"import socket; s = socket.socket(socket.AF_UNIX); "
                      "s.connect('/run/haproxy/admin.sock'); s.sendall(b'show stat\\n'); "
                      "print(s.makefile().read())\"").stdout
    for line in out.splitlines():
        fields = line.split(",")
        if len(fields) > 17 and fields[0] == "galera" and fields[1] == server:
            return fields[17]
    return None


def health_check(name):
    """The HTTP status of a data node's health check, asked as HAProxy asks it."""
    try:
        with urllib.request.urlopen(f"http://{labtest.hostvar(name, 'ansible_host')}:9200/", timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code


def test_three_members_synced_over_tls():
    wait_whole()
    for name in DATA:
        options = sql(name, "SELECT @@wsrep_provider_options")[0][0]
        assert "socket.ssl = YES" in options, f"{name}: replication without TLS: {options}"
        assert "/etc/mysql/galera-tls/node.crt" in options
    # The arbitrator is the third member, and its link is TLS too.
    journal = labtest.ssh("quorum1", "journalctl -u garb --no-pager -n 300").stdout
    assert "ssl://" in journal, journal[-1500:]


def test_write_through_the_vip_is_on_both_data_nodes():
    fresh_table("replicated")
    dbclient.insert_rows(connect, "replicated", range(1, 101))
    for name in DATA:
        assert ids_on(name, "replicated") == set(range(1, 101)), name


def test_generated_password_is_stored_root_only_and_the_same_on_both_nodes():
    stats = {name: labtest.ssh(name, f"stat -c '%U %a' {SECRETS}/drill.password; cat {SECRETS}/drill.password").stdout
             for name in DATA}
    assert stats["db1"] == stats["db2"]
    owner_mode, secret = stats["db1"].splitlines()
    assert owner_mode == "root 600" and len(secret) == 32


def test_a_node_that_is_not_synced_is_out_of_service():
    # A stopped server and a desynced one (as a donor or under maintenance) both answer
    # 503; HAProxy takes the node out and puts it back once Synced.
    assert haproxy_server_state("db2") == "UP"
    sql("db2", "SET GLOBAL wsrep_desync = ON")
    try:
        assert health_check("db2") == 503
        labtest.wait_for(lambda: (haproxy_server_state("db2") == "DOWN", haproxy_server_state("db2")), 15,
                         "HAProxy taking the desynced db2 out")
    finally:
        sql("db2", "SET GLOBAL wsrep_desync = OFF")
    labtest.wait_for(lambda: (haproxy_server_state("db2") == "UP", haproxy_server_state("db2")), 30,
                     "HAProxy putting db2 back")


def test_the_health_check_is_one_process_that_outlives_a_server_restart():
    # One answering process with a kept MariaDB connection, not a process per check:
    # a restarted server breaks that connection, and the next check makes a new one.
    def main_pid():
        return labtest.ssh("db2", "systemctl show -p MainPID --value galera-health.service").stdout.strip()

    before = main_pid()
    assert before not in ("", "0"), "galera-health.service is not running on db2"
    assert health_check("db2") == 200
    labtest.ssh("db2", "systemctl restart mariadb", timeout=120)
    labtest.wait_for(lambda: (health_check("db2") == 200, health_check("db2")), 60,
                     "db2's health check saying 200 again after its server restarted")
    assert main_pid() == before
    labtest.wait_for(lambda: (haproxy_server_state("db2") == "UP", haproxy_server_state("db2")), 30,
                     "HAProxy putting db2 back")


def test_hard_kill_of_the_writer_loses_no_acknowledged_write():
    wait_whole()
    fresh_table("kill_drill")
    writer = dbclient.Writer(connect, "kill_drill", errors=(pymysql.MySQLError,))
    writer.start()
    labtest.wait_for(lambda: (len(writer.acked) >= 30, len(writer.acked)), 60, "30 acknowledged writes")

    killed_at = time.monotonic()
    labtest.kill("db1")  # the writer: first server, db2 is its backup
    before = len(writer.acked)
    labtest.wait_for(lambda: (len(writer.acked) >= before + 30, len(writer.acked) - before), 120,
                     "30 acknowledged writes through the VIP after the kill")
    writer.stop.set()
    writer.join(30)
    gap = writer.longest_gap(killed_at)
    print(f"{len(writer.acked)} acknowledged writes; longest gap after the kill {gap:.2f} s; "
          f"client errors: {writer.errors[:3]}")
    lost = sorted(set(writer.acked) - ids_on("db2", "kill_drill"))
    assert not lost, f"acknowledged writes lost: {lost}"
    assert gap < 15, f"writes stopped for {gap:.1f} s"

    # The hypervisor brings db1 back: it rejoins by itself (IST) with every row.
    labtest.boot_again()
    wait_whole(600)
    assert set(writer.acked) <= ids_on("db1", "kill_drill")


def test_full_outage_is_recovered_from_the_most_advanced_node():
    wait_whole()
    fresh_table("outage_drill")
    dbclient.insert_rows(connect, "outage_drill", range(1, 51))

    # db1 dies first; what is written after only db2 has: bootstrapping db1 would lose it.
    labtest.kill("db1")
    late = dbclient.Writer(connect, "outage_drill", errors=(pymysql.MySQLError,), first_id=1000)
    late.start()
    labtest.wait_for(lambda: (len(late.acked) >= 20, len(late.acked)), 120, "writes on db2 alone")
    late.stop.set()
    late.join(30)
    acked_late = set(late.acked)
    assert acked_late, "no write reached db2 alone"

    # Then the rest of the cluster goes at once, arbitrator included.
    labtest.kill("db2")
    labtest.kill("quorum1")
    labtest.boot_again()

    run = labtest.playbook(labtest.SCENARIO / "converge.yml", {}, timeout=1800)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    # The plan the role printed (debug output, JSON or YAML callback alike).
    plan = re.search(r"(?:running|new|recover|refuse)(?:: bootstrap from \w+)?; [^\n\"']*positions [^\n\"']*", output)
    assert plan, output[-4000:]
    print(plan.group(0))
    assert plan.group(0).startswith("recover: bootstrap from db2"), plan.group(0)

    wait_whole(600)
    for name in DATA:
        stored = ids_on(name, "outage_drill")
        assert set(range(1, 51)) <= stored, f"{name} lost rows written before the outage"
        assert acked_late <= stored, f"{name} lost rows only db2 had: {sorted(acked_late - stored)[:10]}"


def hostnames_through_the_vip(connections=12):
    seen = []
    for _attempt in range(connections):
        conn = connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT @@hostname")
                seen.append(cur.fetchone()[0])
        finally:
            conn.close()
    return seen


def reconverge_haproxy(extra):
    # The pacemaker role refuses half a cluster: the pair goes with its quorum node.
    run = labtest.playbook(labtest.SCENARIO / "converge.yml", extra, timeout=900,
                           args=("--limit", "haproxy_nodes:pacemaker_quorum"))
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]


def test_multi_writer_spreads_connections_and_one_writer_comes_back():
    assert set(hostnames_through_the_vip()) == {"db1"}, "one writer: every connection on the first node"
    reconverge_haproxy({"haproxy_multi_writer": True})
    try:
        spread = hostnames_through_the_vip()
        assert set(spread) == set(DATA), f"multi-writer (leastconn) reached only {sorted(set(spread))}"
        # One connection per row: rows written on either node are on both. The new
        # table is waited for on every member first (DDL is applied asynchronously on
        # the others); a commit that loses certification is retried, as multi-master
        # clients must, and the retries are reported.
        fresh_table("multi_writer")
        for name in DATA:
            labtest.wait_for(lambda name=name: table_is_empty(name, "multi_writer"), 30, f"the new table on {name}")
        retries = sum(dbclient.insert_rows(connect, "multi_writer", [row], deadlock_retries=3)
                      for row in range(1, 21))
        print(f"multi-writer: 20 rows committed through the VIP, {retries} certification retries")
        for name in DATA:
            assert ids_on(name, "multi_writer") == set(range(1, 21)), name
    finally:
        reconverge_haproxy({})
    assert set(hostnames_through_the_vip()) == {"db1"}


def server_started(name):
    """When the node's MariaDB started (systemd's monotonic microseconds)."""
    res = labtest.ssh(name, "systemctl show mariadb -p ExecMainStartTimestampMonotonic --value")
    assert res.returncode == 0 and res.stdout.strip().isdigit(), f"{name}: {res.stdout} {res.stderr}"
    return int(res.stdout)


def test_configuration_change_rolls_through_the_members_under_writes():
    # Last: it leaves the scenario's configuration changed.
    wait_whole(600)
    fresh_table("roll_drill")
    started = {name: server_started(name) for name in DATA}
    writer = dbclient.Writer(connect, "roll_drill", errors=(pymysql.MySQLError,))
    writer.start()
    labtest.wait_for(lambda: (len(writer.acked) >= 20, len(writer.acked)), 60, "20 acknowledged writes")
    began = time.monotonic()

    # The data nodes only: the arbitrator's node is also the HAProxy pair's quorum node,
    # and the pacemaker role refuses to run on part of a cluster.
    run = labtest.playbook(labtest.SCENARIO / "converge.yml", {"galera_config": {"max_connections": 321}},
                           timeout=1800, args=("--limit", "galera_nodes"))
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]

    before = len(writer.acked)
    labtest.wait_for(lambda: (len(writer.acked) >= before + 20, len(writer.acked) - before), 60,
                     "20 acknowledged writes after the rolling restart")
    writer.stop.set()
    writer.join(30)
    print(f"{len(writer.acked)} acknowledged writes during the rolling restart; longest gap "
          f"{writer.longest_gap(began):.2f} s; client errors: {writer.errors[:3]}")
    wait_whole()
    for name in DATA:
        assert sql(name, "SELECT @@max_connections") == [["321"]], f"{name} runs the old configuration"
        assert server_started(name) > started[name], f"{name} was not restarted"
        lost = sorted(set(writer.acked) - ids_on(name, "roll_drill"))
        assert not lost, f"{name} misses acknowledged writes: {lost[:10]}"
