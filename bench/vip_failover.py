#!/usr/bin/env python
"""Benchmark: how long a client waits for the VIP after the active node dies, with
the pacemaker role's timings against Debian's (Corosync's) defaults, side by side.

Run as root from the project (after ./lab setup):
    .venv/bin/python bench/vip_failover.py [--runs 5] [--soak 300]

Three labs of the `pacemaker` layout (2 nodes + qnetd arbitrator) run at once:
  b-fo-deb   token 3000 ms, consensus 3600, qdevice timeout 10000, sync 30000 (the defaults)
  b-fo-role  the role's defaults
  b-fo-fast  token 300 ms, consensus 360 (the role's qdevice timeouts)
Both carry molecule/pacemaker's VIP + web service group. Each round, in alternating
order, the node answering on the VIP is stopped in two ways:
  kill   `podman kill`: every process dies, and the kernel closes their TCP
         connections (the arbitrator learns at once that the node is gone);
  crash  the node's network is cut first, then it is killed: nothing leaves the node,
         as when a hypervisor or a kernel dies (the arbitrator must time it out).
The figure is the time from the stop to the first HTTP answer on the VIP from the
other node, polled every 20 ms from the lab host. The stopped node is booted again and
rejoins before the next sample.
With --soak N, the role's and the fast lab then run N seconds each under load: every
core of the host busy (CPU burners, a disk writer) and `podman exec` polling of the
nodes, as the Molecule tests do. Corosync membership changes are counted: each one is
a false failover.
Writes bench/results/vip_failover.json (role kill median, Debian kill as baseline)."""

import argparse
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import tempfile
import time

from benchlib import LAB, PROJECT, save
from sclab import paths
from sclab.probe import http_body

CONFIGS = {
    "debian": {"lab": "b-fo-deb", "vars": {
        "pacemaker_totem_token": 3000, "pacemaker_totem_consensus": 3600,
        "pacemaker_qdevice_timeout": 10000, "pacemaker_qdevice_sync_timeout": 30000}},
    "role": {"lab": "b-fo-role", "vars": {}},
    "fast": {"lab": "b-fo-fast", "vars": {"pacemaker_totem_token": 300, "pacemaker_totem_consensus": 360}},
}
PORT = 8080
PODMAN_ENV = paths.podman_env()


def sh(cmd, check=True, timeout=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=PODMAN_ENV, timeout=timeout)
    if check and proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def lab_vip(lab):
    path = f"/var/lib/stormclouds-lab/labs/{lab}/inventory.yml"
    text = open(path, encoding="utf-8").read()
    return re.search(r"vip_range: (\d+\.\d+\.\d+\.\d+)-", text).group(1)


def ask(vip, timeout=0.2):
    return http_body(vip, PORT, timeout)


def in_node(lab, name, command):
    return sh(["podman", "exec", f"{lab}-{name}", "sh", "-c", command], check=False).stdout


