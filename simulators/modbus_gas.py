"""A simulated gas detector: a concentration that ramps, its alarm levels, warm-up and faults."""

from __future__ import annotations

import math
import time
from typing import ClassVar, Literal

from simulators.modbus_base import SimulatedDevice

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
