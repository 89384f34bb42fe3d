"""What the Zabbix agent reports about the services the collection deploys.

Installed by the zabbix_agent role and run by the agent's user parameters as user
zabbix; prints one value (a number, or JSON for discovery and master items):

  backup-discovery       the backup jobs that have run on this host (low-level discovery)
  backup-age JOB         seconds since the job's last good run (its .last_success file)
  backup-failed JOB      1 when the job's last attempt failed, else 0
  galera                 wsrep state of the local member (JSON), over MariaDB's socket as
                         the unix_socket account zabbix
  pacemaker              cluster health from crm_mon's XML (JSON); zabbix is in haclient
  haproxy                servers in service per backend (JSON), from HAProxy's read-only
                         statistics socket; zabbix is in haproxy-monitor
  haproxy-discovery      the backends with servers (low-level discovery)

A service that does not answer is reported as down (JSON that trips the templates'
triggers, with the error), not as an unsupported item, whose triggers never fire.

Standard library only: Debian 12's python3."""

import json
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

BACKUP_STATUS = Path('/var/lib/stormclouds-backup/status')
WSREP = ('wsrep_cluster_size', 'wsrep_cluster_status', 'wsrep_local_state', 'wsrep_ready', 'wsrep_connected')


def backup_jobs(status_dir=BACKUP_STATUS):
    """Jobs with a status file, for discovery."""
    return [{'{#JOB}': path.stem} for path in sorted(status_dir.glob('*.json'))]


def backup_age(job, now=None, status_dir=BACKUP_STATUS):
    """Seconds since the last good run; the time since the epoch when none was good.
    A job without a status file (purged) is an error: its item turns unsupported
    rather than a problem for as long as Zabbix keeps the discovered item."""
    now = time.time() if now is None else now
    if not (status_dir / ('%s.json' % job)).exists():
        raise ValueError('no backup job %r on this host' % job)
    try:
        last = int((status_dir / ('%s.last_success' % job)).read_text().strip() or 0)
    except FileNotFoundError:
        last = 0
    return int(now - last)


def backup_failed(job, status_dir=BACKUP_STATUS):
    """1 when the last attempt failed (a failure recorded after the last success)."""
    status = json.loads((status_dir / ('%s.json' % job)).read_text())
    return 1 if (status.get('last_failure') or 0) > (status.get('last_success') or 0) else 0


def parse_wsrep(output):
    """`SHOW GLOBAL STATUS` batch output -> the JSON master item's fields."""
    seen = dict(line.split('\t', 1) for line in output.splitlines() if '\t' in line)
    if 'wsrep_cluster_status' not in seen:
        raise ValueError('MariaDB runs without Galera (no wsrep status)')
    return {
        'cluster_size': int(seen.get('wsrep_cluster_size', 0)),
        'cluster_status': seen.get('wsrep_cluster_status', ''),
        # 4 Synced, 2 Donor/Desynced, 1 Joining, 3 Joined.
        'local_state': int(seen.get('wsrep_local_state', 0)),
        'ready': 1 if seen.get('wsrep_ready') == 'ON' else 0,
        'connected': 1 if seen.get('wsrep_connected') == 'ON' else 0,
    }


HAPROXY_SOCKET = '/run/haproxy/monitor.sock'


def parse_haproxy_stat(csv_text):
    """`show stat` CSV -> per backend with servers: its status and how many of its
    servers (active and backup) are in service."""
    lines = csv_text.strip().splitlines()
    if not lines or not lines[0].startswith('# '):
        raise ValueError('not HAProxy statistics: %r' % csv_text[:80])
    header = lines[0][2:].split(',')
    rows = [dict(zip(header, line.split(','))) for line in lines[1:] if line]
    backends = {}
    for row in rows:
        if row.get('svname') == 'BACKEND':
            backends.setdefault(row['pxname'], {'status': row.get('status', ''), 'servers': 0, 'servers_up': 0})
            backends[row['pxname']]['status'] = row.get('status', '')
    for row in rows:
        if row.get('type') != '2':
            continue
        backend = backends.setdefault(row['pxname'], {'status': '', 'servers': 0, 'servers_up': 0})
        backend['servers'] += 1
        # "UP", "UP 1/3" (going down), "no check": in service; DOWN, MAINT, DRAIN: not.
        if row.get('status', '').startswith(('UP', 'no check')):
            backend['servers_up'] += 1
    return {'ok': 1, 'backends': dict((name, b) for name, b in backends.items() if b['servers'])}


