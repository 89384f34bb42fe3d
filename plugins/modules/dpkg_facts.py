#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: dpkg_facts
short_description: The packages dpkg has installed, as ansible_facts.packages, read in one dpkg-query
version_added: "0.1.0"
description:
  - Sets C(ansible_facts.packages) in the format of M(ansible.builtin.package_facts) (a list per package name
    of its installed instances, each with C(name), C(version), C(arch) and C(source)), from one run of
    C(dpkg-query).
  - M(ansible.builtin.package_facts) with the apt backend opens the apt cache, which parses every package index
    the host has downloaded; on a host with a fresh index that costs seconds per host and per call. The dpkg
    database alone answers the question the roles ask (is this package installed?) in a fraction of that.
  - Only packages whose dpkg status is C(installed) are reported; a package that is unpacked, half-installed,
    half-configured or removed with its configuration files kept is not, so a role installs it again.
  - Changes nothing.
author:
  - Storm Clouds Platform developers (@stormclouds)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
options: {}
requirements:
  - dpkg-query (Debian and its derivatives)
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: debian
"""

EXAMPLES = r"""
- name: Read the installed packages
  stormclouds.platform.dpkg_facts:

- name: Install MariaDB only where it is missing
  ansible.builtin.apt:
    name: mariadb-server
  when: "'mariadb-server' not in ansible_facts.packages"
"""

RETURN = r"""
ansible_facts:
  description: Facts set on the host.
  returned: success
  type: complex
  contains:
    packages:
      description: Each installed package's name, mapped to its installed instances (more than one for a
        package installed for several architectures).
      returned: success
      type: dict
      sample:
        mariadb-server:
          - name: mariadb-server
            version: "1:10.11.6-0+deb12u1"
            arch: amd64
            source: apt
"""

from ansible.module_utils.basic import AnsibleModule

# Tab-separated: a version never holds a tab, and an empty field stays a field.
QUERY_FORMAT = "${Package}\t${Version}\t${Architecture}\t${db:Status-Status}\n"


def parse(output):
    """dpkg-query's lines in QUERY_FORMAT -> {name: [{name, version, arch, source}]}, installed ones only."""
    packages = {}
    for line in output.splitlines():
        fields = line.split("\t")
        if len(fields) != 4 or fields[3] != "installed":
            continue
        name, version, arch = fields[:3]
        packages.setdefault(name, []).append({"name": name, "version": version, "arch": arch, "source": "apt"})
    return packages


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    dpkg_query = module.get_bin_path("dpkg-query", required=True)
    # LC_ALL=C: dpkg-query's messages in English, its output is not translated anyway.
    rc, out, err = module.run_command([dpkg_query, "--show", "--showformat=" + QUERY_FORMAT],
                                      environ_update={"LC_ALL": "C"})
    if rc != 0:
        module.fail_json(msg="dpkg-query could not read the dpkg database: %s" % (err.strip() or "exit %d" % rc),
                         rc=rc, stderr=err)
    module.exit_json(changed=False, ansible_facts={"packages": parse(out)})


if __name__ == "__main__":
    main()
