"""Bringing a lab up and down: networks, nodes, /etc/hosts, ssh trust, inventory."""

import hashlib
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import aptcache, image, network, paths
from .layout import NAME_RE, Layout
from .system import LabError, lab_lock, log, podman, podman_json, run

LABEL = network.LABEL
BOOT_TIMEOUT = 120
SSH_CONTROL_DIR = paths.RUN / "ssh-cp"
#: Where a node sees a lab volume it names in the layout.
VOLUME_DIR = "/srv/lab-volumes"


@dataclass
class Plan:
    """What a lab is made of, with every address fixed before anything is created."""

    name: str
    layout: Layout
    subnets: dict  # network -> IPv4Network

    def container(self, node: str) -> str:
        return f"{self.name}-{node}"

    def volume(self, name: str) -> str:
        return f"{self.name}-vol-{name}"

    def address(self, node_index: int, net: str) -> str:
        return network.node_address(self.subnets[net], node_index)

    def primary(self, node_index: int) -> str:
        node = self.layout.nodes[node_index]
        return self.address(node_index, node.networks[0])


def validate_name(name: str) -> None:
    if not NAME_RE.match(name) or len(name) > 20:
        raise LabError(f"lab name {name!r} is not valid: up to 20 lowercase letters, digits and '-', starting with a letter")


def existing_labs() -> list:
    found = set()
    for ctr in podman_json("ps", "-a", "--format", "json", "--filter", f"label={LABEL}"):
        found.add(ctr["Labels"][LABEL])
    for net in podman_json("network", "ls", "--format", "json"):
        if LABEL in (net.get("labels") or {}):
            found.add(net["labels"][LABEL])
    for vol in podman_json("volume", "ls", "--format", "json", "--filter", f"label={LABEL}"):
        found.add((vol.get("Labels") or {}).get(LABEL, ""))
    found.discard("")
    if paths.LABS.exists():
        found.update(p.name for p in paths.LABS.iterdir() if p.is_dir())
    return sorted(found)


def _any_lab_dir(*parents) -> bool:
    return any(parent.exists() and any(p.is_dir() for p in parent.iterdir()) for parent in parents)


def stop_cache_if_unused() -> None:
    """The apt cache serves podman and VM labs alike: stop it once no lab of either
    kind is left (podman's records are not asked where podman is not installed, as
    on a machine that only ever ran VM labs)."""
    podman_labs = existing_labs() if shutil.which("podman") else _any_lab_dir(paths.LABS)
    if not podman_labs and not _any_lab_dir(paths.VM_LABS, paths.RUN / "vms"):
        aptcache.stop_cache()


def _containers_of(name: str) -> list:
    """podman's JSON records of a lab's containers, found by the lab's label."""
    return podman_json("ps", "-a", "--format", "json", "--filter", f"label={LABEL}={name}")


def plan(name: str, layout: Layout, requested: dict) -> Plan:
    """Fix the subnets: an existing network keeps its subnet, a new one gets the
    requested subnet (checked for collisions) or a free one from the pool."""
    validate_name(name)
    if paths.vm_state(name).exists():
        raise LabError(f"lab name {name!r} is taken by a VM lab (`lab vm status`); pick another --name")
    unknown = set(requested) - set(layout.networks)
    if unknown:
        raise LabError(f"--subnet names network(s) {', '.join(sorted(unknown))} that layout {layout.name!r} does not have ({', '.join(layout.networks)})")
    saved = saved_layout(name)
    if saved is not None and saved != layout.to_dict():
        raise LabError(f"lab {name!r} is up with another layout; run `lab down {name}` first, or pick another --name")
    current = network.lab_networks()
    subnets, planned = {}, []
    for net in layout.networks:
        net_name = network.network_name(name, net)
        what = f"lab {name!r} network {net!r}"
        if net_name in current:
            holder = network.owner(net_name)
            if holder != name:
                raise LabError(f"{what}: podman network {net_name} belongs to {'lab ' + repr(holder) if holder else 'no lab'}; pick another --name")
            if net in requested and requested[net] != current[net_name]:
                raise LabError(f"{what} exists with subnet {current[net_name]}, not {requested[net]}; run `lab down {name}` first")
            subnets[net] = current[net_name]
            continue
        if net in requested:
            network.check_free(requested[net], what, planned)
            subnets[net] = requested[net]
        else:
            subnets[net] = network.pick_free(what, planned)
        planned.append(subnets[net])
    return Plan(name=name, layout=layout, subnets=subnets)


