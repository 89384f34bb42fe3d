#!/usr/bin/env python
"""Benchmark: register 500 hosts in Zabbix with the bulk module vs one call per host.

Run as root from the project (after ./lab setup):
    .venv/bin/python bench/zabbix_bulk.py [--hosts 500] [--runs 1] [--keep]
or against a Zabbix 6.0 frontend that runs already:
    .venv/bin/python bench/zabbix_bulk.py --url http://HOST/zabbix [--user Admin --password ...]

Without --url, a one-node lab (b-zabbix) gets Zabbix 6.0 from Debian's packages set up
by SERVER_SETUP below (MariaDB, the server, the frontend on apache2 + php-fpm), with the
stock Admin password of a fresh database: a benchmark fixture only, until the
collection's zabbix_server role sets the lab's server up.

Per run, on the same server, with the same 500 hosts (two groups, the "Linux by Zabbix
agent active" template, an agent interface, a PSK of their own):
  bulk        stormclouds.platform.zabbix_hosts, one task for the list (from localhost);
  per host    community.zabbix.zabbix_host (bundled in the `ansible` package) in a loop
              over the same list, through its httpapi connection - what operators use
              today;
each timed for a cold run (no host exists: they are deleted before, untimed) and for a
second, idempotent run. Writes bench/results/zabbix_bulk.json: the per-host loop's cold
time as the baseline of the bulk module's (goal: the loop takes >= 10 x longer), the
idempotent runs likewise, and the API calls the bulk module made."""

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

from benchlib import LAB, PROJECT, lab_command, save

NAME = "b-zabbix"
SERVER_SETUP = r"""
set -e
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mariadb-server zabbix-server-mysql \
  zabbix-frontend-php php8.2-fpm php8.2-mysql apache2 >/dev/null
password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
mariadb -e "CREATE DATABASE zabbix CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
  CREATE USER zabbix@localhost IDENTIFIED BY '$password'; GRANT ALL ON zabbix.* TO zabbix@localhost;"
for f in schema images data; do zcat /usr/share/zabbix-server-mysql/$f.sql.gz | mariadb zabbix; done
printf 'DBPassword=%s\nAllowUnsupportedDBVersions=1\n' "$password" > /etc/zabbix/zabbix_server.conf.d/bench.conf
cat > /etc/zabbix/zabbix.conf.php <<EOC
<?php
\$DB['TYPE'] = 'MYSQL'; \$DB['SERVER'] = 'localhost'; \$DB['PORT'] = '0'; \$DB['DATABASE'] = 'zabbix';
\$DB['USER'] = 'zabbix'; \$DB['PASSWORD'] = '$password'; \$DB['SCHEMA'] = ''; \$DB['DOUBLE_IEEE754'] = true;
\$ZBX_SERVER_NAME = 'bench'; \$IMAGE_FORMAT_DEFAULT = IMAGE_FORMAT_PNG;
EOC
chmod 0640 /etc/zabbix/zabbix.conf.php; chgrp www-data /etc/zabbix/zabbix.conf.php
a2enmod -q proxy_fcgi setenvif >/dev/null; a2enconf -q php8.2-fpm zabbix-frontend-php >/dev/null
systemctl restart zabbix-server php8.2-fpm apache2
"""
GROUPS = ["Bench hosts", "Storm Clouds"]
TEMPLATE = "Linux by Zabbix agent active"


def playbook(tmp, name, plays):
    path = Path(tmp) / f"{name}.json"
    path.write_text(json.dumps(plays), encoding="utf-8")
    return path


def run_playbook(path, inventory, extra):
    env_file = Path(path).with_suffix(".vars.json")
    env_file.write_text(json.dumps(extra), encoding="utf-8")
    started = time.monotonic()
    proc = subprocess.run([str(PROJECT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory), str(path),
                           "-e", f"@{env_file}"], capture_output=True, text=True, check=False, cwd=PROJECT,
                          env={"ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"), "PATH": "/usr/bin:/bin",
                               "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
                               "HOME": "/root"})
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"{path.name} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-3000:]}")
    # (the project's profile_tasks callback prints around the JSON document)
    text = proc.stdout
    start = text.index("{\n") if text.startswith("{\n") else text.index("\n{\n") + 1
    return elapsed, json.loads(text[start:text.rindex("\n}") + 2])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="the frontend, http://HOST/zabbix (default: a lab of its own)")
    parser.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    parser.add_argument("--user", default="Admin")
    parser.add_argument("--password", default="zabbix")
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    if args.url:
        args.command_line = f"--url {args.url} "
        measure(args)
        return
    args.command_line = ""
    try:
        lab_command([LAB, "down", NAME])
        lab_command([LAB, "up", "default", "--name", NAME, "--nodes", "1"], timeout=1800)
        lab_command([LAB, "run", "--name", NAME, "--", "ansible-playbook", str(PROJECT / "playbooks" / "site.yml"),
                     "--tags", "common"], timeout=1800)
        lab_command(["podman", "exec", "-i", f"{NAME}-node1", "bash"], input_text=SERVER_SETUP, timeout=1800)
        address = lab_command(["podman", "exec", f"{NAME}-node1", "sh", "-c", "hostname -I | cut -d' ' -f1"]
                              ).stdout.strip()
        args.url = f"http://{address}/zabbix"
        measure(args)
    finally:
        if not args.keep:
            lab_command([LAB, "down", NAME], check=False)


