"""The fixtures every layer shares: a real Mosquitto on a free loopback port, daemons made on
it (each stopped at the end), logging reset after each test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from gateway import logs
from gateway.domain import site_time
from tests.support.processes import Broker, Daemon, start_broker

# the protocol parsers' fuzz tests: a few hundred cases a test in the suite; many more with
# HYPOTHESIS_PROFILE=long (HYPOTHESIS_EXAMPLES to choose how many)
settings.register_profile("suite", max_examples=400, deadline=None)
settings.register_profile("long", max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "20000")),
                          deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = start_broker(tmp_path / "broker")
    yield b
    b.stop()


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    logs.reset()
    site_time.use(site_time.DEFAULT)  # a config loaded by a test set its site's zone


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
