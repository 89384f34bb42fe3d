#!/usr/bin/env python
"""Benchmark: writes through the Galera VIP while the data node taking them fails, with
the roles' defaults against Galera's and HAProxy's stock settings, side by side.

Run as root from the project (after ./lab setup):
    .venv/bin/python bench/galera_failover.py [--runs 5] [--keep]

One lab of the `galera` layout (db1, db2, the arbitrator on quorum1, the HAProxy pair
lb1/lb2 with a Pacemaker VIP), converged with molecule/galera's playbook. Each round
visits three setups (order alternating between rounds; the lab is reconverged for each):
  defaults  the roles' defaults: Galera-aware check every 500 ms, Galera failure
            detection timers of the galera role (suspect 1.5 s, keepalive 0.5 s);
  stock     Galera-aware check every 1 s, Galera's own timers (suspect 5 s, keepalive 1 s);
  tcp       the roles' timers, HAProxy's plain TCP check (the baseline for partitions).
In each, a client inserts one row per transaction through the VIP (one every 50 ms,
reconnecting after any error) while the node taking the writes fails in two ways:
  kill       `podman kill` of the writer (the hypervisor dies under it); it is booted
             again and rejoins (IST) before the next sample;
  partition  the writer loses its links to the other data node and the arbitrator but
             not to HAProxy: it leaves the primary component and refuses writes while
             it still accepts connections (the case a TCP check cannot see); the links
             come back and it resyncs before the next sample.
Figures per sample: the longest time without an acknowledged write after the fault
(writes that never resumed count as the whole 30 s window), and acknowledged writes
missing on the survivor afterwards. Writes bench/results/galera_failover.json: the
defaults' kill gaps, the stock setup's as the baseline, every series, every lost write
count (must be 0)."""

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchlib import LAB, PROJECT, lab_command, save

sys.path.insert(0, str(PROJECT / "molecule" / "shared"))
NAME = "b-galera"
STOCK_TIMERS = {"galera_evs_keepalive_period": 1, "galera_evs_inactive_check_period": 0.5,
                "galera_evs_suspect_timeout": 5, "galera_evs_inactive_timeout": 15,
                "galera_evs_install_timeout": 7.5}
SETUPS = {
    "defaults": {},
    "stock": {"haproxy_check_interval": "1s", **STOCK_TIMERS},
    "tcp": {"haproxy_health_check": "tcp"},
}
FAULTS = ("kill", "partition")
WINDOW = 30.0
SCENARIO_VARS = {
    "galera_cluster_name": "bench-galera", "garbd_cluster_name": "bench-galera",
    "galera_databases": [{"name": "bench"}],
    "galera_users": [{"name": "bench", "databases": ["bench"]}],
    "pacemaker_cluster_name": "bench-lb", "pacemaker_fencing": "none",
    "pacemaker_fencing_disabled_acknowledged": True,
    "haproxy_backend_group": "galera_nodes",
}


sh = lab_command


def inventory():
    return Path(f"/var/lib/stormclouds-lab/labs/{NAME}/inventory.yml").read_text(encoding="utf-8")


def address(node):
    return re.search(rf"^\s+{node}:\n(?:\s+.*\n)*?\s+ansible_host: (\S+)", inventory(), re.M).group(1)


def vip():
    return re.search(r"vip_range: (\d+\.\d+\.\d+\.\d+)-", inventory()).group(1)


def in_node(node, command, check=False):
    return sh(["podman", "exec", f"{NAME}-{node}", "sh", "-c", command], check=check).stdout


def converge(extra, limit=None):
    values = dict(SCENARIO_VARS, haproxy_vip=vip(), **extra)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(values, handle)
    try:
        sh([LAB, "run", "--name", NAME, "--", "ansible-playbook", str(PROJECT / "molecule" / "galera" / "converge.yml"),
            "-e", f"@{handle.name}", *(["--limit", limit] if limit else [])], timeout=3600)
    finally:
        os.unlink(handle.name)


def synced(node):
    out = in_node(node, "mariadb -N -B -e \"SHOW STATUS WHERE Variable_name IN "
                        "('wsrep_local_state_comment','wsrep_cluster_size','wsrep_cluster_status')\"")
    seen = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
    return (seen.get("wsrep_local_state_comment") == "Synced" and seen.get("wsrep_cluster_size") == "3"
            and seen.get("wsrep_cluster_status") == "Primary")


def wait_whole(timeout=900):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(synced(n) for n in ("db1", "db2")):
            return
        time.sleep(1)
    raise SystemExit("the cluster did not come back whole")


def haproxy_states():
    """The data nodes' states in HAProxy on the VIP holder ({'db1': 'UP', ...})."""
    holder = next(n for n in ("lb1", "lb2") if vip() in in_node(n, "ip -4 -o addr show"))
    stats = in_node(holder, "python3 -c \"import socket; s = socket.socket(socket.AF_UNIX); "
                            "s.connect('/run/haproxy/admin.sock'); s.sendall(b'show stat\\n'); "
                            "print(s.makefile().read())\"")
    states = {}
    for line in stats.splitlines():
        fields = line.split(",")
        if len(fields) > 17 and fields[0] == "galera" and fields[1] in ("db1", "db2"):
            states[fields[1]] = fields[17]
    return states


