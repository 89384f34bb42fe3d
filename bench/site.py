#!/usr/bin/env python
"""Benchmark: the whole platform on the lab. Per sample, on fresh nodes: a cold converge
of playbooks/site.yml (nine nodes, every layer), the second (idempotent) converge of the
same nodes as a ratio of the cold one (goal <= 25 %), then the failover drill's time per
service: with Ansible's own strategy and with Mitogen's, side by side in one run, on one
machine.

Run as root from the project (after ./lab setup):
.venv/bin/python bench/site.py [--runs N] [--strategies linear,mitogen_linear]
Each sample of each strategy brings up a fresh lab "b-site" (site layout) and takes it
down at the end.
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

from benchlib import LAB, PROJECT, lab_command, save

LAB_NAME = "b-site"


# Ansible's own strategy, then Mitogen's (ANSIBLE_STRATEGY=mitogen_linear, README
# "Faster runs"): the same playbooks, roles and nodes, side by side in one run.
STRATEGIES = ("linear", "mitogen_linear")


def playbook(name, *extra, strategy="linear"):
    """Run a playbook on the bench lab with a strategy; (seconds, stdout). Fails loudly."""
    env = dict(os.environ, ANSIBLE_STRATEGY=strategy)
    started = time.monotonic()
    proc = subprocess.run([LAB, "run", "--name", LAB_NAME, "--", "ansible-playbook", str(PROJECT / "playbooks" / name), *extra],
                          capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, cwd=PROJECT, env=env)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"{name} ({strategy}) failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def task_seconds(stdout):
    """(play, task, seconds) per task from the profile_tasks callback ansible.cfg enables:
    each task header is followed by a line ending "(H:MM:SS.sss)  H:MM:SS.sss ****" whose
    first figure is how long the task before it took."""
    tasks, play, previous = [], "", None
    lines = stdout.splitlines()
    for number, line in enumerate(lines[:-1]):
        play_header = re.match(r"^PLAY \[(.*?)\]", line)
        if play_header:
            play = play_header.group(1)
        header = re.match(r"^(?:TASK|RUNNING HANDLER) \[(.*?)\]", line)
        if header or line.startswith("PLAY RECAP"):
            took = re.search(r"\((\d+):(\d+):([\d.]+)\)", lines[number + 1])
            if took and previous is not None:
                previous[2] = int(took.group(1)) * 3600 + int(took.group(2)) * 60 + float(took.group(3))
            previous = None
            if header:
                previous = [play, header.group(1), 0.0]
                tasks.append(previous)
    return [tuple(task) for task in tasks]


def profile(stdout, slowest=15):
    """Where a run's time went: seconds per play (in order) and the slowest tasks."""
    tasks = task_seconds(stdout)
    by_play = {}
    for play, _task, seconds in tasks:
        by_play[play] = round(by_play.get(play, 0.0) + seconds, 1)
    top = sorted(tasks, key=lambda task: -task[2])[:slowest]
    return {"tasks": len(tasks), "seconds_by_play": by_play,
            "slowest_tasks": [{"task": task, "play": play, "seconds": round(seconds, 1)} for play, task, seconds in top]}


def cpu_usage_file(cgroup_lines):
    """The file counting a process's CPU time, from its /proc/PID/cgroup lines: cgroup v1's
    cpuacct.usage (ns) or v2's cpu.stat (usage_usec); (path, nanoseconds per unit)."""
    entries = [line.split(":", 2)[1:] for line in cgroup_lines]
    for controllers, path in entries:
        if "cpuacct" in controllers.split(","):
            return f"/sys/fs/cgroup/cpuacct{path}/cpuacct.usage", 1
    for controllers, path in entries:
        if controllers == "":
            # The container's systemd (the inspected PID) sits in the init.scope of the
            # container's cgroup; its services are beside it.
            return f"/sys/fs/cgroup{path.removesuffix('/init.scope')}/cpu.stat", 1000
    raise ValueError(f"no CPU accounting in {cgroup_lines}")


def read_usage(path, unit):
    with open(path, encoding="ascii") as handle:
        text = handle.read()
    if path.endswith("cpu.stat"):
        text = dict(line.split() for line in text.splitlines())["usage_usec"]
    return int(text) * unit


