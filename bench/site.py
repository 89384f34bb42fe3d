#!/usr/bin/env python
"""Benchmark: the whole platform on the lab. Per sample, on fresh nodes: a cold converge
of playbooks/site.yml (nine nodes, every layer), the second (idempotent) converge of the
same nodes as a ratio of the cold one (goal <= 25 %), then the failover drill's time per
service. Side by side in one run, on one machine.

Run as root from the project (after ./lab setup): .venv/bin/python bench/site.py [--runs N]
Each sample brings up a fresh lab "b-site" (site layout) and takes it down at the end.
The apt cache is warm after the first sample, as on a developer's machine. Writes
bench/results/site.json."""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import LAB, PROJECT, save

LAB_NAME = "b-site"


def playbook(name, *extra):
    """Run a playbook on the bench lab; (seconds, stdout). Fails loudly."""
    started = time.monotonic()
    proc = subprocess.run([LAB, "run", "--name", LAB_NAME, "--", "ansible-playbook", str(PROJECT / "playbooks" / name), *extra],
                          capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, cwd=PROJECT)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"{name} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def changed_hosts(stdout):
    return {host: int(changed) for host, changed in re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", stdout, re.M) if int(changed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    colds, seconds, drills = [], [], []
    subprocess.run([LAB, "down", LAB_NAME], capture_output=True, check=False)
    try:
        for sample in range(args.runs):
            subprocess.run([LAB, "up", "site", "--name", LAB_NAME], capture_output=True, text=True, check=True)
            cold, _cold_output = playbook("site.yml")
            second, out = playbook("site.yml")
            if changed_hosts(out):
                sys.exit(f"the second converge changed something: {changed_hosts(out)}")
            with tempfile.TemporaryDirectory() as tmp:
                results = os.path.join(tmp, "drill.json")
                playbook("failover_drill.yml", "-e", f"failover_drill_results_file={results}")
                with open(results, encoding="utf-8") as handle:
                    drills.append(json.load(handle))
            colds.append(cold)
            seconds.append(second)
            print(f"sample {sample + 1}: cold {cold:.0f} s, second {second:.0f} s, drill "
                  + ", ".join(f"{s} {d['seconds']} s" for s, d in drills[-1].items()), flush=True)
            subprocess.run([LAB, "down", LAB_NAME], capture_output=True, check=False)
    finally:
        subprocess.run([LAB, "down", LAB_NAME], capture_output=True, check=False)
    drill_medians = {service: round(statistics.median(d[service]["seconds"] for d in drills), 1) for service in drills[0]}
    save("site", "cold converge of site.yml, whole platform on 9 nodes", "s", colds,
         f".venv/bin/python bench/site.py --runs {args.runs}",
         extra={
             "second_converge": {"samples": [round(s, 1) for s in seconds], "median": round(statistics.median(seconds), 1),
                                 "changed": 0},
             "second_to_cold_ratio": round(statistics.median(seconds) / statistics.median(colds), 3),
             "ratio_goal": "<= 0.25",
             "failover_drill_seconds": drill_medians,
             "failover_drill_samples": drills,
         })
    print(f"second/cold {statistics.median(seconds) / statistics.median(colds):.3f}; drill medians {drill_medians}")


if __name__ == "__main__":
    main()
