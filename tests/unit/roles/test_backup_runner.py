"""The backup job runner's decisions (roles/backup/files/stormclouds_backup.py): when a
new chain starts, what duplicity selects, how a run's figures are read, and that a
failed run keeps the last good time. duplicity and Swift themselves are exercised by
the Molecule scenario `backup`."""

import datetime
import importlib.util
import json
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[3] / "roles" / "backup" / "files" / "stormclouds_backup.py"
SPEC = importlib.util.spec_from_file_location("stormclouds_backup", SOURCE)
runner = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(runner)

NOW = datetime.datetime.now(datetime.timezone.utc)


def stamp(days_ago):
    return (NOW - datetime.timedelta(days=days_ago)).strftime("%Y%m%dT%H%M%SZ")


@pytest.fixture(name="job")
def job_fixture(tmp_path):
    (tmp_path / "archive" / "files").mkdir(parents=True)
    return {"name": "files", "archive_dir": str(tmp_path / "archive"), "full_every_days": 7, "max_incrementals": 3,
            "paths": ["/srv/appdata", "/etc/app"], "excludes": ["/srv/appdata/cache"],
            "dump_dir": "/var/backups/stormclouds/files", "mariadb": {"databases": []},
            "postgresql": {"databases": []}, "url": "swift://stormclouds-backups/app1/files",
            "encrypt_key": "2BEE33EE1B7F1C76A221B6F6EE2CFF75A129DDB2", "volsize": 200, "num_retries": 2,
            "retry_delay": 2, "keep_full": 2}


def manifests(job, *names):
    for name in names:
        (Path(job["archive_dir"]) / job["name"] / name).write_text("")


def test_no_chain_known_starts_a_full(job):
    assert runner.backup_kind(job, force_full=False)[0] == "full"


def test_a_young_short_chain_gets_an_incremental(job):
    manifests(job, f"duplicity-full.{stamp(2)}.manifest", f"duplicity-inc.{stamp(2)}.to.{stamp(1)}.manifest")
    kind, why = runner.backup_kind(job, force_full=False)
    assert kind == "incremental" and "incremental 2 of the chain" in why


def test_an_old_chain_starts_a_new_full(job):
    manifests(job, f"duplicity-full.{stamp(8)}.manifest")
    kind, why = runner.backup_kind(job, force_full=False)
    assert kind == "full" and "started 8 days ago" in why


def test_a_long_chain_starts_a_new_full(job):
    start = stamp(3)
    manifests(job, f"duplicity-full.{start}.manifest",
              *(f"duplicity-inc.{stamp(d + 0.5)}.to.{stamp(d)}.manifest" for d in (2, 1, 0.1)))
    kind, why = runner.backup_kind(job, force_full=False)
    assert kind == "full" and "holds 3 incrementals" in why


def test_incrementals_of_an_older_chain_do_not_count(job):
    manifests(job, f"duplicity-full.{stamp(6)}.manifest",
              *(f"duplicity-inc.{stamp(d + 0.5)}.to.{stamp(d)}.manifest" for d in (5, 4, 3)),
              f"duplicity-full.{stamp(2)}.manifest", f"duplicity-inc.{stamp(2)}.to.{stamp(1)}.manifest")
    assert runner.local_chain(job)[1] == 1
    assert runner.backup_kind(job, force_full=False)[0] == "incremental"


def test_new_keys_start_a_new_chain(job):
    manifests(job, f"duplicity-full.{stamp(1)}.manifest")
    same = {"chain_keys": [job["encrypt_key"], ""]}
    assert runner.backup_kind(job, False, same)[0] == "incremental"
    rotated = {"chain_keys": ["0" * 40, ""]}
    assert runner.backup_kind(job, False, rotated) == ("full", "the encryption or signing key changed")


def test_asked_for_full_is_full(job):
    manifests(job, f"duplicity-full.{stamp(1)}.manifest")
    assert runner.backup_kind(job, force_full=True) == ("full", "asked for")


def test_selection_puts_excludes_first_and_nothing_else_in():
    job = {"paths": ["/srv/a", "/etc/app"], "excludes": ["/srv/a/cache", "**/*.tmp"], "dump_dir": "/var/backups/x",
           "mariadb": {"databases": ["all"]}}
    assert runner.selection(job) == ["--exclude", "/srv/a/cache", "--exclude", "**/*.tmp", "--include", "/srv/a",
                                     "--include", "/etc/app", "--include", "/var/backups/x", "--exclude", "**"]


