"""Running commands: podman with the project's settings, and the host's own tools."""

import fcntl
import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager

from . import paths

#: Debian packages both kinds of lab need on the machine (command -> package): the
#: image build, the apt cache and its forwarders, ssh, networking and isolation.
_SHARED_HOST_PACKAGES = {
    "debootstrap": "debootstrap",
    "apt-cacher-ng": "apt-cacher-ng",
    "socat": "socat",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "ip": "iproute2",
    "setpriv": "util-linux",
    "iptables": "iptables",
}
#: Debian packages the (podman) lab needs on the machine (command -> package).
HOST_PACKAGES = {
    "podman": "podman",
    "netavark": "netavark",
    "aardvark-dns": "aardvark-dns",
    "runc": "runc",
    "conmon": "conmon",
    **_SHARED_HOST_PACKAGES,
}
#: Debian packages the VM lab (sclab.vm) needs; installed only by `lab vm` commands.
VM_HOST_PACKAGES = {
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "mkfs.ext4": "e2fsprogs",
    "bridge": "iproute2",
    **_SHARED_HOST_PACKAGES,
}
#: Where each command lives when it is not on PATH (Debian puts some in libexec dirs).
COMMAND_PATHS = {
    "netavark": "/usr/lib/podman/netavark",
    "aardvark-dns": "/usr/lib/podman/aardvark-dns",
    "apt-cacher-ng": "/usr/sbin/apt-cacher-ng",
}


class LabError(RuntimeError):
    """An error the lab reports to the user as one clear message."""


def log(message: str) -> None:
    print(f"lab: {message}", file=sys.stderr, flush=True)


def run(cmd, *, check=True, capture=True, env=None, input_text=None, timeout=None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        cmd,
        check=False,
        text=True,
        input=input_text,
        # Never the caller's stdin: podman may leave it non-blocking, and Ansible runs
        # sharing it then refuse to start.
        stdin=subprocess.DEVNULL if input_text is None else None,
        capture_output=capture,
        env=env,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip()
        raise LabError(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{detail}")
    return proc


def podman(*args, check=True, capture=True, input_text=None, timeout=None) -> subprocess.CompletedProcess:
    return run(["podman", *map(str, args)], check=check, capture=capture, env=paths.podman_env(), input_text=input_text, timeout=timeout)


def podman_json(*args):
    out = podman(*args).stdout.strip()
    return json.loads(out) if out else []


def missing_host_packages(packages: dict | None = None) -> list:
    missing = set()
    for command, package in (HOST_PACKAGES if packages is None else packages).items():
        if shutil.which(command) is None and not os.path.exists(COMMAND_PATHS.get(command, "/nonexistent")):
            missing.add(package)
    return sorted(missing)


def ensure_host_packages(packages: dict | None = None) -> None:
    """Install the lab's Debian packages (command -> package; default: the podman
    lab's) when some are missing (needs root)."""
    missing = missing_host_packages(packages)
    if not missing:
        return
    if os.geteuid() != 0:
        raise LabError(f"missing Debian packages {', '.join(missing)}; run the lab as root so it can install them")
    log(f"installing Debian packages: {', '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # An unreachable third-party repository makes `apt-get update` exit non-zero while
    # Debian's own lists are fine; the install below is the step that must succeed.
    run(["apt-get", "update"], check=False, env=env)
    run(["apt-get", "install", "-y", "--no-install-recommends", *missing], env=env)


@contextmanager
def lab_lock():
    """Serialise lab changes on this machine (two `lab up` at once would race for subnets)."""
    paths.RUN.mkdir(parents=True, exist_ok=True)
    with open(paths.LOCK_FILE, "w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pid_alive(pidfile) -> int | None:
    """The pid recorded in pidfile when that process still runs, else None."""
    try:
        pid = int(pidfile.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return pid
