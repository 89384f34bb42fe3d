#!/usr/bin/env python
"""Benchmark: encrypted Duplicity backups of 1 GiB of mixed files to the lab's Swift.

Run as root from the project (after ./lab setup):
    .venv/bin/python bench/backup.py [--runs 1] [--mib 1024] [--keep]

One lab: swift1 (the swift_aio fixture: Keystone v3 + Swift all-in-one) and app1 (the
backup role), converged with molecule/backup's playbook and settings. On app1, a fixed
seed generates MIB of mixed files under /srv/bench: a third incompressible (random
binaries of 1-4 MiB), a third compressible text (100-300 KiB), a third small files
(4-32 KiB, half text). Per run, side by side on the same data, read from the page cache:
  upload    `swift upload` of /srv/bench (swiftclient's CLI, 10 threads, one object per
            file, neither compressed nor encrypted) into a fresh container: the baseline;
  full      the backup job's full backup (tar, gzip, GPG-encrypt to the test key,
            sign, 200 MB volumes), timed from the job's start to its end;
  1 %       1 % of the files, spread over the three kinds, rewritten with new content
            (1 % of the bytes, as the kinds have equal shares);
  incr      the job's incremental: bytes it stored as a fraction of the full's.
Writes bench/results/backup.json: the full's throughput vs the upload's (ratio), the
incremental's stored bytes as a fraction of the full's (goal <= 3 %)."""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from benchlib import LAB, PROJECT, lab_command, save

NAME = "b-backup"
SCENARIO = PROJECT / "molecule" / "backup"

GENERATE = r"""
import os, random, sys
root, total = sys.argv[1], int(sys.argv[2]) * 1024 * 1024
rng = random.Random(20261123)
words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 10))) for _ in range(5000)]
def text(n):
    out = []
    size = 0
    while size < n:
        line = ' '.join(rng.choice(words) for _ in range(12)) + '\n'
        out.append(line)
        size += len(line)
    return ''.join(out)[:n].encode()
kinds = [('bin', lambda: rng.randint(1 << 20, 4 << 20), lambda n: rng.randbytes(n)),
         ('txt', lambda: rng.randint(100 << 10, 300 << 10), text),
         ('small', lambda: rng.randint(4 << 10, 32 << 10), lambda n: text(n) if rng.random() < 0.5 else rng.randbytes(n))]
count = 0
for kind, size_of, content in kinds:
    written = 0
    d = 0
    while written < total // 3:
        path = os.path.join(root, kind, f'd{d // 200:03d}')
        os.makedirs(path, exist_ok=True)
        n = size_of()
        with open(os.path.join(path, f'f{d:05d}'), 'wb') as f:
            f.write(content(n))
        written += n
        d += 1
        count += 1
print(count)
"""

# Rewrite 1 % of the files of each kind with new content of the same size.
CHANGE = r"""
import os, random, sys
root = sys.argv[1]
rng = random.Random(int(sys.argv[2]))
files = {}
for dirpath, _, names in os.walk(root):
    kind = os.path.relpath(dirpath, root).split(os.sep)[0]
    files.setdefault(kind, []).extend(os.path.join(dirpath, n) for n in names)
changed = size = 0
for kind, paths in sorted(files.items()):
    if not paths:
        continue
    paths.sort()
    for path in rng.sample(paths, max(1, len(paths) // 100)):
        n = os.path.getsize(path)
        with open(path, 'wb') as f:
            f.write(rng.randbytes(n))
        changed += 1
        size += n
print(changed, size)
"""


def sh(cmd, check=True, timeout=7200, input_text=None):
    return lab_command(cmd, check=check, timeout=timeout, input_text=input_text)


def in_node(node, command, timeout=7200):
    return sh(["podman", "exec", f"{NAME}-{node}", "sh", "-c", command], timeout=timeout).stdout


def python_in(node, script, *args):
    return sh(["podman", "exec", "-i", f"{NAME}-{node}", "python3", "-", *args], input_text=script).stdout


