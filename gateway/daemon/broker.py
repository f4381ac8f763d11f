"""The embedded broker: a Mosquitto process the gateway starts when no broker is configured.

It runs with the site's shipped broker settings (``config/mosquitto.conf``: deep per-client
queue, TCP_NODELAY, persistence) and only the listener, persistence folder and logging replaced,
bound to loopback. The same rendering is used by the test fixtures, so tests run against the
settings a site runs.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import subprocess
from pathlib import Path

import structlog

from gateway.errors import GatewayError

log = structlog.get_logger("gateway.broker")

_OVERRIDDEN = {"user", "listener", "port", "bind_address", "persistence_location", "pid_file",
               "log_dest", "log_type", "password_file", "acl_file", "allow_anonymous",
               "cafile", "certfile", "keyfile", "require_certificate", "include_dir"}


def render_config(base: Path, port: int, data_dir: Path, *, extra: str = "") -> str:
    """The shipped settings with this process's listener, storage and logging."""
    kept = []
    for line in base.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if words and not words[0].startswith("#") and words[0] in _OVERRIDDEN:
            continue
        kept.append(line)
    data_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        # Started as root, mosquitto switches to its own user: that clears the parent-death
        # signal (the broker would outlive a killed gateway) and it could not write its
        # persistence file here. A loopback broker of our own keeps our user.
        kept.append("user root")
    kept += [
        "",
        "# --- set by the gateway for this process ---",
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        f"persistence_location {data_dir}/",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
    ]
    if extra:
        kept.append(extra)
    return "\n".join(kept) + "\n"


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()),
        None)
    if found is None:
        raise GatewayError("no broker configured and mosquitto is not installed: install it "
                           "(apt-get install mosquitto) or configure 'broker:' in the site config")
    return found


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: if the gateway is killed (even with SIGKILL) its broker goes too,
    # instead of holding the port against the restarted gateway.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)


def start_mosquitto(conf_text: str, conf_path: Path) -> subprocess.Popen[bytes]:
    """Start mosquitto; its log (errors and warnings) goes to ``mosquitto.log`` beside the conf."""
    conf_path.parent.mkdir(parents=True, exist_ok=True)
    conf_path.write_text(conf_text, encoding="utf-8")
    with log_path(conf_path).open("ab") as log_file:
        return subprocess.Popen([mosquitto_binary(), "-c", str(conf_path)],
                                stdout=subprocess.DEVNULL, stderr=log_file,
                                preexec_fn=_die_with_parent)  # noqa: PLW1509 - started before any thread


def log_path(conf_path: Path) -> Path:
    return conf_path.with_name("mosquitto.log")


async def wait_listening(host: str, port: int, process: subprocess.Popen[bytes],
                         conf_path: Path, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        if process.poll() is not None:
            err = log_path(conf_path).read_text(errors="replace")
            raise GatewayError(f"embedded broker exited at start ({process.returncode}): "
                               f"{err.strip()[-500:]}")
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if loop.time() > deadline:
                raise GatewayError(f"embedded broker did not listen on {host}:{port} "
                                   f"within {within:.0f}s") from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
