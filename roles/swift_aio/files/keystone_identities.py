"""Declare the fixture's identities in Keystone with keystoneclient (Debian's
python3-keystoneclient): projects, users (password set on creation), role assignments,
the object-store service and its endpoints. Idempotent; --check only reports.

Reads a JSON declaration on stdin: {"auth_url", "admin_password", "region", "projects",
"users": [{user, password, project}], "assignments": [{user, project, role}],
"service": {name, type, description}, "endpoint_url"} - or "services": [{name, type,
description, url}] for several. Prints {"changed": [...]}.
"""

import json
import sys

from keystoneauth1 import session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client


def main(argv):
    check = "--check" in argv
    spec = json.load(sys.stdin)
    auth = v3.Password(auth_url=spec["auth_url"], username="admin", password=spec["admin_password"],
                       project_name="admin", user_domain_id="default", project_domain_id="default")
    ks = client.Client(session=session.Session(auth=auth))
    changed = []

    def act(text, call, *args, **kwargs):
        changed.append(text)
        return None if check else call(*args, **kwargs)

    projects = {p.name: p for p in ks.projects.list(domain="default")}
    for name in spec["projects"]:
        if name not in projects:
            projects[name] = act("create project " + name, ks.projects.create, name=name, domain="default")
    users = {u.name: u for u in ks.users.list(domain="default")}
    for user in spec["users"]:
        if user["user"] not in users:
            users[user["user"]] = act("create user " + user["user"], ks.users.create, name=user["user"],
                                      password=user["password"], domain="default",
                                      default_project=projects.get(user["project"]))
    roles = {r.name: r for r in ks.roles.list()}
    for grant in spec["assignments"]:
        user, project = users.get(grant["user"]), projects.get(grant["project"])
        present = user is not None and project is not None and ks.role_assignments.list(
            user=user, project=project, role=roles[grant["role"]])
        if not present:
            act("grant %(role)s on %(project)s to %(user)s" % grant, ks.roles.grant, roles[grant["role"]],
                user=user, project=project)
    # One service with "endpoint_url", or several under "services" (each with its url).
    declared = spec.get("services") or [dict(spec["service"], url=spec["endpoint_url"])]
    for wanted in declared:
        services = [s for s in ks.services.list() if s.type == wanted["type"]]
        service = services[0] if services else act("create service " + wanted["name"], ks.services.create,
                                                   name=wanted["name"], type=wanted["type"],
                                                   description=wanted["description"])
        existing = {e.interface: e for e in ks.endpoints.list(service=service)} if service else {}
        for interface in ("public", "internal", "admin"):
            endpoint = existing.get(interface)
            if endpoint is None:
                act("create %s %s endpoint" % (wanted["name"], interface), ks.endpoints.create, service=service,
                    url=wanted["url"], interface=interface, region=spec["region"])
            elif endpoint.url != wanted["url"]:
                act("update %s %s endpoint" % (wanted["name"], interface), ks.endpoints.update, endpoint,
                    url=wanted["url"])
    print(json.dumps({"changed": changed}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # The task runs under no_log: the cause goes out in the JSON answer, without secrets.
        print(json.dumps({"changed": [], "error": "%s: %s" % (type(exc).__name__, exc)}))
        sys.exit(1)
