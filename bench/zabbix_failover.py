#!/usr/bin/env python
"""Benchmark: Zabbix server failover in the native HA, the hard way - the active node's
container is killed (a hypervisor dying under it) - with the failover delay the lab
uses (10 s) and Zabbix's default (1 m), side by side.

Run as root from the project (after ./lab setup):
    .venv/bin/python bench/zabbix_failover.py [--runs 3] [--keep]

One lab of the `zabbix` layout (zbx1, zbx2: server + frontend + agent; zdb1: MariaDB,
proxy, agent), set up with molecule/zabbix's prepare and converge playbooks. For each
setting, in each round: the active node is killed; measured are the time until the
standby reports itself active through its own frontend (hanode.get, polled every
250 ms) and the time until every surviving agent (one of them through the proxy) has
a value collected after the kill; the killed node is booted again and must come back
as standby. Writes bench/results/zabbix_failover.json (takeover times with the 10 s
delay; the 1 m delay's as the baseline)."""

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchlib import LAB, PROJECT, lab_command, save

NAME = "b-zabbix"
SERVERS = ("zbx1", "zbx2")
AGENTS = ("zbx1", "zbx2", "zdb1")
DELAYS = ("10s", "1m")
STATUS = {"0": "standby", "1": "stopped", "2": "unavailable", "3": "active"}
sh = lab_command


def inventory_file():
    return Path(f"/var/lib/stormclouds-lab/labs/{NAME}/inventory.yml")


@functools.lru_cache(maxsize=None)
def address(node):
    """The node's address from the lab's inventory (read once: it is polled in loops)."""
    import yaml  # pylint: disable=import-outside-toplevel

    data = yaml.safe_load(inventory_file().read_text(encoding="utf-8"))
    found = []

    def walk(group):
        for host, hvars in (group.get("hosts") or {}).items():
            if host == node:
                found.append((hvars or {}).get("ansible_host"))
        for child in (group.get("children") or {}).values():
            walk(child or {})
    walk(data["all"])
    return found[0]


def playbook(name, delay, extra_inventory):
    sh([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory_file()), "-i", str(PROJECT / "inventory" / "lab"),
        "-i", extra_inventory, str(PROJECT / "molecule" / "zabbix" / name),
        "-e", json.dumps({"zabbix_server_ha_failover_delay": delay})], timeout=3600)


def admin_password():
    return sh(["podman", "exec", f"{NAME}-zbx1", "cat", "/etc/zabbix/stormclouds-secrets/admin.password"]).stdout.strip()


def api(node, password):
    from pyzabbix import ZabbixAPI  # pylint: disable=import-outside-toplevel

    client = ZabbixAPI(f"http://{address(node)}/zabbix", timeout=5)
    client.login(user="Admin", password=password)
    return client


def ha_nodes(node, password):
    return {n["name"]: STATUS[n["status"]] for n in api(node, password).hanode.get(output=["name", "status"])}


def ping_clocks(node, password, hosts):
    client = api(node, password)
    found = client.host.get(filter={"host": list(hosts)}, output=["hostid", "host"])
    names = {h["hostid"]: h["host"] for h in found}
    items = client.item.get(hostids=list(names), filter={"key_": "agent.ping"}, output=["hostid", "lastclock"])
    return {names[i["hostid"]]: int(i["lastclock"]) for i in items}


def wait(check, timeout, what, interval=0.25):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            ok, last = check()
        except Exception as exc:  # pylint: disable=broad-except  # a frontend waiting on the database
            ok, last = False, repr(exc)
        if ok:
            return
        time.sleep(interval)
    raise SystemExit(f"{what} not reached in {timeout} s: {last}")


def sample(password):
    nodes = ha_nodes("zbx1", password)
    active = next(n for n in SERVERS if nodes.get(n) == "active")
    standby = next(n for n in SERVERS if n != active)
    survivors = [h for h in AGENTS if h != active]
    wait(lambda: (all(time.time() - c < 120 for c in ping_clocks(standby, password, survivors).values()), None),
         300, "fresh values before the kill", interval=5)
    killed_at = time.time()
    sh(["podman", "kill", f"{NAME}-{active}"])
    began = time.monotonic()
    wait(lambda: (ha_nodes(standby, password).get(standby) == "active", None), 300, f"{standby} active")
    takeover = time.monotonic() - began
    wait(lambda: (all(c > killed_at for c in ping_clocks(standby, password, survivors).values()), None), 300,
         "values collected after the kill", interval=1)
    data_back = time.monotonic() - began
    sh([LAB, "up", "zabbix", "--name", NAME])
    wait(lambda: (ha_nodes(standby, password).get(active) == "standby", None), 300, f"{active} back as standby", 2)
    return active, takeover, data_back


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    args = parser.parse_args()
    takeovers = {d: [] for d in DELAYS}
    data = {d: [] for d in DELAYS}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        # The scenario's group variables (molecule/zabbix/molecule.yml) for this lab.
        handle.write("all:\n  vars:\n    zabbix_server_database_host: \"{{ hostvars['zdb1']['ansible_host'] }}\"\n"
                     "    zabbix_server_database_admin_node: zdb1\n"
                     "  children:\n    zabbix_database:\n      vars:\n        zabbix_agent_proxy: zdb1\n")
        extra_inventory = handle.name
    try:
        sh([LAB, "down", NAME])
        sh([LAB, "up", "zabbix", "--name", NAME])
        print("preparing and converging the zabbix lab", flush=True)
        playbook("prepare.yml", DELAYS[0], extra_inventory)
        password = None
        for round_no in range(args.runs):
            order = DELAYS if round_no % 2 == 0 else tuple(reversed(DELAYS))
            for delay in order:
                playbook("converge.yml", delay, extra_inventory)
                password = password or admin_password()
                victim, takeover, back = sample(password)
                takeovers[delay].append(takeover)
                data[delay].append(back)
                print(f"round {round_no + 1}/{args.runs} delay {delay:3}: killed {victim}; standby active after "
                      f"{takeover:.1f} s, fresh values from every surviving agent after {back:.1f} s", flush=True)
    finally:
        Path(extra_inventory).unlink()
        if not args.keep:
            sh([LAB, "down", NAME], check=False)

    def figures(delay):
        return {"samples": [round(v, 2) for v in takeovers[delay]], "median": round(statistics.median(takeovers[delay]), 2),
                "data_back_s": [round(v, 2) for v in data[delay]]}

    save("zabbix_failover", "time from a hard kill of the active Zabbix server node until the standby is active "
         "(failover delay 10s)", "s", takeovers["10s"], f".venv/bin/python bench/zabbix_failover.py --runs {args.runs}",
         baseline={"metric": "same with Zabbix's default failover delay (1m)", **figures("1m")},
         extra={"data_back_s": [round(v, 2) for v in data["10s"]],
                "data_back_median_s": round(statistics.median(data["10s"]), 2)})


if __name__ == "__main__":
    sys.exit(main())
