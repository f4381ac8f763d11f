"""Scenarios replayed against the daemon as a process, recorded and replayed again."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config.site import SiteConfig, load_config
from gateway.domain.incident import Incident
from gateway.points.decode import decode
from gateway.store import open_records
from simulators.devices import Publisher
from simulators.scenario_load import load_scenario
from tests.support.processes import ROOT, Broker, Daemon, free_port
from tests.support.sites import scenario_file, simulate

SHIPPED = sorted((ROOT / "simulators" / "scenarios").glob("*.yaml"))


def site_files(tmp_path: Path) -> Path:
    """The demo site with its own playbooks, broker section and free Modbus ports."""
    playbooks = tmp_path / "playbooks"
    shutil.copytree(ROOT / "playbooks", playbooks)
    text = (ROOT / "config" / "site.yaml").read_text()
    text = text.replace("playbooks: ../playbooks", f"playbooks: {playbooks}")
    for port in ("15020", "15021", "15022"):
        # devices run by the replay: the gateway finds them again within 2 s
        text = text.replace(f"port: {port}\n", f"port: {free_port()}\n    backoff_max: 2s\n")
    text += ("\nbroker:\n  host: 127.0.0.1\n  port: 1883\n"
             f"  client_id: gw-test-{uuid.uuid4().hex[:6]}\n")
    config = tmp_path / "site.yaml"
    config.write_text(text)
    return config


@pytest.fixture
def daemon(tmp_path: Path, broker: Broker) -> Iterator[Daemon]:
    d = Daemon(site_files(tmp_path), tmp_path / "store.sqlite3", broker.url,
               tmp_path / "daemon.log")
    d.start()
    yield d
    if d.process is not None and d.process.poll() is None:
        d.terminate()


def replay(daemon: Daemon, scenario: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return simulate("scenario", str(scenario), "-c", str(daemon.config), "--broker",
                    daemon.broker_url, "--store", str(daemon.store), *extra)


FIRE = """name: fire-test
steps:
  - {at: 0s, point: B1-F12-Z3, state: alarm, device: SD-01}
  - {at: 20s, point: B1-F12-MCP3, state: alarm}
expect:
  within: 15s
  incidents: [{type: fire, stage: confirmed, building: 1, count: 1}]
  actions: [{action: elevator_recall, actuator: ELV-B1-L1}, {action: elevator_recall, count: 2}]
  prompts: [call_119, start_pa]
  signals: [{point: B1-F12-*, state: alarm, count: 2}]
"""


@pytest.mark.broker
@pytest.mark.slow
def test_fire_scenario_replayed_at_speed_20_passes(tmp_path: Path, daemon: Daemon) -> None:
    path = scenario_file(tmp_path, FIRE)
    started = time.monotonic()
    result = replay(daemon, path, "--speed", "20", "--no-devices")
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 20, "20 s of scenario at speed 20"
    assert "result: PASS (6 expectations met)" in result.stdout
    assert re.search(r"PASS  incident fire, stage confirmed, building 1: 1 \(expected exactly "
                     r"1\): INC-\d+", result.stdout)
    with open_records(daemon.store, readonly=True) as records:
        (incident,) = [i for i in records.list_incidents() if i.type == "fire"]
    assert (incident.stage, incident.drill) == ("confirmed", False)


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenario_passes_with_the_devices_run_by_the_replay(path: Path,
                                                                    daemon: Daemon) -> None:
    result = replay(daemon, path, "--speed", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "result: PASS" in result.stdout


@pytest.mark.broker
@pytest.mark.slow
def test_an_unmet_expectation_fails_with_its_line(tmp_path: Path, daemon: Daemon) -> None:
    path = scenario_file(tmp_path, """name: single-detector
steps:
  - {at: 0s, point: B2-F3-Z1, state: alarm, device: SD-01}
expect:
  within: 2s
  incidents:
    - {type: fire, stage: unverified, count: 1}
    - {type: fire, stage: confirmed, count: 1}
""")
    result = replay(daemon, path, "--speed", "20", "--no-devices")
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"PASS  incident fire, stage unverified: 1 \(expected exactly 1\)",
                     result.stdout)
    assert re.search(r"FAIL  incident fire, stage confirmed: 0 \(expected exactly 1\); fire "
                     r"incidents since the start: INC-\d+ unverified B2", result.stdout)
    assert "result: FAIL (1 of 2 expectations not met)" in result.stdout


@pytest.mark.broker
@pytest.mark.slow
def test_an_old_incident_in_the_store_does_not_count(tmp_path: Path, broker: Broker,
                                                     daemon: Daemon) -> None:
    with Publisher(broker.host, broker.port) as pub:
        pub.publish("demo/fire/b1/f2/z2", b'{"state": "fire", "device": "SD-01"}')
        pub.publish("demo/fire/b1/f2/mcp2", b'{"state": "fire"}')
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _incidents(daemon):
        time.sleep(0.05)
    assert _incidents(daemon)
    path = scenario_file(tmp_path, """name: nothing-new
steps:
  - {at: 0s, point: W-PUMP-01, state: normal}
expect:
  within: 3s
  incidents: [{type: fire, count: 0}]
  signals: [{point: W-PUMP-01, state: normal, count: 1}]
