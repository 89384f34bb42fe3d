"""Shared helpers of the benchmarks: timing commands, medians, result files."""

import json
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
# The lab's package (sclab) for the benchmarks' probes.
sys.path.insert(0, str(PROJECT / "tools" / "lab"))
RESULTS = PROJECT / "bench" / "results"
LAB = str(PROJECT / "lab")


def timed(cmd, **kwargs) -> float:
    """Run cmd, fail loudly if it fails, return its wall time in seconds."""
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed


def lab_command(cmd, check=True, timeout=None, input_text=None):
    """Run a lab or podman command with the lab's podman settings; fail loudly (its
    output in the message) unless check is false. Returns the CompletedProcess."""
    # sclab is importable once the sys.path entry above is in place.
    from sclab import paths  # pylint: disable=import-outside-toplevel

    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=paths.podman_env(), timeout=timeout,
                          input=input_text)
    if check and proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def run(cmd) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def save(name: str, metric: str, unit: str, samples: list, command: str, baseline=None, extra=None) -> dict:
    """Print a figure and write bench/results/<name>.json."""
    result = {
        "metric": metric,
        "unit": unit,
        "samples": [round(s, 3) for s in samples],
        "median": round(statistics.median(samples), 3),
        "command": command,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {len(samples)} samples",
    }
    if baseline is not None:
        result["baseline"] = baseline
        result["ratio"] = round(result["median"] / baseline["median"], 3)
    if extra:
        result.update(extra)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    line = f"{name}: {metric} median {result['median']} {unit} over {len(samples)} runs {result['samples']}"
    if baseline is not None:
        line += f"; baseline {baseline['metric']} median {baseline['median']} {unit}; ratio {result['ratio']}"
    print(line, flush=True)
    return result


def first_vs_second(lab: str, runs: int, prepare, action: list, command: str, first: tuple, second: tuple) -> None:
    """Per sample, on a fresh lab: run `prepare` (untimed, may be None), time `action`,
    time the same `action` again, take the lab down. Saves both series, the second
    with the first as baseline. first/second: (result name, metric)."""
    timed([LAB, "down", lab])
    firsts, seconds = [], []
    try:
        for _sample in range(runs):
            if prepare:
                timed(prepare)
            firsts.append(timed(action))
            seconds.append(timed(action))
            timed([LAB, "down", lab])
    finally:
        timed([LAB, "down", lab])
    base = save(first[0], first[1], "s", firsts, command)
    save(second[0], second[1], "s", seconds, command, baseline={"metric": base["metric"], "median": base["median"]})
