# Copyright: Storm Clouds Platform developers
# Apache-2.0
"""frt-admin: port allocation and access control of the Fogbow Reverse Tunnel (FRT) on
the DMZ host.

The tunnel sshd asks it which key may do what (`keys`, its AuthorizedKeysCommand): a
client's key may only open remote forwardings of the ports allocated to that client,
nothing else (no shell, no pty, no agent, X11 or local forwarding). A command a client
sends over its tunnel connection lands in `serve` (the key's forced command): open or
close an on-demand tunnel within the client's quota, or list its own. Ansible declares
the static tunnels with `static`, operators read everything with `list`, and `firewall`
turns the exposure policy into an nftables table.

Every allocation lives in one state file changed under an exclusive lock, so the ports
of two requests never collide and a port, once given to a tunnel, stays with it until
the tunnel is removed. Python 3 standard library only: it runs on the DMZ host."""

import argparse
import contextlib
import errno
import fcntl
import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
import time

CONFIG = "/etc/frt/server.json"
CLIENTS_DIR = "/etc/frt/clients.d"
STATE = "/var/lib/frt/state.json"
NFT_TABLE = "frt"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
KEY_TYPE_RE = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh.com)$")
KEY_BLOB_RE = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


class FrtError(Exception):
    """A refusal with the reason a client or an operator reads."""


# ---------------------------------------------------------------- configuration

def load_config(path=CONFIG):
    with open(path, encoding="utf-8") as handle:
        config = json.load(handle)
    start, end = int(config["port_range"][0]), int(config["port_range"][1])
    if not 1024 < start <= end <= 65535:
        raise FrtError(f"{path}: port_range {start}-{end} is not a range of unprivileged ports")
    config["port_range"] = (start, end)
    config.setdefault("bind_address", "0.0.0.0")
    config.setdefault("expose", {"*": ["0.0.0.0/0"]})
    config.setdefault("command", "/usr/local/sbin/frt-admin")
    return config


def parse_key(text):
    """(type, base64 blob) of an OpenSSH public key line (options not allowed)."""
    fields = text.split()
    if len(fields) < 2 or not KEY_TYPE_RE.match(fields[0]) or not KEY_BLOB_RE.match(fields[1]):
        raise FrtError(f"not an OpenSSH public key: {text[:60]!r}")
    return fields[0], fields[1]


def load_clients(directory=CLIENTS_DIR):
    """The registered clients: name -> {keys: {(type, blob)}, quota}. A file per client,
    written by Ansible (root), named after the client."""
    clients = {}
    for entry in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        if not entry.endswith(".json"):
            continue
        with open(os.path.join(directory, entry), encoding="utf-8") as handle:
            data = json.load(handle)
        name = data.get("name", "")
        if not NAME_RE.match(name) or entry != f"{name}.json":
            raise FrtError(f"{directory}/{entry}: client name {name!r} does not match the file name")
        clients[name] = {"keys": {parse_key(k) for k in data.get("keys", [])}, "quota": int(data.get("quota", 0))}
    return clients


# ---------------------------------------------------------------- state

def empty_state():
    return {"version": 1, "tunnels": []}


@contextlib.contextmanager
def locked_state(path=STATE, write=True):
    """The state, read under an exclusive lock (shared when only reading); written back
    atomically (same owner, group and mode) when `write` and it changed."""
    # The lock is the state's directory itself: sshd's key lookups (a read-only
    # account) can take a shared lock without a lock file they could not open.
    lock = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        try:
            with open(path, encoding="utf-8") as handle:
                state = json.load(handle)
        except FileNotFoundError:
            state = empty_state()
        before = json.dumps(state, sort_keys=True)
        yield state
        if write and json.dumps(state, sort_keys=True) != before:
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(state, handle, indent=1, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileNotFoundError):
                info = os.stat(path)
                os.chmod(tmp, info.st_mode & 0o777)
                with contextlib.suppress(PermissionError):
                    os.chown(tmp, info.st_uid, info.st_gid)
            os.replace(tmp, path)
    finally:
        os.close(lock)


def tunnels_of(state, client):
    return [t for t in state["tunnels"] if t["client"] == client]


def find(state, client, name):
    return next((t for t in state["tunnels"] if t["client"] == client and t["name"] == name), None)


