"""The FRT allocator and access control (roles/frt_server/files/frt_admin.py): ports
never collide and never move, quotas hold, a key is told exactly its own ports, and the
firewall exposes each tunnel only where the policy says."""

import importlib.util
import json
import multiprocessing
import os
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[3] / "roles" / "frt_server" / "files" / "frt_admin.py"
SPEC = importlib.util.spec_from_file_location("frt_admin", SOURCE)
frt = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(frt)

KEY1 = ("ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIHx1hX0y0yQe4Ckq0bqkqJc0Xp9o1tUwz5tq5w5Yc0a1")
KEY2 = ("ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIPq0o3yGdW4c1cZ7rS1v3b5Yq3cJxg2o4tJkq5mV0a2b")
CONFIG = {"port_range": (20000, 20004), "bind_address": "0.0.0.0", "command": "/usr/local/sbin/frt-admin",
          "expose": {"*": ["0.0.0.0/0"], "internal": [], "web": ["192.0.2.0/24", "2001:db8::/32"]}}
CLIENTS = {"vm1": {"keys": {KEY1}, "quota": 1}, "vm2": {"keys": {KEY2}, "quota": 2}}


def free(_port, _address):
    return True


def test_ports_are_given_lowest_first_and_kept():
    state = frt.empty_state()
    first, changed = frt.allocate(state, CONFIG, "vm1", "ssh", "localhost:22", "static", probe=free)
    second = frt.allocate(state, CONFIG, "vm2", "ssh", "localhost:22", "static", probe=free)[0]
    assert changed and (first["port"], second["port"]) == (20000, 20001)
    again, changed = frt.allocate(state, CONFIG, "vm1", "ssh", "localhost:22", "static", probe=free)
    assert not changed and again["port"] == 20000


def test_a_changed_target_keeps_the_port():
    state = frt.empty_state()
    frt.allocate(state, CONFIG, "vm1", "web", "localhost:80", "static", probe=free)
    tunnel, changed = frt.allocate(state, CONFIG, "vm1", "web", "localhost:8080", "static", probe=free)
    assert changed and tunnel["port"] == 20000 and tunnel["target"] == "localhost:8080"


def test_a_port_another_process_holds_is_skipped():
    state = frt.empty_state()
    tunnel = frt.allocate(state, CONFIG, "vm1", "ssh", "localhost:22", "static",
                          probe=lambda port, _a: port != 20000)[0]
    assert tunnel["port"] == 20001


def test_an_exhausted_range_is_an_error_naming_it():
    state = frt.empty_state()
    for i in range(5):
        frt.allocate(state, CONFIG, "vm2", f"t{i}", "localhost:22", "static", probe=free)
    with pytest.raises(frt.FrtError, match="no free port left in 20000-20004"):
        frt.allocate(state, CONFIG, "vm1", "ssh", "localhost:22", "static", probe=free)


def test_on_demand_tunnels_are_limited_by_the_quota():
    state = frt.empty_state()
    frt.allocate(state, CONFIG, "vm1", "ssh", "localhost:22", "static", probe=free)
    frt.open_on_demand(state, CONFIG, CLIENTS, "vm1", "web", "localhost:8080")
    with pytest.raises(frt.FrtError, match="quota reached: vm1 may hold 1 on-demand tunnel"):
        frt.open_on_demand(state, CONFIG, CLIENTS, "vm1", "web2", "localhost:8081")
    # Asking again for the one it holds is not a second tunnel.
    frt.open_on_demand(state, CONFIG, CLIENTS, "vm1", "web", "localhost:8080")


def test_a_client_cannot_close_a_static_tunnel_or_reuse_its_name():
    state = frt.empty_state()
    frt.allocate(state, CONFIG, "vm1", "ssh", "localhost:22", "static", probe=free)
    with pytest.raises(frt.FrtError, match="only Ansible removes it"):
        frt.close(state, "vm1", "ssh", "demand")
    with pytest.raises(frt.FrtError, match="exists as a static tunnel"):
        frt.open_on_demand(state, CONFIG, CLIENTS, "vm1", "ssh", "localhost:2222")


