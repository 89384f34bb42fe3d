#!/usr/bin/env python
"""Benchmark: `lab up` of 3 nodes with a warm image (cold lab: no containers or
network), against a second, idempotent `lab up` of the same lab, side by side.

Run as root from the project (after ./lab setup): .venv/bin/python bench/lab_up.py [--runs N]
Writes bench/results/lab_up.json and bench/results/lab_up_idempotent.json."""

import argparse

from benchlib import LAB, first_vs_second, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    timed([LAB, "image"])  # the image is warm for every sample
    first_vs_second(
        "b-up", args.runs, None, [LAB, "up", "default", "--nodes", "3", "--name", "b-up"],
        f".venv/bin/python bench/lab_up.py --runs {args.runs}",
        ("lab_up", "lab up, 3 nodes, warm image"),
        ("lab_up_idempotent", "second lab up of the same 3 nodes"),
    )


if __name__ == "__main__":
    main()
