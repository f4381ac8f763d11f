"""Modbus device simulators: real pymodbus servers with devices that behave.

A :class:`ModbusDeviceServer` serves several units on one endpoint (Modbus TCP on a host and
port, or RTU on a serial line), like a gas alarm controller or an RS-485 interface box. Each
unit is a simulated device — :class:`GasDetector`, :class:`ElevatorCar`, :class:`ShutOffValve` —
whose registers live in a pymodbus datastore and whose behaviour runs in an asyncio task: a
concentration ramps, a car travels floor by floor, a valve takes its travel time.

Addresses are 0-based protocol addresses, as on the wire and in the site config (holding
register 40001 is address 0). Every write a device receives is recorded (``device.writes``),
accepted or not, so a test can assert that no actuator was written to.

pymodbus 3.16 notes (checked in its source, not guessed):

* The datastore is ``SimDevice``/``SimData`` (``ModbusDeviceContext`` and the data blocks are
  deprecated wrappers that build a ``SimDevice``; ``ModbusSequentialDataBlock(address, ...)``
  becomes ``SimData(address - 1)``, so the old "+1" offset survives only in those wrappers).
  ``SimData`` addresses are the request addresses, 0-based.
* ``SimDevice(action=...)`` is called on every access, *before* a write lands in the
  registers, with the values being written: that is where writes are recorded and turned into
  behaviour (an ``ExcCodes`` return value rejects the request).
* The server's ``SimCore`` raises ``KeyError`` for an unknown unit, which the request handler
  answers with an exception response (device failure) even with
  ``ignore_missing_devices=True``. A silent unit needs ``NoSuchIdException`` instead, hence the
  small ``SimCore`` subclass used here (:class:`_Units`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import struct
import threading
import time
import tty
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simcore import SimCore
from pymodbus.simulator.simruntime import SimRuntime

from gateway.config.modbus import ModbusConnection
from gateway.config.site import SiteConfig
from gateway.domain.model import ActuatorKind, PointKind

T = TypeVar("T")
Table = Literal["coil", "discrete_input", "holding", "input"]

_TABLE_OF_FUNCTION: dict[int, Table] = {
    1: "coil", 5: "coil", 15: "coil", 2: "discrete_input", 4: "input",
    3: "holding", 6: "holding", 16: "holding", 22: "holding", 23: "holding"}
_WRITE_FUNCTIONS = frozenset({5, 6, 15, 16, 22, 23})
TICK = 0.05  # behaviour update period: 20 Hz


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """One written coil or register, as the device received it."""

    at: float  # wall clock (time.time())
    unit: int
    table: str  # "coil" or "holding"
    address: int
    value: int | bool
    accepted: bool  # False: answered with an exception (read-only or unknown address)

    def describe(self) -> str:
        value = int(self.value) if isinstance(self.value, bool) else self.value
        verdict = "" if self.accepted else " (rejected: illegal address)"
        return f"unit {self.unit} {self.table} {self.address} = {value}{verdict}"


WriteListener = Callable[["SimulatedDevice", WriteRecord], None]


# ----------------------------------------------------------------------------- base device


class SimulatedDevice:
    """One Modbus unit: registers in a pymodbus datastore, behaviour in an asyncio task.

    Subclasses declare their map (``HOLDING`` and ``COILS`` counts, writable addresses) and
    implement :meth:`_step` (called about 20 times a second and after each write) and
    optionally :meth:`_written` (called from within the request, before the write lands).
    Methods that change the device are meant to be called from the event loop that runs it
    (see :class:`SimulatorThread` for use from another thread).
    """

    kind: ClassVar[str] = "device"
    HOLDING: ClassVar[int] = 1
    COILS: ClassVar[int] = 0
    WRITABLE_HOLDING: ClassVar[frozenset[int]] = frozenset()
    WRITABLE_COILS: ClassVar[frozenset[int]] = frozenset()

    def __init__(self, unit: int, name: str = "") -> None:
        if not 0 <= unit <= 247:
            raise ValueError(f"unit id {unit} is outside 0..247")
        self.unit = unit
        self.name = name or f"{self.kind}-{unit}"
        self.writes: list[WriteRecord] = []
        self._listeners: list[WriteListener] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_step = time.monotonic()
        coils = max(16, -(-self.COILS // 16) * 16)  # whole 16-bit words
        self.simdevice = SimDevice(
            id=unit,
            simdata=([SimData(0, count=coils, values=False, datatype=DataType.BITS)],
                     [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                     [SimData(0, count=self.HOLDING, values=0, datatype=DataType.REGISTERS)],
                     [SimData(0, count=1, datatype=DataType.INVALID)]),
            action=self._access)
        self.runtime = SimRuntime(self.simdevice)
        # The runtime's own lists, updated in place by pymodbus on client writes.
        self._holding: list[int] = self.runtime.block["h"][2]
        self._coil_words: list[int] = self.runtime.block["c"][2]

    # -- registers

    def holding(self, address: int, count: int = 1) -> list[int]:
        """Holding registers as a client would read them."""
        if address < 0 or address + count > self.HOLDING:
            raise IndexError(f"holding registers {address}..{address + count - 1} are not "
                             f"in the map of {self.name} (0..{self.HOLDING - 1})")
        return list(self._holding[address:address + count])

    def coil(self, address: int) -> bool:
        if not 0 <= address < max(self.COILS, 1):
            raise IndexError(f"coil {address} is not in the map of {self.name}")
        return bool((self._coil_words[address // 16] >> (address % 16)) & 1)

    def _set(self, address: int, value: int) -> None:
        self._holding[address] = value & 0xFFFF

    def _set_float(self, address: int, value: float) -> None:
        """float32, word order little (CDAB): the low word at ``address``."""
        hi, lo = struct.unpack(">HH", struct.pack(">f", value))
        self._holding[address] = lo
        self._holding[address + 1] = hi

    def _get_float(self, address: int) -> float:
        lo, hi = self._holding[address], self._holding[address + 1]
        value: float = struct.unpack(">f", struct.pack(">HH", hi, lo))[0]
        return value

    def _set_coil(self, address: int, value: bool) -> None:
        word, bit = divmod(address, 16)
        if value:
            self._coil_words[word] |= 1 << bit
        else:
            self._coil_words[word] &= ~(1 << bit) & 0xFFFF

    # -- writes

    def add_write_listener(self, listener: WriteListener) -> None:
        self._listeners.append(listener)

    async def _access(self, function_code: int, start_address: int, address: int, count: int,
                      registers: list[int], values: list[int] | list[bool] | None,
                      ) -> ExcCodes | None:
        """pymodbus ``SimDevice.action``: every request to this unit passes here."""
        del start_address, count, registers  # count is in 16-bit words for bit tables
        table = _TABLE_OF_FUNCTION.get(function_code)
        if table is None or table in ("discrete_input", "input"):
            return ExcCodes.ILLEGAL_ADDRESS
        size = self.COILS if table == "coil" else self.HOLDING
        if function_code not in _WRITE_FUNCTIONS or values is None:
            return None if address < size else ExcCodes.ILLEGAL_ADDRESS
        writable = self.WRITABLE_COILS if table == "coil" else self.WRITABLE_HOLDING
        addresses = range(address, address + len(values))
        accepted = all(a in writable for a in addresses)
        now = time.time()
        records = [WriteRecord(now, self.unit, table, a, v, accepted)
                   for a, v in zip(addresses, values, strict=True)]
        self.writes.extend(records)
        for record in records:
            for listener in self._listeners:
                listener(self, record)
        if not accepted:
            return ExcCodes.ILLEGAL_ADDRESS
        for record in records:
            self._written(record)
        # The write lands in the registers when this returns; act on it right after, before
        # the next request is handled.
        asyncio.get_running_loop().call_soon(self._advance)
        return None

    def _written(self, record: WriteRecord) -> None:
        """A client wrote ``record`` (accepted); it lands in the datastore right after."""

    # -- behaviour

    def _step(self, now: float, dt: float) -> None:
        """Advance the behaviour to ``now`` (monotonic seconds), ``dt`` after the last step."""

    def _advance(self) -> None:
        now = time.monotonic()
        self._step(now, now - self._last_step)
        self._last_step = now

    async def _run(self) -> None:
        self._last_step = time.monotonic()
        while True:
            self._advance()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK):
                    await self._wake.wait()

    def start(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name=f"simulator {self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def describe(self) -> str:
        return f"unit {self.unit}: {self.kind} {self.name}"


# ----------------------------------------------------------------------------- gas detector


GasFault = Literal["maintenance", "instrument"]


class GasDetector(SimulatedDevice):
    """A Honeywell-Midas-like combustible gas detector (one unit per detector).

    HR0 status word (bits 0-3 monitor state 1 monitoring / 0 warm-up, bit 4 maintenance fault,
    bit 5 instrument fault, bit 6 low alarm, bit 7 high alarm, bit 11 heartbeat toggling every
    2 s); HR1 gas id (6 = LEL); HR2-3 concentration float32 CDAB; HR4 concentration as integer;
    HR5 most important fault number; HR6 unit bitmask (8 = %LEL); HR7 sensor temperature;
    HR8 remaining cell life (h); HR9 heartbeat counter; HR10 low-alarm event counter;
    HR11 sample flow; HR12-13 low threshold float32 CDAB; HR14-15 high threshold (writable).
    The alarm relays follow the thresholds with a dead-band (5 %LEL) on the way down.
    """

    kind = "gas_detector"
    HOLDING = 16
    WRITABLE_HOLDING = frozenset(range(12, 16))
    GAS_LEL = 6
    UNIT_PERCENT_LEL = 8
    FAULT_NUMBERS: ClassVar[dict[str, int]] = {"maintenance": 12, "instrument": 35}

    def __init__(self, unit: int, name: str = "", *, concentration: float = 0.0,
                 low: float = 25.0, high: float = 50.0, hysteresis: float = 5.0,
                 heartbeat_seconds: float = 2.0, warmup_seconds: float = 0.0) -> None:
        super().__init__(unit, name)
        self.hysteresis = hysteresis
        self.heartbeat_seconds = heartbeat_seconds
        self._concentration = _clamp(concentration)
        self._ramp: tuple[float, float, float, float] | None = None  # from, to, t0, t1
        self._faults: set[str] = set()
        self._low = self._high = False
        self._events = 0
        self._born = time.monotonic()
        self._warm_until = self._born + warmup_seconds
        self._set(1, self.GAS_LEL)
        self._set(6, self.UNIT_PERCENT_LEL)
        self._set(7, 23)
        self._set(8, 8760)
        self._set_float(12, low)
        self._set_float(14, high)
        self._refresh(self._born)

    # -- behaviour API

    @property
    def concentration(self) -> float:
        return self._concentration

    @property
    def low_alarm(self) -> bool:
        return self._low

    @property
    def high_alarm(self) -> bool:
        return self._high

    @property
    def alarm_events(self) -> int:
        return self._events

    def set_concentration(self, value: float) -> None:
        """Jump to ``value`` %LEL (stops a ramp)."""
        self._ramp = None
        self._concentration = _clamp(value)
        self._refresh(time.monotonic())

    def ramp(self, to: float, over_seconds: float) -> None:
        """Change the concentration linearly to ``to`` over ``over_seconds`` (20 updates/s)."""
        if over_seconds <= 0:
            self.set_concentration(to)
            return
        now = time.monotonic()
        self._ramp = (self._concentration, _clamp(to), now, now + over_seconds)
        self._wake.set()

    @property
    def ramping(self) -> bool:
        return self._ramp is not None

    def fault(self, kind: GasFault = "maintenance") -> None:
        if kind not in self.FAULT_NUMBERS:
            raise ValueError(f"fault kind is 'maintenance' or 'instrument', not {kind!r}")
        self._faults.add(kind)
        self._refresh(time.monotonic())

    def clear_fault(self) -> None:
        self._faults.clear()
        self._refresh(time.monotonic())

    def warm_up(self, seconds: float) -> None:
        """As after power-up: monitor state 0 and no alarms for ``seconds``."""
        self._warm_until = time.monotonic() + seconds
        self._refresh(time.monotonic())

    # -- internals

    def _step(self, now: float, dt: float) -> None:
        if self._ramp is not None:
            start, end, t0, t1 = self._ramp
            if now >= t1:
                self._concentration = end
                self._ramp = None
            else:
                self._concentration = start + (end - start) * (now - t0) / (t1 - t0)
        self._refresh(now)

    def _refresh(self, now: float) -> None:
        warming = now < self._warm_until
        low_set, high_set = self._get_float(12), self._get_float(14)
        c = self._concentration
        if warming:
            low = high = False
        else:
            low = c >= low_set or (self._low and c > low_set - self.hysteresis)
            high = c >= high_set or (self._high and c > high_set - self.hysteresis)
        if low and not self._low:
            self._events += 1
        self._low, self._high = low, high
        beats = int((now - self._born) / self.heartbeat_seconds)
        status = 0 if warming else 1
        if "maintenance" in self._faults:
            status |= 1 << 4
        if "instrument" in self._faults:
            status |= 1 << 5
        status |= (low << 6) | (high << 7) | ((beats & 1) << 11)
        self._set(0, status)
        self._set_float(2, c)
        self._set(4, round(c))
        fault_number = max((self.FAULT_NUMBERS[f] for f in self._faults), default=0)
        self._set(5, fault_number)
        self._set(9, beats)
        self._set(10, self._events)

    def describe(self) -> str:
        return (f"unit {self.unit}: gas detector {self.name} ({self._concentration:.1f} %LEL, "
                f"low {self._get_float(12):g}, high {self._get_float(14):g})")


def _clamp(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"concentration {value!r} is not a number")
    return min(max(float(value), 0.0), 100.0)


# ----------------------------------------------------------------------------- elevator car


class Direction:
    """BACnet LiftCarDirection."""

    NONE, STOPPED, UP, DOWN = 1, 2, 3, 4


class Doors:
    """BACnet LiftCarDoorStatus."""

    CLOSING, CLOSED, OPENING, OPENED = 2, 3, 4, 5


class Mode:
    """BACnet LiftCarMode."""

    NORMAL, FIRE, OUT_OF_SERVICE = 1, 11, 12


ElevatorBehaviour = Literal["normal", "ignore_recall", "stuck"]

STATUS_AT_RECALL_FLOOR = 1 << 0
STATUS_DOORS_OPEN = 1 << 1
STATUS_FIRE_RECALL = 1 << 2
STATUS_RECALL_COMPLETE = 1 << 3
STATUS_FAULT = 1 << 4
STATUS_OUTSIDE_LANDING = 1 << 5
STATUS_ALARM_BUTTON = 1 << 6


class ElevatorCar(SimulatedDevice):
    """An elevator car behind a Modbus interface box (one unit per car).

    Coil 0 fire recall input (1 = recall to the recall floor, 0 = back to normal service);
    coil 1 out-of-service input. HR0 car floor (int16, 1 = ground, basements negative),
    HR1 direction, HR2 door status, HR3 mode (BACnet enumerations), HR4 status word (bit 0 at
    recall floor, bit 1 doors open, bit 2 fire recall mode, bit 3 recall complete, bit 4 fault,
    bit 5 stopped outside a landing zone, bit 6 alarm button active), HR5 alarm-button presses.

    The inputs are levels, read by the controller (as a dry contact would be). On recall the
    car drops its calls, closes its doors if open, stops at the next landing if it was moving
    away, travels non-stop to the recall floor, opens its doors and stays; recall complete is
    set only then. Behaviours: ``normal``, ``ignore_recall`` (the input does nothing: the
    gateway must notice the missing feedback), ``stuck`` (stopped between floors, doors shut).
    """

    kind = "elevator"
    HOLDING = 6
    COILS = 2
    WRITABLE_COILS = frozenset({0, 1})

    def __init__(self, unit: int, name: str = "", *, floors: tuple[int, int] = (-1, 18),
                 start_floor: int = 5, recall_floor: int = 1, seconds_per_floor: float = 1.5,
                 door_seconds: float = 2.0, dwell_seconds: float = 3.0,
                 alarm_pulse_seconds: float = 3.0, doors_open: bool = False) -> None:
        super().__init__(unit, name)
        lowest, highest = floors
        self.floors = [f for f in range(lowest, highest + 1) if f != 0]
        for floor, what in ((start_floor, "start"), (recall_floor, "recall")):
            if floor not in self.floors:
                raise ValueError(f"{what} floor {floor} is not served ({lowest}..{highest})")
        self.recall_floor = recall_floor
        self.seconds_per_floor = seconds_per_floor
        self.door_seconds = door_seconds
        self.dwell_seconds = dwell_seconds
        self.alarm_pulse_seconds = alarm_pulse_seconds
        self.behaviour: ElevatorBehaviour = "normal"
        self.fault_active = False
        self._pos = float(self.floors.index(start_floor))
        self._moving = False
        self._direction = Direction.NONE
        self._doors = Doors.OPENED if doors_open else Doors.CLOSED
        self._door_until = 0.0
        self._dwell_until = math.inf if doors_open else 0.0
        self._mode = Mode.NORMAL
        self._calls: list[int] = []
        self._reverse_at: int | None = None
        self._presses = 0
        self._alarm_until = 0.0
        self._refresh(time.monotonic())

    # -- behaviour API

    @property
    def floor(self) -> int:
        return self.floors[round(self._pos)]

    @property
    def at_landing(self) -> bool:
        return abs(self._pos - round(self._pos)) < 1e-6

    @property
    def mode(self) -> int:
        return self._mode

    @property
    def doors(self) -> int:
        return self._doors

    @property
    def direction(self) -> int:
        return self._direction

    @property
    def status_word(self) -> int:
        return self._holding[4]

    @property
    def recall_complete(self) -> bool:
        return bool(self.status_word & STATUS_RECALL_COMPLETE)

    def set_behaviour(self, behaviour: ElevatorBehaviour) -> None:
        if behaviour not in ("normal", "ignore_recall", "stuck"):
            raise ValueError(f"behaviour is normal, ignore_recall or stuck, not {behaviour!r}")
        if behaviour == "stuck" and self.behaviour != "stuck":
            if self.at_landing:  # stop just outside the landing zone
                self._pos += 0.4 if round(self._pos) < len(self.floors) - 1 else -0.4
            self._moving = False
            self._doors = Doors.CLOSED
        self.behaviour = behaviour
        self._refresh(time.monotonic())
        self._wake.set()

    def set_fault(self, active: bool = True) -> None:
        """The controller's fault output (status bit 4); the car keeps its state."""
        self.fault_active = active
        self._refresh(time.monotonic())

    def press_alarm_button(self) -> None:
        self._presses = (self._presses + 1) & 0xFFFF
        self._alarm_until = time.monotonic() + self.alarm_pulse_seconds
        self._refresh(time.monotonic())

    def call(self, floor: int) -> None:
        """A landing or car call (ignored unless in normal service)."""
        if floor not in self.floors:
            raise ValueError(f"floor {floor} is not served")
        index = self.floors.index(floor)
        if self._mode == Mode.NORMAL and index not in self._calls:
            self._calls.append(index)
            self._wake.set()

    def set_input(self, coil: int, value: bool) -> None:
        """Drive an input on site (key switch) instead of over Modbus; not recorded as a write."""
        if coil not in self.WRITABLE_COILS:
            raise ValueError(f"coil {coil} is not an input of the car")
        self._set_coil(coil, value)
        self._wake.set()

    # -- internals

    def _next_landing(self) -> int:
        if self._direction == Direction.UP:
            return math.ceil(self._pos - 1e-6)
        if self._direction == Direction.DOWN:
            return math.floor(self._pos + 1e-6)
        return round(self._pos)

    def _target(self) -> int | None:
        if self._mode == Mode.FIRE:
            if self._reverse_at is not None:
                return self._reverse_at
            return self.floors.index(self.recall_floor)
        if not self.at_landing:
            return self._next_landing()
        if self._mode == Mode.NORMAL and self._calls:
            return self._calls[0]
        return None

    def _open_doors(self, now: float) -> None:
        if self._doors in (Doors.CLOSED, Doors.CLOSING):
            self._doors = Doors.OPENING
            self._door_until = now + self.door_seconds

    def _close_doors(self, now: float) -> None:
        if self._doors in (Doors.OPENED, Doors.OPENING):
            self._doors = Doors.CLOSING
            self._door_until = now + self.door_seconds

    def _update_mode(self, now: float) -> None:
        recall = self.coil(0) and self.behaviour != "ignore_recall"
        out_of_service = self.coil(1)
        if recall and self._mode != Mode.FIRE:
            self._mode = Mode.FIRE
            self._calls.clear()
            recall_index = self.floors.index(self.recall_floor)
            moving_away = self._moving and (
                (self._direction == Direction.UP and recall_index < self._pos)
                or (self._direction == Direction.DOWN and recall_index > self._pos))
            self._reverse_at = self._next_landing() if moving_away else None
        elif not recall:
            mode = Mode.OUT_OF_SERVICE if out_of_service else Mode.NORMAL
            if mode != self._mode:
                if self._mode == Mode.FIRE and self._doors == Doors.OPENED:
                    self._dwell_until = now + self.dwell_seconds
                if mode == Mode.OUT_OF_SERVICE:
                    self._calls.clear()
                self._mode = mode
                self._reverse_at = None

    def _step(self, now: float, dt: float) -> None:
        self._update_mode(now)
        if self.behaviour == "stuck":
            self._moving = False
            self._refresh(now)
            return
        if self._doors == Doors.OPENING and now >= self._door_until:
            self._doors = Doors.OPENED
            self._dwell_until = now + self.dwell_seconds
        elif self._doors == Doors.CLOSING and now >= self._door_until:
            self._doors = Doors.CLOSED
        target = self._target()
        if target is None:
            if (self._doors == Doors.OPENED and self._mode != Mode.FIRE
                    and now >= self._dwell_until):
                self._close_doors(now)
        elif abs(self._pos - target) < 1e-6:
            was_moving, self._moving = self._moving, False
            self._pos = float(target)
            if self._reverse_at == target:
                self._reverse_at = None  # stopped to turn round, doors stay shut
            elif self._mode == Mode.FIRE:
                self._open_doors(now)
            elif self._mode == Mode.NORMAL and self._calls and self._calls[0] == target:
                self._calls.pop(0)
                self._open_doors(now)
            elif was_moving:
                self._open_doors(now)
        elif self._doors != Doors.CLOSED:
            self._close_doors(now)  # no travel with open doors
        else:
            step = dt / self.seconds_per_floor if self._moving else 0.0
            self._moving = True
            if target > self._pos:
                self._direction = Direction.UP
                self._pos = min(self._pos + step, float(target))
            else:
                self._direction = Direction.DOWN
                self._pos = max(self._pos - step, float(target))
        self._refresh(now)

    def _refresh(self, now: float) -> None:
        if self.behaviour == "stuck":
            self._direction = Direction.STOPPED
        elif not self._moving:
            self._direction = Direction.NONE
        at_landing = self.at_landing
        status = 0
        if at_landing and not self._moving and self.floor == self.recall_floor:
            status |= STATUS_AT_RECALL_FLOOR
        if self._doors == Doors.OPENED:
            status |= STATUS_DOORS_OPEN
        if self._mode == Mode.FIRE:
            status |= STATUS_FIRE_RECALL
        if status & 0b111 == 0b111:
            status |= STATUS_RECALL_COMPLETE
        if self.fault_active:
            status |= STATUS_FAULT
        if not at_landing and not self._moving:
            status |= STATUS_OUTSIDE_LANDING
        if now < self._alarm_until:
            status |= STATUS_ALARM_BUTTON
        self._set(0, self.floor)
        self._set(1, self._direction)
        self._set(2, self._doors)
        self._set(3, self._mode)
        self._set(4, status)
        self._set(5, self._presses)

    def describe(self) -> str:
        return (f"unit {self.unit}: elevator car {self.name} (floor {self.floor}, floors "
                f"{self.floors[0]}..{self.floors[-1]}, {self.seconds_per_floor:g} s a floor)")


