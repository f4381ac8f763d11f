"""Device simulators: real pymodbus servers and clients on loopback, real Mosquitto for MQTT."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient, ModbusTcpClient
from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu import ModbusPDU

from gateway.config.modbus import Feedback
from gateway.config.site import SiteConfig, load_config
from gateway.domain.model import PointState
from gateway.points.decode import decode
from gateway.points.decode_modbus import decode_modbus
from simulators.devices import Publisher
from simulators.modbus_devices import (
    ModbusDeviceServer,
    build_site_simulators,
    start_all,
    stop_all,
)
from simulators.modbus_elevator import (
    STATUS_ALARM_BUTTON,
    STATUS_AT_RECALL_FLOOR,
    STATUS_FIRE_RECALL,
    STATUS_OUTSIDE_LANDING,
    STATUS_RECALL_COMPLETE,
    Direction,
    Doors,
    ElevatorCar,
    Mode,
)
from simulators.modbus_gas import GasDetector
from simulators.modbus_host import SimulatorThread, VirtualSerialPair, wait_until
from simulators.modbus_valve import ShutOffValve
from simulators.mqtt_devices import FirePanel, ZigbeeDevices
from simulators.mqtt_elevator import MqttElevator, build_site_elevators
from tests.support.processes import ROOT, Broker, free_port

SITE_YAML = ROOT / "config" / "site.yaml"
T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro
    return asyncio.run(main())


def tcp_client(server: ModbusDeviceServer, timeout: float = 0.5) -> AsyncModbusTcpClient:
    return AsyncModbusTcpClient("127.0.0.1", port=server.port, timeout=timeout, retries=0)


async def regs(client: AsyncModbusTcpClient | AsyncModbusSerialClient, unit: int, address: int,
               count: int = 1) -> list[int]:
    rr = await client.read_holding_registers(address, count=count, device_id=unit)
    assert not rr.isError(), rr
    return list(rr.registers)


def f32_little(client: AsyncModbusTcpClient, words: list[int]) -> float:
    value = client.convert_from_registers(words, client.DATATYPE.FLOAT32, word_order="little")
    assert isinstance(value, float)
    return value


def int16(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


@pytest.fixture(scope="module")
def site() -> SiteConfig:
    return load_config(SITE_YAML)


# ----------------------------------------------------------------------------- gas detector


def test_gas_ramp_reaches_the_registers_little_word_order_with_alarm_bits_and_counter() -> None:
    async def scenario() -> None:
        gas = GasDetector(3)
        async with ModbusDeviceServer("gas", [gas], port=0) as server:
            client = tcp_client(server)
            await client.connect()
            try:
                words = await regs(client, 3, 0, 16)
                assert words[0] == 1  # monitoring, no fault, no alarm
                assert words[1] == 6
                assert words[6] == 8
                assert f32_little(client, words[12:14]) == 25.0
                assert f32_little(client, words[14:16]) == 50.0
                assert words[10] == 0

                gas.ramp(60.0, 0.8)
                seen: list[float] = []
                while gas.ramping:
                    seen.append(f32_little(client, await regs(client, 3, 2, 2)))
                    await asyncio.sleep(0.03)
                # updated at least 10 times a second: many distinct values on the way up
                assert len(set(seen)) >= 8, seen
                assert seen == sorted(seen)
                words = await regs(client, 3, 0, 16)
                assert f32_little(client, words[2:4]) == 60.0
                big = client.convert_from_registers(words[2:4], client.DATATYPE.FLOAT32,
                                                    word_order="big")
                assert big != 60.0  # the word order matters: low word first
                assert words[4] == 60
                assert words[0] & (1 << 6)
                assert words[0] & (1 << 7)
                assert words[10] == 1

                # dead-band of 5 %LEL on the way down
                gas.set_concentration(47.0)
                assert (await regs(client, 3, 0))[0] & (1 << 7)
                gas.set_concentration(44.0)
                status = (await regs(client, 3, 0))[0]
                assert not status & (1 << 7)
                assert status & (1 << 6)
                gas.set_concentration(21.0)
                assert (await regs(client, 3, 0))[0] & (1 << 6)
                gas.set_concentration(19.0)
                assert (await regs(client, 3, 0))[0] == 1
                # a short pulse the gateway never polled still moves the counter
                gas.set_concentration(30.0)
                gas.set_concentration(0.0)
                assert (await regs(client, 3, 10))[0] == 2
            finally:
                client.close()

    run(scenario())


def test_gas_faults_heartbeat_and_threshold_writes() -> None:
    async def scenario() -> None:
        gas = GasDetector(1, heartbeat_seconds=0.1)
        async with ModbusDeviceServer("gas", [gas], port=0) as server:
            client = tcp_client(server)
            await client.connect()
            try:
                gas.fault("maintenance")
                status, _, _, _, _, fault = await regs(client, 1, 0, 6)
                assert status & (1 << 4)
                assert not status & (1 << 5)
                assert 0 < fault < 30
                gas.fault("instrument")
                status, _, _, _, _, fault = await regs(client, 1, 0, 6)
                assert status & (1 << 5)
                assert fault >= 30
                gas.clear_fault()
                assert (await regs(client, 1, 5))[0] == 0

                first = (await regs(client, 1, 9))[0]
                beats: set[int] = set()
                deadline = time.monotonic() + 1.0
                while time.monotonic() < deadline:
                    beats.add((await regs(client, 1, 0))[0] >> 11 & 1)
                    await asyncio.sleep(0.03)
                assert beats == {0, 1}
                assert (await regs(client, 1, 9))[0] >= first + 5

                # thresholds are writable; the status word is not
                low = client.convert_to_registers(10.0, client.DATATYPE.FLOAT32,
                                                  word_order="little")
                rr = await client.write_registers(12, low, device_id=1)
                assert not rr.isError()
                gas.set_concentration(12.0)
                assert (await regs(client, 1, 0))[0] & (1 << 6)
                rr = await client.write_register(0, 0, device_id=1)
                assert rr.isError()
                assert rr.exception_code == 2
                assert [(w.table, w.address, w.accepted) for w in gas.writes] == [
                    ("holding", 12, True), ("holding", 13, True), ("holding", 0, False)]
            finally:
                client.close()

    run(scenario())


# ----------------------------------------------------------------------------- elevator


def test_elevator_recall_over_a_coil_write_travels_to_floor_1_and_completes() -> None:
    async def scenario() -> None:
        car = ElevatorCar(2, start_floor=6, seconds_per_floor=0.15, door_seconds=0.1,
                          dwell_seconds=0.1, doors_open=True)
        async with ModbusDeviceServer("elevators", [car], port=0) as server:
            client = tcp_client(server)
            await client.connect()
            try:
                floor, direction, doors, mode, status, presses = await regs(client, 2, 0, 6)
                assert (floor, doors, mode, status, presses) == (6, Doors.OPENED, Mode.NORMAL,
                                                                 0b10, 0)
                rr = await client.write_coil(0, True, device_id=2)
                assert not rr.isError()
                trace: list[list[int]] = []  # [floor, direction, doors, mode, status]
                while not (sample := await regs(client, 2, 0, 5))[4] & STATUS_RECALL_COMPLETE:
                    trace.append(sample)
                    assert len(trace) < 1000, trace[-5:]
                    await asyncio.sleep(0.005)
                floor, direction, doors, mode, status, _ = await regs(client, 2, 0, 6)
                assert (floor, doors, mode) == (1, Doors.OPENED, Mode.FIRE)
                assert direction == Direction.NONE
                assert status & 0b1111 == 0b1111
                assert all(t[3] == Mode.FIRE for t in trace)
                # doors shut before the car moved, then down non-stop, floor by floor
                moving = [t for t in trace if t[1] in (Direction.UP, Direction.DOWN)]
                assert moving
                assert all(t[1] == Direction.DOWN and t[2] == Doors.CLOSED
                                      for t in moving)
                first_move = trace.index(moving[0])
                assert any(t[2] == Doors.CLOSING for t in trace[:first_move])
                floors = [t[0] for t in trace]
                assert floors == sorted(floors, reverse=True)
                assert set(floors) >= {6, 5, 4, 3, 2}
                assert not any(t[4] & STATUS_RECALL_COMPLETE for t in trace)
                assert [(w.table, w.address, w.value) for w in car.writes] == [("coil", 0, True)]

                # reset: back to normal service, doors close after the dwell
                await client.write_coil(0, False, device_id=2)
                await wait_until(lambda: car.doors == Doors.CLOSED, 2.0)
                assert (await regs(client, 2, 3, 2)) == [Mode.NORMAL, STATUS_AT_RECALL_FLOOR]
            finally:
                client.close()

    run(scenario())


def test_elevator_recall_from_the_basement_and_while_moving_away() -> None:
    async def scenario() -> None:
        down = ElevatorCar(1, start_floor=-1, seconds_per_floor=0.05, door_seconds=0.05)
        away = ElevatorCar(2, start_floor=2, seconds_per_floor=0.1, door_seconds=0.05)
        async with ModbusDeviceServer("elevators", [down, away], port=0) as server:
            client = tcp_client(server)
            await client.connect()
            try:
                assert int16((await regs(client, 1, 0))[0]) == -1
                away.call(9)
                await wait_until(lambda: away.floor >= 4 and away.direction == Direction.UP,
                                 5.0)
                await client.write_coil(0, True, device_id=1)
                await client.write_coil(0, True, device_id=2)
                at_recall = away.floor
                trace: list[list[int]] = []
                while not (down.recall_complete and away.recall_complete):
                    trace.append(await regs(client, 2, 0, 3))
                    assert len(trace) < 1000
                    await asyncio.sleep(0.01)
            finally:
                client.close()
        assert down.floor == away.floor == 1
        # going up, it stopped at the next landing, doors shut, and turned round
        assert max(int16(t[0]) for t in trace) <= at_recall + 1
        assert all(t[2] == Doors.CLOSED for t in trace if int16(t[0]) != 1)
        directions = [t[1] for t in trace if t[1] in (Direction.UP, Direction.DOWN)]
        assert directions[-1] == Direction.DOWN
        assert directions == sorted(directions)  # any UP before every DOWN

    run(scenario())


def test_elevator_ignore_recall_stuck_and_alarm_button() -> None:
    async def scenario() -> None:
        deaf = ElevatorCar(1, start_floor=5, seconds_per_floor=0.02, door_seconds=0.02)
        stuck = ElevatorCar(2, start_floor=5, seconds_per_floor=0.02, door_seconds=0.02,
                            alarm_pulse_seconds=0.5)
        async with ModbusDeviceServer("elevators", [deaf, stuck], port=0) as server:
            client = tcp_client(server)
            await client.connect()
            try:
                deaf.set_behaviour("ignore_recall")
                stuck.set_behaviour("stuck")
                await client.write_coil(0, True, device_id=1)
                await client.write_coil(0, True, device_id=2)
                await asyncio.sleep(0.6)  # long enough for 5 floors at 0.02 s a floor
                floor, direction, doors, mode, status, _ = await regs(client, 1, 0, 6)
                assert (floor, doors, mode, status) == (5, Doors.CLOSED, Mode.NORMAL, 0)
                assert [w.value for w in deaf.writes] == [True]  # it got the write, did nothing

                floor, direction, doors, mode, status, _ = await regs(client, 2, 0, 6)
                assert direction == Direction.STOPPED
                assert doors == Doors.CLOSED
                assert status & STATUS_OUTSIDE_LANDING
                assert status & STATUS_FIRE_RECALL
                assert not status & STATUS_RECALL_COMPLETE

                stuck.press_alarm_button()
                _, _, _, _, status, presses = await regs(client, 2, 0, 6)
                assert presses == 1
                assert status & STATUS_ALARM_BUTTON
                await asyncio.sleep(0.6)
                assert not (await regs(client, 2, 4))[0] & STATUS_ALARM_BUTTON

                # freed: the car completes its recall; the deaf one hears again
                stuck.set_behaviour("normal")
                deaf.set_behaviour("normal")
                await wait_until(lambda: stuck.recall_complete and deaf.recall_complete, 3.0)
                assert not (await regs(client, 2, 4))[0] & STATUS_OUTSIDE_LANDING
            finally:
                client.close()

    run(scenario())


# ----------------------------------------------------------------------------- valves


def test_gas_valve_does_not_reopen_on_a_zero_write_but_water_valve_does() -> None:
    async def scenario() -> None:
        gas = ShutOffValve(1, valve="gas", travel_seconds=0.5)
        water = ShutOffValve(2, valve="water", travel_seconds=0.5)
        async with ModbusDeviceServer("valves", [gas, water], port=0) as server:
            client = tcp_client(server)
            await client.connect()
            try:
                assert (await regs(client, 1, 0))[0] == 0 == (await regs(client, 2, 0))[0]
                await client.write_coil(0, True, device_id=1)
                await client.write_coil(0, True, device_id=2)
                await asyncio.sleep(0.1)
                assert (await regs(client, 1, 0))[0] == 1  # moving
                await wait_until(lambda: gas.position == water.position == 2, 2.0)

                await client.write_coil(0, False, device_id=1)
                await client.write_coil(0, False, device_id=2)
                await wait_until(lambda: water.position == 0, 2.0)
                assert (await regs(client, 1, 0))[0] == 2  # gas: manual open on site only
                gas.manual_open()
                await wait_until(lambda: gas.position == 0, 2.0)
                assert not (await client.read_coils(0, count=1, device_id=1)).bits[0]

                gas.fault()
                await client.write_coil(0, True, device_id=1)
                await asyncio.sleep(0.3)
                assert (await regs(client, 1, 0))[0] == 3
                gas.clear_fault()
                assert (await regs(client, 1, 0))[0] == 0  # the command was ignored
                assert [(w.unit, w.value) for w in server.writes] == [
                    (1, True), (2, True), (1, False), (2, False), (1, True)]
            finally:
                client.close()

    run(scenario())


# ----------------------------------------------------------------------------- server


def test_unresponsive_unit_times_out_while_the_others_answer() -> None:
    async def scenario() -> None:
        server = ModbusDeviceServer("valves", [ShutOffValve(1), ShutOffValve(2, valve="water")],
                                    port=0)
        await server.start()
        client = tcp_client(server, timeout=0.3)
        try:
            await client.connect()
            server.set_unresponsive(1)
            assert server.is_unresponsive(1)
            started = time.monotonic()
            with pytest.raises(ModbusIOException):
                await client.read_holding_registers(0, count=1, device_id=1)
            assert time.monotonic() - started >= 0.25  # a timeout, not an exception response
            assert await regs(client, 2, 0) == [0]
            with pytest.raises(ModbusIOException):
                await client.read_holding_registers(0, count=1, device_id=9)  # no such unit
            server.set_unresponsive(1, False)
            assert await regs(client, 1, 0) == [0]
            rr = await client.read_holding_registers(1, count=1, device_id=1)
            assert rr.isError()
            assert rr.exception_code == 2
        finally:
            client.close()
            await server.stop()
        assert not server.running

    run(scenario())


def test_rtu_over_a_pty_pair_answers_a_read_and_takes_a_write() -> None:
    assert importlib.util.find_spec("serial"), "pyserial is missing: install pymodbus[serial]"

    async def scenario() -> None:
        async with VirtualSerialPair() as line:
            valve = ShutOffValve(5, valve="water", travel_seconds=0.05)
            async with ModbusDeviceServer("rtu", [valve], transport="rtu",
                                          serial_port=line.server_port,
                                          baudrate=19200) as server:
                assert server.endpoint() == f"rtu:{line.server_port}@19200N1"
                client = AsyncModbusSerialClient(line.client_port, baudrate=19200, timeout=1,
                                                 retries=0)
                assert await client.connect()
                try:
                    assert await regs(client, 5, 0) == [0]
                    rr = await client.write_coil(0, True, device_id=5)
                    assert not rr.isError()
                    await wait_until(lambda: valve.position == 2, 2.0)
                    assert await regs(client, 5, 0) == [2]
                    server.set_unresponsive(5)
                    with pytest.raises(ModbusIOException):
                        await client.read_holding_registers(0, count=1, device_id=5)
                finally:
                    client.close()

    run(scenario())


# ----------------------------------------------------------------------------- the site


def test_build_site_simulators_from_the_demo_config(site: SiteConfig) -> None:
    servers = build_site_simulators(site)
    assert set(servers) == {"gas-controller", "elevators", "valves"}
    gas = servers["gas-controller"]
    assert gas.endpoint() == "tcp:127.0.0.1:15020"
    assert sorted(gas.devices) == [1, 2, 3, 4]
    assert all(isinstance(d, GasDetector) for d in gas.devices.values())
    elevators = servers["elevators"]
    assert (elevators.host, elevators.port) == ("127.0.0.1", 15021)
    assert sorted(elevators.devices) == [1, 2]
    assert all(isinstance(d, ElevatorCar) for d in elevators.devices.values())
    valves = servers["valves"]
    assert valves.port == 15022
    assert sorted(valves.devices) == [1, 2]
    assert (valves.valve(1).valve, valves.valve(2).valve) == ("gas", "water")
    assert valves.valve(1).name == "V-GAS-B1-01"
    with pytest.raises(TypeError, match="not a GasDetector"):
        valves.gas_detector(1)
    only = build_site_simulators(site, only=["valves"])
    assert list(only) == ["valves"]
    with pytest.raises(KeyError, match="no Modbus connection nope"):
        build_site_simulators(site, only=["nope"])


def test_site_simulators_speak_the_register_map_of_the_config(site: SiteConfig) -> None:
    """The gateway's own decoder reads what the simulators serve, point by point."""
    async def scenario() -> None:
        servers = build_site_simulators(
            site, endpoints={c: ("127.0.0.1", 0) for c in site.modbus},
            seconds_per_floor=0.02, door_seconds=0.02, valve_travel_seconds=0.05)
        await start_all(servers.values())
        clients = {name: tcp_client(server) for name, server in servers.items()}
        try:
            for client in clients.values():
                await client.connect()

            async def reading(point_id: str, previous: object = None) -> Any:
                binding = site.points[point_id].modbus
                assert binding is not None
                assert binding.table == "holding"
                words = await regs(clients[binding.connection], binding.unit, binding.address,
                                   binding.words)
                return decode_modbus(binding, words, previous)

            async def confirmed(feedback: Feedback) -> bool:
                r = await reading(feedback.point)
                return feedback.met(r.value, r.state)

            servers["gas-controller"].gas_detector(2).set_concentration(30.0)
            assert (await reading("G-B1-02")).value == pytest.approx(30.0)
            assert (await reading("G-B1-01")).value == 0.0
            servers["gas-controller"].gas_detector(3).fault("instrument")
            assert (await reading("G-B1-03-FAULT")).state is PointState.TROUBLE
            assert (await reading("G-B1-04-FAULT")).state is PointState.NORMAL

            for actuator_id in ("ELV-B2-L1", "V-GAS-B1-01", "V-WATER-PUMP-01"):
                command = next(iter(site.actuators[actuator_id].commands.values()))
                write, feedback = command.modbus, command.feedback
                assert write is not None
                assert feedback is not None
                assert isinstance(write.value, bool)
                rr = await clients[write.connection].write_coil(write.address, write.value,
                                                               device_id=write.unit)
                assert not rr.isError()
                await wait_until(partial(confirmed, feedback), 5.0)
            assert (await reading("ELV-B2-L2-RECALLED")).value == 0
            servers["elevators"].elevator(2).set_behaviour("stuck")
            assert (await reading("ELV-B2-L2-STATUS")).state is PointState.ALARM
            servers["valves"].valve(2).fault()
            assert (await reading("V-WATER-PUMP-01-POS")).state is PointState.TROUBLE
            for server in servers.values():
                for device in server.devices.values():
                    expected = 1 if device.name in ("ELV-B2-L1", "V-GAS-B1-01",
                                                    "V-WATER-PUMP-01") else 0
                    assert len(device.writes) == expected, device.name
        finally:
            for client in clients.values():
                client.close()
            await stop_all(servers.values())

    run(scenario())


