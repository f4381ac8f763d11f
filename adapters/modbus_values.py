"""What the Modbus adapter reads and reports: plain values, no I/O (the point layer plans its
reads with them)."""

from __future__ import annotations

from dataclasses import dataclass

EXCEPTION_NAMES = {
    1: "illegal function", 2: "illegal data address", 3: "illegal data value",
    4: "server device failure", 5: "acknowledge", 6: "server device busy",
    7: "negative acknowledge", 8: "memory parity error", 10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


@dataclass(frozen=True, slots=True)
class LinkSettings:
    id: str
    transport: str  # tcp | rtu
    host: str = "127.0.0.1"
    port: int = 502
    device: str | None = None
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8
    timeout: float = 1.0
    backoff_max: float = 30.0

    def describe(self) -> str:
        if self.transport == "rtu":
            return f"rtu:{self.device}@{self.baudrate}"
        return f"tcp:{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ReadBlock:
    unit: int
    table: str  # coil | discrete_input | holding | input
    address: int
    count: int
    group: str


@dataclass(frozen=True, slots=True)
class BlockRead:
    connection: str
    block: ReadBlock
    values: tuple[int, ...] | tuple[bool, ...]
    at: float


@dataclass(frozen=True, slots=True)
class BlockRefused:
    """The unit answered with a Modbus exception: alive, but this read is wrong."""

    connection: str
    block: ReadBlock
    code: int
    at: float

    @property
    def detail(self) -> str:
        name = EXCEPTION_NAMES.get(self.code, "unknown exception")
        return (f"exception {self.code:02X} ({name}) reading {self.block.table} "
                f"{self.block.address}..{self.block.address + self.block.count - 1} "
                f"of unit {self.block.unit}")


@dataclass(frozen=True, slots=True)
class UnitHealth:
    connection: str
    unit: int
    online: bool
    reason: str
    at: float


Report = BlockRead | BlockRefused | UnitHealth


class ModbusWriteError(Exception):
    """A write that the unit refused or never answered."""
