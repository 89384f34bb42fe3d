# Copyright: Storm Clouds Platform developers
# Apache-2.0
"""frt-tunnel: on-demand tunnels of this VM through the DMZ host (Fogbow Reverse Tunnel).

    frt-tunnel open NAME PORT [--host HOST]   publish HOST:PORT (default localhost)
    frt-tunnel close NAME                     take an on-demand tunnel down
    frt-tunnel list                           this VM's tunnels and their units

The DMZ host allocates the port (within this VM's quota) when asked over the VM's own
key; the tunnel then runs as the unit frt-tunnel@NAME like the static ones, so it comes
back after a reboot until it is closed. Run as root (it writes the unit's settings)."""

import argparse
import json
import os
import re
import subprocess
import sys
import time

SSH = ["/usr/bin/ssh", "-F", "/etc/frt/ssh_config", "frt-server"]
TUNNELS = "/etc/frt/tunnels"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")


def ask(*words):
    """One command to the DMZ host's frt-admin (the key's forced command); its JSON."""
    proc = subprocess.run(SSH + [" ".join(words)], capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"frt-tunnel: the DMZ host refused: {(proc.stderr or proc.stdout).strip()}")
    return json.loads(proc.stdout)


def systemctl(*args):
    return subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False)


def env_path(name):
    return os.path.join(TUNNELS, f"{name}.env")


def read_env(name):
    try:
        with open(env_path(name), encoding="utf-8") as handle:
            return dict(line.strip().split("=", 1) for line in handle if "=" in line and not line.startswith("#"))
    except FileNotFoundError:
        return {}


def cmd_open(args):
    if read_env(args.name).get("FRT_ORIGIN") == "static":
        raise SystemExit(f"frt-tunnel: {args.name} is a static tunnel (managed by Ansible)")
    tunnel = ask("open", args.name, f"{args.host}:{args.port}")
    tmp = env_path(args.name) + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write("# Written by frt-tunnel open (on-demand tunnel).\n"
                     f"FRT_ORIGIN=demand\nFRT_LISTEN=0.0.0.0:{tunnel['port']}\nFRT_TARGET={tunnel['target']}\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, env_path(args.name))
    unit = f"frt-tunnel@{args.name}.service"
    systemctl("enable", unit)
    proc = systemctl("restart", unit)
    if proc.returncode != 0:
        raise SystemExit(f"frt-tunnel: {unit} did not start: {proc.stderr.strip()}")
    # The unit is active as soon as ssh runs; give the forwarding a moment to fail.
    time.sleep(2)
    state = systemctl("is-active", unit).stdout.strip()
    print(f"{args.name}: port {tunnel['port']} on the DMZ host -> {tunnel['target']} ({unit} {state})")
    return 0 if state == "active" else 1


def cmd_close(args):
    if read_env(args.name).get("FRT_ORIGIN") == "static":
        raise SystemExit(f"frt-tunnel: {args.name} is a static tunnel (managed by Ansible)")
    systemctl("disable", "--now", f"frt-tunnel@{args.name}.service")
    if os.path.exists(env_path(args.name)):
        os.unlink(env_path(args.name))
    tunnel = ask("close", args.name)
    print(f"{args.name}: closed" + (f" (port {tunnel['port']} released)" if tunnel else " (the DMZ host had no such tunnel)"))
    return 0


def cmd_list(_args):
    tunnels = ask("list")
    print(f"{'PORT':>5}  {'TUNNEL':<16} {'TARGET':<22} {'ORIGIN':<7} UNIT")
    for tunnel in tunnels:
        unit = systemctl("is-active", f"frt-tunnel@{tunnel['name']}.service").stdout.strip()
        print(f"{tunnel['port']:>5}  {tunnel['name']:<16} {tunnel['target']:<22} {tunnel['origin']:<7} {unit}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="frt-tunnel", description=__doc__.split("\n\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    opening = sub.add_parser("open", help="publish a local service through the DMZ host")
    opening.add_argument("name")
    opening.add_argument("port", type=int)
    opening.add_argument("--host", default="localhost")
    closing = sub.add_parser("close", help="take an on-demand tunnel down")
    closing.add_argument("name")
    sub.add_parser("list", help="this VM's tunnels")
    args = parser.parse_args(argv)
    if getattr(args, "name", None) is not None and not NAME_RE.match(args.name):
        parser.error("NAME: lower-case letters, digits, '_', '.', '-', at most 32")
    if getattr(args, "port", None) is not None and not 0 < args.port < 65536:
        parser.error("PORT: 1-65535")
    if os.geteuid() != 0:
        parser.error("run as root (the VM's tunnel key and unit settings are root's)")
    return {"open": cmd_open, "close": cmd_close, "list": cmd_list}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
