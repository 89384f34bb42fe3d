"""The lab's package cache: one apt-cacher-ng per machine on loopback, and per lab
network a small forwarder bound to that network's gateway address.

Why this shape: nodes sit on --internal networks and must reach nothing but the lab,
so the only way out for apt is the gateway address on the host. One cache shared by
every lab keeps converges fast; a forwarder per network means a lab coming or going
never restarts the cache under another lab's apt-get.
"""

import os
import signal
import socket
import subprocess
import time

from . import paths
from .system import LabError, log, pid_alive, run

ACNG_USER = "apt-cacher-ng"


def _owned_dirs() -> None:
    for directory in (paths.ACNG_CACHE, paths.ACNG_LOG, paths.RUN):
        directory.mkdir(parents=True, exist_ok=True)
    # The cache runs unprivileged: it only needs its cache and log directories.
    run(["chown", "-R", f"{ACNG_USER}:{ACNG_USER}", str(paths.ACNG_CACHE), str(paths.ACNG_LOG)])


def cache_url() -> str:
    return f"http://127.0.0.1:{paths.ACNG_PORT}"


def _answering(timeout=1.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", paths.ACNG_PORT), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_cache() -> None:
    """Start the machine's lab apt cache unless it already runs."""
    if pid_alive(paths.ACNG_PID) and _answering():
        return
    _owned_dirs()
    socket_dir = paths.RUN / "acng"
    socket_dir.mkdir(parents=True, exist_ok=True)
    run(["chown", f"{ACNG_USER}:{ACNG_USER}", str(socket_dir)])
    log("starting the lab's apt cache (apt-cacher-ng on 127.0.0.1)")
    # setpriv execs apt-cacher-ng in the foreground, so the child's pid is the cache's.
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [
            "setpriv", f"--reuid={ACNG_USER}", f"--regid={ACNG_USER}", "--init-groups",
            "/usr/sbin/apt-cacher-ng", "-c", str(paths.ACNG_CONF_DIR),
            f"CacheDir={paths.ACNG_CACHE}", f"LogDir={paths.ACNG_LOG}",
            f"Port={paths.ACNG_PORT}", "BindAddress=127.0.0.1",
            f"SocketPath={socket_dir / 'socket'}",
            "ForeGround=1",
        ],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if _answering():
            paths.ACNG_PID.write_text(f"{proc.pid}\n", encoding="utf-8")
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise LabError(f"apt-cacher-ng did not answer on {cache_url()}; see {paths.ACNG_LOG}/apt-cacher.err")


def stop_cache() -> None:
    _stop_pid(paths.ACNG_PID)


def forwarder_pidfile(lab: str, network: str):
    return paths.lab_run(lab) / f"apt-forwarder-{network}.pid"


def ensure_forwarder(lab: str, network: str, gateway: str) -> None:
    """Make the cache reachable from one lab network at gateway:3142."""
    pidfile = forwarder_pidfile(lab, network)
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
    time.sleep(0.2)
    if proc.poll() is not None:
        raise LabError(f"could not listen on {gateway}:{paths.ACNG_PORT} for lab {lab} (is the address in use?)")
    pidfile.write_text(f"{proc.pid}\n", encoding="utf-8")


def stop_forwarders(lab: str) -> None:
    run_dir = paths.lab_run(lab)
    for pidfile in run_dir.glob("apt-forwarder-*.pid"):
        _stop_pid(pidfile)


def _stop_pid(pidfile) -> None:
    pid = pid_alive(pidfile)
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _attempt in range(50):
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
