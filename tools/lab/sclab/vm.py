"""The VM lab: Debian 12 guests under QEMU on a Linux bridge, for what the podman lab
cannot test, DRBD replication above all (this machine's kernel has no DRBD and loads
no modules; a guest runs Debian's own kernel, which has DRBD 8.4).

Why it is built this way:

- TCG, not KVM: /dev/kvm exists on this machine kind, but a Debian guest kernel hangs
  under it. Emulation is slow, so the image carries the service packages the roles
  would otherwise unpack in the guest, and those services are disabled in it.
- The image is a raw ext4 file made by `mkfs.ext4 -d` from a debootstrapped root (no
  loop device, no mount), with the root's kernel and initrd beside it. Its recipe is
  `tools/lab/vm/`; it is rebuilt only when the recipe's hash changes.
- Each node boots a qcow2 overlay of that image (QEMU -kernel/-initrd) with a raw data
  disk (/dev/vdb, DRBD's backing device) and a small seed disk (/dev/vdc, label
  SCLAB-SEED). The seed carries what makes a node itself: hostname, address, the lab's
  /etc/hosts block, the ssh host key and root's key, applied at every boot by a unit
  of the image. So the host never opens an overlay (there is no nbd module here), and
  the host keys are made on the host: known_hosts is pinned before the first boot.
- One bridge per lab with the gateway (.1) on the host and nodes at .11 up, FORWARD
  rules that drop whatever the host would route into or out of it (as for podman
  labs), and the apt cache's forwarder on the gateway: guests reach nothing else.
- A VM lab's state lives apart from the podman labs' (paths.VM_LABS), its firewall
  comments name it `vm:NAME`, and its links are called `scv...`: no name of one kind
  of lab can clash with the other's, and a name in use by either is refused.
"""

import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from . import aptcache, image, lab, network, paths
from .system import LabError, lab_lock, log, pid_alive, run

SUITE = image.SUITE
#: Bump when the build procedure in this file changes in a way the recipe files do not show.
BUILDER_VERSION = "1"
#: Size of the guest's root file system (a sparse file; the overlays grow as guests write).
ROOT_SIZE = "3G"
IMAGE_FILES = ("root.raw", "vmlinuz", "initrd.img", "image.json")
#: The one network of a VM lab, as it appears in the inventory's lab_networks.
NET = "lab"
NODE_PREFIX = "ha"
MAX_NODES = 8
DEFAULTS = {"nodes": 2, "memory": 1024, "cpus": 1, "data_disk": "256M"}
#: TCG is slow, and the machine may be busy with other tests: be patient.
BOOT_TIMEOUT = 360
KERNEL_ARGS = "root=/dev/vda rw console=ttyS0,115200 net.ifnames=0 mitigations=off panic=10"
#: TCG's translation buffer (MiB). QEMU's default, 1 GiB, fills to ~0.5 GiB during a
#: boot and stays resident; 128 MiB boots as fast and saves ~400 MiB per guest.
TB_SIZE_MIB = 128
SEED_LABEL = "SCLAB-SEED"
SIZE_RE = re.compile(r"^([0-9]+)([KMG]?)$")


# --- the image ---------------------------------------------------------------------


def recipe_hash() -> str:
    return image.recipe_digest(paths.VM_RECIPE_DIR, BUILDER_VERSION, SUITE, image.mirror(), ROOT_SIZE)


def image_dir(tag: str) -> Path:
    return paths.VM_IMAGES / tag


def image_ready(tag: str) -> bool:
    return all((image_dir(tag) / name).exists() for name in IMAGE_FILES)


def image_info(tag: str) -> dict:
    return json.loads((image_dir(tag) / "image.json").read_text(encoding="utf-8"))


def images_in_use() -> dict:
    """image tag -> names of the VM labs whose overlays sit on it."""
    users = {}
    for name in existing():
        saved = load(name)
        if saved is not None:
            users.setdefault(saved.image, []).append(name)
    return users


def ensure_image(rebuild: bool = False) -> str:
    """The tag of the current recipe's image, built first when needed (call it under
    the lab lock: the build uses the lab's apt cache)."""
    tag = recipe_hash()
    if image_ready(tag) and not rebuild:
        return tag
    users = images_in_use().get(tag)
    if users and image_ready(tag):
        raise LabError(f"VM image {tag} is the base of VM lab(s) {', '.join(users)}: rebuilding it would corrupt their disks; `lab vm down` them first")
    build_image(tag)
    return tag


def _unmount_below(root: Path) -> None:
    """Unmount whatever an interrupted build left mounted inside its root (its /proc),
    so that removing the root cannot reach into the machine's /proc."""
    prefix = str(root) + "/"
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text(encoding="utf-8").splitlines()]
    for mountpoint in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        run(["umount", "-l", mountpoint], check=False)