def measure(args):
    url = urlparse(args.url)
    hosts = [{"host": f"bench-{i:04d}", "groups": GROUPS, "templates": [TEMPLATE],
              "interfaces": [{"address": f"10.{200 + i // 65536}.{i // 256 % 256}.{i % 256}"}],
              "tls_psk_identity": f"bench-{i:04d}", "tls_psk": secrets.token_hex(32)} for i in range(args.hosts)]
    api = {"server_url": args.url, "login_user": args.user, "login_password": args.password}
    samples = {"bulk_cold": [], "bulk_again": [], "loop_cold": [], "loop_again": []}
    calls = {}
    with tempfile.TemporaryDirectory() as tmp:
        inventory = Path(tmp) / "inventory.json"
        inventory.write_text(json.dumps({"all": {"hosts": {
            "localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
            "zabbix_api": {"ansible_host": url.hostname, "ansible_connection": "httpapi",
                           "ansible_network_os": "community.zabbix.zabbix",
                           "ansible_httpapi_port": url.port or (443 if url.scheme == "https" else 80),
                           "ansible_httpapi_use_ssl": url.scheme == "https",
                           "ansible_zabbix_url_path": url.path.strip("/"),
                           "ansible_user": args.user, "ansible_httpapi_pass": args.password}}}}),
            encoding="utf-8")
        bulk = playbook(tmp, "bulk", [{"hosts": "localhost", "gather_facts": False, "tasks": [
            {"stormclouds.platform.zabbix_hosts": dict(api, hosts="{{ bench_hosts }}", state="{{ bench_state }}"),
             "register": "out"}]}])
        loop = playbook(tmp, "loop", [{"hosts": "zabbix_api", "gather_facts": False, "tasks": [
            {"community.zabbix.zabbix_host": {
                "host_name": "{{ item.host }}", "host_groups": "{{ item.groups }}",
                "link_templates": "{{ item.templates }}", "status": "enabled", "state": "present",
                "interfaces": [{"type": "agent", "main": 1, "useip": 1, "ip": "{{ item.interfaces[0].address }}",
                                "dns": "", "port": "10050"}],
                "tls_connect": 2, "tls_accept": 2, "tls_psk_identity": "{{ item.tls_psk_identity }}",
                "tls_psk": "{{ item.tls_psk }}"},
             "loop": "{{ bench_hosts }}", "loop_control": {"label": "{{ item.host }}"}}]}])

        def clear():
            run_playbook(bulk, inventory, {"bench_hosts": [{"host": h["host"]} for h in hosts], "bench_state": "absent"})

        for run_no in range(1, args.runs + 1):
            clear()
            seconds, out = run_playbook(bulk, inventory, {"bench_hosts": hosts, "bench_state": "present"})
            samples["bulk_cold"].append(seconds)
            result = out["plays"][0]["tasks"][0]["hosts"]["localhost"]
            calls["bulk_cold"] = result["api_calls"]
            assert len(result["created"]) == args.hosts, result["created"][:5]
            seconds, out = run_playbook(bulk, inventory, {"bench_hosts": hosts, "bench_state": "present"})
            samples["bulk_again"].append(seconds)
            result = out["plays"][0]["tasks"][0]["hosts"]["localhost"]
            calls["bulk_again"] = result["api_calls"]
            assert not result["changed"] and result["unchanged"] == args.hosts, result
            clear()
            seconds, _out = run_playbook(loop, inventory, {"bench_hosts": hosts})
            samples["loop_cold"].append(seconds)
            seconds, _out = run_playbook(loop, inventory, {"bench_hosts": hosts})
            samples["loop_again"].append(seconds)
            print(f"run {run_no}/{args.runs}, {args.hosts} hosts: bulk module {samples['bulk_cold'][-1]:.1f} s cold "
                  f"({calls['bulk_cold']} API calls), {samples['bulk_again'][-1]:.1f} s again ({calls['bulk_again']}); "
                  f"zabbix_host loop {samples['loop_cold'][-1]:.1f} s cold, {samples['loop_again'][-1]:.1f} s again",
                  flush=True)
        clear()

    loop_cold = statistics.median(samples["loop_cold"])
    result = save("zabbix_bulk", f"register {args.hosts} hosts with the bulk module (cold, whole playbook)", "s",
                  samples["bulk_cold"], f".venv/bin/python bench/zabbix_bulk.py {args.command_line}--hosts {args.hosts} --runs {args.runs}",
                  baseline={"metric": f"community.zabbix.zabbix_host in a loop over the same {args.hosts} hosts",
                            "samples": [round(s, 3) for s in samples["loop_cold"]], "median": round(loop_cold, 3)},
                  extra={"speedup_cold": round(loop_cold / statistics.median(samples["bulk_cold"]), 1),
                         "idempotent_bulk_s": [round(s, 2) for s in samples["bulk_again"]],
                         "idempotent_loop_s": [round(s, 2) for s in samples["loop_again"]],
                         "speedup_idempotent": round(statistics.median(samples["loop_again"])
                                                     / statistics.median(samples["bulk_again"]), 1),
                         "bulk_api_calls": calls, "goal_speedup": 10})
    print(f"speed-up: {result['speedup_cold']} x cold, {result['speedup_idempotent']} x idempotent", flush=True)


if __name__ == "__main__":
    sys.exit(main())
