"""A simulated elevator car: it travels, opens its doors, takes a fire recall (or gets stuck,
or ignores it), and reports its status bits."""

from __future__ import annotations

import math
import time
from typing import Literal

from simulators.modbus_base import SimulatedDevice


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