# ----------------------------------------------------------------------------- shut-off valve


ValveKind = Literal["gas", "water"]
POSITION_OPEN, POSITION_MOVING, POSITION_CLOSED, POSITION_FAULT = 0, 1, 2, 3


class ShutOffValve(SimulatedDevice):
    """A motorised shut-off valve (one unit per valve).

    Coil 0 close command: 1 closes; 0 reopens a water valve, but does nothing to a gas valve,
    which is "automatic close, manual open on site" (GB 50028 10.8.4): :meth:`manual_open` is
    the person on site. HR0 position: 0 open, 1 moving, 2 closed, 3 fault. A faulted valve
    reports 3 and ignores commands.
    """

    kind = "valve"
    HOLDING = 1
    COILS = 1
    WRITABLE_COILS = frozenset({0})

    def __init__(self, unit: int, name: str = "", *, valve: ValveKind = "gas",
                 travel_seconds: float = 3.0, closed: bool = False) -> None:
        super().__init__(unit, name)
        if valve not in ("gas", "water"):
            raise ValueError(f"valve kind is gas or water, not {valve!r}")
        self.valve = valve
        self.travel_seconds = travel_seconds
        self._pos = self._target = 1.0 if closed else 0.0  # 0 open .. 1 closed
        self.faulted = False
        self._refresh()

    @property
    def position(self) -> int:
        return self._holding[0]

    def manual_open(self) -> None:
        """Someone opens the valve by hand on site (resets the close command)."""
        self._set_coil(0, False)
        if not self.faulted:
            self._target = 0.0
            self._wake.set()

    def fault(self) -> None:
        self.faulted = True
        self._refresh()

    def clear_fault(self) -> None:
        self.faulted = False
        self._refresh()

    def _written(self, record: WriteRecord) -> None:
        if self.faulted or record.table != "coil" or record.address != 0:
            return
        if record.value:
            self._target = 1.0
        elif self.valve == "water":
            self._target = 0.0

    def _step(self, now: float, dt: float) -> None:
        if not self.faulted and self._pos != self._target:
            step = dt / self.travel_seconds if self.travel_seconds > 0 else 1.0
            if self._target > self._pos:
                self._pos = min(self._pos + step, self._target)
            else:
                self._pos = max(self._pos - step, self._target)
        self._refresh()

    def _refresh(self) -> None:
        if self.faulted:
            position = POSITION_FAULT
        elif self._pos <= 0.0:
            position = POSITION_OPEN
        elif self._pos >= 1.0:
            position = POSITION_CLOSED
        else:
            position = POSITION_MOVING
        self._set(0, position)

    def describe(self) -> str:
        state = {0: "open", 1: "moving", 2: "closed", 3: "fault"}[self.position]
        return f"unit {self.unit}: {self.valve} valve {self.name} ({state})"


