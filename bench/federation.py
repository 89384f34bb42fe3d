#!/usr/bin/env python
"""Benchmark: 200 sites announcing every 10 s to the 3-member federation registry.

Run as root from the project (after ./lab setup):
    .venv/bin/python bench/federation.py [--sites 200] [--interval 10] [--ttl 30] [--rounds 6] [--dead 10] [--keep]

One lab: fed1..fed3 (the federation_registry role, one etcd user per site), converged
with molecule/federation's playbook. The sites are simulated on this machine, one thread
each with its own registry client (the one the announcer uses, plugins/module_utils/
etcd_gateway.py), each starting on a different member, announcing every --interval
seconds under a --ttl lease, spread evenly over the interval.
  latency    wall time of one announcement as the announcer makes it (read the record,
             read its lease, renew it: three requests over one kept-alive HTTPS
             connection), over --rounds rounds of every site after the first writes;
             the first writes (new lease + put) are reported apart;
  expiry     --dead sites stop announcing at once; a watcher lists the live members every
             0.2 s (one range request): per dead site, seconds from its last announcement to its absence from
             the list (the lease TTL plus etcd's expiry check), and from the stop.
Writes bench/results/federation.json."""

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml
from benchlib import LAB, PROJECT, lab_command, save

sys.path.insert(0, str(PROJECT / "plugins" / "module_utils"))
import etcd_gateway as eg  # noqa: E402  (path above)

NAME = "b-fed"
MEMBERS = ("fed1", "fed2", "fed3")
PREFIX = "/stormclouds/federation/members/"
sh = lab_command


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


