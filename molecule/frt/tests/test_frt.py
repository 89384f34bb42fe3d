"""The Fogbow Reverse Tunnel as an outside user, a VM owner and an attacker see it: the
VMs are unreachable from outside except through the DMZ host's tunnel ports; a VM
publishes a web service on demand; a key can do nothing but forward its own ports;
tunnels come back after the tunnel sshd is killed and after a VM is rebooted.

The tests run in file order; each leaves every tunnel up for the next."""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))
import labtest  # noqa: E402

VMS = ("vm1", "vm2")
VM_SSH = "ssh -F /etc/frt/ssh_config -o ConnectTimeout=5"


def run(name, command, timeout=60):
    res = labtest.ssh(name, command, timeout=timeout)
    return res.returncode, res.stdout + res.stderr


def tunnels():
    code, out = run("dmz1", "frt-admin list --json")
    assert code == 0, out
    return json.loads(out)


def port_of(client, name):
    return next(t["port"] for t in tunnels() if t["client"] == client and t["name"] == name)


def all_up():
    current = tunnels()
    return all(t["up"] for t in current), [(t["client"], t["name"], t["port"], t["up"]) for t in current]


def dmz_outside():
    return labtest.hostvar("dmz1", "lab_addresses")["outside"]


def host_key(name):
    return labtest.ssh(name, "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub").stdout.strip()


def keyscan_from_outside(port):
    code, out = run("outside1", f"ssh-keyscan -T 5 -t ed25519 -p {port} {dmz_outside()} 2>/dev/null")
    return " ".join(out.split()[1:3]) if code == 0 and out.strip() else ""


def test_the_outside_cannot_reach_the_vms_directly():
    for vm in VMS:
        address = labtest.hostvar(vm, "lab_addresses")["intranet"]
        code, out = run("outside1", f"nc -z -w 3 {address} 22")
        assert code != 0, f"outside1 reached {vm} ({address}) directly: {out}"


def test_each_vms_ssh_is_reached_through_the_dmz_host():
    labtest.wait_for(all_up, 60, "every tunnel up")
    for vm in VMS:
        port = port_of(vm, "ssh")
        assert keyscan_from_outside(port) == host_key(vm), f"port {port} of the DMZ host is not {vm}'s sshd"


def test_a_tunnel_exposed_to_nobody_is_closed_from_outside():
    port = port_of("vm2", "internal")
    code, out = run("outside1", f"nc -z -w 3 {dmz_outside()} {port}")
    assert code != 0, f"the 'internal' tunnel (port {port}) answered from outside: {out}"
    code, out = run("dmz1", f"nc -z -w 3 127.0.0.1 {port}")
    assert code == 0, f"the 'internal' tunnel (port {port}) does not listen on the DMZ host: {out}"


def test_a_web_service_published_on_demand_within_the_quota():
    run("vm1", "mkdir -p /srv/frtweb && echo frt-marker-$(hostname) > /srv/frtweb/index.html && "
               "systemd-run --unit frt-web python3 -m http.server 8080 --directory /srv/frtweb")
    try:
        code, out = run("vm1", "frt-tunnel open web 8080")
        assert code == 0, out
        port = int(re.search(r"port (\d+)", out).group(1))
        assert port == port_of("vm1", "web")

        def page():
            out = run("outside1", f"curl -s -m 5 http://{dmz_outside()}:{port}/")[1].strip()
            return out == "frt-marker-vm1", out

        labtest.wait_for(page, 30, "the web service through the DMZ host")
        # vm1's quota is one on-demand tunnel: the DMZ host refuses a second.
        code, out = run("vm1", "frt-tunnel open web2 8081")
        assert code != 0 and "quota reached" in out, out
    finally:
        code, out = run("vm1", "frt-tunnel close web")
        run("vm1", "systemctl stop frt-web")
    assert code == 0, out
    assert not [t for t in tunnels() if t["client"] == "vm1" and t["name"] == "web"]
    assert run("vm1", "systemctl is-enabled frt-tunnel@web")[1].strip() != "enabled"