def test_dumps_are_selected_only_when_the_job_dumps(job):
    assert "/var/backups/stormclouds/files" not in runner.selection(job)


def test_statistics_are_read_from_duplicity_output():
    output = ("--------------[ Backup Statistics ]--------------\nSourceFileSize 4202496 (4.01 MB)\n"
              "TotalDestinationSizeChange 1513 (1.48 KB)\nErrors 0\n")
    assert runner.stat_value(output, "TotalDestinationSizeChange") == 1513
    assert runner.stat_value(output, "Errors") == 0
    assert runner.stat_value(output, "Missing") is None


def test_a_failed_run_keeps_the_last_good_time(tmp_path, monkeypatch, job):
    monkeypatch.setattr(runner, "STATUS_DIR", tmp_path / "status")
    monkeypatch.setattr(runner, "LOCK_DIR", tmp_path)
    monkeypatch.setattr(runner, "load_job", lambda name: job)
    runner.write_status("files", {"job": "files", "last_success": 1700000000, "last_result": "ok"})

    def broken(*_args, **_kwargs):
        raise runner.JobError("duplicity full failed (exit 50): Connection failed")

    monkeypatch.setattr(runner, "duplicity", broken)
    assert runner.main(["run", "files"]) == 1
    status = json.loads((tmp_path / "status" / "files.json").read_text())
    assert status["last_success"] == 1700000000
    assert status["last_result"] == "failed" and "Connection failed" in status["last_error"]
    assert status["running"] is False
    assert (tmp_path / "status" / "files.last_success").read_text() == "1700000000\n"


def test_a_second_run_of_a_job_is_refused_while_one_runs(tmp_path, monkeypatch, job):
    import fcntl  # pylint: disable=import-outside-toplevel

    monkeypatch.setattr(runner, "STATUS_DIR", tmp_path / "status")
    monkeypatch.setattr(runner, "LOCK_DIR", tmp_path)
    monkeypatch.setattr(runner, "load_job", lambda name: job)
    with open(tmp_path / "files.lock", "w", encoding="utf-8") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(runner.JobError, match="is busy"):
            runner.cmd_run(type("Args", (), {"job": "files", "full": False})())


def test_a_restore_compares_only_what_the_job_holds_under_the_target():
    job = {"paths": ["/srv/a", "/etc/app"], "excludes": ["/srv/a/cache", "**/*.tmp"], "dump_dir": "/var/backups/x",
           "mariadb": {"databases": ["shop"]}}
    assert runner.selection(job, "/srv/restore/") == [
        "--exclude", "/srv/restore/srv/a/cache", "--exclude", "**/*.tmp", "--include", "/srv/restore/srv/a",
        "--include", "/srv/restore/etc/app", "--include", "/srv/restore/var/backups/x", "--exclude", "**"]
    # In place: the job's own selection, unchanged.
    assert runner.selection(job, "/") == [
        "--exclude", "/srv/a/cache", "--exclude", "**/*.tmp", "--include", "/srv/a", "--include", "/etc/app",
        "--include", "/var/backups/x", "--exclude", "**"]


def test_a_failed_verification_is_due_again_at_the_next_run():
    job = {"verify_every_days": 7}
    import time  # pylint: disable=import-outside-toplevel
    assert not runner.verify_due(job, {"last_verify": time.time() - 3600, "last_verify_result": "ok"})
    assert runner.verify_due(job, {"last_verify": time.time() - 3600, "last_verify_result": "failed"})
    assert runner.verify_due(job, {"last_verify": time.time() - 7 * 86400, "last_verify_result": "ok"})
    assert not runner.verify_due({"verify_every_days": 0}, {})


def test_only_read_only_duplicity_commands_pass_through(monkeypatch, job):
    monkeypatch.setattr(runner, "load_job", lambda name: job)
    assert runner.main(["duplicity", "files", "restore", "/x"]) == 1
    assert runner.main(["duplicity", "files"]) == 1


def test_job_names_are_checked():
    with pytest.raises(runner.JobError, match="invalid job name"):
        runner.load_job("../../etc/passwd")