def test_simulator_thread_serves_synchronous_code() -> None:
    gas = GasDetector(1)
    server = ModbusDeviceServer("gas", [gas], port=0)
    with SimulatorThread([server]) as sim:
        sim.call(gas.set_concentration, 42.5)
        client = ModbusTcpClient("127.0.0.1", port=server.port, timeout=1, retries=0)
        try:
            assert client.connect()  # type: ignore[no-untyped-call]
            rr = client.read_holding_registers(2, count=2, device_id=1)
            assert client.convert_from_registers(rr.registers, client.DATATYPE.FLOAT32,
                                                 word_order="little") == 42.5
        finally:
            client.close()  # type: ignore[no-untyped-call]
    assert not server.running


def _site_copy(tmp_path: Path, ports: dict[int, int]) -> Path:
    text = SITE_YAML.read_text(encoding="utf-8")
    for old, new in ports.items():
        text = text.replace(f"port: {old}\n", f"port: {new}\n")
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _lines(stream: Any) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
    threading.Thread(target=pump, daemon=True).start()
    return lines


def _expect(lines: queue.Queue[str], text: str, timeout: float = 15.0) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"no {text!r} in output: {seen}")


def test_serve_command_runs_the_devices_and_prints_writes(tmp_path: Path) -> None:
    port = free_port()
    config = _site_copy(tmp_path, {15022: port})
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "simulate", "-c", str(config), "serve",
         "--only", "valves", "--valve-seconds", "0.1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    try:
        lines = _lines(process.stdout)
        seen = _expect(lines, "ready:")
        assert any(f"valves tcp:127.0.0.1:{port} unit 1: gas valve V-GAS-B1-01" in line
                   for line in seen), seen
        assert any("water valve V-WATER-PUMP-01" in line for line in seen)
        assert seen[-1].rstrip().endswith(
            "ready: 2 Modbus devices on 1 connections, 0 MQTT elevators; Ctrl-C stops")
        client = ModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
        try:
            assert client.connect()  # type: ignore[no-untyped-call]
            rr: ModbusPDU = client.write_coil(0, True, device_id=2)
            assert not rr.isError()
        finally:
            client.close()  # type: ignore[no-untyped-call]
        _expect(lines, "write valves unit 2 coil 0 = 1 (V-WATER-PUMP-01)")
        process.send_signal(signal.SIGINT)
        assert process.wait(15) == 0
        _expect(lines, "stopped")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()