def cpu_at_rest(seconds=30):
    """Cores each node of the bench lab uses while nothing is asked of it: the services'
    own background (health checks, pollers, cluster heartbeats)."""
    prefix = f"{LAB_NAME}-"
    names = [name for name in lab_command(["podman", "ps", "--format", "{{.Names}}"]).stdout.split()
             if name.startswith(prefix)]
    files = {}
    for name in names:
        pid = lab_command(["podman", "inspect", "--format", "{{.State.Pid}}", name]).stdout.strip()
        with open(f"/proc/{pid}/cgroup", encoding="ascii") as handle:
            files[name.removeprefix(prefix)] = cpu_usage_file(handle.read().splitlines())
    before = {node: read_usage(*file) for node, file in files.items()}
    time.sleep(seconds)
    after = {node: read_usage(*file) for node, file in files.items()}
    cores = {node: round((after[node] - before[node]) / 1e9 / seconds, 3) for node in sorted(files)}
    return {"seconds": seconds, "cores_by_node": cores, "cores": round(sum(cores.values()), 3)}


def changed_hosts(stdout):
    return {host: int(changed) for host, changed in re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", stdout, re.M) if int(changed)}


def sample(strategy):
    """One fresh lab: cold converge, unchanged second run, the lab at rest, the drill."""
    subprocess.run([LAB, "up", "site", "--name", LAB_NAME], capture_output=True, text=True, check=True)
    try:
        cold, _cold_output = playbook("site.yml", strategy=strategy)
        second, out = playbook("site.yml", strategy=strategy)
        if changed_hosts(out):
            sys.exit(f"the second converge ({strategy}) changed something: {changed_hosts(out)}")
        rest = cpu_at_rest()
        with tempfile.TemporaryDirectory() as tmp:
            results = os.path.join(tmp, "drill.json")
            playbook("failover_drill.yml", "-e", f"failover_drill_results_file={results}", strategy=strategy)
            with open(results, encoding="utf-8") as handle:
                drill = json.load(handle)
    finally:
        subprocess.run([LAB, "down", LAB_NAME], capture_output=True, check=False)
    return {"cold": cold, "second": second, "profile": profile(out), "rest": rest, "drill": drill}


def summary(samples):
    """Medians of one strategy's samples; the profile and the lab at rest of the last."""
    colds = [s["cold"] for s in samples]
    seconds = [s["second"] for s in samples]
    ratio = statistics.median(seconds) / statistics.median(colds)
    drills = [s["drill"] for s in samples]
    return {
        "cold_converge": {"samples": [round(c, 1) for c in colds], "median": round(statistics.median(colds), 1)},
        "second_converge": {"samples": [round(c, 1) for c in seconds], "median": round(statistics.median(seconds), 1),
                            "changed": 0,
                            # What an unchanged run spends its time on.
                            "profile": samples[-1]["profile"]},
        "second_to_cold_ratio": round(ratio, 3),
        "ratio_goal": "<= 0.25",
        "ratio_goal_met": ratio <= 0.25,
        # The lab's own load between runs: what every run shares the machine with.
        "cpu_at_rest": samples[-1]["rest"],
        "failover_drill_seconds": {service: round(statistics.median(d[service]["seconds"] for d in drills), 1)
                                   for service in drills[0]},
        "failover_drill_samples": drills,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help="comma-separated Ansible strategies, each measured on its own fresh lab")
    args = parser.parse_args()
    strategies = args.strategies.split(",")
    samples = {strategy: [] for strategy in strategies}
    subprocess.run([LAB, "down", LAB_NAME], capture_output=True, check=False)
    # Interleaved, so a machine that slows down over the run weighs on every strategy.
    for number in range(args.runs):
        for strategy in strategies:
            result = sample(strategy)
            samples[strategy].append(result)
            print(f"sample {number + 1} {strategy}: cold {result['cold']:.0f} s, second {result['second']:.0f} s "
                  f"({result['second'] / result['cold']:.3f}), at rest {result['rest']['cores']} cores, drill "
                  + ", ".join(f"{s} {d['seconds']} s" for s, d in result["drill"].items()), flush=True)
    by_strategy = {strategy: summary(runs) for strategy, runs in samples.items()}
    first = by_strategy[strategies[0]]
    save("site", f"cold converge of site.yml, whole platform on 9 nodes ({strategies[0]} strategy)", "s",
         first["cold_converge"]["samples"],
         f".venv/bin/python bench/site.py --runs {args.runs} --strategies {args.strategies}",
         extra={"by_strategy": by_strategy})
    for strategy, result in by_strategy.items():
        print(f"{strategy}: cold {result['cold_converge']['median']} s, second {result['second_converge']['median']} s, "
              f"second/cold {result['second_to_cold_ratio']}; drill {result['failover_drill_seconds']}")


if __name__ == "__main__":
    main()
