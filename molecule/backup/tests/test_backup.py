"""The backup role against the real object store: a full and an incremental backup
restore byte-for-byte with modes and owners; the objects in Swift hold no plaintext;
Swift down makes the job fail loudly without moving the last good time, and the next
run succeeds; databases dropped come back from a restore; a drill leaves nothing
behind; the decryption key is never on the host.

The tests run in file order (each builds on the backups of the ones before)."""

import json
import os
import re
import shlex
import sys
from pathlib import Path

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))
import labtest  # noqa: E402

APP = "app1"
STORE = "swift1"
MARKER = "STORMCLOUDS-PLAINTEXT-MARKER-7f3a"
RESTORE = labtest.PROJECT / "playbooks" / "restore.yml"
KEYS = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "keys"


def sh(command, host=APP, timeout=120):
    return labtest.ssh(host, command, timeout=timeout)


def run_job(job):
    """Start the job's service and wait for it (a oneshot: start returns when it ends)."""
    return sh(f"systemctl start stormclouds-backup@{job}.service", timeout=600)


def status(job):
    res = sh(f"cat /var/lib/stormclouds-backup/status/{job}.json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def tree(root):
    """path -> (type, mode, owner, group, size, sha256 or link target) of every entry
    under root."""
    listing = sh(f"cd {root} && find . -mindepth 1 -printf '%P\\t%y\\t%m\\t%u\\t%g\\t%s\\t%l\\n' | sort").stdout
    sums = sh(f"cd {root} && find . -type f -print0 | sort -z | xargs -0 -r sha256sum").stdout
    digests = {line[66:].removeprefix("./"): line[:64] for line in sums.splitlines()}
    entries = {}
    for line in listing.splitlines():
        path, kind, mode, user, group, size, target = line.split("\t")
        entries[path] = (kind, mode, user, group, size if kind == "f" else "",
                         digests.get(path) if kind == "f" else target)
    return entries


def restore(extra, timeout=900):
    key = (KEYS / "encrypt.sec.asc").read_text()
    args = {"backup_restore_hosts": APP, "backup_restore_gpg_private_key": key,
            "backup_restore_gpg_passphrase": labtest.hostvar(APP, "backup_test_passphrase")}
    args.update(extra)
    return labtest.playbook(RESTORE, args, timeout=timeout)


def result_of(run):
    """The restore's report (the role's debug of backup_restore_result)."""
    restored = re.search(r"\"?restore_s\"?: ([\d.]+)", run.stdout)
    differences = re.search(r"\"?differences\"?: (\d+)", run.stdout)
    assert restored and differences, run.stdout[-3000:]
    return float(restored.group(1)), int(differences.group(1))


def test_full_then_incremental_restore_identical_with_modes_and_owners():
    res = run_job("files")
    assert res.returncode == 0, sh("journalctl -u stormclouds-backup@files -n 40 --no-pager").stdout
    first = status("files")
    assert first["last_result"] == "ok" and first["last_kind"] == "full", first
    # Change the data: a modified file, a new one, a removed one, a new mode and owner.
    assert sh("set -e; cd /srv/appdata; head -c 1000 /dev/urandom | dd of=blob.bin bs=1 seek=2000000 conv=notrunc "
              "status=none; echo new > docs/new.txt; rm 'docs/a file with spaces.txt'; chmod 0600 docs/readme.txt; "
              "chown www-data: docs/new.txt").returncode == 0
    res = run_job("files")
    assert res.returncode == 0, sh("journalctl -u stormclouds-backup@files -n 40 --no-pager").stdout
    second = status("files")
    assert second["last_kind"] == "incremental" and second["last_success"] >= first["last_success"], second
    # The incremental stores the change, not the 4 MB file again.
    assert 0 < second["last_size_bytes"] < 200_000, second
    run = restore({"backup_restore_job": "files", "backup_restore_target": "/srv/restore-files"})
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    _seconds, differences = result_of(run)
    assert differences == 0
    for source in ("/srv/appdata", "/etc/app"):
        original = tree(source)
        restored = tree(f"/srv/restore-files{source}")
        if source == "/srv/appdata":
            assert "cache" not in restored and "cache" in original  # excluded
            original = {p: v for p, v in original.items() if not p.startswith("cache")}
        assert restored == original
        assert len(original) >= (6 if source == "/srv/appdata" else 1)
    assert tree("/srv/restore-files/srv/appdata")["docs/new.txt"][3] == "www-data"
    assert tree("/srv/restore-files/etc/app")["app.conf"][1:4] == ("640", "root", "www-data")


def test_objects_in_swift_hold_no_plaintext():
    acc = next(a for a in labtest.hostvar(STORE, "swift_aio_accounts") if a["user"] == "backup")
    env = (f"OS_AUTH_URL=http://{labtest.hostvar(STORE, 'ansible_host')}:5000/v3 OS_USERNAME={acc['user']} OS_PASSWORD={shlex.quote(acc['password'])} "
           f"OS_PROJECT_NAME={acc['project']} OS_USER_DOMAIN_ID=default OS_PROJECT_DOMAIN_ID=default "
           "OS_IDENTITY_API_VERSION=3")
    res = sh(f"set -e; rm -rf /tmp/objs; mkdir /tmp/objs; cd /tmp/objs; env {env} swift download stormclouds-backups "
             "--prefix app1/files/ >/dev/null; find . -type f | wc -l; du -sb . | cut -f1", timeout=300)
    assert res.returncode == 0, res.stderr
    count, size = (int(v) for v in res.stdout.split())
    assert count >= 6 and size > 4_000_000, res.stdout  # volumes, manifests, signatures of two sets
    # Neither the marker nor the file names appear anywhere, compressed or not.
    grep = sh(f"mkdir -p -m 0700 /tmp/objs-gpg; grep -r -l -a -e {MARKER} -e 'a file with spaces' /tmp/objs; "
              "for f in $(find /tmp/objs -type f); do zcat -f \"$f\" 2>/dev/null; done | grep -c -a "
              f"-e {MARKER} -e readme.txt", timeout=300)
    assert grep.stdout.split() == ["0"], grep.stdout
    # Every object is an OpenPGP message encrypted to a public key.
    plain = sh("cd /tmp/objs && for f in $(find . -type f); do gpg --batch --homedir /tmp/objs-gpg --list-packets "
               "\"$f\" 2>&1 | grep -q '^:pubkey enc packet:' || echo \"$f\"; done", timeout=300)
    assert plain.stdout.strip() == "", plain.stdout


def test_swift_down_fails_loudly_and_keeps_the_last_good_time():
    before = status("files")
    # Enough new data that the upload is under way when Swift goes.
    assert sh("head -c 60000000 /dev/urandom > /srv/appdata/big.bin").returncode == 0
    assert sh("systemctl start --no-block stormclouds-backup@files.service").returncode == 0
    labtest.wait_for(lambda: (sh("pgrep -f 'duplicity (incremental|full)'").returncode == 0, "no duplicity yet"),
                     60, "duplicity running", interval=0.2)
    assert sh("sleep 1; systemctl stop swift-proxy", host=STORE).returncode == 0
    try:
        labtest.wait_for(lambda: (sh("systemctl is-active stormclouds-backup@files.service").stdout.strip()
                                  in ("failed", "inactive"), "running"), 300, "the job's end")
        after = status("files")
        assert after["last_result"] == "failed" and after["last_error"], after
        assert after["last_success"] == before["last_success"]
        assert sh("cat /var/lib/stormclouds-backup/status/files.last_success").stdout.strip() == str(
            before["last_success"])
        assert sh("systemctl is-failed stormclouds-backup@files.service").stdout.strip() == "failed"
        journal = sh("journalctl -u stormclouds-backup@files -n 30 --no-pager").stdout
        assert "duplicity" in journal and re.search(r"onnection|refused|failed", journal), journal
    finally:
        assert sh("systemctl start swift-proxy", host=STORE).returncode == 0
    labtest.wait_for(lambda: (sh("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/healthcheck",
                                 host=STORE).stdout == "200", "proxy"), 60, "Swift's proxy back")
    res = run_job("files")
    assert res.returncode == 0, sh("journalctl -u stormclouds-backup@files -n 40 --no-pager").stdout
    again = status("files")
    assert again["last_result"] == "ok" and again["last_success"] > before["last_success"], again


def test_databases_dropped_come_back_from_a_restore():
    res = run_job("databases")
    assert res.returncode == 0, sh("journalctl -u stormclouds-backup@databases -n 40 --no-pager").stdout
    assert status("databases")["last_result"] == "ok"
    assert sh("set -e; mariadb -e 'DROP DATABASE shop'; runuser -u postgres -- dropdb ledger").returncode == 0
    assert "shop" not in sh("mariadb -N -e 'SHOW DATABASES'").stdout
    run = restore({"backup_restore_job": "databases", "backup_restore_target": "/srv/restore-db",
                   "backup_restore_load_databases": True})
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    rows = sh("mariadb -N -e 'SELECT COUNT(*), MAX(item) FROM shop.orders'").stdout.split()
    assert rows == ["50", "item-9"], rows
    rows = sh("cd / && runuser -u postgres -- psql -At -d ledger -c 'SELECT COUNT(*), SUM(amount) FROM entries'").stdout
    assert rows.strip() == "30|697.5", rows


def test_a_physical_copy_with_mariabackup_is_prepared_and_stored():
    res = run_job("physical")
    assert res.returncode == 0, sh("journalctl -u stormclouds-backup@physical -n 40 --no-pager").stdout
    assert status("physical")["last_result"] == "ok"
    # Prepared (ready for a copy-back), the Galera position recorded, and in the backup.
    checkpoints = sh("cat /var/backups/stormclouds/physical/mariabackup/xtrabackup_checkpoints").stdout
    # (MariaDB 10.11 calls a prepared full backup "log-applied")
    assert re.search(r"^backup_type = (full-prepared|log-applied)$", checkpoints, re.M), checkpoints
    files = sh("stormclouds-backup duplicity physical list-current-files", timeout=300).stdout
    assert "var/backups/stormclouds/physical/mariabackup/shop/orders.ibd" in files, files[-2000:]


def test_a_drill_checks_the_latest_backup_and_leaves_nothing_behind():
    run = restore({"backup_restore_job": "files", "backup_restore_drill": True})
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    _seconds, differences = result_of(run)
    assert differences == 0
    left = sh("ls -d /var/tmp/stormclouds-restore-* /run/stormclouds-restore-* 2>/dev/null | wc -l").stdout.strip()
    assert left == "0"


def test_a_host_that_lost_its_cache_says_so_and_is_mended_with_the_key():
    before = status("files")
    assert sh("rm -rf /var/cache/stormclouds-backup/files").returncode == 0
    assert run_job("files").returncode != 0
    after = status("files")
    assert after["last_success"] == before["last_success"]
    assert "local metadata cache of job files" in after["last_error"], after
    assert "backup_restore_rebuild_cache=true" in after["last_error"]
    run = restore({"backup_restore_job": "files", "backup_restore_rebuild_cache": True})
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    # The chain goes on: an incremental, not a new full.
    assert run_job("files").returncode == 0, sh("journalctl -u stormclouds-backup@files -n 40 --no-pager").stdout
    mended = status("files")
    assert mended["last_result"] == "ok" and mended["last_kind"] == "incremental", mended


def test_the_decryption_key_is_not_on_the_host():
    fpr = labtest.hostvar(APP, "backup_gpg_encrypt_fingerprint").replace(" ", "")
    res = sh("gpg --homedir /var/lib/stormclouds-backup/gnupg --batch --with-colons --list-secret-keys")
    secret = re.findall(r"^fpr:+([0-9A-F]{40}):", res.stdout, re.M)
    assert fpr not in secret
    assert labtest.hostvar(APP, "backup_gpg_sign_fingerprint") in secret  # the signing key is
    # The credentials: a root-only file, not in any unit systemd shows.
    assert sh("stat -c '%a %U' /etc/stormclouds/backup/credentials.env").stdout.strip() == "600 root"
    password = labtest.hostvar(APP, "backup_swift_password")
    shown = sh("systemctl cat stormclouds-backup@files.service stormclouds-backup@files.timer; "
               "systemctl show stormclouds-backup@files.service; journalctl -u 'stormclouds-backup@*' --no-pager").stdout
    assert password not in shown


def test_scheduled_timers_and_verification_recorded():
    timers = sh("systemctl list-timers --all --no-pager 'stormclouds-backup@*'").stdout
    assert "stormclouds-backup@files.timer" in timers and "stormclouds-backup@databases.timer" in timers
    # The first run verified the chain (no decryption key here: every object listed and complete).
    st = status("files")
    assert st["last_verify_result"] == "ok" and st["last_verify_mode"] == "chain", st
    res = sh("stormclouds-backup verify files")
    assert res.returncode == 0, res.stdout + res.stderr