def test_a_key_cannot_forward_another_vms_port_or_an_unallocated_one():
    others = [port_of("vm2", "ssh"), max(t["port"] for t in tunnels()) + 1]
    for port in others:
        code, out = run("vm1", f"timeout 20 {VM_SSH} -N -o ExitOnForwardFailure=yes "
                               f"-R 0.0.0.0:{port}:localhost:22 frt-server")
        assert code not in (0, 124), f"vm1 forwarded port {port}: {out}"
        assert "remote port forwarding failed" in out, out
    # vm2's own tunnel still holds its port.
    assert keyscan_from_outside(port_of("vm2", "ssh")) == host_key("vm2")


def test_a_key_gets_no_shell_no_pty_and_no_forwarding_into_the_dmz():
    code, out = run("vm1", f"{VM_SSH} frt-server id")
    assert code != 0 and "opens tunnels only" in out and "uid=" not in out, out
    code, out = run("vm1", f"{VM_SSH} -tt frt-server")
    assert code != 0 and "uid=" not in out, out
    # -W asks the DMZ host to open a connection onwards (to vm2's sshd): prohibited.
    address = labtest.hostvar("vm2", "lab_addresses")["intranet"]
    code, out = run("vm1", f"timeout 20 {VM_SSH} -o LogLevel=INFO -W {address}:22 frt-server </dev/null")
    assert code != 0 and "SSH-2.0" not in out and "prohibited" in out, out


def test_an_unknown_key_is_refused():
    code, out = run("outside1", "rm -f /tmp/stranger /tmp/stranger.pub && ssh-keygen -q -t ed25519 -N '' -f /tmp/stranger && "
                                f"ssh-keyscan -t ed25519 -p 2222 {dmz_outside()} > /tmp/stranger.known 2>/dev/null && "
                                f"ssh -i /tmp/stranger -o IdentitiesOnly=yes -o BatchMode=yes "
                                f"-o UserKnownHostsFile=/tmp/stranger.known -p 2222 frt@{dmz_outside()} "
                                f"-N -R 0.0.0.0:20009:localhost:22")
    assert code != 0 and "Permission denied (publickey)" in out, out


def test_tunnels_come_back_after_the_tunnel_sshd_is_killed():
    ports = {(t["client"], t["name"]): t["port"] for t in tunnels()}
    code, out = run("dmz1", "systemctl kill --signal=SIGKILL ssh-frt && sleep 0.5 && frt-admin list")
    assert code == 0, out
    killed = time.monotonic()
    labtest.wait_for(all_up, 60, "every tunnel up again after the kill", interval=0.2)
    print(f"tunnels back {time.monotonic() - killed:.1f} s after the tunnel sshd was killed")
    assert {(t["client"], t["name"]): t["port"] for t in tunnels()} == ports, "ports moved"
    assert run("dmz1", "systemctl is-active ssh")[1].strip() == "active", "the admin sshd suffered"
    for vm in VMS:
        assert keyscan_from_outside(port_of(vm, "ssh")) == host_key(vm)


def test_a_rebooted_vms_tunnels_come_back():
    labtest.kill("vm2")

    def some_down():
        up, seen = all_up()
        return not up, seen

    labtest.wait_for(some_down, 60, "vm2's tunnels seen down")
    labtest.boot_again()
    booted = time.monotonic()
    labtest.wait_for(all_up, 120, "vm2's tunnels up again after its reboot", interval=1)
    print(f"vm2's tunnels back {time.monotonic() - booted:.1f} s after it booted again")
    assert keyscan_from_outside(port_of("vm2", "ssh")) == host_key("vm2")


def test_a_second_converge_keeps_every_port():
    before = {(t["client"], t["name"]): t["port"] for t in tunnels()}
    result = labtest.playbook(labtest.SCENARIO / "converge.yml", {}, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    recaps = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.M)
    assert recaps and all(changed == "0" for _h, changed in recaps), recaps
    assert {(t["client"], t["name"]): t["port"] for t in tunnels()} == before