def test_serve_command_reports_a_busy_port(tmp_path: Path) -> None:
    async def scenario() -> None:
        blocker = ModbusDeviceServer("blocker", [ShutOffValve(1)], port=0)
        await blocker.start()
        try:
            config = _site_copy(tmp_path, {15022: blocker.port})
            result = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "simulators", "-c", str(config), "serve", "--only",
                 "valves"], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
            assert result.returncode == 3, result
            assert f"cannot listen on tcp:127.0.0.1:{blocker.port}" in result.stderr
        finally:
            await blocker.stop()

    run(scenario())


# ----------------------------------------------------------------------------- MQTT


class Subscriber:
    """Collects the messages on some topics (QoS 1)."""

    def __init__(self, broker: Broker, *topics: str) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"test-subscriber-{uuid.uuid4().hex[:8]}")

        def on_connect(client: mqtt.Client, *_: object) -> None:
            client.subscribe([(t, 1) for t in topics])

        def on_subscribe(*_: object) -> None:
            self._subscribed.set()

        def on_message(client: mqtt.Client, userdata: object,
                       message: mqtt.MQTTMessage) -> None:
            self.messages.put((message.topic, bytes(message.payload)))

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(10)

    def wait_for(self, match: Callable[[str, bytes], bool],
                 timeout: float = 10.0) -> tuple[str, bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                topic, payload = self.messages.get(timeout=0.1)
            except queue.Empty:
                continue
            if match(topic, payload):
                return topic, payload
        raise AssertionError("no matching message")

    def drain(self, seconds: float) -> list[tuple[str, bytes]]:
        out = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                out.append(self.messages.get(timeout=0.05))
            except queue.Empty:
                continue
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.client.reinitialise()  # closes paho's socket pair now, not at garbage collection


@pytest.fixture
def subscriber_factory(broker: Broker) -> Iterator[Callable[..., Subscriber]]:
    made: list[Subscriber] = []

    def make(*topics: str) -> Subscriber:
        made.append(Subscriber(broker, *topics))
        return made[-1]
    yield make
    for s in made:
        s.close()


def _recall(site: SiteConfig, publisher: Publisher, actuator_id: str) -> None:
    command = site.actuators[actuator_id].commands["recall"]
    publisher.publish(command.topic, command.payload.encode())


@pytest.mark.broker
def test_mqtt_elevator_answers_a_recall_with_its_status(
        site: SiteConfig, broker: Broker, subscriber_factory: Callable[..., Subscriber]) -> None:
    cars = build_site_elevators(site, host=broker.host, port=broker.port,
                                seconds_per_floor=0.02, door_seconds=0.02)
    assert sorted(cars) == ["ELV-B1-L1", "ELV-B1-L2"]
    car = cars["ELV-B1-L1"]
    point = site.points["ELV-B1-L1-RECALLED"]
    assert point.mqtt is not None
    assert car.status_topic == point.mqtt.topic
    status = subscriber_factory(point.mqtt.topic)
    with car, Publisher(broker.host, broker.port) as publisher:
        _recall(site, publisher, "ELV-B1-L1")
        _, payload = status.wait_for(lambda t, p: json.loads(p)["recalled"] is True)
    assert json.loads(payload) == {"floor": 1, "doors": "open", "mode": "fire_recall",
                                   "recalled": True}
    assert car.commands == [{"cmd": "fire_recall", "floor": 1}]
    floors = [s["floor"] for s in car.statuses]
    assert floors[0] == 4
    assert floors[-1] == 1
    assert floors == sorted(floors, reverse=True)
    # the gateway's decoder and the actuator's feedback condition accept it
    reading = decode(point.mqtt, payload)
    feedback = site.actuators["ELV-B1-L1"].commands["recall"].feedback
    assert feedback is not None
    assert reading.state is not None
    assert feedback.met(reading.value, reading.state)


@pytest.mark.broker
def test_mqtt_elevator_that_ignores_recall_stays_silent(
        site: SiteConfig, broker: Broker, subscriber_factory: Callable[..., Subscriber]) -> None:
    async def scenario() -> None:
        car = MqttElevator(site, "ELV-B1-L2", host=broker.host, port=broker.port,
                           start_floor=3, seconds_per_floor=0.02, door_seconds=0.02,
                           ignore_recall=True)
        status = subscriber_factory(car.status_topic)
        async with car:
            with Publisher(broker.host, broker.port) as publisher:
                _recall(site, publisher, "ELV-B1-L2")
                await wait_until(lambda: len(car.writes) == 1, 5.0)
                assert await asyncio.to_thread(status.drain, 0.5) == []
                car.set_behaviour("normal")
                _recall(site, publisher, "ELV-B1-L2")
                await wait_until(lambda: car.recalled, 5.0)
        assert car.floor == 1
        assert len(car.writes) == 2
        assert car.writes[0].topic == "demo/elevator/b1/l2/cmd"

    run(scenario())


@pytest.mark.broker
def test_serve_command_runs_mqtt_elevators_too(
        tmp_path: Path, site: SiteConfig, broker: Broker,
        subscriber_factory: Callable[..., Subscriber]) -> None:
    config = _site_copy(tmp_path, {15022: free_port()})
    status = subscriber_factory("demo/elevator/b1/l2/status")
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators", "-c", str(config), "--broker", broker.url, "serve",
         "--only", "valves", "--mqtt-elevators", "--seconds-per-floor", "0.02",
         "--door-seconds", "0.02"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    try:
        lines = _lines(process.stdout)
        seen = _expect(lines, "ready:")
        assert "2 MQTT elevators" in seen[-1]
        assert any("elevator ELV-B1-L2 (MQTT" in line for line in seen)
        with Publisher(broker.host, broker.port) as publisher:
            _recall(site, publisher, "ELV-B1-L2")
        _, payload = status.wait_for(lambda t, p: json.loads(p)["recalled"] is True)
        assert json.loads(payload)["floor"] == 1
        _expect(lines, 'elevator ELV-B1-L2 received demo/elevator/b1/l2/cmd {"cmd": '
                       '"fire_recall", "floor": 1}')
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()


@pytest.mark.broker
def test_fire_panel_and_zigbee_devices_publish_what_the_gateway_decodes(
        site: SiteConfig, broker: Broker, subscriber_factory: Callable[..., Subscriber]) -> None:
    sub = subscriber_factory("demo/fire/#", "zigbee2mqtt/#")
    with Publisher(broker.host, broker.port) as publisher:
        panel = FirePanel(site, publisher)
        zigbee = ZigbeeDevices(site, publisher)
        panel.alarm("B1-F12-Z3", device="SD-02")
        panel.prealarm("B1-F12-Z4")
        panel.fault("B2-F1-Z1")
        panel.restore("B1-F12-Z3")
        panel.alarm("B1-F12-MCP3")
        started = time.monotonic()
        storm = panel.storm(6, 0.3, building="2")
        took = time.monotonic() - started
        zigbee.leak("W-GAR-02")
        zigbee.leak("W-GAR-02", wet=False)
        zigbee.press("ELV-B2-L1-BTN")
        assert panel.heartbeat() == []  # the demo site has no panel point
        with pytest.raises(ValueError, match="water_leak"):
            zigbee.leak("ELV-B2-L1-BTN")
    assert 0.2 <= took < 3.0
    assert len({m.topic for m in storm}) == 6
    assert all(m.topic.startswith("demo/fire/b2/") for m in storm)
    got = [sub.wait_for(lambda t, p: True) for _ in range(5 + 6 + 3)]
    by_topic = {p.mqtt.topic: p for p in site.points.values() if p.mqtt is not None}
    states = []
    for topic, payload in got:
        point = by_topic[topic]
        assert point.mqtt is not None
        states.append((point.id, decode(point.mqtt, payload).state))
    assert states[:5] == [("B1-F12-Z3", PointState.ALARM), ("B1-F12-Z4", PointState.PREALARM),
                          ("B2-F1-Z1", PointState.TROUBLE), ("B1-F12-Z3", PointState.NORMAL),
                          ("B1-F12-MCP3", PointState.ALARM)]
    assert all(state is PointState.ALARM for _, state in states[5:11])
    assert states[11:] == [("W-GAR-02", PointState.ALARM), ("W-GAR-02", PointState.NORMAL),
                           ("ELV-B2-L1-BTN", PointState.ALARM)]
    first = json.loads(got[0][1])
    assert first["device"] == "SD-02"