def writer_node(timeout=60):
    """The data node HAProxy sends writes to: the first server, once HAProxy has every
    data node fully UP again (a node that just rejoined rises over a few checks, and
    its donor may have been out meanwhile)."""
    deadline = time.monotonic() + timeout
    states = {}
    while time.monotonic() < deadline:
        states = haproxy_states()
        if states and all(state == "UP" for state in states.values()):
            return sorted(states)[0]
        time.sleep(0.5)
    raise SystemExit(f"HAProxy does not have every data node UP: {states}")


def partition(node, action):
    pid = sh(["podman", "inspect", "--format", "{{.State.Pid}}", f"{NAME}-{node}"]).stdout.strip()
    for peer in ({"db1", "db2"} - {node}) | {"quorum1"}:
        for chain, flag in (("INPUT", "-s"), ("OUTPUT", "-d")):
            sh(["nsenter", "--target", pid, "--net", "iptables", "-w", action, chain, flag, address(peer), "-j", "DROP"])


def sample(kind, password, table_no):
    import pymysql
    from dbclient import Writer, fresh_table

    table = f"drill_{table_no}"

    def connect():
        return pymysql.connect(host=vip(), port=3306, user="bench", password=password, database="bench",
                               connect_timeout=3, read_timeout=10, write_timeout=10)

    victim = writer_node()
    # The node that just rejoined may still drop a first connection: the table is made
    # before the clock starts, retried for a while.
    for attempt in range(10):
        try:
            fresh_table(connect, table)
            break
        except pymysql.MySQLError:
            if attempt == 9:
                raise
            time.sleep(2)
    survivor = "db2" if victim == "db1" else "db1"
    writer = Writer(connect, table, errors=(pymysql.MySQLError,))
    writer.start()
    time.sleep(5)
    failed_at = time.monotonic()
    if kind == "kill":
        sh(["podman", "kill", f"{NAME}-{victim}"])
    else:
        partition(victim, "-I")
    time.sleep(WINDOW)
    writer.stop.set()
    writer.join(30)
    gap = min(writer.longest_gap(failed_at), WINDOW)
    stored = {int(x) for x in in_node(survivor, f"mariadb -N -B -e 'SELECT id FROM bench.{table}'").split()}
    lost = len(set(writer.acked) - stored)
    if kind == "kill":
        sh([LAB, "up", "galera", "--name", NAME])
    else:
        partition(victim, "-D")
    wait_whole()
    return gap, lost


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    args = parser.parse_args()
    series = {(setup, fault): [] for setup in SETUPS for fault in FAULTS}
    lost = {(setup, fault): [] for setup in SETUPS for fault in FAULTS}
    try:
        sh([LAB, "down", NAME])
        sh([LAB, "up", "galera", "--name", NAME])
        print("converging the galera lab", flush=True)
        converge({})
        password = in_node("db1", "cat /etc/mysql/stormclouds-secrets/bench.password", check=True).strip()
        table_no = 0
        for round_no in range(args.runs):
            order = list(SETUPS) if round_no % 2 == 0 else list(reversed(SETUPS))
            for setup in order:
                converge(SETUPS[setup])
                wait_whole()
                for fault in FAULTS:
                    table_no += 1
                    gap, missing = sample(fault, password, table_no)
                    series[(setup, fault)].append(gap)
                    lost[(setup, fault)].append(missing)
                    print(f"round {round_no + 1}/{args.runs} {setup:8} {fault:9} longest gap {gap:.2f} s, "
                          f"lost acknowledged writes {missing}", flush=True)
    finally:
        if not args.keep:
            sh([LAB, "down", NAME], check=False)

    def figures(key):
        values = series[key]
        return {"samples": [round(v, 3) for v in values], "median": round(statistics.median(values), 3),
                "max": round(max(values), 3), "lost_acknowledged_writes": lost[key]}

    save("galera_failover", "longest gap without an acknowledged write through the VIP after a hard kill of the "
         "writer (the roles' defaults)", "s", series[("defaults", "kill")],
         f".venv/bin/python bench/galera_failover.py --runs {args.runs}",
         baseline={"metric": "same, Galera's own failure detection timers and a 1 s HAProxy check",
                   **figures(("stock", "kill"))},
         extra={"max": round(max(series[("defaults", "kill")]), 3),
                "series": {f"{setup} {fault}": figures((setup, fault)) for setup, fault in series},
                "setups": SETUPS, "window_s": WINDOW})
    for key in series:
        fig = figures(key)
        print(f"{key[0]:8} {key[1]:9} median {fig['median']} s, max {fig['max']} s, samples {fig['samples']}, "
              f"lost {fig['lost_acknowledged_writes']}")


if __name__ == "__main__":
    main()
