"""stormclouds-backup: one backup job of this host, end to end.

    stormclouds-backup run JOB [--full]     database dumps, then duplicity (full or
                                            incremental), retention, verification when due
    stormclouds-backup verify JOB           verify the job's backups now
    stormclouds-backup status [JOB]         the recorded state (JSON)
    stormclouds-backup restore JOB TARGET [--time T] [--force]
                                            restore into TARGET, then compare TARGET with
                                            the backup (needs a decryption key: GNUPGHOME)
    stormclouds-backup load-dumps JOB ROOT  load the database dumps restored under ROOT
    stormclouds-backup rebuild-cache JOB --gnupg-home DIR
                                            rebuild the local metadata cache from Swift
    stormclouds-backup duplicity JOB collection-status|list-current-files
                                            duplicity with the job's URL and credentials

The job's settings are in /etc/stormclouds/backup/jobs/JOB.json, the Swift credentials
(and the signing passphrase) in /etc/stormclouds/backup/credentials.env, both written by
the stormclouds.platform.backup role and readable by root only. They reach duplicity
through its environment, never its command line.

Every run records its outcome in /var/lib/stormclouds-backup/status/JOB.json (and the
time of the last good run alone in JOB.last_success, for the monitoring agent): a failed
run records the failure and leaves the last good run as it was.
"""

import argparse
import contextlib
import datetime
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

CONFIG_DIR = Path("/etc/stormclouds/backup")
STATE_DIR = Path("/var/lib/stormclouds-backup")
STATUS_DIR = STATE_DIR / "status"
# Root only: a lock in a world-writable directory could be taken by anyone.
LOCK_DIR = Path("/run/stormclouds-backup")
DUPLICITY = "/usr/bin/duplicity"
# Not dumped with [all]: generated schemas, and the accounts (the database roles declare
# them; loading an old mysql schema would roll back every account change since).
SYSTEM_DATABASES = {"information_schema", "performance_schema", "sys", "mysql"}
READ_ONLY_COMMANDS = ("collection-status", "list-current-files")


class JobError(Exception):
    """A failure with its cause, reported as the job's error."""


@contextlib.contextmanager
def job_lock(job):
    """One command of a job at a time (runs, verifications, restores, cache rebuilds)."""
    LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
    with open(LOCK_DIR / f"{job['name']}.lock", "w", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JobError(f"job {job['name']} is busy (a run, verification or restore holds it)") from None
        yield


def stopped(signum, _frame):
    """systemd stops a job with SIGTERM: record it as a failure (status, last error)."""
    raise JobError(f"stopped by signal {signal.Signals(signum).name}")


def log(message):
    print(message, flush=True)


def load_job(name):
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise JobError(f"invalid job name {name!r}")
    path = CONFIG_DIR / "jobs" / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        known = sorted(p.stem for p in (CONFIG_DIR / "jobs").glob("*.json"))
        raise JobError(f"no backup job {name!r} on this host (jobs: {', '.join(known) or 'none'})") from None


def credentials():
    """KEY=VALUE lines of the credentials file (no shell quoting)."""
    env = {}
    path = CONFIG_DIR / "credentials.env"
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _sep, value = line.partition("=")
            env[key.strip()] = value
    return env


def duplicity_env(job, gnupg_home=None, passphrase=None):
    env = dict(os.environ)
    env.update(credentials())
    env["GNUPGHOME"] = gnupg_home or job["gnupg_home"]
    env.setdefault("PASSPHRASE", "")
    if passphrase is not None:  # the operator's, for a restore: it wins over the host's
        env["PASSPHRASE"] = passphrase
    env["LC_ALL"] = "C.UTF-8"
    return env


def common_options(job):
    opts = ["--name", job["name"], "--archive-dir", job["archive_dir"],
            "--num-retries", str(job["num_retries"]),
            "--backend-retry-delay", str(job["retry_delay"])]
    if job.get("verbosity"):
        opts += ["--verbosity", job["verbosity"]]
    return opts


def key_options(job):
    opts = ["--encrypt-key", job["encrypt_key"]]
    if job.get("sign_key"):
        opts += ["--sign-key", job["sign_key"]]
    return opts


def selection(job, root="/"):
    """Sources are absolute paths backed up from /: the excludes first (the first
    matching rule wins), then the paths and the dumps, then nothing else. With another
    root, the same selection moved under it: what a restore put there, and only that,
    is compared (a restore in place or over other files compares no stranger)."""
    prefix = str(root).rstrip("/")
    opts = []
    for pattern in job.get("excludes", []):
        opts += ["--exclude", prefix + pattern if pattern.startswith("/") else pattern]
    for path in job["paths"] + ([job["dump_dir"]] if has_databases(job) else []):
        opts += ["--include", prefix + path]
    return opts + ["--exclude", "**"]


def has_databases(job):
    return bool(job.get("mariadb", {}).get("databases") or job.get("postgresql", {}).get("databases"))


def duplicity(job, args, env=None, check=True, echo=True):
    """Run duplicity, echoing its output to the journal; returns (returncode, output)."""
    argv = [DUPLICITY] + args
    proc = subprocess.run(argv, env=env or duplicity_env(job), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, check=False)
    if echo:
        sys.stdout.write(proc.stdout)
        sys.stdout.flush()
    if check and proc.returncode != 0:
        raise JobError(f"duplicity {args[0]} failed (exit {proc.returncode}): {last_lines(proc.stdout)}")
    return proc.returncode, proc.stdout


def last_lines(text, count=3):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "(no output)"


# --- status -------------------------------------------------------------------------

def read_status(name):
    try:
        return json.loads((STATUS_DIR / f"{name}.json").read_text())
    except (FileNotFoundError, ValueError):
        return {"job": name}


def write_status(name, status):
    STATUS_DIR.mkdir(parents=True, exist_ok=True)
    for fname, content in ((f"{name}.json", json.dumps(status, indent=2, sort_keys=True) + "\n"),
                           (f"{name}.last_success", f"{status.get('last_success', 0)}\n")):
        tmp = STATUS_DIR / f".{fname}.tmp"
        tmp.write_text(content)
        tmp.chmod(0o644)
        os.replace(tmp, STATUS_DIR / fname)


def iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- database dumps -----------------------------------------------------------------

def dump_to(path, argv, env=None):
    """Run a dump command into path atomically: a failed dump leaves no file behind
    and fails the job with the dump tool's own message."""
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as out:
        proc = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, env=env, check=False)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise JobError(f"{argv[0]} of {path.name} failed (exit {proc.returncode}): "
                       f"{last_lines(proc.stderr.decode(errors='replace'))}")
    tmp.chmod(0o600)
    os.replace(tmp, path)


