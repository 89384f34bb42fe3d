"""ha_database on real DRBD (two QEMU guests): both engines answer on their VIPs only,
the replicated disk is in sync, and pulling the plug on the active guest while a client
writes loses no acknowledged write; the guest then rejoins and resyncs by itself."""

import os
import sys
import time

import psycopg2
import pymysql
import pytest

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))
import dbclient  # noqa: E402
import labtest  # noqa: E402

NODES = ("ha1", "ha2")


def _account():
    user = labtest.hostvar("ha1", "ha_database_users")[0]
    return user["name"], user["password"], user["databases"][0]


def vips():
    first = labtest.first_vip("lab")
    prefix, last = first.rsplit(".", 1)
    return {"mariadb": first, "postgresql": f"{prefix}.{int(last) + 1}"}


def connect(engine):
    user, password, database = _account()
    if engine == "mariadb":
        return pymysql.connect(host=vips()[engine], port=3306, user=user, password=password, database=database,
                               connect_timeout=3, read_timeout=10, write_timeout=10, autocommit=False)
    return psycopg2.connect(host=vips()[engine], port=5432, user=user, password=password, dbname=database,
                            connect_timeout=3, keepalives=1, keepalives_idle=1, keepalives_interval=1,
                            keepalives_count=3, tcp_user_timeout=5000)


def locate(resource, via=None):
    """The node a resource runs on, asked of a live node."""
    for name in ([via] if via else NODES):
        res = labtest.ssh(name, f"crm_resource --resource {resource} --locate --quiet", timeout=20)
        if res.returncode == 0 and res.stdout.strip():
            return res.stdout.strip()
    return None


def proc_drbd(name):
    return labtest.ssh(name, "cat /proc/drbd", timeout=20).stdout


def test_replicated_disk_in_sync_and_primary_where_the_databases_run():
    active = locate("fs-data")
    assert active in NODES
    assert locate("mariadb-server") == active and locate("postgresql-server") == active
    for name in NODES:
        state = proc_drbd(name)
        assert "cs:Connected" in state and "ds:UpToDate/UpToDate" in state, f"{name}: {state}"
        assert ("ro:Primary/Secondary" if name == active else "ro:Secondary/Primary") in state, f"{name}: {state}"


@pytest.mark.parametrize("engine,port", [("mariadb", 3306), ("postgresql", 5432)])
def test_reachable_through_the_vip_only(engine, port):
    conn = connect(engine)
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone()[0] == 1
    conn.close()
    active = locate(f"{engine}-server")
    for name in NODES:
        address = labtest.hostvar(name, "ansible_host")
        res = labtest.ssh(name, f"timeout 3 bash -c '</dev/tcp/{address}/{port}' && echo open || echo closed")
        assert res.stdout.strip() == "closed", f"{engine} answers on {name}'s own address {address} (active: {active})"


def writer(engine, table):
    """A client of the engine's VIP (its thread is named after the engine)."""
    return dbclient.Writer(lambda: connect(engine), table, errors=(pymysql.MySQLError, psycopg2.Error), name=engine)


def _fresh_table(engine, table):
    dbclient.fresh_table(lambda: connect(engine), table)


def _stored_ids(engine, table):
    conn = connect(engine)
    with conn.cursor() as cur:
        cur.execute(f"SELECT id FROM {table}")
        ids = {row[0] for row in cur.fetchall()}
    conn.close()
    return ids


def test_pulling_the_plug_on_the_active_guest_loses_no_acknowledged_write():
    table = "plug_drill"
    for engine in vips():
        _fresh_table(engine, table)
    victim = locate("fs-data")
    survivor = next(n for n in NODES if n != victim)
    writers = [writer(engine, table) for engine in vips()]
    for client in writers:
        client.start()
    labtest.wait_for(lambda: (all(len(w.acked) >= 20 for w in writers), [len(w.acked) for w in writers]),
                     60, "20 acknowledged writes per engine before the fault")

    killed_at = time.monotonic()
    labtest.vm_kill(victim)
    before = [len(w.acked) for w in writers]
    labtest.wait_for(lambda: (all(len(w.acked) >= b + 20 for w, b in zip(writers, before)),
                              {w.name: len(w.acked) - b for w, b in zip(writers, before)}),
                     420, "20 acknowledged writes per engine through the VIPs after the kill")
    for client in writers:
        client.stop.set()
        client.join(30)

    for client in writers:
        print(f"{client.name}: {len(client.acked)} acknowledged writes, longest time without one after the kill "
              f"{client.longest_gap(killed_at):.1f} s; client errors: {client.errors[:3]}")
        lost = sorted(set(client.acked) - _stored_ids(client.name, table))
        assert not lost, f"{client.name}: acknowledged writes lost after the failover: {lost}"
    assert locate("fs-data", via=survivor) == survivor
    assert "ro:Primary/Unknown" in proc_drbd(survivor)


def test_the_killed_guest_rejoins_and_resyncs_by_itself():
    victim = next(n for n in NODES if labtest.ssh(n, "true", timeout=5).returncode != 0)
    survivor = next(n for n in NODES if n != victim)
    labtest.vm_start(victim)

    def synced():
        states = {n: proc_drbd(n) for n in NODES}
        ok = all("cs:Connected" in s and "ds:UpToDate/UpToDate" in s for s in states.values())
        return ok, states

    labtest.wait_for(synced, 600, "DRBD connected and UpToDate on both guests", interval=5)

    def online():
        out = labtest.ssh(survivor, "crm_mon --one-shot --output-as=xml", timeout=20).stdout
        return all(f'name="{n}" id=' in out and 'online="true"' in out for n in NODES) and \
            out.count('online="true"') >= 2, out[-400:]

    labtest.wait_for(online, 300, "both guests online in Pacemaker", interval=5)
    # Once resynced, crm-unfence-peer lifts the constraint the fence-peer handler placed.
    labtest.wait_for(
        lambda: ("drbd-fence-by-handler" not in
                 labtest.ssh(survivor, "cibadmin --query --scope constraints", timeout=20).stdout, "constraint"),
        120, "the fence-peer constraint removed after the resync", interval=5)
    # The databases stayed where they were (no failback).
    assert locate("mariadb-server") == survivor