def healthy(lab, vip, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = in_node(lab, "ha1", "crm_mon --one-shot") if sh(
            ["podman", "container", "exists", f"{lab}-ha1"], check=False).returncode == 0 else ""
        holder = ask(vip)
        if "Online: [ ha1 ha2 ]" in status and holder in ("ha1", "ha2") and "partition with quorum" in status:
            return holder
        time.sleep(1)
    raise SystemExit(f"{lab}: not healthy after {timeout} s:\n{status}")


def converge(config):
    lab = CONFIGS[config]["lab"]
    extra = {"pacemaker_cluster_name": f"bench-{config}", "pacemaker_fencing": "none",
             "pacemaker_fencing_disabled_acknowledged": True,
             "pacemaker_resources": [
                 {"id": "vip-web", "agent": "ocf:heartbeat:IPaddr2",
                  "params": {"ip": lab_vip(lab), "cidr_netmask": 24},
                  "ops": [{"name": "monitor", "interval": "5s", "timeout": "20s"}]},
                 {"id": "web", "agent": "systemd:lab-web"}],
             "pacemaker_groups": [{"id": "web-group", "members": ["vip-web", "web"]}]}
    extra.update(CONFIGS[config]["vars"])
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(extra, handle)
    try:
        sh([LAB, "run", "--name", lab, "--", "ansible-playbook",
            str(PROJECT / "molecule" / "pacemaker" / "converge.yml"), "-e", f"@{handle.name}"], timeout=1800)
    finally:
        os.unlink(handle.name)


def netns(lab, name, action):
    pid = sh(["podman", "inspect", "--format", "{{.State.Pid}}", f"{lab}-{name}"]).stdout.strip()
    for chain, iface in (("INPUT", "-i"), ("OUTPUT", "-o")):
        sh(["nsenter", "--target", pid, "--net", "iptables", "-w", action, chain, "!", iface, "lo", "-j", "DROP"])


def failover(config, kind):
    lab = CONFIGS[config]["lab"]
    vip = lab_vip(lab)
    victim = healthy(lab, vip)
    time.sleep(2)  # let the last transition settle
    if kind == "crash":
        netns(lab, victim, "-I")
    started = time.monotonic()
    sh(["podman", "kill", f"{lab}-{victim}"])
    while True:
        answer = ask(vip)
        if answer and answer != victim:
            break
        if time.monotonic() - started > 120:
            raise SystemExit(f"{lab}: no answer on the VIP 120 s after {kind} of {victim}")
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    sh([LAB, "up", "pacemaker", "--name", lab])
    healthy(lab, vip)
    print(f"  {config:6} {kind:5} {victim} -> {answer}: {elapsed:.2f} s", flush=True)
    return elapsed


def memberships(lab):
    total = 0
    for name in ("ha1", "ha2"):
        total += int(in_node(lab, name, "journalctl -u corosync --no-pager | grep -c 'new membership' || true")
                     .strip() or 0)
    return total


def soak(config, seconds):
    lab = CONFIGS[config]["lab"]
    vip = lab_vip(lab)
    holder = healthy(lab, vip)
    before = memberships(lab)
    cores = multiprocessing.cpu_count()
    load = [subprocess.Popen(["timeout", str(seconds), "python3", "-c", "while True: pass"])
            for _burner in range(2 * cores)]
    load.append(subprocess.Popen(["timeout", str(seconds), "sh", "-c",
                                  "while :; do dd if=/dev/zero of=/var/tmp/bench-soak bs=1M count=256 "
                                  "conv=fsync 2>/dev/null; done"]))
    moves = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        # What the tests do: podman exec into the nodes, several times a second.
        for name in ("ha1", "ha2"):
            in_node(lab, name, "ip -4 -o addr show >/dev/null")
        now = ask(vip, timeout=1)
        if now and now != holder:
            moves += 1
            holder = now
        time.sleep(0.2)
    for proc in load:
        proc.wait()
    if os.path.exists("/var/tmp/bench-soak"):
        os.unlink("/var/tmp/bench-soak")
    changes = memberships(lab) - before
    print(f"  soak {config}: {seconds} s with {2 * cores} CPU burners, a disk writer and podman exec polling: "
          f"{changes} membership changes, {moves} VIP moves", flush=True)
    return {"seconds": seconds, "cpu_burners": 2 * cores, "disk_writer": True, "podman_exec_polling": True,
            "membership_changes": changes, "vip_moves": moves}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--soak", type=int, default=180, help="seconds of loaded soak per lab (0: none)")
    parser.add_argument("--keep", action="store_true", help="leave the labs up at the end")
    args = parser.parse_args()
    try:
        for config in CONFIGS:
            sh([LAB, "down", CONFIGS[config]["lab"]])
            sh([LAB, "up", "pacemaker", "--name", CONFIGS[config]["lab"]])
        for config in CONFIGS:
            print(f"converging {CONFIGS[config]['lab']} ({config} timings)", flush=True)
            converge(config)
        samples = {(c, k): [] for c in CONFIGS for k in ("kill", "crash")}
        for round_no in range(args.runs):
            order = list(CONFIGS) if round_no % 2 == 0 else list(reversed(CONFIGS))
            print(f"round {round_no + 1}/{args.runs}", flush=True)
            for config in order:
                for kind in ("kill", "crash"):
                    samples[(config, kind)].append(failover(config, kind))
        soak_result = {c: soak(c, args.soak) for c in ("role", "fast")} if args.soak > 0 else None
    finally:
        if not args.keep:
            for config in CONFIGS:
                sh([LAB, "down", CONFIGS[config]["lab"]], check=False)

    def figures(series):
        return {"samples": [round(s, 3) for s in series], "median": round(statistics.median(series), 3),
                "max": round(max(series), 3)}

    base = figures(samples[("debian", "kill")])
    save("vip_failover", "VIP answered from the peer after podman kill of the active node (role timings)", "s",
         samples[("role", "kill")], f".venv/bin/python bench/vip_failover.py --runs {args.runs} --soak {args.soak}",
         baseline={"metric": "same, Debian/Corosync default timings", **base},
         extra={"max": round(max(samples[("role", "kill")]), 3),
                "crash": {c: figures(samples[(c, "crash")]) for c in CONFIGS},
                "fast_kill": figures(samples[("fast", "kill")]),
                "timings": {c: CONFIGS[c]["vars"] or "role defaults" for c in CONFIGS},
                "soak": soak_result})
    for config in CONFIGS:
        for kind in ("kill", "crash"):
            fig = figures(samples[(config, kind)])
            print(f"{config:6} {kind:5} median {fig['median']} s, max {fig['max']} s, samples {fig['samples']}")


if __name__ == "__main__":
    main()