# ----------------------------------------------------------------------------- server


class _Units(SimCore):
    """The server's datastore: our devices' runtimes; muted and unknown units stay silent."""

    def __init__(self, runtimes: dict[int, SimRuntime]) -> None:  # no super(): no SimDevices
        self.devices = runtimes
        self.muted: set[int] = set()

    def _runtime(self, device_id: int) -> SimRuntime:
        if device_id in self.muted or device_id not in self.devices:
            raise NoSuchIdException(f"unit {device_id} does not answer")
        return self.devices[device_id]

    async def async_getValues(self, device_id: int, func_code: int, address: int,
                              count: int = 1) -> list[int] | list[bool] | ExcCodes:
        return await self._runtime(device_id).async_getValues(func_code, address, count)

    async def async_setValues(self, device_id: int, func_code: int, address: int,
                              values: list[int] | list[bool]) -> ExcCodes | None:
        return await self._runtime(device_id).async_setValues(func_code, address, values)


D = TypeVar("D", bound=SimulatedDevice)


class ModbusDeviceServer:
    """Several simulated units on one Modbus endpoint (TCP or RTU), served by pymodbus.

    ``port=0`` listens on a free port (read :attr:`port` after :meth:`start`). A unit that is
    :meth:`set_unresponsive`, or not configured at all, does not answer: the client times out.
    """

    def __init__(self, name: str, devices: Iterable[SimulatedDevice], *,
                 transport: Literal["tcp", "rtu"] = "tcp", host: str = "127.0.0.1",
                 port: int = 502, serial_port: str | None = None, baudrate: int = 9600,
                 parity: str = "N", stopbits: int = 1, bytesize: int = 8) -> None:
        self.name = name
        self.devices: dict[int, SimulatedDevice] = {}
        for device in devices:
            if device.unit in self.devices:
                raise ValueError(f"{name}: unit {device.unit} is configured twice")
            self.devices[device.unit] = device
        if transport == "rtu" and not serial_port:
            raise ValueError(f"{name}: an rtu server needs a serial port path")
        self.transport = transport
        self.host = host
        self.port = port
        self.serial_port = serial_port
        self.baudrate, self.parity, self.stopbits, self.bytesize = (baudrate, parity, stopbits,
                                                                    bytesize)
        self._units = _Units({unit: d.runtime for unit, d in self.devices.items()})
        self._server: ModbusTcpServer | ModbusSerialServer | None = None

    @classmethod
    def for_connection(cls, connection: ModbusConnection,
                       devices: Iterable[SimulatedDevice]) -> ModbusDeviceServer:
        """The far end of a site config connection: same host/port, or same serial line."""
        if connection.transport == "rtu":
            assert connection.device is not None
            return cls(connection.id, devices, transport="rtu", serial_port=connection.device,
                       baudrate=connection.baudrate, parity=connection.parity,
                       stopbits=connection.stopbits, bytesize=connection.bytesize)
        return cls(connection.id, devices, host=connection.host, port=connection.port)

    # -- devices

    def __getitem__(self, unit: int) -> SimulatedDevice:
        return self.devices[unit]

    def device(self, unit: int, kind: type[D]) -> D:
        """The device of ``unit``, checked to be a ``kind`` (for typed test code)."""
        device = self.devices[unit]
        if not isinstance(device, kind):
            raise TypeError(f"{self.name} unit {unit} is a {device.kind}, not a {kind.__name__}")
        return device

    def gas_detector(self, unit: int) -> GasDetector:
        return self.device(unit, GasDetector)

    def elevator(self, unit: int) -> ElevatorCar:
        return self.device(unit, ElevatorCar)

    def valve(self, unit: int) -> ShutOffValve:
        return self.device(unit, ShutOffValve)

    @property
    def writes(self) -> list[WriteRecord]:
        """Every write received by any unit, in time order."""
        return sorted((w for d in self.devices.values() for w in d.writes), key=lambda w: w.at)

    def add_write_listener(self, listener: WriteListener) -> None:
        for device in self.devices.values():
            device.add_write_listener(listener)

    def set_unresponsive(self, unit: int, unresponsive: bool = True) -> None:
        """The unit stops answering at all (no exception response: the client times out)."""
        if unit not in self.devices:
            raise KeyError(f"{self.name} has no unit {unit}")
        if unresponsive:
            self._units.muted.add(unit)
        else:
            self._units.muted.discard(unit)

    def is_unresponsive(self, unit: int) -> bool:
        return unit in self._units.muted

    def endpoint(self) -> str:
        if self.transport == "rtu":
            return f"rtu:{self.serial_port}@{self.baudrate}{self.parity}{self.stopbits}"
        return f"tcp:{self.host}:{self.port}"

    # -- lifecycle

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        if self._server is not None:
            return
        simdevices = [d.simdevice for d in self.devices.values()]
        server: ModbusTcpServer | ModbusSerialServer
        if self.transport == "rtu":
            assert self.serial_port is not None
            server = ModbusSerialServer(
                simdevices, framer=FramerType.RTU, port=self.serial_port,
                baudrate=self.baudrate, parity=self.parity, stopbits=self.stopbits,
                bytesize=self.bytesize, ignore_missing_devices=True)
        else:
            server = ModbusTcpServer(simdevices, address=(self.host, self.port),
                                     ignore_missing_devices=True)
        server.context = self._units  # our runtimes, so muting works (see module notes)
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:
            await server.shutdown()  # type: ignore[no-untyped-call]  # untyped in pymodbus
            raise OSError(f"{self.name}: cannot listen on {self.endpoint()}: {exc}") from None
        listener = server.transport
        if isinstance(listener, asyncio.Server) and listener.sockets:
            self.port = int(listener.sockets[0].getsockname()[1])
        self._server = server
        for device in self.devices.values():
            device.start()

    async def stop(self) -> None:
        server, self._server = self._server, None
        for device in self.devices.values():
            await device.stop()
        if server is not None:
            await server.shutdown()  # type: ignore[no-untyped-call]  # untyped in pymodbus
            await asyncio.sleep(0)  # let the closed transports finish

    async def __aenter__(self) -> ModbusDeviceServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