class Site(threading.Thread):
    """One simulated site: announces its record every interval until stopped."""

    def __init__(self, index, urls, ca, password, interval, ttl, offset):
        super().__init__(daemon=True)
        self.site_id = f"site-{index:03d}"
        rotated = urls[index % len(urls):] + urls[:index % len(urls)]
        self.gateway = eg.Gateway(rotated, ca_file=ca, user=self.site_id, password=password, timeout=5)
        self.record = eg.make_record(self.site_id, {"api": f"https://api.{self.site_id}.example.org:8182"},
                                     {"cores": index % 64, "ram_mb": 2048 * (index % 32), "instances": index % 10},
                                     "bench")
        self.interval, self.ttl, self.offset = interval, ttl, offset
        self.stop = threading.Event()
        self.latencies, self.first_writes, self.failures = [], [], []
        self.last_ok = None

    def run(self):
        if self.stop.wait(self.offset):
            return
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                outcome = eg.announce(self.gateway, PREFIX, self.record, self.ttl)
                elapsed = time.monotonic() - started
                (self.first_writes if outcome["written"] else self.latencies).append(elapsed)
                self.last_ok = time.monotonic()
            except (eg.EtcdError, OSError) as exc:
                self.failures.append(str(exc))
            self.stop.wait(max(0.0, self.interval - (time.monotonic() - started)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--ttl", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=6, help="measured rounds of every site after the first")
    parser.add_argument("--dead", type=int, default=10, help="sites that stop announcing at the end")
    parser.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    args = parser.parse_args()
    passwords = {f"site-{i:03d}": secrets.token_urlsafe(18) for i in range(1, args.sites + 1)}
    layout = {"description": "federation registry benchmark", "networks": ["lan"],
              "nodes": [{"name": m, "groups": ["federation_registry"]} for m in MEMBERS]}
    settings = {"federation_registry_sites": [{"id": s, "password": p} for s, p in passwords.items()]}
    with tempfile.TemporaryDirectory() as tmp:
        layout_file = Path(tmp) / "layout.json"
        layout_file.write_text(json.dumps(layout), encoding="utf-8")
        vars_file = Path(tmp) / "vars.json"
        vars_file.write_text(json.dumps(settings), encoding="utf-8")
        vars_file.chmod(0o600)
        try:
            sh([LAB, "down", NAME])
            sh([LAB, "up", "--name", NAME, "--layout-file", str(layout_file)], timeout=1800)
            print(f"converging the registry with {args.sites} site users", flush=True)
            sh([LAB, "run", "--name", NAME, "--", "ansible-playbook",
                str(PROJECT / "molecule" / "federation" / "converge.yml"), "-e", f"@{vars_file}"], timeout=3600)
            inventory = sh([LAB, "inventory", NAME]).stdout.strip()
            hosts = yaml.safe_load(Path(inventory).read_text(encoding="utf-8"))["all"]["hosts"]
            addresses = {m: hosts[m]["ansible_host"] for m in MEMBERS}
            ca = Path(tmp) / "ca.crt"
            ca.write_text(sh(["podman", "exec", f"{NAME}-fed1", "cat", "/etc/etcd/pki/ca.crt"]).stdout,
                          encoding="utf-8")
            urls = [f"https://{addresses[m]}:2379" for m in MEMBERS]
            figures = measure(args, urls, str(ca), passwords)
        finally:
            if not args.keep:
                sh([LAB, "down", NAME], check=False)
    latencies, first_writes, expiry_from_last, expiry_from_stop, failures = figures
    ms = [v * 1000 for v in latencies]
    save("federation", f"announcement latency, {args.sites} sites every {args.interval:g} s (lease renewal)", "ms", ms,
         f".venv/bin/python bench/federation.py --sites {args.sites} --interval {args.interval:g} --ttl {args.ttl} "
         f"--rounds {args.rounds} --dead {args.dead}",
         extra={"announcements": len(ms), "p50_ms": round(statistics.median(ms), 1),
                "p99_ms": round(percentile(ms, 0.99), 1), "max_ms": round(max(ms), 1),
                "first_write_p50_ms": round(statistics.median(first_writes) * 1000, 1),
                "first_write_p99_ms": round(percentile(first_writes, 0.99) * 1000, 1),
                "failed_announcements": failures, "ttl_s": args.ttl,
                "dead_site_gone_after_last_announcement_s": {
                    "samples": [round(v, 2) for v in expiry_from_last],
                    "median": round(statistics.median(expiry_from_last), 2), "max": round(max(expiry_from_last), 2)},
                "dead_site_gone_after_stop_s": {
                    "median": round(statistics.median(expiry_from_stop), 2), "max": round(max(expiry_from_stop), 2)}})


def measure(args, urls, ca, passwords):
    offsets = [args.interval * i / args.sites for i in range(args.sites)]
    sites = [Site(i, urls, ca, passwords[f"site-{i:03d}"], args.interval, args.ttl, offsets[i - 1])
             for i in range(1, args.sites + 1)]
    for site in sites:
        site.start()
    # Every site's first write, then the measured rounds.
    time.sleep(args.interval * (args.rounds + 1) + 1)
    watcher = eg.Gateway(urls, ca_file=ca, user="site-001", password=passwords["site-001"])
    listed = {m["site_id"] for m in eg.live_members(watcher, PREFIX)}
    print(f"{len(listed)} sites listed; {sum(len(s.latencies) for s in sites)} renewals so far", flush=True)
    latencies = [v for s in sites for v in s.latencies]
    first_writes = [v for s in sites for v in s.first_writes]
    failures = sum(len(s.failures) for s in sites)
    dead = sites[-args.dead:]
    stopped = time.monotonic()
    for site in dead:
        site.stop.set()
    gone_at = {}
    deadline = stopped + args.ttl * 2 + 10
    while len(gone_at) < len(dead) and time.monotonic() < deadline:
        live = {m["site_id"] for m in eg.live_members(watcher, PREFIX, lease_details=False)}
        now = time.monotonic()
        for site in dead:
            if site.site_id not in live and site.site_id not in gone_at:
                gone_at[site.site_id] = now
        time.sleep(0.2)
    for site in sites:
        site.stop.set()
    missing = [s.site_id for s in dead if s.site_id not in gone_at]
    if missing:
        raise SystemExit(f"still listed {args.ttl * 2 + 10} s after they stopped: {missing}")
    expiry_from_last = [gone_at[s.site_id] - s.last_ok for s in dead]
    expiry_from_stop = [gone_at[s.site_id] - stopped for s in dead]
    print(f"{len(latencies)} renewals: median {statistics.median(latencies) * 1000:.1f} ms, "
          f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms; {failures} failed; dead sites gone "
          f"{statistics.median(expiry_from_last):.1f} s (median) after their last announcement (TTL {args.ttl} s)",
          flush=True)
    return latencies, first_writes, expiry_from_last, expiry_from_stop, failures


if __name__ == "__main__":
    sys.exit(main())
