"""Domain values: plain frozen dataclasses and enums, no I/O.

Everything here is built from validated config or from adapter readings; pydantic stays at the
edge (``config.py``, ``playbook.py``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from gateway.domain.events import EventKind


def value_key(value: Any) -> str:
    """How a raw value is written as a key of a value → state mapping (case-insensitive;
    booleans as true/false; 2.0 and 2 alike)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().lower()


class PointState(enum.StrEnum):
    NORMAL = "normal"
    PREALARM = "prealarm"
    ALARM = "alarm"
    TROUBLE = "trouble"
    OFFLINE = "offline"
    TEST = "test"
    WARMUP = "warmup"  # not measuring yet (a gas detector warming up): neither alarm nor normal


class PointKind(enum.StrEnum):
    FIRE_PANEL = "fire_panel"
    SMOKE_DETECTOR = "smoke_detector"
    HEAT_DETECTOR = "heat_detector"
    FLAME_DETECTOR = "flame_detector"
    MANUAL_CALL_POINT = "manual_call_point"
    SPRINKLER_FLOW = "sprinkler_flow"
    GAS_DETECTOR = "gas_detector"
    WATER_LEAK = "water_leak"
    ELEVATOR_ALARM_BUTTON = "elevator_alarm_button"
    ELEVATOR_STATUS = "elevator_status"
    VALVE_POSITION = "valve_position"
    POWER_STATUS = "power_status"
    GENERATOR = "generator"
    SYSTEM = "system"  # the gateway's own health (broker link, silent adapters)
    GENERIC = "generic"


class ActuatorKind(enum.StrEnum):
    ELEVATOR = "elevator"
    GAS_VALVE = "gas_valve"
    WATER_VALVE = "water_valve"
    POWER_BREAKER = "power_breaker"
    PA_SYSTEM = "pa_system"
    SOUNDER = "sounder"
    GENERIC = "generic"


class IncidentStatus(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Verdict(enum.StrEnum):
    """What an incident turned out to be (set by a branch of its playbook): KPIs count
    false alarms per device from it."""

    REAL = "real"
    MINOR = "minor"
    FALSE_ALARM = "false_alarm"


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


SEVERITY_RANK = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 3}


class StepStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    OVERDUE = "overdue"


class ActionStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DONE = "done"
    WITHHELD = "withheld"
    FAILED = "failed"


class PromptStatus(enum.StrEnum):
    OPEN = "open"
    AWAITING_SECOND = "awaiting_second"  # a first operator said yes; a second must confirm
    ANSWERED = "answered"
    ACTED_ON_TIMEOUT = "acted_on_timeout"


class BranchStatus(enum.StrEnum):
    OPEN = "open"
    DECIDED = "decided"


@dataclass(frozen=True, slots=True)
class Text:
    """An operator-facing text in zh-CN with its English beside it."""

    zh: str
    en: str

    def __str__(self) -> str:
        return f"{self.zh} / {self.en}"


@dataclass(frozen=True, slots=True)
class Location:
    site: str
    building: str = ""
    floor: str = ""
    zone: str = ""
    unit: str = ""

    def label(self) -> str:
        parts = [self.site]
        if self.building:
            parts.append(f"B{self.building}")
        if self.floor:
            parts.append(f"F{self.floor}")
        if self.zone:
            parts.append(f"Z{self.zone}")
        if self.unit:
            parts.append(f"U{self.unit}")
        return "-".join(parts)


@dataclass(frozen=True, slots=True)
class Signal:
    """One reading of a point, after mapping: what the engine reasons about."""

    point_id: str
    kind: PointKind
    location: Location
    state: PointState
    at: float
    value: float | str | bool | None = None
    device: str = ""
    source: str = ""
    changed: bool = True
    replayed: bool = False
    drill: bool = False
    # ISA-18.2 chattering: how often the point went into alarm within the window, when that
    # is 3 or more (0 otherwise); such a point is flagged, not announced again each cycle
    chattering: int = 0
    # which of the point's conditions this is about: "" for its main channel (alarm, normal,
    # offline...), else a trouble condition (low_battery, tamper, bad_input...) that comes
    # and goes on its own, so that a leak's restore shows while its battery stays low
    condition: str = ""
    # older than the point's last accepted message by the device's own time or sequence:
    # kept on record, never overrides newer state
    stale: bool = False

    @property
    def source_key(self) -> tuple[str, str]:
        """One independent alarm-initiating device: a point, or a device behind a zone point."""
        return (self.point_id, self.device)


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the append-only log; ``incident_id`` is empty for site-level facts."""

    kind: EventKind
    at: float
    incident_id: str = ""
    point_id: str = ""
    actor: str = ""
    data: dict[str, Any] = field(default_factory=dict)