""")
    result = replay(daemon, path, "--no-devices")
    assert result.returncode == 0, result.stdout + result.stderr


def _incidents(daemon: Daemon) -> list[Incident]:
    if not daemon.store.exists():
        return []
    with open_records(daemon.store, readonly=True) as records:
        return records.list_incidents()


@pytest.mark.broker
@pytest.mark.slow
def test_expectations_need_the_daemon(tmp_path: Path, broker: Broker) -> None:
    config = site_files(tmp_path)
    path = scenario_file(tmp_path, FIRE)
    result = simulate("scenario", str(path), "-c", str(config), "--broker", broker.url,
                      "--store", str(tmp_path / "none.sqlite3"), "--no-devices")
    assert result.returncode == 9, result.stdout + result.stderr
    assert "not running" in result.stderr


class Listener:
    """Every message on the given topics, decoded later."""

    def __init__(self, broker: Broker, topics: list[str]) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"listen-{uuid.uuid4().hex[:6]}")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.subscribe([(t, 1) for t in topics])
        self.client.loop_start()
        assert subscribed.wait(5)

    def _on_message(self, client: object, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def wait(self, count: int, timeout: float = 10.0) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.messages)} of {count} messages: {self.messages}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


RECORDED = [
    ("demo/fire/b1/f12/z3", b'{"state": "fire", "device": "SD-07", "seq": 1}'),
    ("demo/fire/b1/f12/mcp3", b'{"state": "alarm"}'),
    ("zigbee2mqtt/b1/pump_room/leak_1", b'{"water_leak": true, "battery": 80}'),
    ("zigbee2mqtt/garage/leak_2", b'{"water_leak": false, "tamper": true}'),
    ("zigbee2mqtt/elevator/b2-l1-button", b'{"action": "emergency"}'),
    ("demo/fire/b1/f12/z3", b'{"state": "smoke-ish"}'),
    ("demo/fire/b2/f1/z1", b"\xff\xfe not utf-8"),
    ("demo/fire/b1/f12/z3", b'{"state": "restore", "device": "SD-07"}'),
]


def _meaning(site: SiteConfig, topic: str, payload: bytes) -> tuple[str, str, str] | bytes:
    """What the gateway reads in a message: (point, state, device), or the bytes if nothing."""
    (point,) = site.points_by_topic()[topic]
    assert point.mqtt is not None
    try:
        reading = decode(point.mqtt, payload)
    except Exception:  # noqa: BLE001 - undecodable messages are compared byte for byte
        return payload
    return point.id, str(reading.state), reading.device


@pytest.mark.broker
@pytest.mark.slow
def test_record_then_replay_round_trip(tmp_path: Path, broker: Broker) -> None:
    config = site_files(tmp_path)
    site = load_config(config, broker=broker.url)
    out = tmp_path / "recorded.yaml"
    with Publisher(broker.host, broker.port) as pub:  # retained before: not traffic
        pub.publish("zigbee2mqtt/garage/leak_3", b'{"water_leak": false}', retain=True)
    recorder = subprocess.Popen(
        [sys.executable, "-m", "simulators", "record", "-c", str(config), "--broker",
         broker.url, "--out", str(out), "--seconds", "4", "--name", "round-trip"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert recorder.stdout is not None
        first = recorder.stdout.readline()
        assert first.startswith("recording "), first + (recorder.stderr.read()
                                                         if recorder.stderr else "")
        with Publisher(broker.host, broker.port) as pub:
            for topic, payload in RECORDED:
                pub.publish(topic, payload)
                time.sleep(0.1)
        stdout, stderr = recorder.communicate(timeout=30)
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait()
    assert recorder.returncode == 0, stderr
    assert f"wrote {out}: 8 steps (2 raw); 1 retained messages skipped" in stdout
    text = out.read_text()
    assert "name: round-trip" in text
    assert "point: B1-F12-Z3, state: alarm, device: SD-07" in text
    assert "payload_hex: fffe206e6f74207574662d38" in text
    scenario = load_scenario(out, site)
    ats = [s.at for s in scenario.steps]
    assert ats[0] == 0.0
    assert ats == sorted(ats)
    assert 0.5 < ats[-1] < 3.0

    listener = Listener(broker, sorted({t for t, _ in RECORDED}))
    try:
        result = simulate("scenario", str(out), "-c", str(config), "--broker", broker.url,
                          "--no-devices", "--speed", "4")
        assert result.returncode == 0, result.stdout + result.stderr
        received = listener.wait(len(RECORDED))
    finally:
        listener.close()
    assert [_meaning(site, t, p) for t, p in received] == [
        _meaning(site, t, p) for t, p in RECORDED]
    assert received[5] == RECORDED[5]  # undecodable: replayed byte for byte
    assert received[6] == RECORDED[6]


@pytest.mark.broker
@pytest.mark.slow
def test_a_drill_scenario_withholds_writes_and_ends_the_drill(tmp_path: Path, broker: Broker,
                                                               daemon: Daemon) -> None:
    path = scenario_file(tmp_path, """name: drill-test
drill: true
steps:
  - {at: 0s, point: B1-F4-Z2, state: alarm, device: SD-01}
  - {at: 4s, point: B1-F4-Z2, state: alarm, device: SD-02}
expect:
  within: 15s
  incidents: [{type: fire, stage: confirmed, drill: true, count: 1}]
  actions: [{action: elevator_recall, status: withheld, count: 2}]
  signals: [{point: B1-F4-Z2, drill: true, count: 2}]
  no_writes: true
""")
    result = replay(daemon, path, "--speed", "4", "--no-devices")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "drill started" in result.stdout
    assert "drill stopped: drill off" in result.stdout
    # the drill is over: the next alarm is real
    with Publisher(broker.host, broker.port) as pub:
        pub.publish("demo/fire/b2/f1/z1", b'{"state": "fire", "device": "SD-01"}')
    _wait(lambda: any(not i.drill for i in _incidents(daemon)))


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")
