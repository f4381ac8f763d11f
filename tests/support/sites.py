"""The sites and payloads the tests use: the engine's small site of its own, the demo site over
MQTT only, a fire detector's message, a storm of them."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from gateway.config.site import SiteConfig, load_config
from simulators.devices import Publisher
from simulators.sites import mqtt_only_demo
from tests.support.processes import Broker

SMALL_SITE = Path(__file__).parent / "sites" / "small.yaml"


def small_site() -> SiteConfig:
    """The site the engine, workflow, playbook and report tests run on (sites/small.yaml, with
    the shipped playbooks): theirs, so that editing the demo site changes none of them."""
    return load_config(SMALL_SITE, environ={})


def site_files(tmp_path: Path, *, deadline: str | None = None) -> Path:
    """The demo site over MQTT only (see ``simulators.sites.mqtt_only_demo``): these tests are
    about the MQTT pipeline; tests/e2e/test_modbus.py runs the whole site with its simulators."""
    return mqtt_only_demo(tmp_path, deadline=deadline)


def fire_payload(device: str = "SD-01", state: str = "fire", **extra: object) -> bytes:
    return json.dumps({"state": state, "device": device, **extra}).encode()


def storm(broker: Broker, total: int, done: threading.Event | None = None) -> threading.Thread:
    """Publish ``total`` fire alarms (device SD-nnnn, ``seq`` n) across both buildings from a
    thread of their own; ``done`` is set once the last is written."""
    def publish_all() -> None:
        with Publisher(broker.host, broker.port) as pub:
            for i in range(total):
                building, floor, zone = 1 + i % 2, 1 + (i // 2) % 18, 1 + (i // 36) % 4
                pub.publish(f"demo/fire/b{building}/f{floor}/z{zone}",
                            fire_payload(f"SD-{i:04d}", seq=i))
        if done is not None:
            done.set()

    thread = threading.Thread(target=publish_all, daemon=True)
    thread.start()
    return thread


def scenario_file(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def simulate(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """``python -m simulators ARGS`` (the simulators' command line), its output kept."""
    return subprocess.run([sys.executable, "-m", "simulators", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)
