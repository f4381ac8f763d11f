"""The Modbus link against real pymodbus servers on free loopback ports, without the daemon:
what it reports and logs when a TCP gateway answers for a unit that is not there, when a unit
behind it goes silent, and when a silent unit makes pymodbus drop the connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import structlog

from adapters.modbus import ModbusLink
from adapters.modbus_values import BlockRead, BlockRefused, LinkSettings, ReadBlock, UnitHealth
from simulators.modbus_devices import ModbusDeviceServer
from simulators.modbus_gas import GasDetector
from simulators.modbus_host import wait_until

pytestmark = pytest.mark.anyio

POLL = 0.2


@contextlib.asynccontextmanager
async def polling(server: ModbusDeviceServer, units: list[int],
                  reports: list[object]) -> AsyncIterator[ModbusLink]:
    """A link polling the status word of ``units`` on ``server`` every ``POLL`` seconds (a
    unit that does not answer is probed again after at most a second)."""
    link = ModbusLink(LinkSettings("gas", "tcp", port=server.port, timeout=POLL,
                                   backoff_max=1.0),
                      [ReadBlock(unit, "holding", 0, 4, "default") for unit in units],
                      {"default": POLL}, lambda _link, report: reports.append(report))
    task = asyncio.create_task(link.run(), name="modbus link under test")
    try:
        yield link
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def health_of(reports: list[object], unit: int) -> list[UnitHealth]:
    return [r for r in reports if isinstance(r, UnitHealth) and r.unit == unit]


def reads_of(reports: list[object], unit: int) -> Callable[[], int]:
    return lambda: sum(isinstance(r, BlockRead) and r.block.unit == unit for r in reports)


def read(reports: list[object], unit: int) -> Callable[[], bool]:
    return lambda: reads_of(reports, unit)() > 0


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == name]


async def test_a_unit_id_that_nothing_answers_to_behind_a_gateway_is_one_configuration_error(
        ) -> None:
    reports: list[object] = []
    async with ModbusDeviceServer("gas", [GasDetector(1)], port=0, gateway=True) as server:
        with structlog.testing.capture_logs() as logs:
            async with polling(server, [1, 9], reports) as link:
                await wait_until(lambda: bool(health_of(reports, 9)), within=5)
                reads = reads_of(reports, 1)
                before = reads()
                await asyncio.sleep(10 * POLL)  # probed again meanwhile, with back-off
                assert reads() >= before + 5  # unit 1 keeps its poll rate
                assert link.health().units_offline == (9,)
                assert link.health().detail == {"units_misconfigured": [9]}
    (error,) = events(logs, "modbus_unit_misconfigured")
    assert error["log_level"] == "error"
    assert (error["connection"], error["host"], error["port"], error["unit"]) == (
        "gas", "127.0.0.1", server.port, 9)
    assert error["response"] == "exception 0B (gateway target device failed to respond)"
    assert "check the unit id in the config" in error["hint"]
    (down,) = health_of(reports, 9)
    assert not down.online
    assert down.reason == (f"no unit 9 behind tcp:127.0.0.1:{server.port} (exception 0B, "
                           "gateway target device failed to respond): check the unit id in "
                           "the config")
    assert not [r for r in reports if isinstance(r, BlockRefused)]  # no wrong register either
    assert not events(logs, "modbus_unit_offline")
    assert [h.online for h in health_of(reports, 1)] == [True]


async def test_a_unit_that_answered_and_then_gets_0B_from_the_gateway_went_silent(
        ) -> None:
    reports: list[object] = []
    async with ModbusDeviceServer("gas", [GasDetector(1), GasDetector(2)], port=0,
                                  gateway=True) as server:
        with structlog.testing.capture_logs() as logs:
            async with polling(server, [1, 2], reports):
                await wait_until(read(reports, 2), within=5)
                server.set_unresponsive(2)
                await wait_until(lambda: len(health_of(reports, 2)) == 2, within=5)
                server.set_unresponsive(2, False)
                await wait_until(lambda: len(health_of(reports, 2)) == 3, within=15)
    assert [(h.online, h.reason) for h in health_of(reports, 2)] == [
        (True, "answering"),
        (False, "gateway reports no response (exception 0B, gateway target device failed to "
                "respond)"),
        (True, "answering")]
    assert not events(logs, "modbus_unit_misconfigured")
    assert [e["unit"] for e in events(logs, "modbus_unit_offline")] == [2]
    assert [e["unit"] for e in events(logs, "modbus_unit_online")] == [2]


async def test_a_silent_unit_that_makes_pymodbus_close_the_connection_is_no_link_outage(
        ) -> None:
    # pymodbus closes a TCP connection after a few requests in a row went unanswered (a
    # half-open connection looks the same); the link reopens it at once and says nothing
    reports: list[object] = []
    async with ModbusDeviceServer("gas", [GasDetector(1)], port=0) as server:
        server.set_unresponsive(1)
        with structlog.testing.capture_logs() as logs:
            async with polling(server, [1], reports) as link:
                await wait_until(lambda: bool(events(logs, "modbus_reopening")), within=30)
                server.set_unresponsive(1, False)
                await wait_until(read(reports, 1), within=15)
                assert link.connected
    assert not events(logs, "modbus_connection_lost")
    assert not events(logs, "modbus_connected")
    assert [(h.online, h.reason) for h in health_of(reports, 1)] == [
        (False, "no response (ModbusIOException)"), (True, "answering")]
    assert len(events(logs, "modbus_unit_offline")) == 1


def test_a_link_that_is_down_is_probed_every_poll_interval_with_jitter() -> None:
    def probes(poll: dict[str, float]) -> list[float]:
        link = ModbusLink(LinkSettings("x", "tcp"), [], poll, lambda _link, _report: None)
        return [link._probe_delay() for _ in range(500)]  # noqa: SLF001 - its schedule

    delays = probes({"default": 1.0, "slow": 5.0})
    assert 0.8 <= min(delays) < 0.85
    assert 1.15 < max(delays) <= 1.2
    assert min(probes({"fast": 0.1})) >= 0.4  # never more often than every half second
