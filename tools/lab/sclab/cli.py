"""./lab: the local lab of Debian 12 systemd nodes that site.yml, Molecule, CI and the
benchmarks share.  `./lab --help` for the commands."""

import argparse
import json
import os
import sys

import yaml

from . import image, lab, layout, network, paths, vm
from .system import VM_HOST_PACKAGES, LabError, ensure_host_packages, lab_lock, log

DEFAULT_LAYOUT = "site"


def _print(data, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, indent=2))
        return
    if "nodes" in data and "layout" in data:
        print(f"lab {data['lab']} (layout {data['layout']}): {', '.join(f'{k} {v}' for k, v in data['networks'].items())}")
        for node in data["nodes"]:
            print(f"  {node['name']:<14} {node['address']:<15} {' '.join(node['groups'])}")
        print(f"  inventory: {data['inventory']}")
        if "changes" in data:
            print(f"  {'changed: ' + '; '.join(data['changes']) if data['changes'] else 'unchanged'} ({data['seconds']} s)")
    else:
        print(json.dumps(data, indent=2))


def recorded_layout(name: str):
    """The named layout an existing lab was made from (its inventory says), or None."""
    inventory = paths.lab_state(name) / "inventory.yml"
    if not inventory.exists():
        return None
    try:
        data = yaml.safe_load(inventory.read_text(encoding="utf-8")) or {}
        return data["all"]["vars"]["lab_layout"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None


def cmd_up(args) -> int:
    lay = None
    if args.layout is None and not args.layout_file and args.name:
        # `./lab up --name X` on an existing lab means "the lab X as it was made"
        # (same layout, same node count), e.g. to boot nodes a test killed.
        recorded, saved = recorded_layout(args.name), lab.saved_layout(args.name)
        if recorded and saved is not None and args.nodes is None:
            lay = layout.parse(recorded, saved)
    if lay is None:
        lay = layout.load(args.layout_file or args.layout or DEFAULT_LAYOUT, nodes=args.nodes)
    name = args.name or (lay.name if not args.layout_file else None)
    if not name:
        raise LabError("--name is required with --layout-file")
    subnets = lab.parse_subnet_args(args.subnet, lay)
    lab.validate_name(name)
    ensure_host_packages()
    _print(lab.up(name, lay, subnets, rebuild_image=args.rebuild_image), args.json)
    return 0


def cmd_down(args) -> int:
    names = lab.existing_labs() if args.all else [args.name]
    for name in names:
        result = lab.down(name)
        print(f"lab {name}: removed {', '.join(result['removed']) or 'nothing (it was not up)'}")
    return 0


def cmd_status(args) -> int:
    names = [args.name] if args.name else lab.existing_labs()
    results = [lab.status(n) for n in names]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    if not results:
        print("no lab is up")
    for res in results:
        print(f"lab {res['lab']}: {'up' if res['exists'] else 'not up'} {' '.join(f'{k}={v}' for k, v in res['networks'].items())}")
        for node in res["nodes"]:
            print(f"  {node['name'] or node['container']:<14} {node['state']:<10} {node.get('systemd', '')}")
    return 0 if all(r["exists"] for r in results) or not args.name else 1


def cmd_shell(args) -> int:
    ctr = f"{args.name}-{args.node}"
    command = args.command or ["/bin/bash", "-l"]
    tty = ["-it"] if sys.stdin.isatty() else ["-i"]
    os.execvpe("podman", ["podman", "exec", *tty, ctr, *command], paths.podman_env())
    return 0  # not reached


def cmd_ssh(args) -> int:
    status = lab.status(args.name)
    inv = paths.lab_state(args.name) / "inventory.yml"
    if not status["exists"] or not inv.exists():
        raise LabError(f"lab {args.name!r} is not up")
    import yaml  # pylint: disable=import-outside-toplevel

    hosts = yaml.safe_load(inv.read_text(encoding="utf-8"))["all"]["hosts"]
    if args.node not in hosts:
        raise LabError(f"lab {args.name!r} has no node {args.node!r}; nodes: {', '.join(hosts)}")
    os.execvp("ssh", ["ssh", *lab.ssh_options(), f"root@{hosts[args.node]['ansible_host']}", *args.command])
    return 0  # not reached


def cmd_inventory(args) -> int:
    inv = paths.lab_state(args.name) / "inventory.yml"
    if not inv.exists():
        raise LabError(f"lab {args.name!r} is not up (no {inv})")
    print(inv)
    return 0


def cmd_run(args) -> int:
    """Run a command (ansible-playbook, molecule, ...) against a lab."""
    inv = paths.lab_state(args.name) / "inventory.yml"
    if not inv.exists():
        raise LabError(f"lab {args.name!r} is not up; `./lab up {args.name}` first")
    if not args.command:
        raise LabError("nothing to run: give a command after --")
    env = paths.podman_env()
    # The lab's generated hosts first, then the project's inventory/lab for group_vars.
    env["ANSIBLE_INVENTORY"] = f"{inv},{paths.PROJECT / 'inventory' / 'lab'}"
    command = args.command[1:] if args.command[0] == "--" else args.command
    os.execvpe(command[0], command, env)
    return 0  # not reached


def cmd_image(args) -> int:
    ensure_host_packages()
    with lab_lock():
        if args.prune:
            for ref in image.prune():
                print(f"removed {ref}")
            return 0
        print(image.ensure(rebuild=args.rebuild))
    return 0


def cmd_setup(_args) -> int:
    ensure_host_packages()
    print("the machine has what the lab needs")
    return 0


def cmd_layouts(_args) -> int:
    for name in layout.available():
        lay = layout.load(name)
        print(f"{name:<12} {len(lay.nodes)} nodes  {lay.description}")
    return 0


def _print_vm(data: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, indent=2))
        return
    print(f"VM lab {data['lab']}: {data['subnet']} on bridge {data['bridge']}, image {data['image']}, "
          f"{data['memory_mib']} MiB and {data['cpus']} vCPU per node, data disk {data['data_disk']} (/dev/vdb)")
    for node in data["nodes"]:
        extra = ""
        if "state" in node:
            extra = f"{node['state']:<8} network {node['network']:<4} ssh {'yes' if node['ssh_port'] else 'no':<4}"
            extra += f" pid {node['pid']} rss {node['rss_mib']} MiB" if node["pid"] else ""
        print(f"  {node['name']:<6} {node['address']:<15} {node['tap']:<14} {extra}")
    print(f"  inventory: {data['inventory']}")
    if "changes" in data:
        print(f"  {'changed: ' + '; '.join(data['changes']) if data['changes'] else 'unchanged'} ({data['seconds']} s)")
    if data.get("ssh_seconds"):
        print(f"  ssh answered after boot: {', '.join(f'{n} {s} s' for n, s in data['ssh_seconds'].items())}")


