"""Modbus adapter: one link per connection (TCP or RTU), polling blocks of registers.

The link knows only the wire: units, tables, addresses, raw words and bits. It reports what it
read, exception responses, and the health of each unit; the gateway decides what they mean.

A connection is one conversation (the pymodbus client must not be called concurrently, and a
serial line is half-duplex anyway), so polls and writes share one lock.

A link that breaks is reopened at once: a peer that closed an idle connection, or pymodbus
closing it after requests went unanswered, while the device is still there, is no outage. If
it cannot be reopened the link is down: logged once, its units reported offline, and probed
every poll interval (jittered by ±20 % so that many links do not probe in step, never more
often than every half second) rather than after a growing back-off, so that a device back on
the network is read again within one or two poll intervals; its return is logged once, with
how long it was down.

One dead unit must not stall the others on the line: after two unanswered requests in a row a
unit is reported offline and is only probed again after a back-off that doubles up to
``backoff_max``, so the others keep their poll rate. Exception responses (the unit answered
"illegal address" and so on) are reported as such, never as a dead unit. Exceptions 0A and 0B
are a TCP gateway saying that nothing behind it answers to that unit id: from a unit that has
never answered, the unit id in the config is wrong (logged once as such, naming the connection,
host, port and unit); from one that has answered, the device behind the gateway went silent.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

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
PROBE_FLOOR = 0.5  # a link that is down is probed at most this often (seconds)
PROBE_JITTER = 0.2
GATEWAY_CODES = (10, 11)  # gateway path unavailable, gateway target device failed to respond

# why a unit is offline
LINK, SILENT, MISCONFIGURED = "link", "silent", "misconfigured"


@dataclass(slots=True)
class _Unit:
    online: bool | None = None
    failures: int = 0
    retry_at: float = 0.0
    cause: str = ""  # LINK, SILENT or MISCONFIGURED while offline
    logged: bool = False  # its going offline was logged, so its return is logged too
    answered: bool = False  # it has answered on this link: its unit id is right
    misconfigured_logged: bool = False


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
        self._dropped = asyncio.Event()  # the peer closed the connection
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
        wrong = sorted(unit_id for unit_id, unit in self.units.items()
                       if unit.online is False and unit.cause == MISCONFIGURED)
        return AdapterHealth(connected=self.connected,
                             units_offline=tuple(sorted(self.offline_units())),
                             sending=len(self._writes), detail={"units_misconfigured": wrong})

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
                reconnect_delay=0, name=s.id, trace_connect=self._traced)
        return AsyncModbusTcpClient(s.host, port=s.port, timeout=s.timeout, retries=0,
                                    reconnect_delay=0, name=s.id, trace_connect=self._traced)

    def _traced(self, connected: bool) -> None:
        if not connected:  # pymodbus' callback: only note it
            self._dropped.set()

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Connect and poll forever; returns only when cancelled."""
        down_since: float | None = None  # since when the link is down (and said so)
        was_up = False
        error = ""
        try:
            while True:
                started = time.monotonic()
                if await self._open():
                    if down_since is not None:
                        log.info("modbus_connected", connection=self.settings.id,
                                 endpoint=self.settings.describe(),
                                 down_for=round(time.monotonic() - down_since, 3))
                        self._poll_every_unit_now()
                    down_since, was_up = None, True
                    error = await self._session()
                    if time.monotonic() - started >= self._probe_period():
                        log.debug("modbus_reopening", connection=self.settings.id, error=error)
                        continue
                    # it broke as soon as it was made: not at once again, or a peer that
                    # takes connections and drops them would have the link spin
                if down_since is None:
                    down_since = time.monotonic()
                    self._say_down(was_up, error)
                    self._all_units_down("connection lost" if was_up else "connection failed")
                spent = time.monotonic() - started
                await asyncio.sleep(max(0.0, self._probe_delay() - spent))
        finally:
            if self._client is not None:
                self._client.close()

    async def _open(self) -> bool:
        self._dropped.clear()
        self._client = self._make_client()
        try:
            ok = bool(await self._client.connect())
        except (OSError, ModbusException):
            ok = False
        if ok:
            self._connected.set()
        else:
            self._client.close()
        return ok

    async def _session(self) -> str:
        """Poll until the link breaks; why it broke."""
        try:
            await self._poll_forever()
        except ConnectionException as exc:
            return str(exc)
        finally:
            self._connected.clear()
            self._client.close()

    def _probe_period(self) -> float:
        return max(PROBE_FLOOR, min(self.intervals.values(), default=1.0))

    def _probe_delay(self) -> float:
        return self._probe_period() * random.uniform(1 - PROBE_JITTER, 1 + PROBE_JITTER)

    def _say_down(self, was_up: bool, error: str) -> None:
        s = self.settings
        retry = (f"every {self._probe_period():g}s (±{PROBE_JITTER:.0%}) until it answers; "
                 "logged again when it does")
        if was_up:
            log.warning("modbus_connection_lost", connection=s.id, endpoint=s.describe(),
                        error=error, retry=retry)
        else:
            log.warning("modbus_unreachable", connection=s.id, endpoint=s.describe(),
                        retry=retry)

    def _backoff(self, failures: int) -> float:
        base = min(self.settings.backoff_max, 0.25 * 2.0 ** min(failures, 16))
        return base * random.uniform(0.5, 1.0)

    def _all_units_down(self, reason: str) -> None:
        for unit_id, unit in self.units.items():
            if unit.cause != LINK:
                unit.online, unit.cause = False, LINK
                self._report(UnitHealth(self.settings.id, unit_id, False, reason, time.time()))

    def _poll_every_unit_now(self) -> None:
        """The link is back: every unit is read at the first poll, whatever its back-off."""
        for unit in self.units.values():
            unit.failures, unit.retry_at = 0, 0.0

    # ------------------------------------------------------------------ polling

    async def _poll_forever(self) -> NoReturn:
        now = time.monotonic()
        for group in self._groups.values():
            group.due = now
        if not self._groups or not self.blocks:
            # a connection used only for writes: keep it open, and notice when it closes
            await self._dropped.wait()
            raise ConnectionException(f"{self.settings.describe()} closed the connection")
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
            elif isinstance(outcome, int) and outcome not in GATEWAY_CODES:
                self._answered(block.unit, unit, now)
                self._report(BlockRefused(self.settings.id, block, outcome, now))
            elif isinstance(outcome, int):
                skipped.add(block.unit)
                self._nobody_behind(block.unit, unit, outcome, now)
            else:
                skipped.add(block.unit)
                self._unanswered(block.unit, unit, outcome, SILENT, now)

    async def _read(self, block: ReadBlock) -> tuple[int, ...] | tuple[bool, ...] | int | str:
        """The values, the code of an exception response (int), or why nothing came back."""
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
            return int(getattr(rr, "exception_code", 0))
        if block.table in ("coil", "discrete_input"):
            return tuple(bool(b) for b in rr.bits[:block.count])
        return tuple(int(r) for r in rr.registers)

    def _answered(self, unit_id: int, unit: _Unit, now: float) -> None:
        unit.failures, unit.retry_at, unit.answered = 0, 0.0, True
        if unit.online is not True:
            if unit.logged:
                log.info("modbus_unit_online", connection=self.settings.id, unit=unit_id)
            unit.online, unit.cause, unit.logged = True, "", False
            self._report(UnitHealth(self.settings.id, unit_id, True, "answering", now))

    def _nobody_behind(self, unit_id: int, unit: _Unit, code: int, now: float) -> None:
        """A gateway answered for the unit that nothing behind it answers (0A, 0B)."""
        exception = f"exception {code:02X}, {EXCEPTION_NAMES[code]}"
        if unit.answered:  # the unit id is right: the device behind the gateway went silent
            self._unanswered(unit_id, unit, f"gateway reports no response ({exception})",
                             SILENT, now)
            return
        self._unanswered(unit_id, unit, f"no unit {unit_id} behind {self.settings.describe()} "
                         f"({exception}): check the unit id in the config", MISCONFIGURED, now,
                         code)

    def _unanswered(self, unit_id: int, unit: _Unit, reason: str, cause: str, now: float,
                    code: int = 0) -> None:
        unit.failures += 1
        if unit.failures < FAILURES_BEFORE_OFFLINE:
            return
        unit.retry_at = time.monotonic() + self._backoff(unit.failures - 1)
        if unit.online is False and unit.cause == cause:
            return
        unit.online, unit.cause = False, cause
        if cause == MISCONFIGURED:
            if not unit.misconfigured_logged:
                self._say_misconfigured(unit_id, code)
            unit.misconfigured_logged = unit.logged = True
        elif not unit.logged:
            log.warning("modbus_unit_offline", connection=self.settings.id, unit=unit_id,
                        reason=reason, retry="with back-off; the other units keep polling")
            unit.logged = True
        self._report(UnitHealth(self.settings.id, unit_id, False, reason, now))

    def _say_misconfigured(self, unit_id: int, code: int) -> None:
        s = self.settings
        where: dict[str, object] = ({"host": s.host, "port": s.port} if s.transport == "tcp"
                                    else {"device": s.device})
        log.error("modbus_unit_misconfigured", connection=s.id, **where, unit=unit_id,
                  response=f"exception {code:02X} ({EXCEPTION_NAMES[code]})",
                  hint=f"check the unit id in the config: nothing behind {s.describe()} "
                       f"answers to unit {unit_id} (a device behind it that is switched off "
                       "or not wired answers the same)")

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
