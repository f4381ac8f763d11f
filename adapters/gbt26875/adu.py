"""The application data unit of a GB/T 26875.3 frame: a type, a count of objects, the objects.

Each type the center acts on is read into values: building fire-facility system status (1),
component status (2, with the panel's own description in GB18030), component analog values
(3), the panel's operations (4), the transmission device's status (21) and operations (24),
software versions (5, 25) and clocks (8, 28). Any other type is kept as it came (``Other``).
An ADU whose count does not fit its length is refused with the reason, never half-read."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from adapters.gbt26875.frame import Stamp


class AduError(ValueError):
    """An ADU that cannot be read: the reason names the type, the count and the length."""


SYSTEM_STATUS_BITS = ("normal", "fire", "fault", "disabled", "supervisory", "started",
                      "feedback", "delay", "main_power_fault", "backup_power_fault",
                      "bus_fault", "manual_mode", "config_changed", "reset")
COMPONENT_STATUS_BITS = ("normal", "fire", "fault", "disabled", "supervisory", "started",
                         "feedback", "delay", "power_fault")
DEVICE_STATUS_BITS = ("normal", "fire", "fault", "main_power_fault", "backup_power_fault",
                      "center_link_fault", "panel_link_fault")
SYSTEM_OPERATION_BITS = ("reset", "silence", "manual_alarm", "alarm_cleared", "self_test",
                         "acknowledge", "test")
DEVICE_OPERATION_BITS = ("reset", "silence", "manual_alarm", "alarm_cleared", "self_test",
                         "duty_check_answer", "test")


def bits(value: int, names: tuple[str, ...]) -> frozenset[str]:
    """The names of the bits set in ``value`` ("normal" is bit 0 set; clear, it means test)."""
    return frozenset(name for i, name in enumerate(names) if value >> i & 1)


def description(raw: bytes) -> str:
    """The panel's text for a component: GB18030, NUL-padded (and often space-padded)."""
    return raw.split(b"\0", 1)[0].decode("gb18030", "replace").strip()


@dataclass(frozen=True, slots=True)
class SystemStatus:
    system_type: int
    system_address: int
    status: int
    at: Stamp

    @property
    def flags(self) -> frozenset[str]:
        return bits(self.status, SYSTEM_STATUS_BITS)


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    system_type: int
    system_address: int
    component_type: int
    zone: int  # loop or zone (区号): the address's low 16 bits
    point: int  # point on it (位号): the high 16 bits
    status: int
    description: str
    at: Stamp

    @property
    def flags(self) -> frozenset[str]:
        return bits(self.status, COMPONENT_STATUS_BITS)

    @property
    def address32(self) -> int:
        """The component address read as one number, as some vendors write it."""
        return self.point << 16 | self.zone


@dataclass(frozen=True, slots=True)
class AnalogValue:
    system_type: int
    system_address: int
    component_type: int
    zone: int
    point: int
    kind: int
    value: int
    at: Stamp


@dataclass(frozen=True, slots=True)
class SystemOperation:
    system_type: int
    system_address: int
    operation: int
    operator: int
    at: Stamp

    @property
    def flags(self) -> frozenset[str]:
        return bits(self.operation, SYSTEM_OPERATION_BITS)


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    status: int
    at: Stamp

    @property
    def flags(self) -> frozenset[str]:
        return bits(self.status, DEVICE_STATUS_BITS)


@dataclass(frozen=True, slots=True)
class DeviceOperation:
    operation: int
    operator: int
    at: Stamp

    @property
    def flags(self) -> frozenset[str]:
        return bits(self.operation, DEVICE_OPERATION_BITS)


@dataclass(frozen=True, slots=True)
class Version:
    major: int
    minor: int
    system_type: int | None = None  # for a panel's version (type 5); None: the device's own
    system_address: int | None = None


@dataclass(frozen=True, slots=True)
class Clock:
    at: Stamp
    system_type: int | None = None
    system_address: int | None = None


@dataclass(frozen=True, slots=True)
class Other:
    """A type this gateway does not read: kept whole, on record."""

    raw: bytes


Object = (SystemStatus | ComponentStatus | AnalogValue | SystemOperation | DeviceStatus
          | DeviceOperation | Version | Clock | Other)


@dataclass(frozen=True, slots=True)
class Adu:
    type: int
    objects: tuple[Object, ...]


_COMPONENT = struct.Struct("<BBBHHH31s6s")
_ANALOG = struct.Struct("<BBBHHBh6s")


def _system_status(b: bytes) -> Object:
    return SystemStatus(b[0], b[1], int.from_bytes(b[2:4], "little"), Stamp.of(b[4:10]))


def _component(b: bytes) -> Object:
    st, sa, ct, zone, point, status, text, at = _COMPONENT.unpack(b)
    return ComponentStatus(st, sa, ct, zone, point, status, description(text), Stamp.of(at))


def _analog(b: bytes) -> Object:
    st, sa, ct, zone, point, kind, value, at = _ANALOG.unpack(b)
    return AnalogValue(st, sa, ct, zone, point, kind, value, Stamp.of(at))


# type: (object size, reader)
_READERS: dict[int, tuple[int, Callable[[bytes], Object]]] = {
    1: (10, _system_status),
    2: (46, _component),
    3: (16, _analog),
    4: (10, lambda b: SystemOperation(b[0], b[1], b[2], b[3], Stamp.of(b[4:10]))),
    5: (4, lambda b: Version(b[2], b[3], b[0], b[1])),
    8: (8, lambda b: Clock(Stamp.of(b[2:8]), b[0], b[1])),
    21: (7, lambda b: DeviceStatus(b[0], Stamp.of(b[1:7]))),
    24: (8, lambda b: DeviceOperation(b[0], b[1], Stamp.of(b[2:8]))),
    25: (2, lambda b: Version(b[0], b[1])),
    28: (6, lambda b: Clock(Stamp.of(b))),
}


def parse_adu(adu: bytes) -> Adu | None:
    """The ADU's objects; None for an empty ADU (a heartbeat). AduError when it cannot be read."""
    if not adu:
        return None
    if len(adu) < 2:
        raise AduError(f"an ADU of {len(adu)} byte: no type and count")
    kind, count = adu[0], adu[1]
    body = adu[2:]
    reader = _READERS.get(kind)
    if reader is None:
        return Adu(kind, (Other(bytes(body)),))
    size, read = reader
    if count == 0 or len(body) != count * size:
        raise AduError(f"type {kind} says {count} objects of {size} bytes; its "
                       f"{len(body)} bytes hold {len(body) / size:g}")
    return Adu(kind, tuple(read(body[i * size:(i + 1) * size]) for i in range(count)))