def saved_layout(name: str):
    """The layout a lab was made from, as recorded in its state (a dict), or None."""
    path = paths.lab_state(name) / "layout.json"
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _write_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(mode)
    tmp.replace(path)
    return True


def ensure_ssh_key() -> str:
    if not paths.SSH_KEY.exists():
        paths.SSH_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "stormclouds-lab", "-f", str(paths.SSH_KEY)])
    return paths.SSH_KEY.with_suffix(".pub").read_text(encoding="utf-8")


HOSTS_BEGIN = "# BEGIN stormclouds lab: the nodes of this lab"
HOSTS_END = "# END stormclouds lab"


def hosts_block(plan_: Plan) -> str:
    lines = [HOSTS_BEGIN]
    lines += [f"{plan_.primary(index)}\t{node.name}" for index, node in enumerate(plan_.layout.nodes)]
    return "\n".join(lines + [HOSTS_END]) + "\n"


def with_hosts_block(current: str, block: str) -> str:
    """current /etc/hosts with the lab's block in place; lines outside it (the
    roles', an operator's) stay as they are."""
    if HOSTS_BEGIN in current and HOSTS_END in current:
        head, rest = current.split(HOSTS_BEGIN, 1)
        tail = rest.split(HOSTS_END, 1)[1].lstrip("\n")
        return head + block + tail
    base = current if current.endswith("\n") or not current else current + "\n"
    return base + block


def up(name: str, layout: Layout, requested: dict, rebuild_image: bool = False) -> dict:
    """Create what is missing; a second call on a complete lab changes nothing.
    Subnets are fixed under the machine's lab lock, so two `up` at once cannot pick
    the same free subnet."""
    started = time.monotonic()
    changes = []
    with lab_lock():
        plan_ = plan(name, layout, requested)
        ref = image.ensure(rebuild=rebuild_image)
        aptcache.ensure_cache()
        state = paths.lab_state(plan_.name)
        state.mkdir(parents=True, exist_ok=True)
        _write_if_changed(state / "layout.json", json.dumps(plan_.layout.to_dict(), indent=2, sort_keys=True) + "\n")
        pubkey = ensure_ssh_key()
        # ssh ControlPersist sockets of Ansible, Molecule and testinfra (ansible.cfg).
        SSH_CONTROL_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
        for net in plan_.layout.networks:
            if _ensure_network(plan_, net):
                changes.append(f"network {network.network_name(plan_.name, net)} {plan_.subnets[net]}")
            # Before any node starts: nothing may be routed in or out of the lab.
            if network.isolate(plan_.name, net, network.network_name(plan_.name, net)):
                changes.append(f"isolation rules of {network.network_name(plan_.name, net)}")
        for vol in plan_.layout.volumes:
            if _ensure_volume(plan_, vol):
                changes.append(f"volume {plan_.volume(vol)}")
        hosts = hosts_block(plan_)
        existing = {c["Names"][0]: c for c in _containers_of(plan_.name)}
        wanted = {plan_.container(n.name) for n in plan_.layout.nodes}
        for extra in sorted(set(existing) - wanted):
            podman("rm", "-f", "-t", "2", extra)
            changes.append(f"removed node {extra} (not in the layout)")
        created = set()
        for index, node in enumerate(plan_.layout.nodes):
            ctr = plan_.container(node.name)
            if ctr not in existing:
                _create_node(plan_, index, ref, hosts, pubkey)
                changes.append(f"created node {node.name}")
                created.add(ctr)
            elif existing[ctr]["State"] != "running":
                podman("start", ctr)
                changes.append(f"started node {node.name}")
            elif existing[ctr].get("Image") != ref:
                log(f"warning: node {node.name} runs image {existing[ctr].get('Image')}, not {ref}; `lab down {plan_.name}` and `lab up` to use the new image")
        for node in plan_.layout.nodes:
            ctr = plan_.container(node.name)
            # A node this call created must come up clean (its image is under test); one
            # restarted or already running may carry failed or waiting units of a role
            # under test (a cluster member after an outage), which is that test's business.
            _wait_booted(ctr, strict=ctr in created)
        for node in plan_.layout.nodes:
            if _sync_hosts(plan_.container(node.name), hosts):
                changes.append(f"/etc/hosts of {node.name}")
        for net in plan_.layout.networks:
            aptcache.ensure_forwarder(plan_.name, net, network.gateway(plan_.subnets[net]))
        _write_known_hosts(plan_)
        _check_ssh(plan_)
        if _write_if_changed(state / "inventory.yml", inventory(plan_)):
            changes.append(f"inventory {state / 'inventory.yml'}")
    summary = describe(plan_)
    summary["changes"] = changes
    summary["seconds"] = round(time.monotonic() - started, 2)
    return summary


