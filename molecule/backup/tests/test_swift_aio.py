"""The object store fixture as its clients see it: Keystone v3 issues a token with the
object-store endpoint in its catalog; an account stores and reads back an object
byte-for-byte; a wrong password is refused; one project cannot read another's
containers."""

import json
import os
import shlex
import sys

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))
import labtest  # noqa: E402

NODE = "swift1"


def account(user):
    return next(a for a in labtest.hostvar(NODE, "swift_aio_accounts") if a["user"] == user)


def swift(user, args, password=None):
    acc = account(user)
    env = (f"OS_AUTH_URL=http://{labtest.hostvar(NODE, 'ansible_host')}:5000/v3 OS_USERNAME={acc['user']} "
           f"OS_PASSWORD={shlex.quote(password or acc['password'])} OS_PROJECT_NAME={acc['project']} "
           "OS_USER_DOMAIN_ID=default OS_PROJECT_DOMAIN_ID=default OS_IDENTITY_API_VERSION=3")
    res = labtest.ssh(NODE, f"env {env} swift {args}", timeout=60)
    return res.returncode, res.stdout + res.stderr


def test_keystone_issues_a_token_with_the_object_store_in_the_catalog():
    acc = account("backup")
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": acc["user"], "domain": {"id": "default"}, "password": acc["password"]}}},
        "scope": {"project": {"name": acc["project"], "domain": {"id": "default"}}}}}
    res = labtest.ssh(NODE, "curl -s -i -H 'Content-Type: application/json' -d "
                            f"{shlex.quote(json.dumps(body))} http://127.0.0.1:5000/v3/auth/tokens", timeout=30)
    assert "HTTP/1.1 201" in res.stdout and "X-Subject-Token" in res.stdout, res.stdout[:500]
    # (subprocess's text mode turned the CRLFs into LFs)
    catalog = json.loads(res.stdout.split("\n\n", 1)[1])["token"]["catalog"]
    stores = [e for e in catalog if e["type"] == "object-store"]
    assert stores and all(":8080/v1/AUTH_" in ep["url"] for ep in stores[0]["endpoints"]), catalog


def test_an_object_comes_back_byte_for_byte():
    assert labtest.ssh(NODE, "head -c 3000000 /dev/urandom > /tmp/blob && sha256sum /tmp/blob > /tmp/blob.sum"
                       ).returncode == 0
    code, out = swift("backup", "upload --object-name blob test-c /tmp/blob")
    assert code == 0, out
    assert labtest.ssh(NODE, "rm -f /tmp/back", timeout=10).returncode == 0
    code, out = swift("backup", "download test-c blob --output /tmp/back")
    assert code == 0, out
    res = labtest.ssh(NODE, "sha256sum < /tmp/back | cut -d' ' -f1; cut -d' ' -f1 /tmp/blob.sum")
    first, second = res.stdout.split()
    assert first == second


def test_a_wrong_password_is_refused():
    code, out = swift("backup", "list", password="not-the-password")
    assert code != 0 and "Unauthorized" in out, out


def test_a_project_cannot_read_another_projects_containers():
    code, out = swift("backup", "auth")
    assert code == 0 and "OS_STORAGE_URL=" in out, out
    storage_url = out.split("OS_STORAGE_URL=", 1)[1].split()[0]
    # The other project's token against the first project's account.
    code, out = swift("other", f"--os-storage-url {storage_url} list test-c")
    assert code != 0 and "403" in out, out
    code, out = swift("other", f"--os-storage-url {storage_url} download test-c blob --output /tmp/stolen")
    assert code != 0 and "403" in out, out
