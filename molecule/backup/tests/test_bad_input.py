"""Wrong inputs to the backup role, each refused with a message naming the cause before
any host changes (the play recap shows no change). Runs against the converged scenario."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))
import labtest  # noqa: E402

KEYS = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "keys"
FILES_JOB = {"name": "files", "paths": ["/srv/appdata"]}

CASES = [
    ({"backup_gpg_encrypt_key": ""}, "backup_gpg_encrypt_key must hold an ASCII-armored public key (missing)"),
    # A real key, but not the pinned one (here: the signing key's public part).
    ({"backup_gpg_encrypt_key": (KEYS / "signing.pub.asc").read_text()},
     "the encryption key is not usable: it is not the key with fingerprint 2BEE33EE1B7F1C76A221B6F6EE2CFF75A129DDB2"),
    ({"backup_jobs": [{"name": "files", "paths": ["/srv/appdata", "/srv/no-such-dir"]}]},
     "paths to back up that do not exist or root cannot read on app1: /srv/no-such-dir"),
    ({"backup_jobs": [dict(FILES_JOB, schedule="every night at 3")]},
     "malformed schedules (systemd calendar expressions, for example '*-*-* 02:30:00' or 'daily'): job files: "
     "'every night at 3'"),
    ({"backup_jobs": [dict(FILES_JOB, keep_full=0)]}, "keep_full >= 1"),
    ({"backup_swift_auth_version": "2"}, "backup_swift_auth_version must be one of: 1, 3"),
    ({"backup_swift_auth_url": "keystone:5000/v3"}, "backup_swift_auth_url (an http(s) URL, given: 'keystone:5000/v3')"),
]


@pytest.mark.parametrize(("extra", "message"), CASES, ids=[f"{next(iter(c[0]))}-{i}" for i, c in enumerate(CASES)])
def test_wrong_input_is_refused_before_any_change(extra, message):
    run = labtest.playbook(labtest.SCENARIO / "bad_input.yml", extra, timeout=600)
    labtest.assert_refused_before_any_change(run, message)
