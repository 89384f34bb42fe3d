"""The lab CLI against real podman: refusals before anything is created, an
idempotent `up`, nodes that boot systemd and know each other, isolation between
labs, and a `down` that leaves nothing behind."""

import json
import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
LAB = str(PROJECT / "lab")
NAME, OTHER = "t-lab", "t-lab-other"


def lab(*args, check=True):
    proc = subprocess.run([LAB, *args], capture_output=True, text=True, check=False, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"lab {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def on(node, *command, name=NAME):
    return lab("shell", "--name", name, node, "--", *command, check=False)


def podman_names(kind):
    env = {"CONTAINERS_CONF": str(PROJECT / "tools/lab/podman/containers.conf"),
           "CONTAINERS_STORAGE_CONF": str(PROJECT / "tools/lab/podman/storage.conf"), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
    cmd = ["podman", "ps", "-a", "--format", "{{.Names}}"] if kind == "containers" else ["podman", "network", "ls", "--format", "{{.Name}}"]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout.split()


@pytest.fixture(scope="module")
def up():
    lab("down", NAME)
    lab("down", OTHER)
    first = json.loads(lab("up", "default", "--nodes", "2", "--name", NAME, "--json").stdout)
    yield first
    lab("down", NAME)
    lab("down", OTHER)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["up", "nosuch", "--name", NAME], "unknown layout 'nosuch'; known layouts:"),
        (["up", "default", "--nodes", "99", "--name", NAME], "node count 99 is out of range: this layout takes 1 to 16 nodes"),
        (["up", "site", "--nodes", "2", "--name", NAME], "fixed set of nodes"),
        (["up", "default", "--name", "Bad_Name"], "lab name 'Bad_Name' is not valid"),
        (["up", "default", "--name", NAME, "--subnet", "10.213.9.0/25"], "smaller than a /24"),
        (["up", "default", "--name", NAME, "--subnet", "dmz=10.213.9.0/24"], "names network(s) dmz that layout 'default' does not have"),
    ],
)
def test_bad_input_is_refused_before_anything_is_created(args, message):
    proc = lab(*args, check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert not any(n.startswith(NAME + "-") for n in podman_names("containers") + podman_names("networks"))


def test_a_subnet_in_use_is_refused(up):
    taken = up["networks"]["lan"]
    proc = lab("up", "default", "--name", OTHER, "--subnet", taken, check=False)
    assert proc.returncode == 2
    assert f"subnet {taken} collides with lab network {NAME}-lan" in proc.stderr


def test_up_creates_booted_nodes_with_fixed_addresses(up):
    assert [n["name"] for n in up["nodes"]] == ["node1", "node2"]
    assert [n["address"].rsplit(".", 1)[1] for n in up["nodes"]] == ["11", "12"]
    assert up["changes"], "a first up reports what it created"
    for node in up["nodes"]:
        assert on(node["name"], "systemctl", "is-system-running").stdout.strip() == "running"


def test_second_up_changes_nothing(up):
    again = json.loads(lab("up", "default", "--nodes", "2", "--name", NAME, "--json").stdout)
    assert again["changes"] == []
    assert again["networks"] == up["networks"]
    assert again["nodes"] == up["nodes"]


def test_nodes_resolve_and_reach_each_other_by_name(up):
    node2 = up["nodes"][1]["address"]
    assert on("node1", "getent", "hosts", "node2").stdout.split()[0] == node2
    assert on("node1", "ping", "-c1", "-W2", "node2").returncode == 0
    route = on("node1", "ip", "-4", "route", "show", "default").stdout
    assert f"via {up['networks']['lan'].rsplit('.', 1)[0]}.1" in route


def test_ansible_reaches_nodes_over_ssh_with_pinned_host_keys(up):
    proc = lab("ssh", "--name", NAME, "node2", "hostname", check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "node2"
    inventory = Path(lab("inventory", NAME).stdout.strip()).read_text(encoding="utf-8")
    assert "StrictHostKeyChecking=yes" in inventory and "StrictHostKeyChecking=no" not in inventory


def test_nodes_reach_the_apt_cache_on_their_gateway(up):
    gateway = up["networks"]["lan"].rsplit(".", 1)[0] + ".1"
    proc = on("node1", "python3", "-c", f"import socket; socket.create_connection(('{gateway}', 3942), timeout=3)")
    assert proc.returncode == 0, proc.stderr


def test_labs_cannot_reach_each_other(up):
    other = json.loads(lab("up", "default", "--nodes", "1", "--name", OTHER, "--json").stdout)
    assert other["networks"]["lan"] != up["networks"]["lan"]
    assert on("node1", "ping", "-c1", "-W1", other["nodes"][0]["address"]).returncode != 0
    assert on("node1", "ping", "-c1", "-W1", up["nodes"][0]["address"], name=OTHER).returncode != 0


def test_status_reports_every_node_running(up):
    status = json.loads(lab("status", NAME, "--json").stdout)[0]
    assert status["exists"]
    assert {n["name"]: n["systemd"] for n in status["nodes"]} == {"node1": "running", "node2": "running"}


def test_a_shared_volume_is_one_directory_for_its_nodes_and_goes_with_the_lab(tmp_path):
    # The container lab's stand-in for a shared disk: what one node writes, the other
    # reads; a node without the volume has no such directory; down removes it.
    name = "t-lab-vol"
    layout = tmp_path / "shared.json"
    layout.write_text(json.dumps({"nodes": [{"name": "a", "volumes": ["data"]}, {"name": "b", "volumes": ["data"]},
                                            {"name": "c"}]}))
    lab("down", name)
    try:
        lab("up", "--name", name, "--layout-file", str(layout))
        assert on("a", "sh", "-c", "echo from-a > /srv/lab-volumes/data/probe", name=name).returncode == 0
        assert on("b", "cat", "/srv/lab-volumes/data/probe", name=name).stdout.strip() == "from-a"
        assert on("c", "test", "-e", "/srv/lab-volumes/data", name=name).returncode != 0
    finally:
        result = lab("down", name)
    assert f"volume {name}-vol-data" in result.stdout


def test_down_leaves_nothing_behind(up):
    # OTHER ("t-lab-other") starts with NAME ("t-lab-"): down goes by label, not by
    # name prefix, so it must leave OTHER whole.
    result = lab("down", NAME)
    other = json.loads(lab("status", OTHER, "--json").stdout)[0]
    assert other["exists"] and [n["state"] for n in other["nodes"]] == ["running"]
    assert other["networks"] == {f"{OTHER}-lan": other["networks"][f"{OTHER}-lan"]}
    lab("down", OTHER)
    assert "removed node t-lab-node1, node t-lab-node2, network t-lab-lan" in result.stdout
    assert not any(n.startswith(NAME + "-") for n in podman_names("containers") + podman_names("networks"))
    rules = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True, check=True).stdout
    assert "stormclouds-lab lab=t-lab" not in rules
    procs = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True, check=True).stdout
    assert f"-n {NAME}-node" not in procs
    assert not Path(f"/var/lib/stormclouds-lab/labs/{NAME}").exists()
    status = json.loads(lab("status", NAME, "--json").stdout)[0]
    assert not status["exists"]
