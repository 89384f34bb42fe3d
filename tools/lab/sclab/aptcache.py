"""The lab's package cache: one apt-cacher-ng per machine on loopback, and per lab
network a small forwarder bound to that network's gateway address.

Why this shape: nodes sit on --internal networks and must reach nothing but the lab,
so the only way out for apt is the gateway address on the host. One cache shared by
every lab keeps converges fast; a forwarder per network means a lab coming or going
never restarts the cache under another lab's apt-get. The port is the lab's own
(not apt-cacher-ng's usual 3142), so a cache the machine may run for itself, which
listens on every address, neither answers for the lab nor blocks its forwarders.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

from . import paths
from .system import LabError, log, pid_alive, run

ACNG_USER = "apt-cacher-ng"


def cache_url() -> str:
    return f"http://127.0.0.1:{paths.ACNG_PORT}"


def _answering(timeout=1.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", paths.ACNG_PORT), timeout=timeout):
            return True
    except OSError:
        return False


def _prepare_dirs():
    """Cache, log and run directories owned by the cache's user, with the project's
    configuration copied in (the checkout may sit where that user cannot read)."""
    conf_dir = paths.RUN / "acng"
    for directory in (paths.ACNG_CACHE, paths.ACNG_LOG, conf_dir):
        directory.mkdir(parents=True, exist_ok=True)
    # The cache's user must traverse the run directory (another tool, such as
    # Ansible making its ssh control directory, may have created it 0700).
    paths.RUN.chmod(0o755)
    shutil.copy(paths.ACNG_CONF_DIR / "acng.conf", conf_dir / "acng.conf")
    run(["chown", "-R", f"{ACNG_USER}:{ACNG_USER}", str(paths.ACNG_CACHE), str(paths.ACNG_LOG), str(conf_dir)])
    return conf_dir


def ensure_cache() -> None:
    """Start the machine's lab apt cache unless it already runs."""
    if pid_alive(paths.ACNG_PID) and _answering():
        return
    stop_cache()
    if _answering():
        raise LabError(f"something else listens on 127.0.0.1:{paths.ACNG_PORT}, the lab's apt cache port")
    conf_dir = _prepare_dirs()
    log(f"starting the lab's apt cache (apt-cacher-ng on 127.0.0.1:{paths.ACNG_PORT})")
    # setpriv execs apt-cacher-ng in the foreground, so the child's pid is the cache's.
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [
            "setpriv", f"--reuid={ACNG_USER}", f"--regid={ACNG_USER}", "--init-groups",
            "/usr/sbin/apt-cacher-ng", "-c", str(conf_dir),
            f"CacheDir={paths.ACNG_CACHE}", f"LogDir={paths.ACNG_LOG}",
            f"Port={paths.ACNG_PORT}", "BindAddress=127.0.0.1",
            f"SocketPath={conf_dir / 'socket'}",
            "ForeGround=1",
        ],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    # Recorded at once, so an interrupted start leaves nothing `down` cannot find.
    paths.ACNG_PID.write_text(f"{proc.pid}\n", encoding="utf-8")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and proc.poll() is None:
        if _answering():
            return
        time.sleep(0.2)
    stop_cache()
    raise LabError(f"apt-cacher-ng did not answer on {cache_url()}; see {paths.ACNG_LOG}/apt-cacher.err")


def stop_cache() -> None:
    _stop_group(paths.ACNG_PID)


def forwarder_pidfile(lab: str, network: str):
    return paths.lab_run(lab) / f"apt-forwarder-{network}.pid"


def ensure_forwarder(lab: str, network: str, gateway: str, pidfile=None) -> None:
    """Make the cache reachable from one lab network at gateway:ACNG_PORT (pidfile:
    where the forwarder's pid goes, default the podman lab's run directory)."""
    pidfile = pidfile or forwarder_pidfile(lab, network)
    if pid_alive(pidfile):
        return
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [
            "socat",
            f"TCP-LISTEN:{paths.ACNG_PORT},bind={gateway},reuseaddr,fork",
            f"TCP:127.0.0.1:{paths.ACNG_PORT}",
        ],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    pidfile.write_text(f"{proc.pid}\n", encoding="utf-8")
    time.sleep(0.2)
    if proc.poll() is not None:
        pidfile.unlink(missing_ok=True)
        raise LabError(f"could not listen on {gateway}:{paths.ACNG_PORT} for lab {lab} (is the address in use?)")


def stop_forwarder(pidfile) -> None:
    """Stop the forwarder recorded in pidfile (the VM lab keeps its own)."""
    _stop_group(pidfile)


def stop_forwarders(lab: str) -> None:
    run_dir = paths.lab_run(lab)
    if run_dir.exists():
        for pidfile in run_dir.glob("apt-forwarder-*.pid"):
            _stop_group(pidfile)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except OSError:
        return False
    return True


def _stop_group(pidfile) -> None:
    """Stop a process started with its own session, and every child it forked
    (socat forks one per connection)."""
    pid = pid_alive(pidfile)
    if pid:
        os.killpg(pid, signal.SIGTERM)
        for _attempt in range(50):
            if not _group_alive(pid):
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
