#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: etcd_auth
short_description: Turn etcd's authentication on and declare its users, roles and permissions
version_added: 0.1.0
description:
  - Makes an etcd cluster's authentication match a declaration - the C(root) user and role, then the
    declared roles with exactly their key permissions and the declared users with their passwords and
    roles - and turns authentication on.
  - Compares before it writes. A password is checked by authenticating with it (etcd never shows
    one), so an unchanged password is not rewritten.
  - Users and roles the declaration does not name are left alone unless O(purge=true); C(root) is
    never removed.
  - Used by the P(stormclouds.platform.federation_registry#role) role; run it once per cluster
    (C(run_once)).
author:
  - Storm Clouds Platform developers (@stormclouds)
extends_documentation_fragment:
  - stormclouds.platform.etcd_registry
attributes:
  check_mode:
    support: full
    description: Reads the cluster's users and roles and reports what would change.
  diff_mode:
    support: full
    description: The actions, one per line (users, roles, permissions granted or revoked); never passwords.
options:
  user:
    description: Always C(root); the option exists only because the connection options are shared.
    type: str
    default: root
    choices: [root]
  password:
    description:
      - The C(root) user's password. Creates C(root) with it while authentication is off; once it is on,
        it must be the current password (the module stops with a clear message otherwise).
    type: str
    required: true
  roles:
    description: Roles and their permissions. A role's permissions become exactly these.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Role name.
        type: str
        required: true
      permissions:
        description: Key permissions.
        type: list
        elements: dict
        default: []
        suboptions:
          key:
            description: The key, or the key prefix with O(roles[].permissions[].prefix=true).
            type: str
            required: true
          prefix:
            description: Whether O(roles[].permissions[].key) is a prefix (every key starting with it).
            type: bool
            default: false
          permission:
            description: What the role may do with the keys.
            type: str
            choices: [read, write, readwrite]
            default: read
  users:
    description: Users, their passwords and roles. A user's roles become exactly these.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: User name.
        type: str
        required: true
      password:
        description: The user's password. Never logged.
        type: str
        required: true
      roles:
        description: The user's roles.
        type: list
        elements: str
        default: []
  purge:
    description: Remove users and roles not declared (never C(root)).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Authentication on, one user per site writing only its own record
  stormclouds.platform.etcd_auth:
    registry_urls: [https://registry1.example.org:2379]
    ca_cert: /etc/etcd/pki/ca.crt
    password: "{{ registry_root_password }}"
    roles:
      - name: site-lsd
        permissions:
          - {key: /stormclouds/federation/members/lsd, permission: readwrite}
          - {key: /stormclouds/federation/members/, prefix: true, permission: read}
    users:
      - {name: lsd, password: "{{ vault_lsd_password }}", roles: [site-lsd]}
  run_once: true
"""

RETURN = r"""
actions:
  description: What was (or, in check mode, would be) done, one line each; passwords never appear.
  returned: always
  type: list
  elements: str
  sample: ["add role site-lsd", "grant readwrite /stormclouds/federation/members/lsd to role site-lsd",
           "enable authentication"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stormclouds.platform.plugins.module_utils.etcd_gateway import (
    PERM_TYPES,
    EtcdError,
    b64,
    module_gateway,
    permission_to_tuple,
    registry_argument_spec,
    registry_url_errors,
)


def describe(perm):
    kind, key, range_end = perm
    return "%s %s%s" % (kind, key, "*" if range_end else "")


class AuthPlan(object):
    """The actions that make the cluster match the declaration, applied unless in check mode."""

    def __init__(self, gateway, check_mode):
        self.gw = gateway
        self.check_mode = check_mode
        self.actions = []

    def do(self, text, path, body):
        self.actions.append(text)
        if not self.check_mode:
            try:
                self.gw.post(path, body)
            except EtcdError as exc:
                # A request repeated on a dropped connection may have been applied already.
                if not (path.endswith("/add") and "already exists" in str(exc)):
                    raise

    def role(self, name, wanted):
        current = set(self.gw.role_permissions(name)) if name in self.existing_roles else set()
        if name not in self.existing_roles:
            self.do("add role %s" % name, "/v3/auth/role/add", {"name": name})
        for perm in sorted(set(current) - set(wanted)):
            # A grant on the same key and range replaces the kind; revoke only what no longer exists.
            if not any(w[1:] == perm[1:] for w in wanted):
                self.do("revoke %s from role %s" % (describe(perm), name), "/v3/auth/role/revoke",
                        {"role": name, "key": b64(perm[1]), "range_end": b64(perm[2])})
        for perm in sorted(set(wanted) - set(current)):
            self.do("grant %s to role %s" % (describe(perm), name), "/v3/auth/role/grant",
                    {"name": name, "perm": {"permType": PERM_TYPES[perm[0]], "key": b64(perm[1]),
                                            "range_end": b64(perm[2])}})

    def user(self, name, password, roles, auth_on):
        if name not in self.existing_users:
            self.do("add user %s" % name, "/v3/auth/user/add", {"name": name, "password": password})
            current = []
        else:
            # With authentication off, etcd cannot check a password: set it (first run only).
            if not auth_on or not self.gw.can_authenticate(name, password):
                self.do("change the password of user %s" % name, "/v3/auth/user/changepw",
                        {"name": name, "password": password})
            current = self.gw.user_roles(name)
        for role in sorted(set(current) - set(roles)):
            self.do("revoke role %s from user %s" % (role, name), "/v3/auth/user/revoke", {"name": name, "role": role})
        for role in sorted(set(roles) - set(current)):
            self.do("grant role %s to user %s" % (role, name), "/v3/auth/user/grant", {"user": name, "role": role})


def main():
    perm_spec = dict(key=dict(type="str", required=True, no_log=False), prefix=dict(type="bool", default=False),
                     permission=dict(type="str", choices=["read", "write", "readwrite"], default="read"))
    argument_spec = registry_argument_spec()
    argument_spec.update(
        user=dict(type="str", default="root", choices=["root"]),
        password=dict(type="str", required=True, no_log=True),
        roles=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str", required=True),
            permissions=dict(type="list", elements="dict", default=[], options=perm_spec),
        )),
        users=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str", required=True),
            password=dict(type="str", required=True, no_log=True),
            roles=dict(type="list", elements="str", default=[]),
        )),
        purge=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    errors = registry_url_errors(p["registry_urls"])
    declared_roles = [r["name"] for r in p["roles"]]
    declared_users = [u["name"] for u in p["users"]]
    for kind, names in (("role", declared_roles), ("user", declared_users)):
        if "root" in names:
            errors.append("the %s root is managed by the module itself; do not declare it" % kind)
        if len(set(names)) != len(names):
            errors.append("a %s is declared twice: %s" % (kind, sorted(n for n in set(names) if names.count(n) > 1)))
    for role in p["roles"]:
        ranges = [permission_to_tuple(perm)[1:] for perm in role["permissions"]]
        if len(set(ranges)) != len(ranges):
            errors.append("role %s gives the same key or prefix twice (one permission per key or prefix, "
                          "readwrite for both)" % role["name"])
    for u in p["users"]:
        unknown = set(u["roles"]) - set(declared_roles) - {"root"}
        if unknown:
            errors.append("user %s has roles that are not declared: %s" % (u["name"], sorted(unknown)))
        if not u["password"]:
            errors.append("user %s has an empty password" % u["name"])
    if not p["password"]:
        errors.append("the root password is empty")
    if errors:
        module.fail_json(msg="Refusing the input: " + "; ".join(errors), errors=errors)

    with module_gateway(module, user="root") as gateway:
        auth_on = gateway.auth_enabled()
        if auth_on and not gateway.can_authenticate("root", p["password"]):
            module.fail_json(msg="Authentication is on and the root password given is not the registry's "
                                 "(authentication as root failed): give the current one.")
        if not auth_on:
            # While authentication is off every request is allowed and a token is refused.
            gateway.user = None
        plan = AuthPlan(gateway, module.check_mode)
        plan.existing_users = set(gateway.users())
        plan.existing_roles = set(gateway.roles())

        if "root" not in plan.existing_roles:
            plan.do("add role root", "/v3/auth/role/add", {"name": "root"})
        plan.user("root", p["password"], ["root"], auth_on)
        for role in p["roles"]:
            plan.role(role["name"], sorted(permission_to_tuple(perm) for perm in role["permissions"]))
        for user in p["users"]:
            plan.user(user["name"], user["password"], user["roles"], auth_on)
        if p["purge"]:
            for name in sorted(plan.existing_users - set(declared_users) - {"root"}):
                plan.do("delete user %s" % name, "/v3/auth/user/delete", {"name": name})
            for name in sorted(plan.existing_roles - set(declared_roles) - {"root"}):
                plan.do("delete role %s" % name, "/v3/auth/role/delete", {"role": name})
        if not auth_on:
            plan.do("enable authentication", "/v3/auth/enable", {})
    result = dict(changed=bool(plan.actions), actions=plan.actions)
    if module._diff and plan.actions:
        result["diff"] = dict(prepared="\n".join("+ " + action for action in plan.actions) + "\n")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
