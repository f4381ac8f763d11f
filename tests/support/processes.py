"""Real parts for the tests: a Mosquitto on a free loopback port with the site's shipped
settings, the gateway as a process, the systemd notify socket, and reading a store."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.daemon import broker as embedded

ROOT = Path(__file__).resolve().parent.parent.parent
SHIPPED_BROKER_CONF = ROOT / "config" / "mosquitto.conf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Broker:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    conf_path: Path

    @property
    def url(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        embedded.stop(self.process)

    def start(self) -> None:
        """(Re)start on the same port and storage, e.g. after ``stop``."""
        with embedded.log_path(self.conf_path).open("ab") as log_file:
            self.process = subprocess.Popen(
                [embedded.mosquitto_binary(), "-c", str(self.conf_path)],
                stdout=subprocess.DEVNULL, stderr=log_file)
        wait_port(self.host, self.port)


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port}")


def start_broker(directory: Path, extra: str = "") -> Broker:
    port = free_port()
    conf_path = directory / "mosquitto.conf"
    text = embedded.render_config(SHIPPED_BROKER_CONF, port, directory / "data", extra=extra)
    process = embedded.start_mosquitto(text, conf_path)
    broker = Broker("127.0.0.1", port, process, conf_path)
    try:
        wait_port(broker.host, port)
    except TimeoutError:
        broker.stop()
        raise RuntimeError(embedded.log_path(conf_path).read_text()) from None
    return broker


@dataclass
class Daemon:
    """The gateway as a separate process, as systemd runs it."""

    config: Path
    store: Path
    broker_url: str
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    # the console on a free port of its own (0: off)
    console_port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)  # e.g. NOTIFY_SOCKET

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.console_port}"

    def start(self, timeout: float = 15.0, *extra: str) -> None:
        before = self._ready_count()
        console = f"127.0.0.1:{self.console_port}" if self.console_port else "off"
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "run", "-c", str(self.config), "--broker",
                 self.broker_url, "--store", str(self.store), "--log-json", "--console",
                 console, *extra],
                stdout=log_file, stderr=log_file,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited: {self.log()[-3000:]}")
            if self._ready_count() > before:
                return
            time.sleep(0.02)
        raise TimeoutError(f"daemon not ready: {self.log()[-3000:]}")

    def _ready_count(self) -> int:
        return len(self.events("gateway_ready"))

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def terminate(self) -> int:
        assert self.process is not None
        self.process.terminate()
        return self.process.wait(timeout=15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The daemon's structured log (``--log-json``): its events, each a dict, of one name
        or all; lines that are not JSON (a traceback before logging is set up) left out."""
        found = []
        for line in self.log().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and (name is None or record.get("event") == name):
                found.append(record)
        return found


def query(store: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Read the gateway's store the way the CLI does: read-only, beside the running daemon."""
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or predicate}")


class NotifySocket:
    """What systemd listens on: a datagram socket; collects every message with its time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while self.running:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self.lock:
                self.messages.append((time.monotonic(), fields))

    def having(self, key: str) -> list[tuple[float, dict[str, str]]]:
        with self.lock:
            return [(at, m) for at, m in self.messages if key in m]

    def close(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()