# ----------------------------------------------------------------------------- site


Endpoint = tuple[str, int] | str


def build_site_simulators(site: SiteConfig, *, only: Iterable[str] | None = None,
                          endpoints: Mapping[str, Endpoint] | None = None,
                          seconds_per_floor: float = 1.5, door_seconds: float = 2.0,
                          valve_travel_seconds: float = 3.0,
                          ) -> dict[str, ModbusDeviceServer]:
    """A server per Modbus connection of the site, with the device each unit is.

    A unit with ``gas_detector`` points is a gas detector; a unit targeted by an ``elevator``
    actuator's Modbus command or holding ``elevator_status`` points is an elevator car; a unit
    targeted by a ``gas_valve``/``water_valve`` command is a valve of that kind. Units of other
    kinds are left out (they do not answer). ``endpoints`` overrides where a connection
    listens: ``(host, port)`` for TCP (port 0: any free port), a path for RTU.
    """
    wanted = set(site.modbus) if only is None else set(only)
    unknown = wanted - set(site.modbus)
    if unknown:
        raise KeyError(f"no Modbus connection {', '.join(sorted(unknown))} in {site.file} "
                       f"(it has: {', '.join(sorted(site.modbus)) or 'none'})")
    roles: dict[tuple[str, int], dict[str, str]] = {}  # (connection, unit) -> role -> why

    def claim(connection: str, unit: int, role: str, why: str) -> None:
        roles.setdefault((connection, unit), {}).setdefault(role, why)

    for point in site.points.values():
        m = point.modbus
        if m is None:
            continue
        if point.kind == PointKind.GAS_DETECTOR:
            claim(m.connection, m.unit, "gas_detector", f"point {point.id}")
        elif point.kind == PointKind.ELEVATOR_STATUS:
            claim(m.connection, m.unit, "elevator", f"point {point.id}")
    for actuator in site.actuators.values():
        role = {ActuatorKind.ELEVATOR: "elevator", ActuatorKind.GAS_VALVE: "gas_valve",
                ActuatorKind.WATER_VALVE: "water_valve"}.get(actuator.kind)
        if role is None:
            continue
        for command in actuator.commands.values():
            if command.modbus is not None:
                claim(command.modbus.connection, command.modbus.unit, role,
                      f"actuator {actuator.id}")
    names: dict[tuple[str, int], str] = {}
    for actuator in site.actuators.values():
        for command in actuator.commands.values():
            if command.modbus is not None:
                names.setdefault((command.modbus.connection, command.modbus.unit), actuator.id)
    for point in site.points.values():
        if point.modbus is not None and point.kind == PointKind.GAS_DETECTOR:
            names.setdefault((point.modbus.connection, point.modbus.unit), point.id)

    servers: dict[str, ModbusDeviceServer] = {}
    for conn_id, connection in site.modbus.items():
        if conn_id not in wanted:
            continue
        devices: list[SimulatedDevice] = []
        for (c, unit), claims in sorted(roles.items()):
            if c != conn_id:
                continue
            if len(claims) > 1:
                detail = "; ".join(f"{role} ({why})" for role, why in claims.items())
                raise ValueError(f"Modbus connection {conn_id} unit {unit} is claimed as "
                                 f"different devices: {detail}")
            role = next(iter(claims))
            name = names.get((c, unit), f"{conn_id}-{unit}")
            device: SimulatedDevice
            if role == "gas_detector":
                device = GasDetector(unit, name)
            elif role == "elevator":
                device = ElevatorCar(unit, name, start_floor=min(4 + 3 * unit, 18),
                                     seconds_per_floor=seconds_per_floor,
                                     door_seconds=door_seconds)
            else:
                device = ShutOffValve(unit, name, valve="gas" if role == "gas_valve" else "water",
                                      travel_seconds=valve_travel_seconds)
            devices.append(device)
        server = ModbusDeviceServer.for_connection(connection, devices)
        override = (endpoints or {}).get(conn_id)
        if isinstance(override, tuple):
            if server.transport != "tcp":
                raise ValueError(f"{conn_id} is an rtu connection: give a serial port path")
            server.host, server.port = override
        elif isinstance(override, str):
            if server.transport != "rtu":
                raise ValueError(f"{conn_id} is a tcp connection: give (host, port)")
            server.serial_port = override
        servers[conn_id] = server
    return servers


