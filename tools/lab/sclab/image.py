"""The node image: Debian bookworm with systemd, built with debootstrap from Debian's
packages, tagged by a hash of its recipe, and rebuilt only when the recipe changes."""

import hashlib
import os
import shutil
import subprocess
import time

from . import aptcache, paths
from .system import LabError, log, podman, run

IMAGE_REPO = "localhost/stormclouds-lab/bookworm"
SUITE = "bookworm"
#: Bump when the build procedure in this file changes in a way the recipe files do not show.
BUILDER_VERSION = "1"


def mirror() -> str:
    return os.environ.get("SCLAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def packages() -> list:
    lines = (paths.IMAGE_RECIPE_DIR / "packages.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def recipe_digest(recipe_dir, *facts) -> str:
    """A short hash of a recipe directory's files and the facts of its build (builder
    version, suite, mirror, ...): the tag an image is rebuilt under when any changes."""
    digest = hashlib.sha256()
    digest.update("".join(f"{fact}\n" for fact in facts).encode())
    for name in sorted(os.listdir(recipe_dir)):
        digest.update(name.encode() + b"\0" + (recipe_dir / name).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def recipe_hash() -> str:
    return recipe_digest(paths.IMAGE_RECIPE_DIR, BUILDER_VERSION, SUITE, mirror())


def image_ref() -> str:
    return f"{IMAGE_REPO}:{recipe_hash()}"


def exists(ref: str) -> bool:
    return podman("image", "exists", ref, check=False).returncode == 0


def ensure(rebuild: bool = False) -> str:
    """Return the image reference, building the image first when needed."""
    ref = image_ref()
    if exists(ref) and not rebuild:
        return ref
    build(ref)
    return ref


def build(ref: str) -> None:
    started = time.monotonic()
    aptcache.ensure_cache()
    rootfs = paths.BUILD_DIR / f"rootfs-{ref.rsplit(':', 1)[1]}"
    shutil.rmtree(rootfs, ignore_errors=True)
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    log(f"building node image {ref} with debootstrap ({SUITE}, {mirror()})")
    env = dict(os.environ, http_proxy=aptcache.cache_url(), DEBIAN_FRONTEND="noninteractive")
    try:
        run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(packages())}", SUITE, str(rootfs), mirror()],
            env=env,
        )
        shutil.copy(paths.IMAGE_RECIPE_DIR / "customize.sh", rootfs / "tmp" / "customize.sh")
        run(["chroot", str(rootfs), "/bin/sh", "/tmp/customize.sh"], env=env)
        (rootfs / "tmp" / "customize.sh").unlink(missing_ok=True)
        with subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE) as tar:
            proc = subprocess.run(
                [
                    "podman", "import",
                    "--change", 'CMD=["/sbin/init"]',
                    "--change", "STOPSIGNAL=SIGRTMIN+3",
                    "--change", f"LABEL=stormclouds.lab.recipe={ref.rsplit(':', 1)[1]}",
                    "-", ref,
                ],
                stdin=tar.stdout, capture_output=True, text=True, env=paths.podman_env(), check=False,
            )
            tar.stdout.close()
        if tar.returncode or proc.returncode:
            raise LabError(f"podman import of {rootfs} failed: {proc.stderr.strip()}")
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    log(f"node image {ref} built in {time.monotonic() - started:.0f} s")


def prune() -> list:
    """Remove node images of older recipes that no container uses."""
    current = image_ref()
    removed = []
    for image in podman("images", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPO).stdout.split():
        if image != current and podman("rmi", image, check=False).returncode == 0:
            removed.append(image)
    return removed
