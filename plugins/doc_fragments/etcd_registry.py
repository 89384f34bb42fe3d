# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """How the federation modules reach the registry (etcd's v3 JSON gateway)."""

    DOCUMENTATION = r"""
options:
  registry_urls:
    description:
      - Client URLs of the registry's etcd members (C(https://host:2379)), tried in order until one answers.
        Give every member so the module works while one is down.
    type: list
    elements: str
    required: true
  ca_cert:
    description:
      - PEM file of the certificate authority that signed the members' certificates. Without it the system's
        trust store is used. Certificates are always verified; there is no option to turn that off.
    type: path
  user:
    description: etcd user to authenticate as.
    type: str
  password:
    description: Password of O(user). Never logged.
    type: str
  timeout:
    description: Seconds to wait for one member before trying the next.
    type: float
    default: 5.0
requirements:
  - Python's standard library only (no etcd client library).
notes:
  - Talks to etcd 3.4's JSON gateway (C(/v3/...)) over HTTPS with password authentication.
"""