def settings(runs):
    """molecule/backup's settings, the keys read from its files, one bench job."""
    group_vars = yaml.safe_load((SCENARIO / "molecule.yml").read_text())["provisioner"]["inventory"]["group_vars"]
    merged = dict(group_vars["all"], **group_vars["backup_clients"])
    keys = SCENARIO / "keys"
    merged.pop("backup_test_keys")
    merged.update(backup_gpg_encrypt_key=(keys / "encrypt.pub.asc").read_text(),
                  backup_gpg_sign_key=(keys / "signing.sec.asc").read_text(),
                  backup_jobs=[{"name": "bench", "paths": ["/srv/bench"], "schedule": "*-*-* 04:00:00",
                                "verify_every_days": 0, "keep_full": runs + 1}])
    return merged


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--mib", type=int, default=1024, help="size of the data set")
    parser.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    args = parser.parse_args()
    layout = {"description": "backup benchmark", "nodes": [{"name": "swift1", "groups": ["object_store"]},
                                                           {"name": "app1", "groups": ["backup_clients"]}]}
    conf = settings(args.runs)
    acc = next(a for a in conf["swift_aio_accounts"] if a["user"] == conf["backup_swift_username"])
    samples = {"upload_s": [], "full_s": [], "full_stored": [], "incr_stored": [], "incr_s": [], "changed_bytes": []}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "layout.json").write_text(json.dumps(layout), encoding="utf-8")
        (Path(tmp) / "vars.json").write_text(json.dumps(conf), encoding="utf-8")
        try:
            sh([LAB, "down", NAME])
            sh([LAB, "up", "--name", NAME, "--layout-file", str(Path(tmp) / "layout.json")], timeout=1800)
            print("converging swift1 (Keystone + Swift) and app1 (backup role)", flush=True)
            in_node("app1", "mkdir -p /srv/bench")
            sh([LAB, "run", "--name", NAME, "--", "ansible-playbook", str(SCENARIO / "converge.yml"),
                "-e", f"@{Path(tmp) / 'vars.json'}"], timeout=3600)
            files = python_in("app1", GENERATE, "/srv/bench", str(args.mib)).strip()
            data_bytes = int(in_node("app1", "du -sb --apparent-size /srv/bench | cut -f1"))
            print(f"data set: {files} files, {data_bytes / 2**20:.0f} MiB", flush=True)
            address = in_node("swift1", "hostname -I | cut -d' ' -f1").strip()
            env = (f"OS_AUTH_URL=http://{address}:5000/v3 OS_USERNAME={acc['user']} OS_PASSWORD='{acc['password']}' "
                   f"OS_PROJECT_NAME={acc['project']} OS_USER_DOMAIN_ID=default OS_PROJECT_DOMAIN_ID=default "
                   "OS_IDENTITY_API_VERSION=3")
            for run_no in range(1, args.runs + 1):
                in_node("app1", "cat $(find /srv/bench -type f) > /dev/null")  # both read from the page cache
                started = time.monotonic()
                in_node("app1", f"cd /srv && env {env} swift upload --skip-identical plain-{run_no} bench >/dev/null")
                samples["upload_s"].append(time.monotonic() - started)
                started = time.monotonic()
                in_node("app1", "stormclouds-backup run bench --full >/dev/null")
                samples["full_s"].append(time.monotonic() - started)
                full = json.loads(in_node("app1", "cat /var/lib/stormclouds-backup/status/bench.json"))
                samples["full_stored"].append(full["last_size_bytes"])
                changed, changed_bytes = python_in("app1", CHANGE, "/srv/bench", str(run_no)).split()
                samples["changed_bytes"].append(int(changed_bytes))
                started = time.monotonic()
                in_node("app1", "stormclouds-backup run bench >/dev/null")
                samples["incr_s"].append(time.monotonic() - started)
                incr = json.loads(in_node("app1", "cat /var/lib/stormclouds-backup/status/bench.json"))
                assert incr["last_kind"] == "incremental", incr
                samples["incr_stored"].append(incr["last_size_bytes"])
                print(f"run {run_no}/{args.runs}: swift upload {samples['upload_s'][-1]:.1f} s "
                      f"({data_bytes / 2**20 / samples['upload_s'][-1]:.1f} MiB/s); full backup "
                      f"{samples['full_s'][-1]:.1f} s ({data_bytes / 2**20 / samples['full_s'][-1]:.1f} MiB/s), "
                      f"stored {full['last_size_bytes'] / 2**20:.0f} MiB; {changed} files rewritten "
                      f"({int(changed_bytes) / 2**20:.1f} MiB, {int(changed_bytes) / data_bytes:.2%}); incremental "
                      f"{samples['incr_s'][-1]:.1f} s, stored {incr['last_size_bytes'] / 2**20:.2f} MiB = "
                      f"{incr['last_size_bytes'] / full['last_size_bytes']:.2%} of the full", flush=True)
        finally:
            if not args.keep:
                sh([LAB, "down", NAME], check=False)

    def mib_s(seconds):
        return [round(data_bytes / 2**20 / s, 2) for s in seconds]

    fractions = [i / f for i, f in zip(samples["incr_stored"], samples["full_stored"])]
    save("backup", f"full encrypted backup throughput of {data_bytes / 2**20:.0f} MiB ({files} files)", "MiB/s",
         mib_s(samples["full_s"]), f".venv/bin/python bench/backup.py --runs {args.runs} --mib {args.mib}",
         baseline={"metric": "plain `swift upload` of the same files (10 threads, no compression, no encryption)",
                   "samples": mib_s(samples["upload_s"]), "median": statistics.median(mib_s(samples["upload_s"]))},
         extra={"incremental_stored_fraction_of_full": [round(f, 4) for f in fractions],
                "incremental_stored_fraction_median": round(statistics.median(fractions), 4),
                "goal_incremental_fraction": 0.03,
                "data_bytes": data_bytes, "files": int(files),
                "changed_bytes": samples["changed_bytes"],
                "full_stored_bytes": samples["full_stored"], "incremental_stored_bytes": samples["incr_stored"],
                "full_s": [round(s, 1) for s in samples["full_s"]], "upload_s": [round(s, 1) for s in samples["upload_s"]],
                "incremental_s": [round(s, 1) for s in samples["incr_s"]]})


if __name__ == "__main__":
    sys.exit(main())
