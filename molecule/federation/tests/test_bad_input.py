"""Wrong inputs to the federation_registry and federation_member roles, each refused by
the role's validation with a message naming the cause, before any host changes (the play
recap shows no change on any host). Runs against the converged scenario."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))
import labtest  # noqa: E402

CASES = [
    ({"federation_member_ttl": 0}, "federation_member_ttl (0) must be 5 to 86400 seconds"),
    ({"federation_member_endpoints": {"api": "http//fed1.example.org"}}, "malformed: ['api: http//fed1.example.org']"),
    ({"federation_member_site_id": "site/a"}, "federation_member_site_id (site/a) must be a DNS label"),
    ({"federation_registry_sites": [{"id": "site/a", "password": "a-long-enough-password"}]},
     "each id a DNS label"),
    ({"federation_registry_sites": [{"id": "site-a", "password": "short"}]}, "these lack one or have a shorter one: ['site-a']"),
    ({"federation_member_registry_urls": ["http://fed1:2379"]}, "these are not: ['http://fed1:2379']"),
]


@pytest.mark.parametrize(("extra", "message"), CASES, ids=[f"{next(iter(c[0]))}-{i}" for i, c in enumerate(CASES)])
def test_wrong_input_is_refused_before_any_change(extra, message):
    run = labtest.playbook(labtest.SCENARIO / "bad_input.yml", extra, timeout=600)
    labtest.assert_refused_before_any_change(run, message)