def _ensure_network(plan_: Plan, net: str) -> bool:
    name = network.network_name(plan_.name, net)
    if name in network.lab_networks():
        return False
    subnet = plan_.subnets[net]
    # --internal: the lab must never route anywhere but its own nodes.
    podman(
        "network", "create", "--internal",
        "--subnet", str(subnet), "--gateway", network.gateway(subnet),
        "--label", f"{LABEL}={plan_.name}", name,
    )
    return True


def _volumes_of(name: str) -> list:
    return [v["Name"] for v in podman_json("volume", "ls", "--format", "json", "--filter", f"label={LABEL}={name}")]


def _ensure_volume(plan_: Plan, vol: str) -> bool:
    if plan_.volume(vol) in _volumes_of(plan_.name):
        return False
    podman("volume", "create", "--label", f"{LABEL}={plan_.name}", plan_.volume(vol))
    return True


def _create_node(plan_: Plan, index: int, ref: str, hosts: str, pubkey: str) -> None:
    node = plan_.layout.nodes[index]
    ctr = plan_.container(node.name)
    nets = []
    for net in node.networks:
        nets += ["--network", f"{network.network_name(plan_.name, net)}:ip={plan_.address(index, net)},alias={node.name}"]
    # One directory seen by every node that names the volume: what a shared disk is to
    # a cluster (the cluster, not the lab, keeps two nodes from using it at once).
    mounts = []
    for vol in node.volumes:
        mounts += ["--volume", f"{plan_.volume(vol)}:{VOLUME_DIR}/{vol}"]
    podman(
        "create", "--name", ctr, "--hostname", node.name,
        "--label", f"{LABEL}={plan_.name}", "--label", f"{LABEL}.node={node.name}",
        # Privileged: Debian units with mount namespaces (haproxy, ...) fail with
        # 226/NAMESPACE otherwise, and DRBD/VIP tooling wants the capabilities.
        "--privileged", "--systemd", "always", "--shm-size", "512m",
        "--stop-timeout", "10",
        *nets, *mounts, ref,
    )
    primary_net = node.networks[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        base_hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        files = {
            "/etc/hosts": (with_hosts_block(base_hosts, hosts), 0o644),
            "/etc/lab/gateway": (network.gateway(plan_.subnets[primary_net]) + "\n", 0o644),
            "/root/.ssh/authorized_keys": (pubkey, 0o600),
        }
        for dest, (text, mode) in files.items():
            src = tmpdir / dest.replace("/", "_")
            src.write_text(text, encoding="utf-8")
            src.chmod(mode)
            podman("cp", str(src), f"{ctr}:{dest}")
    podman("start", ctr)


def _wait_booted(ctr: str, strict: bool = True) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    state = ""
    while time.monotonic() < deadline:
        proc = podman("exec", ctr, "systemctl", "is-system-running", check=False)
        state = proc.stdout.strip()
        if state == "running":
            return
        # A restarted node is up once it can be reached, even while a service still
        # starts (a Galera member waiting up to 15 minutes for its cluster after a full
        # outage keeps the boot "starting"): what a hypervisor's "VM running" means.
        if state == "starting" and not strict and \
                podman("exec", ctr, "systemctl", "is-active", "ssh.service", check=False).stdout.strip() == "active":
            jobs = podman("exec", ctr, "systemctl", "list-jobs", "--no-legend", "--plain", check=False).stdout.strip()
            log(f"warning: node {ctr} is reachable while its boot still runs jobs:\n{jobs}")
            return
        if state == "degraded":
            failed = podman("exec", ctr, "systemctl", "--failed", "--no-legend", "--plain", check=False).stdout.strip()
            if strict:
                raise LabError(f"node {ctr} booted degraded; failed units:\n{failed}")
            log(f"warning: node {ctr} is degraded; failed units:\n{failed}")
            return
        time.sleep(0.3)
    raise LabError(f"node {ctr} did not finish booting in {BOOT_TIMEOUT} s (systemd says {state or 'nothing'})")


def _sync_hosts(ctr: str, block: str) -> bool:
    current = podman("exec", ctr, "cat", "/etc/hosts").stdout
    wanted = with_hosts_block(current, block)
    if current == wanted:
        return False
    podman("exec", "-i", ctr, "sh", "-c", "cat > /etc/hosts", input_text=wanted)
    return True


def _write_known_hosts(plan_: Plan) -> None:
    lines = []
    for index, node in enumerate(plan_.layout.nodes):
        key = podman("exec", plan_.container(node.name), "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()
        names = [node.name] + [plan_.address(index, net) for net in node.networks]
        lines.append(f"{','.join(names)} {key[0]} {key[1]}")
    _write_if_changed(paths.lab_state(plan_.name) / "known_hosts", "\n".join(lines) + "\n")
    _merge_known_hosts()


def _merge_known_hosts() -> None:
    """One machine-wide known_hosts for all labs (podman and VM labs), so any ssh
    client can pin every node."""
    text = ""
    for labs_dir in (paths.LABS, paths.VM_LABS):
        if not labs_dir.exists():
            continue
        for lab_dir in sorted(labs_dir.iterdir()):
            known = lab_dir / "known_hosts"
            if known.exists():
                text += known.read_text(encoding="utf-8")
    paths.SSH_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_if_changed(paths.KNOWN_HOSTS, text, 0o644)


def ssh_options() -> list:
    return [
        "-i", str(paths.SSH_KEY),
        "-o", f"UserKnownHostsFile={paths.KNOWN_HOSTS}",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "IdentitiesOnly=yes",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=5",
    ]


def _check_ssh(plan_: Plan, attempts: int = 4) -> None:
    """Prove Ansible's way in: ssh as root with the lab key and a pinned host key. A
    node that just restarted may not answer the first attempt (the bridge still has its
    old neighbour entry): the ones that fail are tried again, a few seconds apart."""
    pending = {node.name: plan_.primary(index) for index, node in enumerate(plan_.layout.nodes)}
    failed = {}
    for attempt in range(attempts):
        if attempt:
            time.sleep(3)
        procs = [(name, subprocess.Popen(["ssh", *ssh_options(), f"root@{address}", "true"],  # pylint: disable=consider-using-with
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
                 for name, address in pending.items()]
        failed = {}
        for name, proc in procs:
            try:
                err = proc.communicate(timeout=30)[1]
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                failed[name] = "no answer in 30 s"
                continue
            if proc.returncode:
                failed[name] = err.strip()
        pending = {name: pending[name] for name in failed}
        if not failed:
            return
    raise LabError("ssh to lab nodes failed:\n" + "\n".join(f"{name}: {err}" for name, err in failed.items()))


def connection_vars() -> dict:
    """How Ansible reaches any lab node (container or VM): root, the lab key, pinned host keys."""
    return {
        "ansible_user": "root",
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_ssh_private_key_file": str(paths.SSH_KEY),
        "ansible_ssh_common_args": " ".join(
            ["-o UserKnownHostsFile=" + str(paths.KNOWN_HOSTS), "-o StrictHostKeyChecking=yes", "-o IdentitiesOnly=yes"]
        ),
    }


def inventory(plan_: Plan) -> str:
    primary_net = plan_.layout.networks[0]
    data = {
        "all": {
            "vars": {
                **connection_vars(),
                "common_apt_proxy": f"http://{network.gateway(plan_.subnets[primary_net])}:{paths.ACNG_PORT}",
                "lab_name": plan_.name,
                "lab_layout": plan_.layout.name,
                # The checkout that runs the lab: its inventory/lab finds the test keys here.
                "lab_project": str(paths.PROJECT),
                "lab_networks": {
                    net: {
                        "subnet": str(subnet),
                        "gateway": network.gateway(subnet),
                        "vip_range": network.vip_range(subnet),
                    }
                    for net, subnet in plan_.subnets.items()
                },
            },
            "hosts": {
                node.name: {
                    "ansible_host": plan_.primary(index),
                    "lab_container": plan_.container(node.name),
                    "lab_addresses": {net: plan_.address(index, net) for net in node.networks},
                }
                for index, node in enumerate(plan_.layout.nodes)
            },
            "children": {group: {"hosts": {n: None for n in members}} for group, members in plan_.layout.groups.items()},
        }
    }
    header = f"# Written by ./lab up for lab {plan_.name!r} (layout {plan_.layout.name!r}); `lab up` rewrites it.\n"
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def describe(plan_: Plan) -> dict:
    return {
        "lab": plan_.name,
        "layout": plan_.layout.name,
        "inventory": str(paths.lab_state(plan_.name) / "inventory.yml"),
        "networks": {net: str(subnet) for net, subnet in plan_.subnets.items()},
        "nodes": [
            {
                "name": node.name,
                "container": plan_.container(node.name),
                "address": plan_.primary(index),
                "addresses": {net: plan_.address(index, net) for net in node.networks},
                "groups": node.groups,
            }
            for index, node in enumerate(plan_.layout.nodes)
        ],
    }


def status(name: str) -> dict:
    containers = _containers_of(name)
    nets = network.lab_networks(name)
    nodes = []
    for ctr in sorted(containers, key=lambda c: c["Names"][0]):
        node = {"container": ctr["Names"][0], "name": ctr["Labels"].get(f"{LABEL}.node"), "state": ctr["State"]}
        if ctr["State"] == "running":
            node["systemd"] = podman("exec", ctr["Names"][0], "systemctl", "is-system-running", check=False).stdout.strip()
        nodes.append(node)
    return {
        "lab": name,
        "exists": bool(containers or nets),
        "inventory": str(paths.lab_state(name) / "inventory.yml"),
        "networks": {n: str(s) for n, s in nets.items()},
        "nodes": nodes,
        "apt_forwarders": sorted(p.stem for p in paths.lab_run(name).glob("*.pid")) if paths.lab_run(name).exists() else [],
    }


def _node_addresses(ctr_id: str) -> list:
    info = podman_json("inspect", "--type", "container", ctr_id)
    networks = (info[0].get("NetworkSettings") or {}).get("Networks") or {} if info else {}
    return [n["IPAddress"] for n in networks.values() if n.get("IPAddress")]


def _close_ssh_masters(addresses: list) -> None:
    """End the ssh ControlPersist masters of removed nodes: a later lab may get the
    same addresses, and a master still bound to a dead node would take its place.
    The paths are Ansible's (a hash of host-port-user, port unset or 22) and ssh's
    own %C (Molecule's setting)."""
    for address in addresses:
        paths_ = [SSH_CONTROL_DIR / hashlib.sha1(f"{address}-{port}-root".encode()).hexdigest()[:10] for port in ("None", "22")]
        for control in [*map(str, paths_), str(SSH_CONTROL_DIR / "%C")]:
            try:
                run(["ssh", "-O", "exit", "-o", f"ControlPath={control}", "-p", "22", f"root@{address}"], check=False, timeout=10)
            except subprocess.TimeoutExpired:
                log(f"warning: the ssh master at {control} for {address} did not exit")


def _remove_container(container_id: str) -> None:
    """podman rm -f, once more after a second when it fails: a container that stops on
    its own while podman kills it is refused ("container state improper: stopped") and
    removed without a fuss the next time."""
    try:
        podman("rm", "-f", "-t", "2", container_id)
    except LabError:
        time.sleep(1)
        podman("rm", "-f", "-t", "2", container_id)


def down(name: str) -> dict:
    """Remove every trace of a lab: containers, networks, firewall rules, processes,
    ssh masters, state. Each step runs even when an earlier one failed."""
    validate_name(name)
    removed, errors = [], []
    with lab_lock():
        nets = network.lab_networks(name)
        gateways = [network.gateway(s) for s in nets.values()]
        containers = _containers_of(name)
        addresses = [a for c in containers for a in _node_addresses(c["Id"])]
        steps = [(f"node {c['Names'][0]}", lambda c=c: _remove_container(c["Id"])) for c in containers]
        steps += [(f"network {n}", lambda n=n: podman("network", "rm", "-f", n)) for n in nets]
        steps += [(f"volume {v}", lambda v=v: podman("volume", "rm", "-f", v)) for v in _volumes_of(name)]
        for what, step in steps:
            try:
                step()
                removed.append(what)
            except LabError as exc:
                errors.append(str(exc))
        network.release(name)
        aptcache.stop_forwarders(name)
        _close_ssh_masters(addresses)
        shutil.rmtree(paths.lab_run(name), ignore_errors=True)
        shutil.rmtree(paths.lab_state(name), ignore_errors=True)
        _merge_known_hosts()
        stop_cache_if_unused()
    leftovers = leftovers_of(name, gateways, [c["Names"][0] for c in containers])
    if errors or leftovers:
        raise LabError(f"lab {name!r} was not removed completely: {'; '.join(errors + leftovers)}")
    return {"lab": name, "removed": removed}


def leftovers_of(name: str, gateways: list, container_names: list) -> list:
    """What of a lab still exists: containers, networks, firewall rules, conmon or
    forwarder processes."""
    found = [f"container {c['Names'][0]}" for c in _containers_of(name)]
    found += [f"network {n}" for n in network.lab_networks(name)]
    found += [f"volume {v}" for v in _volumes_of(name)]
    found += [f"firewall rule {r}" for r in network.isolation_rules(name)]
    markers = [f"-n {ctr} " for ctr in container_names] + [f"bind={gw}," for gw in gateways]
    for line in run(["ps", "-eo", "pid=,args="]).stdout.splitlines():
        if any(marker in line for marker in markers) and ("conmon" in line or "socat" in line):
            found.append(f"process {line.strip()}")
    return found


def parse_subnet_args(values: list, layout: Layout) -> dict:
    """--subnet CIDR (first network) or --subnet NET=CIDR, validated."""
    out = {}
    for value in values or []:
        net, cidr = value.split("=", 1) if "=" in value else (layout.networks[0], value)
        out[net] = network.parse_subnet(cidr, f"--subnet {value}")
    return out