def port_is_free(port, bind_address):
    """Nothing else on the DMZ host listens there (a tunnel could not bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((bind_address, port))
        except OSError as err:
            if err.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def allocate(state, config, client, name, target, origin, probe=port_is_free):
    """The tunnel `client`/`name`, allocated if new (the lowest free port of the range);
    an existing one keeps its port. Returns (tunnel, changed)."""
    if not NAME_RE.match(name):
        raise FrtError(f"tunnel name {name!r}: lower-case letters, digits, '_', '.', '-', at most 32")
    check_target(target)
    current = find(state, client, name)
    if current is not None:
        if current["origin"] != origin:
            raise FrtError(f"{client}/{name} exists as a {current['origin']} tunnel (port {current['port']})")
        if current["target"] == target:
            return current, False
        current["target"] = target
        return current, True
    used = {t["port"] for t in state["tunnels"]}
    start, end = config["port_range"]
    for port in range(start, end + 1):
        if port not in used and probe(port, config["bind_address"]):
            tunnel = {"client": client, "name": name, "port": port, "target": target, "origin": origin,
                      "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            state["tunnels"].append(tunnel)
            state["tunnels"].sort(key=lambda t: t["port"])
            return tunnel, True
    raise FrtError(f"no free port left in {start}-{end} for {client}/{name} ({len(used)} allocated)")


def check_target(target):
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not re.match(r"^[A-Za-z0-9.-]+$", host):
        raise FrtError(f"target {target!r}: HOST:PORT on the client's side, e.g. localhost:22")


def open_on_demand(state, config, clients, client, name, target):
    quota = clients[client]["quota"]
    if find(state, client, name) is None:
        mine = [t["name"] for t in tunnels_of(state, client) if t["origin"] == "demand"]
        if len(mine) >= quota:
            raise FrtError(f"quota reached: {client} may hold {quota} on-demand tunnel(s) and holds "
                           f"{', '.join(mine) or 'none'}; close one first")
    return allocate(state, config, client, name, target, "demand")


def close(state, client, name, origin):
    tunnel = find(state, client, name)
    if tunnel is None:
        return None
    if origin is not None and tunnel["origin"] != origin:
        raise FrtError(f"{client}/{name} is a {tunnel['origin']} tunnel: only Ansible removes it")
    state["tunnels"].remove(tunnel)
    return tunnel


def sync_static(state, config, client, wanted):
    """Make `client`'s static tunnels exactly `wanted` ([{name, target}]); ports of
    tunnels that stay are kept. Returns whether anything changed."""
    changed = False
    names = set()
    for item in wanted:
        names.add(item["name"])
        _tunnel, did = allocate(state, config, client, item["name"], item["target"], "static")
        changed |= did
    for tunnel in [t for t in tunnels_of(state, client) if t["origin"] == "static" and t["name"] not in names]:
        state["tunnels"].remove(tunnel)
        changed = True
    return changed


# ---------------------------------------------------------------- sshd's questions

def authorized_keys_line(config, clients, state, user, key_type, key_blob, login_user="frt"):
    """The authorized_keys line for a key offered to the tunnel sshd, or None."""
    if user != login_user:
        return None
    client = next((name for name, data in clients.items() if (key_type, key_blob) in data["keys"]), None)
    if client is None:
        return None
    options = ["restrict"]
    ports = [t["port"] for t in tunnels_of(state, client)]
    if ports:
        # restrict turned every forwarding off; remote ones come back, each listen
        # limited to this client's own ports (AllowTcpForwarding remote keeps -L off).
        options.append("port-forwarding")
        options += [f'permitlisten="{config["bind_address"]}:{port}"' for port in ports]
    options.append(f'command="{config["command"]} serve {client}"')
    return f"{','.join(options)} {key_type} {key_blob} frt:{client}"


def serve(config, clients, client, command, state_path=STATE):
    """A command a client sent over its connection (SSH_ORIGINAL_COMMAND)."""
    words = command.split()
    if client not in clients:
        raise FrtError(f"{client} is not a registered client")
    if words[:1] == ["open"] and len(words) == 3:
        with locked_state(state_path) as state:
            tunnel, _changed = open_on_demand(state, config, clients, client, words[1], words[2])
        return json.dumps(tunnel, sort_keys=True)
    if words[:1] == ["close"] and len(words) == 2:
        with locked_state(state_path) as state:
            tunnel = close(state, client, words[1], "demand")
        return json.dumps(tunnel or {}, sort_keys=True)
    if words == ["list"]:
        with locked_state(state_path, write=False) as state:
            return json.dumps(tunnels_of(state, client), sort_keys=True)
    raise FrtError("this key opens tunnels only; commands: open NAME HOST:PORT, close NAME, list")


# ---------------------------------------------------------------- operators

def listening_ports():
    try:
        out = subprocess.run(["ss", "-H", "-ltn"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return set()
    ports = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[3].rpartition(":")[2].isdigit():
            ports.add(int(fields[3].rpartition(":")[2]))
    return ports


def nft_ruleset(config, state):
    """The nftables table enforcing the exposure policy: a tunnel port answers
    connections from the networks its name is exposed to (expose[name], else
    expose['*']) and from the DMZ host itself; every other port of the range is closed
    to the outside."""
    start, end = config["port_range"]
    expose = config["expose"]
    lines = [f"table inet {NFT_TABLE} {{", "  chain input {",
             "    type filter hook input priority filter - 5; policy accept;",
             f"    tcp dport {start}-{end} jump tunnels", "  }", "  chain tunnels {", "    iif lo accept"]
    for tunnel in sorted(state["tunnels"], key=lambda t: t["port"]):
        networks = expose.get(tunnel["name"], expose.get("*", []))
        for family in ("ip", "ip6"):
            nets = [n for n in networks if (ipaddress.ip_network(n, strict=False).version == 4) == (family == "ip")]
            if nets:
                lines.append(f"    {family} saddr {{ {', '.join(nets)} }} tcp dport {tunnel['port']} accept"
                             f"  # {tunnel['client']}/{tunnel['name']}")
    lines += ["    drop", "  }", "}"]
    return "\n".join(lines) + "\n"


def apply_firewall(config, state):
    ruleset = nft_ruleset(config, state)
    # Replace the table in one transaction: create it (so delete never fails), delete, load.
    script = f"table inet {NFT_TABLE}\ndelete table inet {NFT_TABLE}\n{ruleset}"
    subprocess.run(["nft", "-f", "-"], input=script, text=True, check=True)


def _signature(path):
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_mtime_ns


def apply_firewall_until_stable(config, path=STATE, rounds=10):
    """Load the firewall of the current tunnels, again while they changed meanwhile: the
    path unit that starts this misses changes made while it runs (a timer backs it up)."""
    for _round in range(rounds):
        before = _signature(path)
        with locked_state(path, write=False) as state:
            apply_firewall(config, state)
        if _signature(path) == before:
            return
    raise FrtError(f"the tunnels kept changing while the firewall was loaded ({rounds} rounds)")


# ---------------------------------------------------------------- command line

def main(argv=None):
    parser = argparse.ArgumentParser(prog="frt-admin", description=__doc__.split("\n\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    keys = sub.add_parser("keys", help="AuthorizedKeysCommand of the tunnel sshd (%%u %%t %%k)")
    keys.add_argument("user")
    keys.add_argument("key_type")
    keys.add_argument("key_blob")
    serve_p = sub.add_parser("serve", help="forced command of a client's key")
    serve_p.add_argument("client")
    static = sub.add_parser("static", help="make a client's static tunnels exactly the JSON list on stdin")
    static.add_argument("client")
    static.add_argument("--check", action="store_true", help="report what would change, change nothing")
    listing = sub.add_parser("list", help="every tunnel, its port and whether it is up")
    listing.add_argument("--json", action="store_true")
    release = sub.add_parser("close", help="remove a tunnel (an operator's decision)")
    release.add_argument("client")
    release.add_argument("name")
    sub.add_parser("firewall", help="load the nftables table of the exposure policy")
    args = parser.parse_args(argv)

    try:
        config = load_config()
        if args.command == "keys":
            with locked_state(write=False) as state:
                line = authorized_keys_line(config, load_clients(), state, args.user, args.key_type, args.key_blob)
            if line:
                print(line)
            return 0
        if args.command == "serve":
            print(serve(config, load_clients(), args.client, os.environ.get("SSH_ORIGINAL_COMMAND", "")))
            return 0
        if args.command == "static":
            wanted = json.load(sys.stdin)
            if not args.check and args.client not in load_clients():
                raise FrtError(f"{args.client} is not registered in {CLIENTS_DIR}")
            # In check mode the state is read under a shared lock and never written.
            with locked_state(write=not args.check) as state:
                changed = sync_static(state, config, args.client, wanted)
                result = {"changed": changed, "tunnels": tunnels_of(state, args.client)}
            print(json.dumps(result, sort_keys=True))
            return 0
        if args.command == "close":
            with locked_state() as state:
                tunnel = close(state, args.client, args.name, None)
            print(json.dumps(tunnel or {}, sort_keys=True))
            return 0
        if args.command == "firewall":
            apply_firewall_until_stable(config)
            return 0
        with locked_state(write=False) as state:
            up = listening_ports()
            rows = [dict(t, up=t["port"] in up) for t in state["tunnels"]]
        if args.json:
            print(json.dumps(rows, indent=1, sort_keys=True))
        else:
            print(f"{'PORT':>5}  {'CLIENT':<20} {'TUNNEL':<16} {'TARGET':<22} {'ORIGIN':<7} STATE")
            for row in rows:
                print(f"{row['port']:>5}  {row['client']:<20} {row['name']:<16} {row['target']:<22} "
                      f"{row['origin']:<7} {'up' if row['up'] else 'down'}")
        return 0
    except FrtError as err:
        print(f"frt: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
