"""Testinfra checks of the stormclouds.platform common role on every scenario node.

Expected values come from the Ansible inventory Molecule hands to the verifier
(addresses, common_apt_proxy, package lists) and from the role's defaults, never
from the nodes themselves, so a node cannot agree with itself by accident.
"""

import ipaddress
import os
import time
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner
import yaml

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("all")

# Variables are read from the whole inventory directory, as converge sees it:
# the lab's inventory (common_apt_proxy, ...) sits there beside the file
# Molecule generates (molecule/shared/create.yml).
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"]))

DEFAULTS_FILE = Path(__file__).resolve().parents[3] / "roles" / "common" / "defaults" / "main.yml"
ROLE_DEFAULTS = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))


def inventory_var(node, name):
    """A variable of node as the inventory sets it, else the role default."""
    return RUNNER.get_variables(node).get(name, ROLE_DEFAULTS.get(name))


def expected_address(node):
    """The address the role writes for node: common_address, else ansible_host.

    The role falls back to the node's default IPv4 address before ansible_host;
    the lab's inventory sets ansible_host to exactly that address.
    """
    hostvars = RUNNER.get_variables(node)
    address = hostvars.get("common_address") or hostvars.get("ansible_host")
    try:
        return ipaddress.ip_address(str(address))
    except ValueError:
        pytest.fail(f"inventory gives node {node} no IP address (common_address or ansible_host): {address!r}")


def current_node(host):
    return host.backend.get_hostname()


def test_pid1_is_systemd(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"


def test_system_is_running(host):
    # "degraded" is not tolerated: every unit that fails on a node is a defect
    # the cluster roles would inherit. Only the transient boot states are
    # waited out.
    state = ""
    for _attempt in range(30):
        state = host.run("systemctl is-system-running").stdout.strip()
        if state not in ("initializing", "starting"):
            break
        time.sleep(1)
    failed = host.run("systemctl --failed --no-legend --plain").stdout.strip()
    assert state == "running", f"systemd reports {state!r}; failed units:\n{failed or '(none listed)'}"


@pytest.mark.parametrize("peer", testinfra_hosts)
def test_every_node_name_resolves_to_its_inventory_address(host, peer):
    # The node's own name is included on purpose: it must not resolve to
    # 127.0.1.1 (Debian installer) or any other loopback address.
    expected = expected_address(peer)
    lookup = host.run("getent hosts %s", peer)
    assert lookup.rc == 0, f"{current_node(host)}: getent hosts {peer} found nothing (rc {lookup.rc})"
    got = ipaddress.ip_address(lookup.stdout.split()[0])
    assert got == expected, f"{current_node(host)}: {peer} resolves to {got}, expected {expected}"


@pytest.mark.parametrize("peer", testinfra_hosts)
def test_every_node_is_reachable_by_name(host, peer):
    ping = host.run("ping -c1 -W2 %s", peer)
    assert ping.rc == 0, f"{current_node(host)}: ping {peer} failed:\n{ping.stdout}{ping.stderr}"


def test_hosts_block_is_present_once(host):
    hosts = host.file("/etc/hosts").content_string
    assert hosts.count("# BEGIN stormclouds.platform common: inventory nodes") == 1
    assert hosts.count("# END stormclouds.platform common: inventory nodes") == 1
    assert not any(line.split()[:1] == ["127.0.1.1"] for line in hosts.splitlines())


@pytest.mark.parametrize("key", ["net.ipv4.ip_nonlocal_bind", "net.ipv6.ip_nonlocal_bind"])
def test_nonlocal_bind_is_enabled(host, key):
    assert host.sysctl(key) == 1
    persisted = host.file("/etc/sysctl.d/60-stormclouds.conf")
    assert persisted.is_file
    assert f"{key}=1" in persisted.content_string.replace(" ", "")


def require_chrony(host):
    if not inventory_var(current_node(host), "common_chrony_enabled"):
        pytest.skip("common_chrony_enabled is false for this node")


def test_chronyd_is_running(host):
    require_chrony(host)
    chrony = host.service("chrony")
    assert chrony.is_running
    assert chrony.is_enabled


def test_chronyd_leaves_a_containers_clock_alone(host):
    # In a container the clock belongs to the container host: with the default
    # common_chrony_set_clock "auto", chronyd must run there with -x (never
    # touch the clock) and elsewhere without it.
    require_chrony(host)
    setting = str(inventory_var(current_node(host), "common_chrony_set_clock")).lower()
    in_container = host.run("systemd-detect-virt --container").rc == 0
    expect_x = in_container if setting == "auto" else setting == "false"
    # chronyd 4.x forks a privileged helper with the same name: read the main
    # process's command line as systemd knows it.
    main_pid = host.run("systemctl show --property=MainPID --value chrony.service").stdout.strip()
    assert main_pid.isdigit() and int(main_pid) > 0, f"chrony.service has no main process ({main_pid!r})"
    args = host.file(f"/proc/{main_pid}/cmdline").content_string.replace("\0", " ").strip()
    assert ("-x" in args.split()) == expect_x, (
        f"chronyd args {args!r}; expected -x {'present' if expect_x else 'absent'} "
        f"(common_chrony_set_clock={setting}, container={in_container})"
    )


def test_apt_proxy_matches_inventory(host):
    proxy = inventory_var(current_node(host), "common_apt_proxy")
    config = host.file("/etc/apt/apt.conf.d/01stormclouds-proxy")
    if proxy:
        assert config.is_file
        assert f'Acquire::http::Proxy "{proxy}";' in config.content_string
        # What APT actually uses, so a later file overriding the proxy shows up.
        assert host.run("apt-config shell PROXY Acquire::http::Proxy").stdout.strip() == f"PROXY='{proxy}'"
    else:
        assert not config.exists


def test_base_packages_are_installed(host):
    node = current_node(host)
    wanted = list(inventory_var(node, "common_packages")) + list(inventory_var(node, "common_packages_extra"))
    if inventory_var(node, "common_chrony_enabled"):
        wanted.append("chrony")
    missing = [name for name in wanted if not host.package(name).is_installed]
    assert not missing, f"{node}: packages not installed: {', '.join(missing)}"
