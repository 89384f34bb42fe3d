# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: galera_status
short_description: The output of SHOW STATUS in batch mode, as a dict
version_added: 0.2.0
description:
  - Turns the tab-separated output of C(mariadb --batch --skip-column-names -e "SHOW GLOBAL STATUS ...")
    into a dict of variable name to value, so tasks can test C(wsrep_cluster_status) and the like.
  - Lines without a tab (warnings, empty output) are ignored, so a server that did not answer gives an empty dict.
author:
  - Storm Clouds Platform developers (@stormclouds)
options:
  _input:
    description: The command's standard output.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Check the member is Synced
  ansible.builtin.assert:
    that: (status.stdout | stormclouds.platform.galera_status).wsrep_local_state_comment == 'Synced'
"""

RETURN = r"""
_value:
  description: Variable name to value (both strings).
  type: dict
"""

from ansible.errors import AnsibleFilterError


def galera_status(output):
    if output is None:
        return {}
    if not isinstance(output, str):
        raise AnsibleFilterError("galera_status expects the text output of SHOW STATUS, got %s" % type(output).__name__)
    status = {}
    for line in output.splitlines():
        name, sep, value = line.partition("\t")
        if sep and name.strip():
            status[name.strip()] = value.strip()
    return status


class FilterModule(object):
    def filters(self):
        return {"galera_status": galera_status}
