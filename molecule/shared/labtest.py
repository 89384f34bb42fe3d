"""What the Molecule verify tests of every scenario share: reaching the lab's nodes,
killing, booting and cutting them off, and waiting for a state.

Imported by molecule/*/tests/*.py (they put molecule/shared on sys.path)."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import testinfra
import testinfra.utils.ansible_runner

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
sys.path.insert(0, str(PROJECT / "tools" / "lab"))

from sclab import system  # noqa: E402  (needs the path above)

SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
INVENTORY_DIR = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
LAYOUT_FILE = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "lab-layout.json"
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY_DIR)
LAB_SSH = "/var/lib/stormclouds-lab/ssh"


def node(name):
    """A testinfra host for an inventory host (over Ansible's connection)."""
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY_DIR}")


def hostvar(name, var):
    return RUNNER.get_variables(name)[var]


def first_vip(network="lan"):
    """The first address of the lab network's VIP range (scenarios put their VIP there)."""
    host = RUNNER.get_hosts("all")[0]
    return hostvar(host, "lab_networks")[network]["vip_range"].split("-")[0]


def wait_for(check, timeout, what, interval=0.5):
    """Poll check() -> (ok, detail) until ok; fail with the last detail otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok, last = check()
        if ok:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached in {timeout} s; last seen:\n{last}")


def podman(*args, check=True):
    """podman with the project's settings (the lab's own helper)."""
    return system.podman(*args, check=check)


def in_node(name, command):
    """Run a shell command in a node through podman (works while the node is cut off
    the network, unlike ssh). Returns the CompletedProcess."""
    return podman("exec", hostvar(name, "lab_container"), "sh", "-c", command, check=False)


def ssh(name, command, timeout=10):
    """One command over ssh with short timeouts, for polling during faults.

    A node that is down fails fast (no route, refused). A node that answered the TCP
    connect but not the banner within the short timeout is up and slow (a loaded
    machine): that one gets a second try with a patient timeout instead of failing a
    test about something else."""
    def attempt(connect_timeout):
        return subprocess.run(
            ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout}",
             "-o", f"UserKnownHostsFile={LAB_SSH}/known_hosts", "-o", "StrictHostKeyChecking=yes",
             "-i", f"{LAB_SSH}/id_ed25519", f"root@{hostvar(name, 'ansible_host')}", command],
            capture_output=True, text=True, check=False, timeout=timeout, stdin=subprocess.DEVNULL,
        )
    result = attempt(2)
    if result.returncode == 255 and "banner exchange" in result.stderr:
        result = attempt(max(2, min(15, timeout - 2)))
    return result


def kill(name):
    """Hard stop of a node: what a hypervisor crash looks like to its peers."""
    podman("kill", hostvar(name, "lab_container"))


def boot_again():
    """Start the lab's stopped nodes again (a hypervisor restarting the VM)."""
    subprocess.run([str(PROJECT / "lab"), "up", "--name", hostvar(RUNNER.get_hosts("all")[0], "lab_name"),
                    "--layout-file", str(LAYOUT_FILE)], check=True, capture_output=True, text=True,
                   stdin=subprocess.DEVNULL)


def _lab_vm(*args):
    lab = hostvar(RUNNER.get_hosts("all")[0], "lab_name")
    subprocess.run([str(PROJECT / "lab"), "vm", *args[:1], "--name", lab, *args[1:]],
                   check=True, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)


def vm_kill(name):
    """Pull the plug on a QEMU guest of a VM lab (SIGKILL to QEMU: no shutdown, no flush)."""
    _lab_vm("kill", name)


def vm_start(name):
    """Boot a QEMU guest of a VM lab again, with the disks it had; returns once ssh answers."""
    _lab_vm("start", name)


def _netns(name, *iptables_args):
    pid = podman("inspect", "--format", "{{.State.Pid}}", hostvar(name, "lab_container")).stdout.strip()
    subprocess.run(["nsenter", "--target", pid, "--net", "iptables", "-w", *iptables_args],
                   check=True, capture_output=True, text=True)


# Everything but loopback, in and out: the node is alone, as with a pulled cable.
_CUT_RULES = (("INPUT", "!", "-i", "lo", "-j", "DROP"), ("OUTPUT", "!", "-o", "lo", "-j", "DROP"))


def cut(name):
    """Cut a node off the network (its own firewall drops everything but loopback)."""
    for chain, *rule in _CUT_RULES:
        _netns(name, "-I", chain, *rule)


def heal(name):
    for chain, *rule in _CUT_RULES:
        _netns(name, "-D", chain, *rule)


def playbook(path, extra, timeout=900, args=()):
    """Run a playbook against the scenario's inventory with extra vars (a dict), the
    way an operator runs it: the project's ansible.cfg and this tree's collection, none
    of the ANSIBLE_* settings Molecule exports for its own runs."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(
        ["ansible-playbook", "-i", INVENTORY_DIR, str(path), "-e", json.dumps(extra), *args],
        capture_output=True, text=True, env=env, check=False, timeout=timeout, cwd=PROJECT,
        # Ansible refuses a non-blocking stdin, and a shared one may have been made so.
        stdin=subprocess.DEVNULL,
    )


def assert_refused_before_any_change(run, message):
    """A playbook run (from playbook()) failed, its output names the cause, and no host
    changed (every play recap line says changed=0)."""
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-3000:]
    # The YAML callback quotes messages with ': ' in single quotes, doubling apostrophes.
    assert message in " ".join(output.replace("''", "'").split()), output[-3000:]
    recaps = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", run.stdout, re.M)
    assert recaps, output[-3000:]
    assert all(changed == "0" for _host, changed in recaps), f"a host changed: {recaps}"
