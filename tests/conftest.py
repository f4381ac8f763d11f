"""Shared fixtures: a real Mosquitto on a free loopback port, with the site's shipped settings."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gateway import logs
from gateway.daemon import broker as embedded

ROOT = Path(__file__).resolve().parent.parent
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


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = start_broker(tmp_path / "broker")
    yield b
    b.stop()


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    logs.reset()


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
        if not self.log_path.exists():
            return 0
        return self.log().count('"gateway_ready"')

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def terminate(self) -> int:
        assert self.process is not None
        self.process.terminate()
        return self.process.wait(timeout=15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


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


@pytest.fixture
def spawn(tmp_path: Path, broker: Broker) -> Iterator[Callable[..., Daemon]]:
    """Make daemons on the test's broker (default: the demo site over MQTT only, see
    ``simulators.sites``); every one made is killed at the end."""
    from simulators.sites import mqtt_only_demo

    made: list[Daemon] = []

    def make(config: Path | None = None, *, store: Path | None = None,
             env: dict[str, str] | None = None) -> Daemon:
        d = Daemon(config or mqtt_only_demo(tmp_path), store or tmp_path / "store.sqlite3",
                   broker.url, tmp_path / f"daemon{len(made)}.log", env=env or {})
        made.append(d)
        return d

    yield make
    for d in made:
        if d.process is not None and d.process.poll() is None:
            d.process.kill()
            d.process.wait()
