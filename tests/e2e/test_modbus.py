"""The whole demo site with its Modbus devices: real pymodbus servers, real Mosquitto, the
gateway as a process. The simulators run on an event loop in a thread of the test."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from gateway.config.site import load_config
from simulators.devices import Publisher
from simulators.modbus_devices import ModbusDeviceServer, build_site_simulators
from simulators.modbus_elevator import ElevatorCar
from simulators.modbus_gas import GasDetector
from simulators.modbus_valve import ShutOffValve
from tests.support.faults import health
from tests.support.processes import ROOT, Broker, Daemon, free_port, query, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]
T = TypeVar("T")


class Devices:
    """The site's simulated Modbus devices on a loop of their own."""

    def __init__(self, config: Path, **timing: float) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        site = load_config(config)
        self.servers: dict[str, ModbusDeviceServer] = build_site_simulators(site, **timing)
        for server in self.servers.values():
            self.run(server.start())

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def call(self, fn: Callable[[], T]) -> T:
        future: Future[T] = Future()

        def apply() -> None:
            try:
                future.set_result(fn())
            except Exception as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(apply)
        return future.result(10)

    def device(self, connection: str, unit: int) -> Any:
        return self.servers[connection].devices[unit]

    def close(self) -> None:
        for server in self.servers.values():
            self.run(server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def site_with_devices(tmp_path: Path, *, feedback_timeout: str | None = None) -> Path:
    """The demo site with its Modbus connections on free loopback ports."""
    playbooks = tmp_path / "playbooks"
    shutil.copytree(ROOT / "playbooks", playbooks)
    site = yaml.safe_load((ROOT / "config" / "site.yaml").read_text())
    site["playbooks"] = str(playbooks)
    for connection in site["modbus"]:
        connection["port"] = free_port()
    if feedback_timeout:
        for actuator in site["actuators"]:
            for command in actuator["commands"].values():
                if "feedback" in command:
                    command["feedback"]["timeout"] = feedback_timeout
    site["broker"] = {"host": "127.0.0.1", "port": 1883,
                      "client_id": f"gw-test-{uuid.uuid4().hex[:6]}"}
    config = tmp_path / "site.yaml"
    config.write_text(yaml.safe_dump(site, allow_unicode=True))
    return config


@contextlib.contextmanager
def running_plant(tmp_path: Path, broker: Broker,
                  change: Callable[[dict[str, Any]], None] | None = None,
                  ) -> Iterator[tuple[Daemon, Devices]]:
    """The whole site with its simulated devices and the daemon on ``broker`` (``change``: an
    edit of the site config first)."""
    config = site_with_devices(tmp_path, feedback_timeout="6s")
    if change is not None:
        site = yaml.safe_load(config.read_text())
        change(site)
        config.write_text(yaml.safe_dump(site, allow_unicode=True))
    devices = Devices(config, seconds_per_floor=0.15, door_seconds=0.3,
                      valve_travel_seconds=0.5)
    daemon = Daemon(config, tmp_path / "store.sqlite3", broker.url, tmp_path / "daemon.log")
    daemon.start()
    try:
        yield daemon, devices
    finally:
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.terminate()
        devices.close()


@pytest.fixture
def plant(tmp_path: Path, broker: Broker) -> Iterator[tuple[Daemon, Devices]]:
    with running_plant(tmp_path, broker) as made:
        yield made


def point_state(store: Path, point_id: str) -> str | None:
    rows = query(store, "SELECT state FROM points WHERE id = ?", point_id)
    return rows[0][0] if rows else None


def incident(store: Path, incident_type: str) -> dict[str, Any]:
    """The one incident of a type, or an empty mapping while there is none yet."""
    rows = query(store, "SELECT snapshot FROM incidents WHERE type = ?", incident_type)
    assert len(rows) <= 1, rows
    return json.loads(rows[0][0]) if rows else {}  # type: ignore[no-any-return]


def action_states(store: Path, incident_type: str) -> dict[str, str]:
    return {a["actuator_id"]: a["status"]
            for a in incident(store, incident_type).get("actions", [])}


def fire_in_building_2(broker: Broker) -> None:
    with Publisher(broker.host, broker.port) as pub:
        for device in ("SD-01", "SD-02"):
            pub.publish("demo/fire/b2/f3/z1", json.dumps({"state": "fire",
                                                          "device": device}).encode())


def test_gas_ramp_goes_prealarm_then_alarm_then_back_to_normal_with_the_restore_on_record(
        plant: tuple[Daemon, Devices]) -> None:
    daemon, devices = plant
    wait_until(lambda: point_state(daemon.store, "G-B1-02") == "normal", what="first poll")
    gas: GasDetector = devices.device("gas-controller", 2)
    devices.call(lambda: gas.ramp(60.0, 2.0))
    wait_until(lambda: point_state(daemon.store, "G-B1-02") == "alarm", what="level 2")
    states = [s for (s,) in query(daemon.store, "SELECT state FROM signals WHERE point_id ="
                                  " 'G-B1-02' ORDER BY id")]
    assert states == ["normal", "prealarm", "alarm"]
    gas_incident = incident(daemon.store, "gas_leak")
    assert gas_incident["stage"] == "level2"
    wait_until(lambda: action_states(daemon.store, "gas_leak") == {"V-GAS-B1-01": "done"},
               what="the shut-off valve confirms it is closed")
    valve: ShutOffValve = devices.device("valves", 1)
    assert [w.address for w in valve.writes] == [0]
    # every effect of a Modbus reading leaves right after its commit, as MQTT-caused ones do:
    # the write and the incident's events, each done within a fraction of a second
    wait_until(lambda: query(daemon.store, "SELECT count(*) FROM outbox WHERE status ="
                             " 'pending'") == [(0,)], what="the outbox flushed")
    delays = [done - created for created, done in query(
        daemon.store, "SELECT created_at, done_at FROM outbox WHERE incident_id = ?",
        gas_incident["id"])]
    assert delays
    assert max(delays) < 0.5, delays
    devices.call(lambda: gas.ramp(22.0, 1.0))  # below 25, but inside the 5 %LEL dead-band
    time.sleep(2.0)
    assert point_state(daemon.store, "G-B1-02") == "prealarm"
    devices.call(lambda: gas.ramp(5.0, 1.0))
    wait_until(lambda: point_state(daemon.store, "G-B1-02") == "normal", what="restore")
    restored = incident(daemon.store, "gas_leak")
    assert restored["status"] == "open"  # shown restored, not silently closed
    assert [d["state"] for d in restored["devices"] if d["point_id"] == "G-B1-02"] == ["normal"]
    kinds = [k for (k,) in query(daemon.store, "SELECT kind FROM events WHERE incident_id = ?"
                                 " ORDER BY seq", restored["id"])]
    assert "signal" in kinds


def test_a_dead_unit_goes_offline_alone_and_comes_back_by_itself(
        plant: tuple[Daemon, Devices]) -> None:
    daemon, devices = plant
    wait_until(lambda: point_state(daemon.store, "G-B1-03") == "normal", what="first poll")
    server = devices.servers["gas-controller"]
    devices.call(lambda: server.set_unresponsive(2, True))
    wait_until(lambda: point_state(daemon.store, "G-B1-02") == "offline", what="unit 2 offline")
    assert point_state(daemon.store, "G-B1-02-FAULT") == "offline"
    # the others keep their poll rate: a change on unit 3 arrives as quickly as ever
    gas3: GasDetector = devices.device("gas-controller", 3)
    started = time.monotonic()
    devices.call(lambda: gas3.set_concentration(30.0))
    wait_until(lambda: point_state(daemon.store, "G-B1-03") == "prealarm", timeout=5,
               what="unit 3 still polled")
    assert time.monotonic() - started < 2.5
    assert point_state(daemon.store, "G-B1-01") == "normal"
    # one incident for the silent unit, listing the detector's two points
    (snapshot,), = query(daemon.store, "SELECT snapshot FROM incidents WHERE type ="
                         " 'device_fault'")
    assert sorted(d["point_id"] for d in json.loads(snapshot)["devices"]) == [
        "G-B1-02", "G-B1-02-FAULT"]
    status, body = health(daemon)
    assert (status, body["status"]) == (200, "degraded")
    assert body["degraded"] == ["Modbus unit gas-controller/2 not answering"]
    devices.call(lambda: server.set_unresponsive(2, False))
    wait_until(lambda: point_state(daemon.store, "G-B1-02") == "normal", timeout=40,
               what="unit 2 back by itself")
    log = daemon.log()
    assert log.count('"modbus_unit_offline"') == 1
    assert log.count('"modbus_unit_online"') == 1
    wait_until(lambda: health(daemon)[1]["status"] == "ok", what="healthy again")


def test_confirmed_fire_recalls_the_modbus_elevators_and_they_confirm(
        plant: tuple[Daemon, Devices], broker: Broker) -> None:
    daemon, devices = plant
    wait_until(lambda: point_state(daemon.store, "ELV-B2-L1-RECALLED") == "normal",
               what="first poll")
    fire_in_building_2(broker)
    wait_until(lambda: action_states(daemon.store, "fire")
               == {"ELV-B2-L1": "done", "ELV-B2-L2": "done"}, what="both cars recalled")
    for unit in (1, 2):
        car: ElevatorCar = devices.device("elevators", unit)
        assert devices.call(lambda car=car: (car.floor, car.recall_complete)) == (1, True)
    done = [json.loads(d) for (d,) in query(daemon.store, "SELECT data FROM events WHERE"
                                           " kind = 'action_done'")]
    assert {d["actuator"] for d in done} == {"ELV-B2-L1", "ELV-B2-L2"}


def test_an_elevator_that_ignores_the_recall_fails_the_action_and_escalates(
        plant: tuple[Daemon, Devices], broker: Broker) -> None:
    daemon, devices = plant
    wait_until(lambda: point_state(daemon.store, "ELV-B2-L2-RECALLED") == "normal",
               what="first poll")
    car: ElevatorCar = devices.device("elevators", 2)
    devices.call(lambda: car.set_behaviour("ignore_recall"))
    fire_in_building_2(broker)
    wait_until(lambda: action_states(daemon.store, "fire")
               == {"ELV-B2-L1": "done", "ELV-B2-L2": "failed"}, timeout=20,
               what="L1 done, L2 failed after its 6 s")
    escalations = [json.loads(d) for (d,) in query(daemon.store, "SELECT data FROM events"
                                                  " WHERE kind = 'escalated'")]
    assert {"reason": "action_failed", "action": "elevator_recall:ELV-B2-L2"}.items() <= \
        next(e for e in escalations if e.get("reason") == "action_failed").items()
    assert len(car.writes) == 1  # the write reached it; it just did not act


def test_drill_runs_the_playbook_but_no_simulated_actuator_receives_a_write(
        plant: tuple[Daemon, Devices], broker: Broker) -> None:
    daemon, devices = plant
    drill = subprocess.run([sys.executable, "-m", "gateway", "drill", "-c", str(daemon.config),
                            "--store", str(daemon.store), "start", "--minutes", "5",
                            "--building", "2", "--by", "测试员"], capture_output=True, text=True,
                           check=False)
    assert drill.returncode == 0, drill.stderr
    fire_in_building_2(broker)
    wait_until(lambda: set(action_states(daemon.store, "fire").values()) == {"withheld"},
               what="actions withheld")
    fire = incident(daemon.store, "fire")
    assert fire["drill"] is True
    assert fire["stage"] == "confirmed"
    time.sleep(1.0)
    for unit in (1, 2):
        assert devices.device("elevators", unit).writes == []
    assert query(daemon.store, "SELECT count(*) FROM outbox WHERE kind = 'command' AND status"
                 " = 'withheld'")[0][0] == 2


def test_the_gateway_adapter_polls_and_writes_over_rtu_on_a_serial_line_pair() -> None:
    from adapters.modbus import ModbusLink
    from adapters.modbus_values import BlockRead, LinkSettings, ReadBlock, UnitHealth
    from gateway.config.modbus import ModbusBindingModel, compile_binding
    from gateway.points.decode_modbus import decode_modbus
    from simulators.modbus_host import VirtualSerialPair

    concentration = compile_binding(ModbusBindingModel.model_validate(
        {"connection": "rtu", "unit": 7, "address": 2, "type": "float32",
         "word_order": "little"}))

    async def until(predicate: Callable[[], bool]) -> None:
        for _ in range(60):
            if predicate():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("timed out")

    async def scenario() -> None:
        async with VirtualSerialPair() as line:
            detector = GasDetector(7, concentration=12.5)
            valve = ShutOffValve(8, valve="water", travel_seconds=0.05)
            async with ModbusDeviceServer("rtu", [detector, valve], transport="rtu",
                                          serial_port=line.server_port, baudrate=19200):
                reports: list[object] = []
                link = ModbusLink(
                    LinkSettings("rtu", "rtu", device=line.client_port, baudrate=19200,
                                 timeout=0.5),
                    [ReadBlock(7, "holding", 0, 16, "default")], {"default": 0.2},
                    lambda _link, report: reports.append(report))
                task = asyncio.create_task(link.run())
                try:
                    await until(lambda: any(isinstance(r, BlockRead) for r in reports))
                    read = next(r for r in reports if isinstance(r, BlockRead))
                    assert decode_modbus(concentration, read.values[2:4]).value == 12.5
                    assert [r.unit for r in reports if isinstance(r, UnitHealth)] == [7]
                    await link.write(8, "coil", 0, True)
                    await until(lambda: valve.position == 2)
                finally:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    asyncio.run(scenario())
