"""Where the lab keeps its configuration (in the project) and its state (on the machine)."""

import os
from pathlib import Path

#: The project checkout this CLI belongs to.
PROJECT = Path(__file__).resolve().parents[3]
LAB_DIR = PROJECT / "tools" / "lab"
LAYOUTS_DIR = LAB_DIR / "layouts"
IMAGE_RECIPE_DIR = LAB_DIR / "image"
VM_RECIPE_DIR = LAB_DIR / "vm"
PODMAN_CONF = LAB_DIR / "podman" / "containers.conf"
PODMAN_STORAGE_CONF = LAB_DIR / "podman" / "storage.conf"
ACNG_CONF_DIR = LAB_DIR / "apt-cacher-ng"

# Machine-wide state, shared by every clone of the project on this machine: podman's
# names are machine-wide too, so a lab is one thing per machine whoever starts it.
STATE = Path(os.environ.get("SCLAB_STATE_DIR", "/var/lib/stormclouds-lab"))
RUN = Path(os.environ.get("SCLAB_RUN_DIR", "/run/stormclouds-lab"))
CACHE = Path(os.environ.get("SCLAB_CACHE_DIR", "/var/cache/stormclouds-lab"))
LABS = STATE / "labs"
# The VM lab (QEMU guests, sclab.vm): apart from the podman labs' state, so podman
# `status`/`down` never meet a VM lab, and the other way round.
VM_LABS = STATE / "vms"
VM_IMAGES = STATE / "vm-images"
SSH_DIR = STATE / "ssh"
SSH_KEY = SSH_DIR / "id_ed25519"
KNOWN_HOSTS = SSH_DIR / "known_hosts"
BUILD_DIR = STATE / "build"
LOCK_FILE = RUN / "lab.lock"
ACNG_CACHE = CACHE / "apt-cacher-ng"
ACNG_LOG = Path("/var/log/stormclouds-lab")
ACNG_PID = RUN / "apt-cacher-ng.pid"
# The lab cache's own port: apart from a machine-wide apt-cacher-ng on 3142.
ACNG_PORT = 3942


def lab_state(name: str) -> Path:
    """Directory with a lab's inventory, known_hosts and layout."""
    return LABS / name


def lab_run(name: str) -> Path:
    """Directory with a lab's process ids (gone at reboot, like the processes)."""
    return RUN / "labs" / name


def vm_state(name: str) -> Path:
    """Directory with a VM lab's settings, disks, seeds, host keys and inventory."""
    return VM_LABS / name


def vm_run(name: str) -> Path:
    """Directory with a VM lab's qemu pid files, QMP sockets and apt forwarder."""
    return RUN / "vms" / name


def podman_env() -> dict:
    """The environment every podman call of the project runs with."""
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(PODMAN_CONF)
    env["CONTAINERS_STORAGE_CONF"] = str(PODMAN_STORAGE_CONF)
    return env
