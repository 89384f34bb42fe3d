#!/usr/bin/env python
"""Benchmark: a cold converge of playbooks/site.yml on fresh lab nodes against the
second (idempotent) converge of the same nodes, side by side in one run.

Run as root from the project (after ./lab setup): .venv/bin/python bench/site_converge.py [--runs N]
Each sample brings up a fresh lab "b-site" (site layout), converges twice, and takes
the lab down. The apt cache is warm after the first sample, as on a developer's
machine. Writes bench/results/site_converge_cold.json and site_converge_second.json."""

import argparse

from benchlib import LAB, PROJECT, first_vs_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    first_vs_second(
        "b-site", args.runs, [LAB, "up", "site", "--name", "b-site"],
        [LAB, "run", "--name", "b-site", "--", "ansible-playbook", str(PROJECT / "playbooks" / "site.yml")],
        f".venv/bin/python bench/site_converge.py --runs {args.runs}",
        ("site_converge_cold", "cold converge of site.yml on 3 fresh nodes"),
        ("site_converge_second", "second (idempotent) converge of site.yml"),
    )


if __name__ == "__main__":
    main()
