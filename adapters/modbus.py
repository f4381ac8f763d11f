"""Modbus adapter: one link per connection (TCP or RTU), polling blocks of registers.

The link knows only the wire: units, tables, addresses, raw words and bits. It reports what it
read, exception responses, and the health of each unit; the gateway decides what they mean.

A connection is one conversation (the pymodbus client must not be called concurrently, and a
serial line is half-duplex anyway), so polls and writes share one lock. One dead unit must not
stall the others on the line: after two unanswered requests in a row a unit is reported
offline and is only probed again after a back-off that doubles up to ``backoff_max``, so the
others keep their poll rate. Exception responses (the unit answered "illegal address" and so
on) are reported as such, never as a dead unit.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.framer import FramerType

from adapters.interface import AdapterHealth, Deliver, Ledger, SendError
from adapters.modbus_values import (
    EXCEPTION_NAMES,
    BlockRead,
    BlockRefused,
    LinkSettings,
    ModbusWriteError,
    ReadBlock,
    Report,
    UnitHealth,
)
from gateway.domain.effects import Effect, ModbusWrite

log = structlog.get_logger("adapters.modbus")

FAILURES_BEFORE_OFFLINE = 2


@dataclass(slots=True)
class _Unit:
    online: bool | None = None
    failures: int = 0
    retry_at: float = 0.0


@dataclass(slots=True)
class _Group:
    interval: float
    blocks: list[ReadBlock]
    due: float = 0.0


@dataclass
class ModbusLink:
    """One Modbus connection as an adapter (``adapters.interface.Adapter``): its items are
    ``BlockRead``, ``BlockRefused`` and ``UnitHealth``; it sends the ``ModbusWrite`` effects
    of its connection. Polled values need no acknowledgement: a reading missed is read again."""

    settings: LinkSettings
    blocks: list[ReadBlock]
    intervals: dict[str, float]
    deliver: Deliver
    units: dict[int, _Unit] = field(default_factory=dict)

    kind = "modbus"

    def __post_init__(self) -> None:
        self._writes: set[asyncio.Task[str]] = set()
        self._lock = asyncio.Lock()
        self._client: Any = None
        self._connected = asyncio.Event()
        for block in self.blocks:
            self.units.setdefault(block.unit, _Unit())
        self._groups = {name: _Group(interval, [b for b in self.blocks if b.group == name])
                        for name, interval in self.intervals.items()}

    @property
    def name(self) -> str:
        return self.settings.id

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_ready(self) -> None:
        return  # a device not answering yet must not hold the gateway back

    def ack(self, items: Sequence[Report]) -> None:
        return

    def ledger(self, items: Sequence[Report]) -> Ledger:
        return Ledger()

    def health(self) -> AdapterHealth:
        return AdapterHealth(connected=self.connected,
                             units_offline=tuple(sorted(self.offline_units())),
                             sending=len(self._writes))

    def _report(self, item: Report) -> None:
        self.deliver(self, item)

    def offline_units(self) -> list[int]:
        return [unit_id for unit_id, unit in self.units.items() if unit.online is False]

    def _make_client(self) -> Any:
        s = self.settings
        if s.transport == "rtu":
            if s.device is None:
                raise ValueError(f"{s.describe()}: an RTU connection needs its serial device")
            return AsyncModbusSerialClient(
                s.device, framer=FramerType.RTU, baudrate=s.baudrate, parity=s.parity,
                stopbits=s.stopbits, bytesize=s.bytesize, timeout=s.timeout, retries=0,
                reconnect_delay=0, name=s.id)
        return AsyncModbusTcpClient(s.host, port=s.port, timeout=s.timeout, retries=0,
                                    reconnect_delay=0, name=s.id)

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Connect and poll forever; returns only when cancelled."""
        failures = 0
        said_down = False
        try:
            while True:
                self._client = self._make_client()
                try:
                    ok = await self._client.connect()
                except (OSError, ModbusException):
                    ok = False
                if not ok:
                    failures += 1
                    if not said_down:
                        log.warning("modbus_unreachable", connection=self.settings.id,
                                    endpoint=self.settings.describe(),
                                    retry="forever, with jittered backoff up to "
                                          f"{self.settings.backoff_max:.0f}s")
                        said_down = True
                    self._all_units_down("connection failed")
                    self._client.close()
                    await asyncio.sleep(self._backoff(failures))
                    continue
                if said_down or failures:
                    log.info("modbus_connected", connection=self.settings.id,
                             endpoint=self.settings.describe())
                failures, said_down = 0, False
                self._connected.set()
                try:
                    await self._poll_forever()
                except ConnectionException as exc:
                    log.warning("modbus_connection_lost", connection=self.settings.id,
                                endpoint=self.settings.describe(), error=str(exc))
                    said_down = True
                    failures = 1
                    self._all_units_down("connection lost")
                finally:
                    self._connected.clear()
                    self._client.close()
                await asyncio.sleep(self._backoff(failures))
        finally:
            if self._client is not None:
                self._client.close()

    def _backoff(self, failures: int) -> float:
        base = min(self.settings.backoff_max, 0.25 * 2.0 ** min(failures, 16))
        return base * random.uniform(0.5, 1.0)

    def _all_units_down(self, reason: str) -> None:
        for unit_id, unit in self.units.items():
            if unit.online is not False:
                unit.online = False
                self._report(UnitHealth(self.settings.id, unit_id, False, reason, time.time()))

    # ------------------------------------------------------------------ polling

    async def _poll_forever(self) -> None:
        now = time.monotonic()
        for group in self._groups.values():
            group.due = now
        if not self._groups or not self.blocks:
            # a connection used only for writes: just keep it open
            await asyncio.Event().wait()
        while True:
            group = min(self._groups.values(), key=lambda g: g.due)
            wait = group.due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._poll_group(group)
            group.due += group.interval
            if group.due < time.monotonic():  # fell behind: do not try to catch up in a burst
                group.due = time.monotonic() + group.interval

    async def _poll_group(self, group: _Group) -> None:
        skipped: set[int] = set()
        for block in group.blocks:
            unit = self.units[block.unit]
            if block.unit in skipped or time.monotonic() < unit.retry_at:
                continue
            async with self._lock:
                outcome = await self._read(block)
            now = time.time()
            if isinstance(outcome, tuple):
                self._answered(block.unit, unit, now)
                self._report(BlockRead(self.settings.id, block, outcome, now))
            elif isinstance(outcome, int):
                self._answered(block.unit, unit, now)
                self._report(BlockRefused(self.settings.id, block, outcome, now))
            else:
                skipped.add(block.unit)
                self._unanswered(block.unit, unit, outcome, now)

    async def _read(self, block: ReadBlock) -> tuple[int, ...] | tuple[bool, ...] | int | str:
        """The values, an exception code (int), or why nothing came back (str)."""
        c = self._client
        call = {"coil": c.read_coils, "discrete_input": c.read_discrete_inputs,
                "holding": c.read_holding_registers, "input": c.read_input_registers}[block.table]
        try:
            rr = await call(block.address, count=block.count, device_id=block.unit)
        except ModbusIOException as exc:
            return f"no response ({exc.__class__.__name__})"
        except TimeoutError:
            return "timeout"
        if rr is None:
            return "no response"
        if rr.isError():
            code = getattr(rr, "exception_code", 0)
            if code in (10, 11):  # a gateway saying the unit behind it is not answering
                return f"gateway reports no response (exception {code:02X})"
            return int(code)
        if block.table in ("coil", "discrete_input"):
            return tuple(bool(b) for b in rr.bits[:block.count])
        return tuple(int(r) for r in rr.registers)

    def _answered(self, unit_id: int, unit: _Unit, now: float) -> None:
        unit.failures = 0
        unit.retry_at = 0.0
        if unit.online is not True:
            if unit.online is False:
                log.info("modbus_unit_online", connection=self.settings.id, unit=unit_id)
            unit.online = True
            self._report(UnitHealth(self.settings.id, unit_id, True, "answering", now))

    def _unanswered(self, unit_id: int, unit: _Unit, reason: str, now: float) -> None:
        unit.failures += 1
        if unit.failures < FAILURES_BEFORE_OFFLINE:
            return
        unit.retry_at = time.monotonic() + self._backoff(unit.failures - 1)
        if unit.online is not False:
            unit.online = False
            log.warning("modbus_unit_offline", connection=self.settings.id, unit=unit_id,
                        reason=reason, retry="with back-off; the other units keep polling")
            self._report(UnitHealth(self.settings.id, unit_id, False, reason, now))

    # ------------------------------------------------------------------ writes

    def accepts(self, effect: Effect) -> bool:
        return isinstance(effect, ModbusWrite) and effect.connection == self.settings.id

    async def send(self, effect: Effect) -> Awaitable[str]:
        """Start the write (writes and polls take turns on the line, in order); what is
        returned resolves once the unit has answered it."""
        if not isinstance(effect, ModbusWrite) or effect.connection != self.settings.id:
            raise SendError(f"{self.settings.describe()} does not take {effect!r}")
        task = asyncio.create_task(self._send(effect))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return task

    async def _send(self, effect: ModbusWrite) -> str:
        try:
            await self.write(effect.unit, effect.table, effect.address, effect.value)
        except ModbusWriteError as exc:
            raise SendError(str(exc)) from exc
        return "unit acknowledged the write"

    async def write(self, unit: int, table: str, address: int, value: bool | int) -> None:
        """Write a coil or a holding register; raises ModbusWriteError if it did not take."""
        if not self._connected.is_set():
            raise ModbusWriteError(f"{self.settings.describe()} is not connected")
        async with self._lock:
            c = self._client
            try:
                if table == "coil":
                    rr = await c.write_coil(address, bool(value), device_id=unit)
                else:
                    rr = await c.write_register(address, int(value), device_id=unit)
            except (ModbusException, TimeoutError) as exc:
                raise ModbusWriteError(f"unit {unit} did not answer the write of {table} "
                                       f"{address}: {exc}") from exc
        if rr is None or rr.isError():
            code = getattr(rr, "exception_code", 0) if rr is not None else 0
            raise ModbusWriteError(f"unit {unit} refused the write of {table} {address}: "
                                   f"exception {code:02X} "
                                   f"({EXCEPTION_NAMES.get(code, 'unknown')})")