def _run_logged(cmd: list, env: dict, logfile: Path) -> None:
    """Run a long build step with its output in logfile; on failure, show the tail."""
    started = time.monotonic()
    with open(logfile, "a", encoding="utf-8") as out:
        out.write(f"\n[{time.strftime('%H:%M:%S')}] $ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
        out.write(f"[{time.strftime('%H:%M:%S')}] exit {proc.returncode} after {time.monotonic() - started:.0f} s\n")
    if proc.returncode:
        tail = "\n".join(logfile.read_text(encoding="utf-8", errors="replace").splitlines()[-25:])
        raise LabError(f"VM image build step failed ({proc.returncode}): {' '.join(cmd)}\nlast lines of {logfile}:\n{tail}")


def build_image(tag: str) -> None:
    started = time.monotonic()
    aptcache.ensure_cache()
    rootfs = paths.BUILD_DIR / f"vm-rootfs-{tag}"
    out = paths.VM_IMAGES / f".{tag}.tmp"
    logfile = paths.BUILD_DIR / f"vm-image-{tag}.log"
    _unmount_below(rootfs)
    for directory in (rootfs, out):
        shutil.rmtree(directory, ignore_errors=True)
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True)
    logfile.write_text("", encoding="utf-8")
    log(f"building VM image {tag} with debootstrap ({SUITE}, {image.mirror()}); log: {logfile}")
    env = dict(os.environ, http_proxy=aptcache.cache_url(), DEBIAN_FRONTEND="noninteractive")
    try:
        _run_logged(["debootstrap", "--variant=minbase", SUITE, str(rootfs), image.mirror()], env, logfile)
        recipe = rootfs / "tmp" / "sclab-vm"
        shutil.copytree(paths.VM_RECIPE_DIR, recipe)
        run(["mount", "-t", "proc", "proc", str(rootfs / "proc")])
        try:
            _run_logged(["chroot", str(rootfs), "/bin/sh", "/tmp/sclab-vm/customize.sh"], env, logfile)
        finally:
            _unmount_below(rootfs)
        facts = dict(line.split("=", 1) for line in (recipe / "image-facts").read_text(encoding="utf-8").split())
        shutil.rmtree(recipe)
        shutil.copy(rootfs / "boot" / f"vmlinuz-{facts['kernel']}", out / "vmlinuz")
        shutil.copy(rootfs / "boot" / f"initrd.img-{facts['kernel']}", out / "initrd.img")
        used = run(["du", "-sxm", str(rootfs)]).stdout.split()[0]
        _run_logged(["mkfs.ext4", "-q", "-L", "sclab-root", "-d", str(rootfs), str(out / "root.raw"), ROOT_SIZE], env, logfile)
        seconds = round(time.monotonic() - started)
        info = {"tag": tag, "suite": SUITE, "kernel": facts["kernel"], "drbd": facts["drbd"], "root_size": ROOT_SIZE,
                "root_used_mib": int(used), "build_seconds": seconds, "built": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        (out / "image.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(image_dir(tag), ignore_errors=True)
        out.rename(image_dir(tag))
    finally:
        _unmount_below(rootfs)
        shutil.rmtree(rootfs, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
    log(f"VM image {tag} built in {seconds} s: kernel {facts['kernel']}, DRBD {facts['drbd']}, {used} MiB in the root")


def prune_images() -> list:
    """Remove VM images of older recipes that no VM lab uses."""
    keep = {recipe_hash(), *images_in_use()}
    removed = []
    if paths.VM_IMAGES.exists():
        for directory in sorted(paths.VM_IMAGES.iterdir()):
            if directory.name not in keep:
                shutil.rmtree(directory, ignore_errors=True)
                (paths.BUILD_DIR / f"vm-image-{directory.name.strip('.').removesuffix('.tmp')}.log").unlink(missing_ok=True)
                removed.append(str(directory))
    return removed


# --- a lab's shape -----------------------------------------------------------------


@dataclass
class Node:
    """One guest, everything about it fixed by the lab's name and its index."""

    index: int
    name: str
    address: str
    mac: str
    tap: str


@dataclass
class VmLab:
    """A VM lab as recorded in its state (vm.json)."""

    name: str
    nodes: int
    memory: int
    cpus: int
    data_disk: str
    subnet: str
    image: str

    @property
    def lab_id(self) -> str:
        """The lab's name where podman labs' names also appear (firewall comments)."""
        return f"vm:{self.name}"

    @property
    def net(self) -> ipaddress.IPv4Network:
        return ipaddress.ip_network(self.subnet)

    @property
    def gateway(self) -> str:
        return network.gateway(self.net)

    @property
    def bridge(self) -> str:
        return bridge_name(self.name)

    @property
    def state(self) -> Path:
        return paths.vm_state(self.name)

    @property
    def run_dir(self) -> Path:
        return paths.vm_run(self.name)

    def node_list(self) -> list:
        return [
            Node(index=i, name=f"{NODE_PREFIX}{i + 1}", address=network.node_address(self.net, i),
                 mac=mac_address(self.name, f"{NODE_PREFIX}{i + 1}"), tap=f"{self.bridge}t{i + 1}")
            for i in range(self.nodes)
        ]

    def node(self, name: str) -> Node:
        for node in self.node_list():
            if node.name == name:
                return node
        raise LabError(f"VM lab {self.name!r} has no node {name!r}; nodes: {', '.join(n.name for n in self.node_list())}")

    def node_dir(self, node: Node) -> Path:
        return self.state / node.name

    def pidfile(self, node: Node) -> Path:
        return self.run_dir / f"{node.name}.pid"

    def cut_flag(self, node: Node) -> Path:
        return self.run_dir / f"{node.name}.cut"

    def marker(self, node: Node) -> str:
        """What names this node's qemu on its command line (`-name guest=...`)."""
        return f"guest={process_prefix(self.name)}{node.name},"

    def forwarder_pidfile(self) -> Path:
        return self.run_dir / "apt-forwarder.pid"


def process_prefix(name: str) -> str:
    return f"sclab:{name}:"


def bridge_name(name: str) -> str:
    """The lab's bridge: 11 characters whatever the lab's name, unlike podman's podmanN."""
    return "scv" + hashlib.sha1(name.encode()).hexdigest()[:8]


def link_alias(name: str, node: str | None = None) -> str:
    """The ifalias marking a link as this lab's (shown by `ip link`)."""
    return f"stormclouds-lab vm={name}" + (f" node={node}" if node else "")


def mac_address(name: str, node: str) -> str:
    """Stable per lab and node, so neighbour caches stay right across reboots."""
    digest = hashlib.sha256(f"{name}/{node}".encode()).hexdigest()
    return "52:54:00:" + ":".join(digest[i:i + 2] for i in (0, 2, 4))


def parse_size(text: str, what: str) -> int:
    match = SIZE_RE.match(text.strip().upper().removesuffix("B").removesuffix("I"))
    if not match:
        raise LabError(f"{what}: {text!r} is not a size such as 256M or 2G")
    size = int(match.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[match.group(2)]
    if not 64 << 20 <= size <= 64 << 30:
        raise LabError(f"{what}: {text} is outside 64M..64G")
    return size


def existing() -> list:
    """Names of the VM labs on this machine (with state, or with processes' run files)."""
    found = set()
    for directory in (paths.VM_LABS, paths.RUN / "vms"):
        if directory.exists():
            found.update(p.name for p in directory.iterdir() if p.is_dir())
    return sorted(found)


def load(name: str):
    """The VmLab recorded for name, or None."""
    path = paths.vm_state(name) / "vm.json"
    if not path.exists():
        return None
    return VmLab(**json.loads(path.read_text(encoding="utf-8")))


def _save(vlab: VmLab) -> None:
    lab._write_if_changed(vlab.state / "vm.json", json.dumps(asdict(vlab), indent=2) + "\n")


def validate_name(name: str) -> None:
    lab.validate_name(name)
    podman_lab = paths.lab_state(name).exists()
    if not podman_lab and shutil.which("podman"):
        podman_lab = name in lab.existing_labs()
    if podman_lab:
        raise LabError(f"lab name {name!r} is taken by a podman lab (`lab status`); pick another --name")


def _other_subnets(name: str) -> list:
    """(lab, subnet) of the other VM labs, bridges up or not (after a reboot they are not)."""
    others = []
    for other in existing():
        saved = load(other) if other != name else None
        if saved is not None:
            others.append((other, saved.net))
    return others


def _check_subnet(name: str, subnet: ipaddress.IPv4Network, what: str) -> None:
    for other, net in _other_subnets(name):
        if subnet.overlaps(net):
            raise LabError(f"{what}: subnet {subnet} collides with VM lab {other!r} ({net})")
    network.check_free(subnet, what, [])


def plan(name: str, options: dict, subnet, rebuild_image: bool) -> VmLab:
    """The lab as recorded, or a new one with a free subnet (under the lab lock).
    options: nodes, memory, cpus, data_disk as given (None: as recorded, or default)."""
    validate_name(name)
    what = f"VM lab {name!r}"
    saved = load(name)
    if saved is not None:
        for key, value in options.items():
            same = value == getattr(saved, key)
            if key == "data_disk" and value is not None:
                same = parse_size(value, "--data-disk") == parse_size(saved.data_disk, "data disk")
            if value is not None and not same:
                flag = "--" + key.replace("_", "-")
                raise LabError(f"{what} is up with {flag} {getattr(saved, key)}, not {value}; `lab vm down --name {name}` first")
        if subnet is not None and subnet != saved.net:
            raise LabError(f"{what} is up with subnet {saved.net}, not {subnet}; `lab vm down --name {name}` first")
        if _link(saved.bridge) is None:
            # After a reboot the bridge is gone and another lab may have taken the subnet since.
            _check_subnet(name, saved.net, what)
        if rebuild_image:
            log(f"warning: {what} keeps image {saved.image}; --rebuild-image applies to new VM labs")
        elif saved.image != recipe_hash():
            log(f"warning: {what} runs image {saved.image}, not the current recipe's {recipe_hash()}; `lab vm down` and `up` to use it")
        return saved
    values = {key: DEFAULTS[key] if value is None else value for key, value in options.items()}
    if not 1 <= values["nodes"] <= MAX_NODES:
        raise LabError(f"{what}: --nodes must be 1..{MAX_NODES}, not {values['nodes']}")
    if values["memory"] < 512:
        raise LabError(f"{what}: --memory {values['memory']} MiB is too little for a Debian guest with its services (512 at least)")
    parse_size(values["data_disk"], "--data-disk")
    link = _link(bridge_name(name))
    if link is not None:
        raise LabError(f"{what}: link {bridge_name(name)} exists ({link.get('ifalias') or 'no lab'}); `lab vm down --name {name}` removes a VM lab's leftovers")
    if subnet is not None:
        _check_subnet(name, subnet, what)
    else:
        subnet = network.pick_free(what, [net for _other, net in _other_subnets(name)])
    tag = ensure_image(rebuild_image)
    vlab = VmLab(name=name, subnet=str(subnet), image=tag, **values)
    # Recorded at once, so an interrupted `up` leaves nothing `down` cannot find.
    _save(vlab)
    return vlab


# --- links, firewall, processes -----------------------------------------------------


def _link(ifname: str):
    """`ip -d link` of one link as a dict, or None when there is no such link."""
    proc = run(["ip", "-j", "-d", "link", "show", "dev", ifname], check=False)
    if proc.returncode:
        return None
    data = json.loads(proc.stdout or "[]")
    return data[0] if data else None


def _lab_links(name: str) -> list:
    """Names of the links of a lab: its bridge and taps, found by their alias and names."""
    alias, bridge = link_alias(name), bridge_name(name)
    found = []
    for link in json.loads(run(["ip", "-j", "link"]).stdout or "[]"):
        ifalias = link.get("ifalias") or ""
        if ifalias == alias or ifalias.startswith(alias + " ") or re.fullmatch(f"{bridge}(t[0-9]+)?", link["ifname"]):
            found.append(link["ifname"])
    return found


def _ensure_bridge(vlab: VmLab) -> list:
    changes = []
    link = _link(vlab.bridge)
    if link is None:
        run(["ip", "link", "add", vlab.bridge, "type", "bridge", "stp_state", "0", "mcast_snooping", "0"])
        run(["ip", "link", "set", vlab.bridge, "alias", link_alias(vlab.name)])
        changes.append(f"bridge {vlab.bridge}")
    elif link.get("ifalias") != link_alias(vlab.name):
        raise LabError(f"link {vlab.bridge} is not VM lab {vlab.name!r}'s (alias {link.get('ifalias')!r})")
    cidr = f"{vlab.gateway}/{vlab.net.prefixlen}"
    addrs = json.loads(run(["ip", "-j", "-4", "addr", "show", "dev", vlab.bridge]).stdout or "[]")
    if not any(f"{a['local']}/{a['prefixlen']}" == cidr for entry in addrs for a in entry.get("addr_info", [])):
        run(["ip", "addr", "add", cidr, "dev", vlab.bridge])
        changes.append(f"address {cidr} on {vlab.bridge}")
    run(["ip", "link", "set", vlab.bridge, "up"])
    return changes


def _forward_rules(vlab: VmLab) -> list:
    """Traffic between the lab's guests passes (with br_netfilter it crosses FORWARD
    with the bridge on both sides); whatever the host would route in or out is dropped."""
    comment = ["-m", "comment", "--comment", f"stormclouds-lab lab={vlab.lab_id} net={NET}"]
    bridge = vlab.bridge
    return [
        ["FORWARD", "-i", bridge, "-o", bridge, *comment, "-j", "ACCEPT"],
        ["FORWARD", "-i", bridge, "!", "-o", bridge, *comment, "-j", "DROP"],
        ["FORWARD", "-o", bridge, "!", "-i", bridge, *comment, "-j", "DROP"],
    ]


def _isolate(vlab: VmLab) -> bool:
    changed = False
    for rule in _forward_rules(vlab):
        if run(["iptables", "-w", "-C", *rule], check=False).returncode != 0:
            run(["iptables", "-w", "-I", *rule])
            changed = True
    return changed


def _ensure_tap(vlab: VmLab, node: Node) -> list:
    changes = []
    link = _link(node.tap)
    if link is None:
        run(["ip", "tuntap", "add", "dev", node.tap, "mode", "tap"])
        run(["ip", "link", "set", node.tap, "alias", link_alias(vlab.name, node.name)])
        changes.append(f"tap {node.tap} of {node.name}")
    elif link.get("ifalias") != link_alias(vlab.name, node.name):
        raise LabError(f"link {node.tap} is not node {node.name} of VM lab {vlab.name!r} (alias {link.get('ifalias')!r})")
    if link is None or link.get("master") != vlab.bridge:
        run(["ip", "link", "set", node.tap, "master", vlab.bridge])
    # A node cut with `lab vm cut` stays cut until `lab vm heal`.
    run(["ip", "link", "set", node.tap, "down" if vlab.cut_flag(node).exists() else "up"])
    return changes


def _qemu_pids(name: str, node: str = "") -> list:
    """Pids of the lab's qemu processes (of one node, or all), from their command lines."""
    marker = f"guest={process_prefix(name)}{node}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"qemu-system" in cmdline and marker in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def _qemu_pid(vlab: VmLab, node: Node):
    """The pid of the node's running qemu, or None."""
    pids = _qemu_pids(vlab.name, node.name + ",")
    return pids[0] if pids else None


def _kill_pids(pids: list) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def rss_mib(pid: int):
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


# --- nodes --------------------------------------------------------------------------


def _ensure_host_key(vlab: VmLab, node: Node) -> Path:
    key = vlab.node_dir(node) / "ssh_host_ed25519_key"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{node.name}", "-f", str(key)])
    return key


def hosts_block(vlab: VmLab) -> str:
    lines = [lab.HOSTS_BEGIN] + [f"{n.address}\t{n.name}" for n in vlab.node_list()] + [lab.HOSTS_END]
    return "\n".join(lines) + "\n"


def _seed_files(vlab: VmLab, node: Node, pubkey: str) -> dict:
    """name -> (text, mode) of the node's seed disk (read by sclab-seed in the guest)."""
    key = _ensure_host_key(vlab, node)
    network_unit = (
        "# Written by the lab (seed disk); the lab's one network.\n"
        f"[Match]\nMACAddress={node.mac}\n\n"
        f"[Network]\nAddress={node.address}/{vlab.net.prefixlen}\nGateway={vlab.gateway}\n"
        "LinkLocalAddressing=no\nIPv6AcceptRA=no\n"
    )
    return {
        "hostname": (node.name + "\n", 0o644),
        "10-sclab.network": (network_unit, 0o644),
        "gateway": (vlab.gateway + "\n", 0o644),
        "hosts": (hosts_block(vlab), 0o644),
        "ssh_host_ed25519_key": (key.read_text(encoding="utf-8"), 0o600),
        "ssh_host_ed25519_key.pub": (key.with_suffix(".pub").read_text(encoding="utf-8"), 0o644),
        "authorized_keys": (pubkey, 0o644),
    }


def _ensure_seed(vlab: VmLab, node: Node, pubkey: str) -> bool:
    """(Re)write the node's seed disk when its content changed. The new file replaces
    the old one, so a running guest keeps the one it booted with until its next boot."""
    files = _seed_files(vlab, node, pubkey)
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    node_dir = vlab.node_dir(node)
    seed, stamp = node_dir / "seed.img", node_dir / "seed.sha256"
    if seed.exists() and stamp.exists() and stamp.read_text(encoding="utf-8").strip() == digest:
        return False
    source = node_dir / "seed"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    for filename, (text, mode) in files.items():
        (source / filename).write_text(text, encoding="utf-8")
        (source / filename).chmod(mode)
    tmp = node_dir / "seed.img.tmp"
    tmp.unlink(missing_ok=True)
    run(["mkfs.ext4", "-q", "-F", "-L", SEED_LABEL, "-O", "^has_journal", "-d", str(source), str(tmp), "4M"])
    tmp.replace(seed)
    shutil.rmtree(source)
    stamp.write_text(digest + "\n", encoding="utf-8")
    return True


def _ensure_disks(vlab: VmLab, node: Node) -> list:
    changes = []
    vlab.node_dir(node).mkdir(parents=True, exist_ok=True)
    overlay, data = vlab.node_dir(node) / "root.qcow2", vlab.node_dir(node) / "data.raw"
    if not overlay.exists():
        base = image_dir(vlab.image) / "root.raw"
        if not base.exists():
            raise LabError(f"VM image {vlab.image} of lab {vlab.name!r} is gone ({base}); `lab vm down --name {vlab.name}` and `up` again")
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "raw", str(overlay)])
        changes.append(f"root overlay of {node.name}")
    if not data.exists():
        with open(data, "wb") as handle:
            handle.truncate(parse_size(vlab.data_disk, "data disk"))
        changes.append(f"data disk of {node.name} ({vlab.data_disk})")
    return changes


def qemu_command(vlab: VmLab, node: Node) -> list:
    base = image_dir(vlab.image)
    node_dir = vlab.node_dir(node)
    return [
        "qemu-system-x86_64",
        "-name", f"{vlab.marker(node)}process=sclab-{node.name}",
        "-accel", f"tcg,thread=multi,tb-size={TB_SIZE_MIB}",
        "-machine", "pc", "-smp", str(vlab.cpus), "-m", str(vlab.memory),
        "-nodefaults", "-no-user-config", "-display", "none",
        "-kernel", str(base / "vmlinuz"), "-initrd", str(base / "initrd.img"), "-append", KERNEL_ARGS,
        # Fixed PCI slots, so the disks are always vda (root), vdb (data), vdc (seed).
        "-drive", f"file={node_dir / 'root.qcow2'},format=qcow2,if=none,id=root,cache=unsafe,discard=unmap",
        "-device", "virtio-blk-pci,drive=root,addr=0x4",
        # The data disk keeps host-side write-back caching: a killed qemu (pulled plug)
        # loses only what the guest had not written out yet.
        "-drive", f"file={node_dir / 'data.raw'},format=raw,if=none,id=data,discard=unmap",
        "-device", "virtio-blk-pci,drive=data,addr=0x5,serial=sclab-data",
        "-drive", f"file={node_dir / 'seed.img'},format=raw,if=none,id=seed,readonly=on",
        "-device", "virtio-blk-pci,drive=seed,addr=0x6,serial=sclab-seed",
        "-netdev", f"tap,id=net0,ifname={node.tap},script=no,downscript=no",
        "-device", f"virtio-net-pci,netdev=net0,mac={node.mac},addr=0x3",
        "-device", "virtio-rng-pci,addr=0x7",
        "-chardev", f"file,id=console,path={node_dir / 'console.log'},append=on",
        "-serial", "chardev:console",
        "-qmp", f"unix:{vlab.run_dir / (node.name + '.qmp')},server=on,wait=off",
        "-pidfile", str(vlab.pidfile(node)),
        "-daemonize",
    ]


def _start(vlab: VmLab, node: Node) -> None:
    vlab.run_dir.mkdir(parents=True, exist_ok=True)
    vlab.pidfile(node).unlink(missing_ok=True)
    log(f"booting {node.name} of VM lab {vlab.name} ({vlab.memory} MiB, {vlab.cpus} vCPU, TCG)")
    run(qemu_command(vlab, node))


def _ensure_lab(vlab: VmLab, only: list | None = None) -> tuple:
    """Network, disks, seeds and taps of the lab (or of the nodes `only`); then boot the
    nodes that do not run. Returns (changes, {node: boot start time})."""
    changes = _ensure_bridge(vlab)
    if _isolate(vlab):
        changes.append(f"isolation rules of {vlab.bridge}")
    aptcache.ensure_forwarder(vlab.lab_id, NET, vlab.gateway, pidfile=vlab.forwarder_pidfile())
    pubkey = lab.ensure_ssh_key()
    lab.SSH_CONTROL_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    nodes = [n for n in vlab.node_list() if only is None or n.name in only]
    for node in nodes:
        changes += _ensure_disks(vlab, node)
        if _ensure_seed(vlab, node, pubkey):
            changes.append(f"seed of {node.name}")
        changes += _ensure_tap(vlab, node)
    _write_known_hosts(vlab)
    if lab._write_if_changed(vlab.state / "inventory.yml", inventory(vlab)):
        changes.append(f"inventory {vlab.state / 'inventory.yml'}")
    booted = {}
    for node in nodes:
        if _qemu_pid(vlab, node) is None:
            _start(vlab, node)
            booted[node.name] = time.monotonic()
            changes.append(f"booted {node.name}")
    return changes, booted


def _write_known_hosts(vlab: VmLab) -> None:
    lines = []
    for node in vlab.node_list():
        key = (vlab.node_dir(node) / "ssh_host_ed25519_key.pub").read_text(encoding="utf-8").split()
        lines.append(f"{node.name},{node.address} {key[0]} {key[1]}")
    lab._write_if_changed(vlab.state / "known_hosts", "\n".join(lines) + "\n")
    lab._merge_known_hosts()


def _port_open(address: str, port: int = 22) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def _console_tail(vlab: VmLab, node: Node, lines: int = 15) -> str:
    try:
        text = (vlab.node_dir(node) / "console.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no console log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_ssh(vlab: VmLab, nodes: list, since: dict) -> dict:
    """Wait until every node answers ssh as Ansible logs in (lab key, pinned host key).
    Returns node -> seconds from its boot (or from now, for nodes that were running)."""
    cut_off = [n.name for n in nodes if vlab.cut_flag(n).exists()]
    if cut_off:
        log(f"not waiting for ssh from {', '.join(cut_off)}: cut off the network (`lab vm heal`)")
        nodes = [n for n in nodes if n.name not in cut_off]
    now = time.monotonic()
    since = {n.name: since.get(n.name, now) for n in nodes}
    pending = {n.name: n for n in nodes}
    ready, last_error = {}, {}
    deadline = now + BOOT_TIMEOUT
    while pending:
        for name, node in list(pending.items()):
            if _qemu_pid(vlab, node) is None:
                raise LabError(f"qemu of {name} is not running; console ({vlab.node_dir(node) / 'console.log'}):\n{_console_tail(vlab, node)}")
        probes = {name: node for name, node in pending.items() if _port_open(node.address)}
        procs = {
            name: subprocess.Popen(  # pylint: disable=consider-using-with
                ["ssh", *lab.ssh_options(), f"root@{node.address}", "true"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )
            for name, node in probes.items()
        }
        for name, proc in procs.items():
            try:
                err = proc.communicate(timeout=30)[1]
            except subprocess.TimeoutExpired:
                proc.kill()
                err = proc.communicate()[1] or "no answer in 30 s"
            if proc.returncode == 0:
                ready[name] = round(time.monotonic() - since[name], 1)
                del pending[name]
            else:
                last_error[name] = err.strip()
        if not pending:
            break
        if time.monotonic() > deadline:
            detail = "\n".join(
                f"{name}: {last_error.get(name, 'port 22 never answered')}; console:\n{_console_tail(vlab, node)}" for name, node in pending.items()
            )
            raise LabError(f"VM lab {vlab.name!r}: no ssh after {BOOT_TIMEOUT} s from {', '.join(pending)}\n{detail}")
        time.sleep(1)
    return ready


# --- inventory, commands --------------------------------------------------------------


def inventory(vlab: VmLab) -> str:
    nodes = vlab.node_list()
    data = {
        "all": {
            "vars": {
                **lab.connection_vars(),
                "common_apt_proxy": f"http://{vlab.gateway}:{paths.ACNG_PORT}",
                "lab_name": vlab.name,
                "lab_layout": "vm",
                "lab_vm": True,
                "lab_networks": {
                    NET: {"subnet": vlab.subnet, "gateway": vlab.gateway, "vip_range": network.vip_range(vlab.net)},
                },
            },
            "hosts": {
                node.name: {
                    "ansible_host": node.address,
                    "lab_addresses": {NET: node.address},
                    "lab_vm_pidfile": str(vlab.pidfile(node)),
                    "lab_vm_data_disk": "/dev/vdb",
                }
                for node in nodes
            },
            "children": {"pacemaker_nodes": {"hosts": {node.name: None for node in nodes}}},
        }
    }
    header = f"# Written by ./lab vm up for VM lab {vlab.name!r}; `lab vm up` rewrites it.\n"
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def describe(vlab: VmLab) -> dict:
    return {
        "lab": vlab.name,
        "vm": True,
        "inventory": str(vlab.state / "inventory.yml"),
        "subnet": vlab.subnet,
        "gateway": vlab.gateway,
        "bridge": vlab.bridge,
        "image": vlab.image,
        "memory_mib": vlab.memory,
        "cpus": vlab.cpus,
        "data_disk": vlab.data_disk,
        "nodes": [{"name": n.name, "address": n.address, "mac": n.mac, "tap": n.tap} for n in vlab.node_list()],
    }


def _require(name: str) -> VmLab:
    vlab = load(name)
    if vlab is None:
        raise LabError(f"VM lab {name!r} is not up (`lab vm up --name {name}`)")
    return vlab


def up(name: str, options: dict, subnet=None, rebuild_image: bool = False) -> dict:
    """Create what is missing and boot what does not run; a second call on a complete
    lab changes nothing. The waiting for ssh happens outside the lab lock (a TCG boot
    takes about a minute), everything that changes the machine inside it."""
    started = time.monotonic()
    with lab_lock():
        vlab = plan(name, options, subnet, rebuild_image)
        aptcache.ensure_cache()
        changes, booted = _ensure_lab(vlab)
    ssh_seconds = wait_ssh(vlab, vlab.node_list(), booted)
    summary = describe(vlab)
    summary["changes"] = changes
    summary["ssh_seconds"] = {n: s for n, s in ssh_seconds.items() if n in booted}
    summary["seconds"] = round(time.monotonic() - started, 1)
    return summary


def start(name: str, node_name: str) -> dict:
    """Boot one node again (after `kill`) with the same disks, and wait for its ssh."""
    with lab_lock():
        vlab = _require(name)
        node = vlab.node(node_name)
        aptcache.ensure_cache()
        changes, booted = _ensure_lab(vlab, only=[node.name])
    seconds = wait_ssh(vlab, [node], booted)
    return {"lab": name, "node": node.name, "changes": changes, "ssh_seconds": seconds.get(node.name)}


def kill(name: str, node_name: str) -> dict:
    """Pull the plug: SIGKILL the node's qemu. Its disks keep what the guest had written."""
    with lab_lock():
        vlab = _require(name)
        node = vlab.node(node_name)
        pid = _qemu_pid(vlab, node)
        if pid is not None:
            _kill_pids([pid])
        vlab.pidfile(node).unlink(missing_ok=True)
    return {"lab": name, "node": node.name, "killed": pid}


def cut(name: str, node_name: str, heal: bool = False) -> dict:
    """Cut a node off the lab's network (its tap goes down: nothing in, nothing out,
    while the guest still sees its link), or heal it."""
    with lab_lock():
        vlab = _require(name)
        node = vlab.node(node_name)
        if _link(node.tap) is None:
            raise LabError(f"node {node.name} of VM lab {name!r} has no tap {node.tap}; `lab vm up --name {name}` first")
        flag = vlab.cut_flag(node)
        if heal:
            flag.unlink(missing_ok=True)
        else:
            flag.parent.mkdir(parents=True, exist_ok=True)
            flag.touch()
        run(["ip", "link", "set", node.tap, "up" if heal else "down"])
    return {"lab": name, "node": node.name, "network": "up" if heal else "cut"}


def status(name: str) -> dict:
    vlab = load(name)
    if vlab is None:
        return {"lab": name, "exists": False, "links": _lab_links(name), "qemu": _qemu_pids(name)}
    nodes = []
    for node in vlab.node_list():
        pid = _qemu_pid(vlab, node)
        nodes.append({
            "name": node.name, "address": node.address, "tap": node.tap,
            "state": "running" if pid else "stopped", "pid": pid, "rss_mib": rss_mib(pid) if pid else None,
            "network": "cut" if vlab.cut_flag(node).exists() else "up",
            "ssh_port": _port_open(node.address) if pid else False,
        })
    summary = describe(vlab)
    summary.update({
        "exists": True,
        "bridge_up": _link(vlab.bridge) is not None,
        "apt_forwarder": bool(pid_alive(vlab.forwarder_pidfile())),
        "nodes": nodes,
    })
    return summary


def down(name: str) -> dict:
    """Remove every trace of a VM lab: qemu processes, taps, bridge, firewall rules,
    forwarder, ssh masters, disks and state. Each step runs even when one failed."""
    lab.validate_name(name)
    removed, errors = [], []
    with lab_lock():
        vlab = load(name)
        addresses = [n.address for n in vlab.node_list()] if vlab else []
        gateway = vlab.gateway if vlab else None
        pids = _qemu_pids(name)
        if pids:
            _kill_pids(pids)
            removed.append(f"qemu {' '.join(map(str, pids))}")
        for ifname in sorted(_lab_links(name), key=lambda n: n == bridge_name(name)):
            try:
                run(["ip", "link", "del", ifname])
                removed.append(f"link {ifname}")
            except LabError as exc:
                errors.append(str(exc))
        if network.isolation_rules(f"vm:{name}"):
            network.release(f"vm:{name}")
            removed.append("isolation rules")
        aptcache.stop_forwarder(paths.vm_run(name) / "apt-forwarder.pid")
        lab._close_ssh_masters(addresses)
        for directory in (paths.vm_run(name), paths.vm_state(name)):
            if directory.exists():
                shutil.rmtree(directory, ignore_errors=True)
                removed.append(str(directory))
        lab._merge_known_hosts()
        lab.stop_cache_if_unused()
    leftovers = leftovers_of(name, gateway)
    if errors or leftovers:
        raise LabError(f"VM lab {name!r} was not removed completely: {'; '.join(errors + leftovers)}")
    return {"lab": name, "removed": removed}


def leftovers_of(name: str, gateway: str | None = None) -> list:
    """What of a VM lab still exists: qemu processes, links, firewall rules, its
    directories, its apt forwarder (a socat bound to its gateway)."""
    found = [f"qemu process {pid}" for pid in _qemu_pids(name)]
    found += [f"link {ifname}" for ifname in _lab_links(name)]
    found += [f"firewall rule {r}" for r in network.isolation_rules(f"vm:{name}")]
    found += [str(d) for d in (paths.vm_run(name), paths.vm_state(name)) if d.exists()]
    if gateway:
        for line in run(["ps", "-eo", "pid=,args="]).stdout.splitlines():
            if "socat" in line and f"bind={gateway}," in line:
                found.append(f"process {line.strip()}")
    return found


def ssh_target(name: str, node_name: str) -> str:
    vlab = _require(name)
    return f"root@{vlab.node(node_name).address}"