def haproxy(path=HAPROXY_SOCKET):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(5)
        conn.connect(path)
        conn.sendall(b'show stat\n')
        chunks = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return parse_haproxy_stat(b''.join(chunks).decode())


GALERA_DOWN = {'cluster_size': 0, 'cluster_status': 'unreachable', 'local_state': 0, 'ready': 0, 'connected': 0}
HAPROXY_DOWN = {'ok': 0, 'backends': {}}
PACEMAKER_DOWN = {'quorum': 0, 'nodes_configured': 0, 'nodes_online': 0, 'nodes_standby': 0, 'resources_failed': 0,
                  'failed_actions': 0}


def galera():
    query = "SHOW GLOBAL STATUS WHERE Variable_name IN (%s)" % ', '.join("'%s'" % v for v in WSREP)
    out = subprocess.run(['mariadb', '--batch', '--skip-column-names', '--connect-timeout=3', '-e', query],
                         capture_output=True, text=True, timeout=7, check=False)
    if out.returncode != 0:
        raise RuntimeError('mariadb: %s' % out.stderr.strip())
    return parse_wsrep(out.stdout)


def parse_crm_mon(xml_text):
    """crm_mon --output-as=xml -> the JSON master item's fields."""
    root = ET.fromstring(xml_text)
    summary = root.find('summary')
    quorum = summary.find('current_dc') if summary is not None else None
    nodes = root.findall('nodes/node')
    resources = root.iter('resource')
    failed = [r for r in resources if r.get('failed') == 'true']
    return {
        'quorum': 1 if quorum is not None and quorum.get('with_quorum') == 'true' else 0,
        'nodes_configured': len(nodes),
        'nodes_online': sum(1 for n in nodes if n.get('online') == 'true'),
        'nodes_standby': sum(1 for n in nodes if n.get('standby') == 'true'),
        'resources_failed': len(failed),
        'failed_actions': len(root.findall('failures/failure')),
    }


def pacemaker():
    out = subprocess.run(['crm_mon', '--one-shot', '--inactive', '--output-as=xml'],
                         capture_output=True, text=True, timeout=7, check=False)
    if not out.stdout.strip():
        raise RuntimeError('crm_mon: %s' % out.stderr.strip())
    return parse_crm_mon(out.stdout)


def down_or(probe, down):
    """The probe's fields, or the service's "down" fields with the error."""
    try:
        return probe()
    except (OSError, ValueError, RuntimeError, subprocess.SubprocessError, ET.ParseError) as err:
        return dict(down, error=str(err))


def main(argv):
    command, args = argv[0], argv[1:]
    if command == 'backup-discovery':
        value = json.dumps(backup_jobs())
    elif command == 'backup-age':
        value = backup_age(args[0])
    elif command == 'backup-failed':
        value = backup_failed(args[0])
    elif command == 'galera':
        value = json.dumps(down_or(galera, GALERA_DOWN))
    elif command == 'pacemaker':
        value = json.dumps(down_or(pacemaker, PACEMAKER_DOWN))
    elif command == 'haproxy':
        value = json.dumps(down_or(haproxy, HAPROXY_DOWN))
    elif command == 'haproxy-discovery':
        value = json.dumps([{'{#BACKEND}': name} for name in sorted(haproxy()['backends'])])
    else:
        raise SystemExit('unknown probe %r' % command)
    print(value)


if __name__ == '__main__':
    try:
        main(sys.argv[1:])
    except (OSError, ValueError, RuntimeError, IndexError, subprocess.SubprocessError, ET.ParseError) as err:
        # The agent shows this as the item's "not supported" reason.
        print('ZBX_NOTSUPPORTED: %s' % err)
        sys.exit(1)