async def start_all(servers: Iterable[ModbusDeviceServer]) -> None:
    """Start servers; if one cannot listen, stop those already started and raise."""
    started: list[ModbusDeviceServer] = []
    try:
        for server in servers:
            await server.start()
            started.append(server)
    except BaseException:
        for server in started:
            await server.stop()
        raise


async def stop_all(servers: Iterable[ModbusDeviceServer]) -> None:
    for server in servers:
        await server.stop()


# ----------------------------------------------------------------------------- serial line


class VirtualSerialPair:
    """Two pseudo-terminals joined back to back (what ``socat pty,raw pty,raw`` gives).

    Open :attr:`server_port` with the RTU server and :attr:`client_port` with the RTU client;
    bytes are relayed both ways by the event loop. Use inside a running loop.
    """

    def __init__(self) -> None:
        self._masters: list[int] = []
        self._slaves: list[int] = []
        self.server_port = self.client_port = ""

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(2):
            master, slave = os.openpty()
            tty.setraw(slave)
            os.set_blocking(master, False)
            self._masters.append(master)
            self._slaves.append(slave)  # kept open: a pty without its slave reads EIO
        self.server_port, self.client_port = (os.ttyname(s) for s in self._slaves)
        a, b = self._masters
        loop.add_reader(a, self._relay, a, b)
        loop.add_reader(b, self._relay, b, a)

    @staticmethod
    def _relay(source: int, sink: int) -> None:
        try:
            data = os.read(source, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO: the other end is not open (yet); nothing to carry
            time.sleep(0.001)
            return
        while data:
            try:
                data = data[os.write(sink, data):]
            except BlockingIOError:
                time.sleep(0.001)

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        for fd in self._masters:
            loop.remove_reader(fd)
        for fd in self._masters + self._slaves:
            os.close(fd)
        self._masters.clear()
        self._slaves.clear()

    async def __aenter__(self) -> VirtualSerialPair:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


# ----------------------------------------------------------------------------- from a thread


class SimulatorThread:
    """Servers running on an event loop in a background thread, for synchronous tests.

    ``with SimulatorThread(servers) as sim: sim.call(gas.ramp, 60, 5)`` — device methods are
    not thread-safe, so drive them through :meth:`call` (or :meth:`run` for coroutines).
    """

    def __init__(self, servers: Iterable[ModbusDeviceServer]) -> None:
        self.servers = list(servers)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name="modbus-simulators", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        try:
            self.run(start_all(self.servers), timeout)
        except BaseException:
            self._shutdown()
            raise

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 10.0, **kwargs: Any) -> T:
        async def invoke() -> T:
            return fn(*args, **kwargs)
        return self.run(invoke(), timeout)

    def stop(self, timeout: float = 10.0) -> None:
        try:
            self.run(stop_all(self.servers), timeout)
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> SimulatorThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def wait_until(predicate: Callable[[], bool | Awaitable[bool]], within: float = 5.0,
                     interval: float = 0.02) -> None:
    """Wait until ``predicate`` (sync or async) holds; TimeoutError after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {within} s")
        await asyncio.sleep(interval)