def cmd_vm_image(args) -> int:
    ensure_host_packages(VM_HOST_PACKAGES)
    with lab_lock():
        if args.prune:
            for directory in vm.prune_images():
                print(f"removed {directory}")
            return 0
        tag = vm.ensure_image(rebuild=args.rebuild)
    print(vm.image_dir(tag))
    return 0


def cmd_vm_up(args) -> int:
    lab.validate_name(args.name)
    options = {"nodes": args.nodes, "memory": args.memory, "cpus": args.cpus, "data_disk": args.data_disk}
    subnet = network.parse_subnet(args.subnet, "--subnet") if args.subnet else None
    ensure_host_packages(VM_HOST_PACKAGES)
    _print_vm(vm.up(args.name, options, subnet, rebuild_image=args.rebuild_image), args.json)
    return 0


def cmd_vm_down(args) -> int:
    if not args.all and not args.name:
        raise LabError("give --name NAME or --all")
    names = vm.existing() if args.all else [args.name]
    for name in names:
        result = vm.down(name)
        print(f"VM lab {name}: removed {', '.join(result['removed']) or 'nothing (it was not up)'}")
    return 0


def cmd_vm_status(args) -> int:
    names = [args.name] if args.name else vm.existing()
    results = [vm.status(n) for n in names]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    if not results:
        print("no VM lab is up")
    for res in results:
        if res["exists"]:
            _print_vm(res, False)
        else:
            leftovers = [f"link {link}" for link in res["links"]] + [f"qemu {pid}" for pid in res["qemu"]]
            print(f"VM lab {res['lab']}: not up{' (leftovers: ' + ', '.join(leftovers) + '; `lab vm down` removes them)' if leftovers else ''}")
    return 0 if all(r["exists"] for r in results) or not args.name else 1


def cmd_vm_node(args) -> int:
    if args.action == "kill":
        result = vm.kill(args.name, args.node)
        print(f"{args.node}: {'killed qemu ' + str(result['killed']) if result['killed'] else 'was not running'}")
    elif args.action == "start":
        ensure_host_packages(VM_HOST_PACKAGES)
        result = vm.start(args.name, args.node)
        booted = f"booted {args.node}" in result["changes"]
        if result["ssh_seconds"] is None:
            print(f"{args.node}: {'booted' if booted else 'running'}, cut off the network (not waited for)")
        else:
            print(f"{args.node}: ssh answered {result['ssh_seconds']} s after {'boot' if booted else 'the check began (it was running)'}")
    else:
        result = vm.cut(args.name, args.node, heal=args.action == "heal")
        print(f"{args.node}: network {result['network']}")
    return 0


def cmd_vm_ssh(args) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    os.execvp("ssh", ["ssh", *lab.ssh_options(), vm.ssh_target(args.name, args.node), *command])
    return 0  # not reached


def cmd_vm_inventory(args) -> int:
    inv = paths.vm_state(args.name) / "inventory.yml"
    if not inv.exists():
        raise LabError(f"VM lab {args.name!r} is not up (no {inv})")
    print(inv)
    return 0


