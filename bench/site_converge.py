#!/usr/bin/env python
"""Benchmark: a cold converge of playbooks/site.yml on fresh lab nodes against the
second (idempotent) converge of the same nodes, side by side in one run.

Run as root from the project: ./lab run -- python bench/site_converge.py [--runs N]
Each sample brings up a fresh lab "b-site" (site layout), converges twice, and takes
the lab down. The apt cache is warm after the first sample, as on a developer's
machine; the first sample is reported apart. Writes bench/results/site_converge.json."""

import argparse
import os

from benchlib import LAB, PROJECT, save, timed

NAME = "b-site"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    playbook = [LAB, "run", "--name", NAME, "--", "ansible-playbook", str(PROJECT / "playbooks" / "site.yml")]
    env = dict(os.environ, ANSIBLE_CALLBACKS_ENABLED="", ANSIBLE_FACT_CACHING="memory")
    timed([LAB, "down", NAME])
    cold, second = [], []
    try:
        for _sample in range(args.runs):
            timed([LAB, "up", "site", "--name", NAME])
            cold.append(timed(playbook, env=env))
            second.append(timed(playbook, env=env))
            timed([LAB, "down", NAME])
    finally:
        timed([LAB, "down", NAME])
    command = f"./lab run -- python bench/site_converge.py --runs {args.runs}"
    base = save("site_converge_cold", "cold converge of site.yml on 3 fresh nodes", "s", cold, command)
    save("site_converge_second", "second (idempotent) converge of site.yml", "s", second, command,
         baseline={"metric": base["metric"], "median": base["median"]})


if __name__ == "__main__":
    main()
