"""A simulated shut-off valve (gas or water): it travels when told to close and reports where
it is."""

from __future__ import annotations

from typing import Literal

from simulators.modbus_base import SimulatedDevice, WriteRecord

ValveKind = Literal["gas", "water"]


POSITION_OPEN = 0
POSITION_MOVING = 1
POSITION_CLOSED = 2
POSITION_FAULT = 3


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