def test_static_tunnels_follow_the_declaration_and_keep_their_ports():
    state = frt.empty_state()
    assert frt.sync_static(state, CONFIG, "vm2", [{"name": "ssh", "target": "localhost:22"},
                                                  {"name": "db", "target": "localhost:5432"}])
    ports = {t["name"]: t["port"] for t in frt.tunnels_of(state, "vm2")}
    assert not frt.sync_static(state, CONFIG, "vm2", [{"name": "ssh", "target": "localhost:22"},
                                                      {"name": "db", "target": "localhost:5432"}])
    assert frt.sync_static(state, CONFIG, "vm2", [{"name": "db", "target": "localhost:5432"}])
    assert {t["name"]: t["port"] for t in frt.tunnels_of(state, "vm2")} == {"db": ports["db"]}


def test_a_key_is_told_its_own_ports_only():
    state = frt.empty_state()
    frt.allocate(state, CONFIG, "vm1", "ssh", "localhost:22", "static", probe=free)
    frt.allocate(state, CONFIG, "vm2", "ssh", "localhost:22", "static", probe=free)
    line = frt.authorized_keys_line(CONFIG, CLIENTS, state, "frt", *KEY1)
    options, key_type, blob, comment = line.rsplit(" ", 3)
    assert (key_type, blob, comment) == (*KEY1, "frt:vm1")
    assert options.split(",")[:2] == ["restrict", "port-forwarding"]
    assert 'permitlisten="0.0.0.0:20000"' in options and "20001" not in options
    assert 'command="/usr/local/sbin/frt-admin serve vm1"' in options


def test_unknown_keys_and_other_users_get_nothing():
    state = frt.empty_state()
    assert frt.authorized_keys_line(CONFIG, CLIENTS, state, "frt", "ssh-ed25519", "AAAAunknown") is None
    assert frt.authorized_keys_line(CONFIG, CLIENTS, state, "root", *KEY1) is None


def test_a_key_without_tunnels_gets_no_forwarding_at_all():
    line = frt.authorized_keys_line(CONFIG, CLIENTS, frt.empty_state(), "frt", *KEY2)
    assert line.startswith("restrict,command=") and "port-forwarding" not in line


def test_commands_other_than_the_tunnel_ones_are_refused(tmp_path):
    with pytest.raises(frt.FrtError, match="opens tunnels only"):
        frt.serve(CONFIG, CLIENTS, "vm1", "/bin/sh -i", state_path=str(tmp_path / "state.json"))
    with pytest.raises(frt.FrtError, match="target"):
        frt.serve(CONFIG, CLIENTS, "vm1", "open web ;reboot", state_path=str(tmp_path / "state.json"))


def test_the_firewall_exposes_each_tunnel_as_the_policy_says():
    state = frt.empty_state()
    for name in ("ssh", "internal", "web"):
        frt.allocate(state, CONFIG, "vm1", name, "localhost:22", "static", probe=free)
    rules = frt.nft_ruleset(CONFIG, state)
    assert "tcp dport 20000-20004 jump tunnels" in rules
    assert "ip saddr { 0.0.0.0/0 } tcp dport 20000 accept" in rules
    assert "dport 20001" not in rules  # internal: the DMZ host only (lo)
    assert "ip saddr { 192.0.2.0/24 } tcp dport 20002 accept" in rules
    assert "ip6 saddr { 2001:db8::/32 } tcp dport 20002 accept" in rules
    assert rules.endswith("    drop\n  }\n}\n")


def _allocate_in_child(path, name, queue):
    with frt.locked_state(path) as state:
        tunnel = frt.allocate(state, CONFIG, "vm2", name, "localhost:22", "demand", probe=free)[0]
    queue.put(tunnel["port"])


def test_concurrent_allocations_never_share_a_port(tmp_path):
    path = str(tmp_path / "state.json")
    Path(path).write_text(json.dumps(frt.empty_state()), encoding="utf-8")
    os.chmod(path, 0o640)
    queue = multiprocessing.Queue()
    children = [multiprocessing.Process(target=_allocate_in_child, args=(path, f"t{i}", queue)) for i in range(5)]
    for child in children:
        child.start()
    for child in children:
        child.join(30)
    ports = sorted(queue.get(timeout=5) for _child in children)
    assert ports == list(range(20000, 20005))
    stored = json.loads(Path(path).read_text(encoding="utf-8"))
    assert sorted(t["port"] for t in stored["tunnels"]) == ports
    assert os.stat(path).st_mode & 0o777 == 0o640
