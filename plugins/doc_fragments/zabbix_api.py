# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Storm Clouds Platform developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """How the Zabbix modules reach the JSON-RPC API."""

    DOCUMENTATION = r"""
options:
  server_url:
    description:
      - URL of the Zabbix frontend (C(https://zabbix.example.org/zabbix)); the API is its C(api_jsonrpc.php).
      - Taken from E(ZABBIX_SERVER_URL) when not given.
    type: str
    required: true
  api_token:
    description:
      - An API token (Zabbix 5.4 and later); never logged. Exclusive with O(login_user).
      - Taken from E(ZABBIX_API_TOKEN) when not given.
    type: str
  login_user:
    description: User to log in as, with O(login_password) (E(ZABBIX_USER)); the session is logged out at the end.
    type: str
  login_password:
    description: Its password (E(ZABBIX_PASSWORD)); never logged.
    type: str
  validate_certs:
    description: Verify the frontend's TLS certificate.
    type: bool
    default: true
  ca_cert:
    description: PEM file of the CA that signed the frontend's certificate (instead of the system's trust store).
    type: path
  timeout:
    description: Seconds to wait for each API call.
    type: int
    default: 30
requirements:
  - pyzabbix >= 1.3 on the host running the module.
notes:
  - Tested against Zabbix 6.0 LTS (Debian 12's packages).
"""
