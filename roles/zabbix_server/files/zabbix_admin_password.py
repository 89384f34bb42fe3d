"""Sets the Zabbix frontend's Admin password in the database when it differs.

Usage: zabbix_admin_password.py CLIENT_CNF check|apply, the password on stdin (never on
a command line). Prints "unchanged", "changed" or "would change". The frontend stores
bcrypt hashes ($2y$, PHP's password_hash); libxcrypt verifies and makes the same."""

import crypt  # pylint: disable=deprecated-module  # Debian 12's Python 3.11 has it; no extra package
import subprocess
import sys


def query(cnf, sql):
    out = subprocess.run(['mariadb', '--defaults-extra-file=' + cnf, '--batch', '--skip-column-names'],
                         input=sql, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit('mariadb: ' + out.stderr.strip())
    return out.stdout.strip()


def main():
    cnf, mode = sys.argv[1], sys.argv[2]
    password = sys.stdin.readline().rstrip('\n')
    if len(password) < 8:
        sys.exit('the password is shorter than 8 characters (Zabbix refuses such logins)')
    stored = query(cnf, "SELECT passwd FROM users WHERE username = 'Admin';")
    if not stored:
        sys.exit('the database has no user Admin (was the schema imported?)')
    if stored.startswith('$2') and crypt.crypt(password, stored) == stored:
        print('unchanged')
        return
    if mode != 'apply':
        print('would change')
        return
    new = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10))
    new = '$2y$' + new[4:]
    query(cnf, "UPDATE users SET passwd = '%s', attempt_failed = 0 WHERE username = 'Admin';" % new)
    print('changed')


if __name__ == '__main__':
    main()