def _vm_parser(sub) -> None:
    top = sub.add_parser("vm", help="the VM lab: QEMU guests with a real Debian kernel (DRBD), `lab vm --help`",
                         description="QEMU (TCG) guests of Debian 12 on a bridge of their own, for tests containers cannot do (DRBD).")
    vsub = top.add_subparsers(dest="vm_command", required=True)

    p = vsub.add_parser("image", help="build the guest image if its recipe (tools/lab/vm/) changed")
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--prune", action="store_true", help="remove images of older recipes that no VM lab uses")
    p.set_defaults(func=cmd_vm_image)

    p = vsub.add_parser("up", help="create or complete a VM lab and wait for ssh (idempotent)")
    p.add_argument("--name", required=True)
    p.add_argument("--nodes", type=int, help=f"nodes ha1..haN (default {vm.DEFAULTS['nodes']}, at most {vm.MAX_NODES})")
    p.add_argument("--memory", type=int, help=f"MiB per guest (default {vm.DEFAULTS['memory']})")
    p.add_argument("--cpus", type=int, choices=range(1, 5), help=f"vCPUs per guest (default {vm.DEFAULTS['cpus']})")
    p.add_argument("--data-disk", help=f"size of each node's /dev/vdb (default {vm.DEFAULTS['data_disk']})")
    p.add_argument("--subnet", help="the lab's /24 (default: a free one from 10.213.0.0/16)")
    p.add_argument("--rebuild-image", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_vm_up)

    p = vsub.add_parser("down", help="remove a VM lab and everything it started")
    p.add_argument("--name")
    p.add_argument("--all", action="store_true", help="every VM lab on this machine")
    p.set_defaults(func=cmd_vm_down)

    p = vsub.add_parser("status", help="VM labs, nodes, qemu processes and their RSS")
    p.add_argument("--name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_vm_status)

    for action, text in (("kill", "hard power-off (SIGKILL qemu: the plug pulled)"),
                         ("start", "boot a node again with the same disks and wait for ssh"),
                         ("cut", "cut a node off the network (its tap goes down)"),
                         ("heal", "restore a cut node's network")):
        p = vsub.add_parser(action, help=text)
        p.add_argument("--name", required=True)
        p.add_argument("node")
        p.set_defaults(func=cmd_vm_node, action=action)

    p = vsub.add_parser("ssh", help="ssh to a guest the way Ansible does")
    p.add_argument("--name", required=True)
    p.add_argument("node")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_vm_ssh)

    p = vsub.add_parser("inventory", help="print the path of a VM lab's inventory")
    p.add_argument("--name", required=True)
    p.set_defaults(func=cmd_vm_inventory)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="lab", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("up", help="create or complete a lab (idempotent)")
    p.add_argument("layout", nargs="?", default=None,
                   help=f"layout name (lab/layouts/NAME.yml); default: the one the lab --name was made from, else {DEFAULT_LAYOUT}")
    p.add_argument("--layout-file", help="a layout file instead of a named layout (Molecule uses this)")
    p.add_argument("--name", help="lab name (default: the layout's name); names containers and networks")
    p.add_argument("--nodes", type=int, help="node count, for scalable layouts")
    p.add_argument("--subnet", action="append", metavar="[NET=]CIDR", help="subnet of a network (default: a free /24 from 10.213.0.0/16)")
    p.add_argument("--rebuild-image", action="store_true", help="rebuild the node image even if its recipe did not change")
    p.add_argument("--json", action="store_true", help="print the lab as JSON")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", help="remove a lab and everything it started")
    p.add_argument("name", nargs="?", default=DEFAULT_LAYOUT)
    p.add_argument("--all", action="store_true", help="every lab on this machine")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("status", help="show labs and their nodes")
    p.add_argument("name", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("shell", help="a shell (or a command) on a node through podman exec")
    p.add_argument("node")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.add_argument("--name", default=DEFAULT_LAYOUT)
    p.set_defaults(func=cmd_shell)

    p = sub.add_parser("ssh", help="ssh to a node the way Ansible does")
    p.add_argument("node")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.add_argument("--name", default=DEFAULT_LAYOUT)
    p.set_defaults(func=cmd_ssh)

    p = sub.add_parser("inventory", help="print the path of a lab's inventory")
    p.add_argument("name", nargs="?", default=DEFAULT_LAYOUT)
    p.set_defaults(func=cmd_inventory)

    p = sub.add_parser("run", help="run a command with the lab's inventory and podman settings, e.g. `lab run -- ansible-playbook playbooks/site.yml`")
    p.add_argument("--name", default=DEFAULT_LAYOUT)
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("image", help="build the node image if its recipe changed")
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--prune", action="store_true", help="remove images of older recipes")
    p.set_defaults(func=cmd_image)

    p = sub.add_parser("setup", help="install the Debian packages the lab needs (up and image do it too)")
    p.set_defaults(func=cmd_setup)

    p = sub.add_parser("layouts", help="list the layouts")
    p.set_defaults(func=cmd_layouts)

    _vm_parser(sub)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (LabError, layout.LayoutError) as exc:
        log(f"error: {exc}")
        return 2
