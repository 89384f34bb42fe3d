#!/usr/bin/env python
"""Benchmark: 100 FRT tunnels from 10 VMs to one DMZ host.

Run as root from the project (after ./lab setup):
    .venv/bin/python bench/frt.py [--runs 3] [--vms 10] [--tunnels 10] [--keep]

One lab: dmz1 (frt_server) and vm01..vm10 (frt_client, 10 static tunnels each, all to
the VM's sshd), converged with molecule/frt's playbook. A probe on the DMZ host counts a
tunnel reachable when its port answers with the VM's SSH banner. Per run:
  cold      every tunnel unit on every VM stopped, then all started at once: time until
            all 100 are reachable;
  kill      `systemctl kill -s KILL ssh-frt` (the tunnel sshd and every session): time
            until all 100 are reachable again (the clients notice, wait RestartSec and
            reconnect);
  restart   `systemctl restart ssh-frt` (the listener only: KillMode=process keeps the
            sessions): how many tunnels stopped answering meanwhile (expected 0).
Memory: proportional set size of every process of ssh-frt.service with all tunnels up,
total and per tunnel. Writes bench/results/frt.json: the kill recovery times, the cold
start as the baseline, the restart's lost tunnels and the memory figures."""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import LAB, PROJECT, lab_command, save
from sclab import paths

NAME = "b-frt"
PODMAN_ENV = paths.podman_env()

# Runs on the DMZ host: polls every tunnel port for an SSH banner, prints seconds until
# all answer (or "timeout"), or with --watch the largest number that failed at once.
PROBE = r"""
import json, socket, subprocess, sys, time
mode, limit = sys.argv[1], float(sys.argv[2])
ports = [t["port"] for t in json.loads(subprocess.run(["frt-admin", "list", "--json"], capture_output=True,
                                                       text=True, check=True).stdout)]
def answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.settimeout(1)
            return s.recv(8).startswith(b"SSH-2.0")
    except OSError:
        return False
start = time.monotonic()
worst = 0
while time.monotonic() - start < limit:
    down = sum(not answers(p) for p in ports)
    worst = max(worst, down)
    if mode == "until-up" and down == 0:
        print(f"{time.monotonic() - start:.3f} {len(ports)}")
        sys.exit(0)
    time.sleep(0.05)
print(f"{'timeout' if mode == 'until-up' else worst} {len(ports)}")
"""


sh = lab_command


def in_node(node, command, check=True, timeout=600):
    return sh(["podman", "exec", f"{NAME}-{node}", "sh", "-c", command], check=check, timeout=timeout).stdout


def probe(mode, limit, background=False):
    cmd = ["podman", "exec", "-i", f"{NAME}-dmz1", "python3", "-", mode, str(limit)]
    if background:
        return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,  # pylint: disable=consider-using-with
                                env=PODMAN_ENV)
    return sh(cmd, input_text=PROBE, timeout=limit + 60).stdout.split()


def seconds_until_all_up(limit=300.0):
    value, count = probe("until-up", limit)
    if value == "timeout":
        raise SystemExit(f"not every one of {count} tunnels answered within {limit} s")
    return float(value), int(count)


def pss_kib():
    """Proportional set size of every process of ssh-frt.service, in KiB."""
    # By each process's own cgroup line (the lab's nodes mount a hybrid hierarchy).
    script = ("for f in $(grep -l '/system.slice/ssh-frt.service$' /proc/[0-9]*/cgroup 2>/dev/null); do "
              "p=${f#/proc/}; awk '/^Pss:/ {print $2}' /proc/${p%/cgroup}/smaps_rollup 2>/dev/null; done")
    values = [int(x) for x in in_node("dmz1", script).split()]
    if not values:
        raise SystemExit("no process of ssh-frt.service found for the memory figure")
    return sum(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--vms", type=int, default=10)
    parser.add_argument("--tunnels", type=int, default=10, help="per VM")
    parser.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    args = parser.parse_args()
    vms = [f"vm{i:02d}" for i in range(1, args.vms + 1)]
    layout = {"description": "FRT benchmark", "networks": ["intranet"],
              "nodes": [{"name": "dmz1", "groups": ["frt_server"]}]
              + [{"name": vm, "groups": ["frt_clients"]} for vm in vms]}
    settings = {"frt_client_tunnels": [{"name": f"t{i}", "port": 22} for i in range(args.tunnels)],
                "frt_client_quota": 0, "frt_server_port_range_start": 20000,
                "frt_server_port_range_end": 20000 + args.vms * args.tunnels + 99}
    cold, kill, lost_on_restart = [], [], []
    memory = None
    with tempfile.TemporaryDirectory() as tmp:
        layout_file = Path(tmp) / "layout.json"
        layout_file.write_text(json.dumps(layout), encoding="utf-8")
        vars_file = Path(tmp) / "vars.json"
        vars_file.write_text(json.dumps(settings), encoding="utf-8")
        try:
            sh([LAB, "down", NAME])
            sh([LAB, "up", "--name", NAME, "--layout-file", str(layout_file)], timeout=1800)
            print(f"converging dmz1 and {len(vms)} VMs with {args.tunnels} tunnels each", flush=True)
            sh([LAB, "run", "--name", NAME, "--", "ansible-playbook", str(PROJECT / "molecule" / "frt" / "converge.yml"),
                "-e", f"@{vars_file}"], timeout=3600)
            units = " ".join(f"frt-tunnel@t{i}" for i in range(args.tunnels))
            for run_no in range(1, args.runs + 1):
                for vm in vms:
                    in_node(vm, f"systemctl stop {units}")
                for vm in vms:
                    sh(["podman", "exec", "-d", f"{NAME}-{vm}", "systemctl", "start", *units.split()])
                seconds, count = seconds_until_all_up()
                cold.append(seconds)
                if memory is None:
                    total = pss_kib()
                    memory = {"tunnels": count, "pss_total_mib": round(total / 1024, 1),
                              "pss_per_tunnel_kib": round(total / count)}
                    print(f"tunnel sshd memory with {count} tunnels: {memory['pss_total_mib']} MiB PSS, "
                          f"{memory['pss_per_tunnel_kib']} KiB per tunnel", flush=True)
                in_node("dmz1", "systemctl kill --signal=SIGKILL ssh-frt")
                seconds, count = seconds_until_all_up()
                kill.append(seconds)
                watcher = probe("watch", 15.0, background=True)
                watcher.stdin.write(PROBE)
                watcher.stdin.close()
                time.sleep(2)
                in_node("dmz1", "systemctl restart ssh-frt")
                worst = int(watcher.stdout.read().split()[0])
                watcher.wait(60)
                lost_on_restart.append(worst)
                print(f"run {run_no}/{args.runs}: {count} tunnels; all reachable {cold[-1]:.2f} s after a cold start, "
                      f"{kill[-1]:.2f} s after the tunnel sshd was killed; {worst} unreachable during a listener "
                      f"restart", flush=True)
        finally:
            if not args.keep:
                sh([LAB, "down", NAME], check=False)

    save("frt", f"time until all {args.vms * args.tunnels} tunnels answer again after the tunnel sshd is killed", "s",
         kill, f".venv/bin/python bench/frt.py --runs {args.runs} --vms {args.vms} --tunnels {args.tunnels}",
         baseline={"metric": "same tunnels started at once on every VM (cold start)",
                   "samples": [round(v, 3) for v in cold], "median": round(statistics.median(cold), 3)},
         extra={"unreachable_during_listener_restart": lost_on_restart, "memory": memory})


if __name__ == "__main__":
    sys.exit(main())