def mariadb_databases(wanted):
    if wanted != ["all"]:
        return wanted
    proc = subprocess.run(["mariadb", "--batch", "--skip-column-names", "-e", "SHOW DATABASES"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise JobError(f"cannot list MariaDB's databases: {last_lines(proc.stderr)}")
    return [db for db in proc.stdout.splitlines() if db and db not in SYSTEM_DATABASES]


def dump_mariadb(job, directory):
    spec = job["mariadb"]
    produced = []
    if spec.get("method") == "mariabackup":
        # A physical copy, prepared so that restoring is a copy-back; InnoDB is copied
        # without locking writers, --galera-info records the Galera position.
        target = directory / "mariabackup"
        partial = directory / "mariabackup.partial"
        shutil.rmtree(partial, ignore_errors=True)
        for argv in (["mariabackup", "--backup", f"--target-dir={partial}", "--galera-info"] + spec.get("options", []),
                     ["mariabackup", "--prepare", f"--target-dir={partial}"]):
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                shutil.rmtree(partial, ignore_errors=True)
                raise JobError(f"{' '.join(argv[:2])} failed (exit {proc.returncode}): {last_lines(proc.stderr)}")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)
        return [target.name]
    for database in mariadb_databases(spec["databases"]):
        # --single-transaction: a consistent InnoDB snapshot without locking writers
        # (Galera replicates InnoDB only); never --lock-all-tables.
        path = directory / f"mariadb-{database}.sql"
        dump_to(path, ["mysqldump", "--single-transaction", "--quick", "--routines", "--events",
                       "--triggers", "--hex-blob", "--databases", database] + spec.get("options", []))
        produced.append(path.name)
    return produced


def dump_postgresql(job, directory):
    spec = job["postgresql"]
    databases = spec["databases"]
    as_postgres = ["runuser", "-u", "postgres", "--"]
    if databases == ["all"]:
        proc = subprocess.run(as_postgres + ["psql", "-At", "-c",
                                             "SELECT datname FROM pg_database WHERE NOT datistemplate"],
                              capture_output=True, text=True, check=False, cwd="/")
        if proc.returncode != 0:
            raise JobError(f"cannot list PostgreSQL's databases: {last_lines(proc.stderr)}")
        # The maintenance database "postgres" holds nothing of the applications.
        databases = [db for db in proc.stdout.splitlines() if db and db != "postgres"]
    produced = []
    path = directory / "postgresql-globals.sql"
    dump_to(path, as_postgres + ["pg_dumpall", "--globals-only"])
    produced.append(path.name)
    for database in databases:
        # Plain SQL (librsync finds the unchanged parts for the incrementals), one
        # consistent snapshot; --create/--clean recreate the database on restore.
        path = directory / f"postgresql-{database}.sql"
        dump_to(path, as_postgres + ["pg_dump", "--create", "--clean", "--if-exists", database]
                + spec.get("options", []))
        produced.append(path.name)
    return produced


def dump_databases(job):
    directory = Path(job["dump_dir"])
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    # postgres writes nothing here: its dumps come through our stdout.
    produced = []
    if job.get("mariadb", {}).get("databases"):
        produced += dump_mariadb(job, directory)
    if job.get("postgresql", {}).get("databases"):
        produced += dump_postgresql(job, directory)
    # A database dropped since the last run must not come back from a stale dump.
    for stale in directory.iterdir():
        if stale.name not in produced:
            if stale.is_dir():
                shutil.rmtree(stale)
            else:
                stale.unlink()
    return produced


# --- the chain ----------------------------------------------------------------------

def local_chain(job):
    """(start of the current full, incrementals since) from duplicity's archive
    directory, which every duplicity run synchronises with the remote first."""
    archive = Path(job["archive_dir"]) / job["name"]
    fulls, incs = [], []
    for manifest in archive.glob("duplicity-*.manifest*"):
        match = re.match(r"duplicity-full\.(\d{8}T\d{6}Z)\.manifest", manifest.name)
        if match:
            fulls.append(match.group(1))
        match = re.match(r"duplicity-inc\.(\d{8}T\d{6}Z)\.to\.(\d{8}T\d{6}Z)\.manifest", manifest.name)
        if match:
            incs.append(match.group(2))
    if not fulls:
        return None, 0
    start = max(fulls)
    return datetime.datetime.strptime(start, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc), \
        len([end for end in incs if end > start])


def backup_kind(job, force_full, status=None):
    if force_full:
        return "full", "asked for"
    start, incrementals = local_chain(job)
    if start is None:
        return "full", "no full backup known on this host"
    # A chain is read with one set of keys: new keys start a new chain (the old one
    # stays restorable with the old keys until retention removes it).
    chain_keys = (status or {}).get("chain_keys")
    if chain_keys and chain_keys != [job["encrypt_key"], job.get("sign_key", "")]:
        return "full", "the encryption or signing key changed"
    age = datetime.datetime.now(datetime.timezone.utc) - start
    # Half a day of slack: the timer's random delay and the dumps move the start times.
    if age >= datetime.timedelta(days=job["full_every_days"], hours=-12):
        return "full", f"the chain started {age.days} days ago (full every {job['full_every_days']})"
    if incrementals >= job["max_incrementals"]:
        return "full", f"the chain holds {incrementals} incrementals (at most {job['max_incrementals']})"
    return "incremental", f"incremental {incrementals + 1} of the chain started {start:%Y-%m-%d %H:%M}Z"


def refuse_without_cache(job):
    """duplicity first copies the remote metadata it lacks into the local cache, and
    that copy is encrypted to a key this host does not hold: with chains in Swift and
    none here (a rebuilt host, a lost cache) every run would fail on a bare GPG error.
    Say what happened and how to mend it instead."""
    code, output = duplicity(job, ["collection-status"] + common_options(job) + [job["url"]], check=False)
    if code == 0 and re.search(r"^Found (primary|[1-9]\d* secondary) backup chain", output, re.M):
        raise JobError(
            f"the local metadata cache of job {job['name']} ({job['archive_dir']}/{job['name']}) is missing but "
            f"{job['url']} holds backups whose metadata is encrypted to a key this host does not hold; rebuild "
            "the cache once with the key: playbooks/restore.yml -e backup_restore_rebuild_cache=true "
            f"-e backup_restore_job={job['name']} (or remove the old chains from Swift to start afresh)")


def stat_value(output, name):
    match = re.search(rf"^{name} (\d+)", output, re.M)
    return int(match.group(1)) if match else None


# --- commands -----------------------------------------------------------------------

def cmd_run(args):
    job = load_job(args.job)
    with job_lock(job):
        run_job(job, args.full)


def run_job(job, force_full):
    status = read_status(job["name"])
    started = time.time()
    status.update(last_attempt=int(started), last_attempt_iso=iso(started), running=True)
    write_status(job["name"], status)
    try:
        if has_databases(job):
            log(f"dumping databases into {job['dump_dir']}")
            dumps = dump_databases(job)
            log(f"dumps: {', '.join(dumps)}")
        kind, why = backup_kind(job, force_full, status)
        if local_chain(job)[0] is None:
            refuse_without_cache(job)
        log(f"{kind} backup of {', '.join(job['paths'])} to {job['url']}: {why}")
        _code, output = duplicity(job, [kind] + common_options(job) + key_options(job)
                                  + ["--volsize", str(job["volsize"])] + selection(job) + ["/", job["url"]])
        # Files that vanish or cannot be read during the run: the backup holds the rest,
        # so it counts (and retention runs), with the warning kept for monitoring.
        errors = stat_value(output, "Errors") or 0
        size = stat_value(output, "TotalDestinationSizeChange") or 0
        finished = time.time()
        _start, incrementals = local_chain(job)
        if kind == "full":
            status["chain_keys"] = [job["encrypt_key"], job.get("sign_key", "")]
        status.update(last_success=int(finished), last_success_iso=iso(finished), last_kind=kind,
                      last_size_bytes=size, last_duration_s=round(finished - started, 1),
                      last_source_bytes=stat_value(output, "SourceFileSize") or 0,
                      chain_incrementals=incrementals, last_result="ok", last_error="",
                      last_warning=f"{errors} files could not be read (see the journal)" if errors else "")
        write_status(job["name"], status)
        log(f"{kind} backup done: {size} bytes stored in {finished - started:.1f} s")
        # Retention after a good backup only: a failing job never prunes.
        duplicity(job, ["remove-all-but-n-full", str(job["keep_full"]), "--force"] + common_options(job)
                  + [job["url"]])
        if verify_due(job, status):
            verify(job, status)
    except Exception as err:  # every failure is recorded, then reported by main()
        status.update(last_result="failed", last_error=str(err) or repr(err), last_failure=int(time.time()),
                      last_failure_iso=iso(time.time()))
        raise
    finally:
        status["running"] = False
        write_status(job["name"], status)


def verify_due(job, status):
    """Due when the last good verification is old enough, or the last one failed."""
    every = job.get("verify_every_days", 0)
    if not every:
        return False
    if status.get("last_verify_result", "ok") != "ok":
        return True
    return time.time() - status.get("last_verify", 0) >= every * 86400 - 3600


def verify(job, status):
    """With a decryption key on this host: duplicity verify (every file of the latest
    backup decrypted, restored in memory and checked against its recorded hash, its
    metadata compared with the live file). Without: duplicity's collection status - a
    primary chain whose sets all have their manifests, and no orphaned or incomplete
    set (it does not prove every volume is readable; drills do)."""
    started = time.time()
    key_here = subprocess.run(["gpg", "--batch", "--list-secret-keys", job["encrypt_key"]],
                              env=duplicity_env(job), capture_output=True, check=False).returncode == 0
    if key_here:
        code, output = duplicity(job, ["verify"] + common_options(job) + selection(job) + [job["url"], "/"],
                                 check=False)
        match = re.search(r"Verify complete: (\d+) files? compared, (\d+) differences? found", output)
        if code not in (0, 1) or not match:
            result = {"last_verify_result": "failed", "last_verify_detail": last_lines(output)}
        else:
            # Differences are files changed since the backup, not damage: reported.
            result = {"last_verify_result": "ok", "last_verify_mode": "decrypted",
                      "last_verify_detail": f"{match.group(1)} files checked, {match.group(2)} changed since"}
    else:
        code, output = duplicity(job, ["collection-status"] + common_options(job) + [job["url"]], check=False)
        problems = [line for line in output.splitlines()
                    if re.search(r"orphaned|incomplete|[Mm]issing|[Cc]orrupt", line)
                    and not re.search(r"^No (orphaned|backup chains with active signatures)", line)]
        chain = re.search(r"Found primary backup chain.*?Number of contained backup sets: (\d+)", output, re.S)
        if code != 0 or not chain or problems:
            detail = "; ".join(problems) or last_lines(output)
            result = {"last_verify_result": "failed", "last_verify_detail": detail}
        else:
            result = {"last_verify_result": "ok", "last_verify_mode": "chain",
                      "last_verify_detail": f"primary chain of {chain.group(1)} sets complete"}
    # last_verify is the time of the last good verification: a failed one is tried
    # again at the next run.
    result.update(last_verify_attempt=int(started), last_verify_attempt_iso=iso(started))
    if result["last_verify_result"] == "ok":
        result.update(last_verify=int(started), last_verify_iso=iso(started))
    status.update(result)
    write_status(job["name"], status)
    log(f"verify: {result['last_verify_result']}: {result['last_verify_detail']}")
    if result["last_verify_result"] != "ok":
        raise JobError(f"verification failed: {result['last_verify_detail']}")


def cmd_verify(args):
    job = load_job(args.job)
    with job_lock(job):
        verify(job, read_status(job["name"]))


def cmd_status(args):
    names = [args.job] if args.job else sorted(p.stem for p in (CONFIG_DIR / "jobs").glob("*.json"))
    print(json.dumps({name: read_status(name) for name in names}, indent=2, sort_keys=True))


def trust_signer(job, gnupg_home):
    """Signed backups are read only if the signature is the job's signing key's: its
    public part comes from the host's backup keyring, where the backup role pinned it
    by fingerprint, into the keyring holding the decryption key. Returns the duplicity
    options that demand that signature."""
    if not job.get("sign_key"):
        return []
    export = subprocess.run(["gpg", "--homedir", job["gnupg_home"], "--batch", "--export", job["sign_key"]],
                            capture_output=True, check=False)
    if export.returncode != 0 or not export.stdout:
        raise JobError(f"the signing key {job['sign_key']} is not in {job['gnupg_home']}: run the backup role")
    for argv, data in ((["--import"], export.stdout), (["--import-ownertrust"], f"{job['sign_key']}:6:\n".encode())):
        subprocess.run(["gpg", "--homedir", gnupg_home, "--batch"] + argv, input=data, capture_output=True, check=True)
    return ["--sign-key", job["sign_key"]]


def cmd_restore(args):
    """Restore the whole job into a directory (paths keep their absolute layout under
    it), then compare what was restored with the backup, data included."""
    job = load_job(args.job)
    with job_lock(job):
        restore(job, args)


def restore(job, args):
    target = Path(args.target)
    if target.exists() and any(target.iterdir()) and not args.force:
        raise JobError(f"{target} is not empty (--force restores over it)")
    env = duplicity_env(job, gnupg_home=args.gnupg_home, passphrase=read_passphrase(args))
    signed = trust_signer(job, env["GNUPGHOME"])
    time_opts = ["--time", args.time] if args.time else []
    archive = ["--archive-dir", args.archive_dir] if args.archive_dir else []
    base = common_options(job) + archive + signed
    started = time.time()
    duplicity(job, ["restore"] + base + time_opts + (["--force"] if args.force else []) + [job["url"], str(target)],
              env=env)
    restored = time.time()
    code, output = duplicity(job, ["verify", "--compare-data"] + base + time_opts + selection(job, target)
                             + [job["url"], str(target)], env=env, check=False)
    match = re.search(r"Verify complete: (\d+) files? compared, (\d+) differences? found", output)
    report = {"job": job["name"], "target": str(target), "restore_s": round(restored - started, 1),
              "verify_s": round(time.time() - restored, 1),
              "files_compared": int(match.group(1)) if match else None,
              "differences": int(match.group(2)) if match else None}
    print("RESULT " + json.dumps(report))
    if code != 0 or not match or report["differences"]:
        raise JobError(f"the restored tree differs from the backup: {last_lines(output)}")


def read_passphrase(args):
    """The decryption key's passphrase from standard input (--passphrase-stdin): never
    on a command line or in an environment another command line shows."""
    if not args.passphrase_stdin:
        return None
    return sys.stdin.readline().rstrip("\n")


def cmd_rebuild_cache(args):
    """Copy the job's metadata from Swift into the host's cache, decrypting it with the
    key in --gnupg-home (brought for this run by the backup_restore role)."""
    job = load_job(args.job)
    with job_lock(job):
        rebuild_cache(job, args)


def rebuild_cache(job, args):
    env = duplicity_env(job, gnupg_home=args.gnupg_home, passphrase=read_passphrase(args))
    duplicity(job, ["list-current-files"] + common_options(job) + trust_signer(job, env["GNUPGHOME"]) + [job["url"]],
              env=env, echo=False)
    start, incrementals = local_chain(job)
    if start is None:
        raise JobError(f"no backup chain of job {job['name']} found in {job['url']}")
    print("RESULT " + json.dumps({"job": job["name"], "chain_start": f"{start:%Y-%m-%dT%H:%M:%SZ}",
                                  "incrementals": incrementals}))


def cmd_load_dumps(args):
    """Load the dumps restored under ROOT into this host's database servers."""
    job = load_job(args.job)
    directory = Path(args.root) / job["dump_dir"].lstrip("/")
    if not directory.is_dir():
        raise JobError(f"no database dumps under {directory}")
    loaded = []
    for dump in sorted(directory.glob("mariadb-*.sql")):
        with open(dump, "rb") as source:
            proc = subprocess.run(["mariadb", "--batch"], stdin=source, capture_output=True, check=False)
        if proc.returncode != 0:
            raise JobError(f"loading {dump.name} failed: {last_lines(proc.stderr.decode(errors='replace'))}")
        loaded.append(dump.name)
    if (directory / "mariabackup").is_dir():
        raise JobError(f"{directory}/mariabackup is a physical copy: it is restored by copy-back with the server "
                       "stopped (README of the backup role), not loaded")
    pg_dumps = sorted(directory.glob("postgresql-*.sql"))
    for dump in sorted(pg_dumps, key=lambda p: p.name != "postgresql-globals.sql"):
        with open(dump, "rb") as source:
            # Globals: roles that exist already are reported and skipped, not fatal.
            argv = ["runuser", "-u", "postgres", "--", "psql", "-q", "-d", "postgres"]
            if dump.name != "postgresql-globals.sql":
                argv += ["-v", "ON_ERROR_STOP=1"]
            proc = subprocess.run(argv, stdin=source, capture_output=True, check=False, cwd="/")
        if proc.returncode != 0:
            raise JobError(f"loading {dump.name} failed: {last_lines(proc.stderr.decode(errors='replace'))}")
        loaded.append(dump.name)
    if not loaded:
        raise JobError(f"no database dump under {directory}")
    print("RESULT " + json.dumps({"loaded": loaded}))


def cmd_duplicity(args):
    job = load_job(args.job)
    if not args.args or args.args[0] not in READ_ONLY_COMMANDS:
        raise JobError(f"only {', '.join(READ_ONLY_COMMANDS)} (backups: run; restores: the backup_restore role)")
    code, _output = duplicity(job, args.args[:1] + common_options(job) + args.args[1:] + [job["url"]], check=False)
    sys.exit(code)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="stormclouds-backup", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="back up the job now")
    run.add_argument("job")
    run.add_argument("--full", action="store_true", help="start a new chain")
    run.set_defaults(func=cmd_run)
    ver = sub.add_parser("verify", help="verify the job's backups now")
    ver.add_argument("job")
    ver.set_defaults(func=cmd_verify)
    stat = sub.add_parser("status", help="the recorded state of the jobs")
    stat.add_argument("job", nargs="?")
    stat.set_defaults(func=cmd_status)
    rest = sub.add_parser("restore", help="restore the job into a directory and compare it with the backup")
    rest.add_argument("job")
    rest.add_argument("target")
    rest.add_argument("--time", help="duplicity time (default: the latest backup)")
    rest.add_argument("--force", action="store_true", help="restore over existing files")
    rest.add_argument("--gnupg-home", help="the keyring holding the decryption key")
    rest.add_argument("--archive-dir", help="a scratch archive directory (drills keep the job's cache untouched)")
    rest.add_argument("--passphrase-stdin", action="store_true", help="read the key's passphrase from stdin")
    rest.set_defaults(func=cmd_restore)
    cache = sub.add_parser("rebuild-cache", help="rebuild the job's local metadata cache from Swift (needs the key)")
    cache.add_argument("job")
    cache.add_argument("--gnupg-home", required=True, help="the keyring holding the decryption key")
    cache.add_argument("--passphrase-stdin", action="store_true", help="read the key's passphrase from stdin")
    cache.set_defaults(func=cmd_rebuild_cache)
    load = sub.add_parser("load-dumps", help="load the database dumps restored under ROOT")
    load.add_argument("job")
    load.add_argument("root")
    load.set_defaults(func=cmd_load_dumps)
    dup = sub.add_parser("duplicity", help="duplicity with the job's settings, for example collection-status")
    dup.add_argument("job")
    dup.add_argument("args", nargs=argparse.REMAINDER)
    dup.set_defaults(func=cmd_duplicity)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, stopped)
    try:
        args.func(args)
    except JobError as err:
        print(f"stormclouds-backup: {err}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
