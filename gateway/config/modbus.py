"""Modbus parts of the site config: connections, register bindings of points, actuator writes.

Addresses are the 0-based protocol addresses that go on the wire. Register tables written in
the "Modicon" notation are 1-based with a table digit: holding register 40001 is ``table:
holding, address: 0``; input register 30010 is ``table: input, address: 9``; coil 00001 is
``table: coil, address: 0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from gateway.config.schema import Duration, Strict
from gateway.domain.model import PointState, value_key
from gateway.domain.rules import Rules

Table = Literal["coil", "discrete_input", "holding", "input"]
DataType = Literal["bool", "bit", "int16", "uint16", "int32", "uint32", "float32"]
WORDS = {"bool": 1, "bit": 1, "int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}


class ModbusConnectionModel(Strict):
    id: str
    transport: Literal["tcp", "rtu"] = "tcp"
    host: str = "127.0.0.1"
    port: int = Field(502, ge=1, le=65535)
    device: str | None = None  # serial line, e.g. /dev/ttyUSB0
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    timeout: Duration = 1.0
    poll: dict[str, Duration] = Field(default_factory=lambda: {"default": 1.0})
    backoff_max: Duration = 30.0

    @model_validator(mode="after")
    def _transport_needs(self) -> ModbusConnectionModel:
        if self.transport == "rtu" and not self.device:
            raise ValueError("an rtu connection needs 'device' (the serial line, "
                             "e.g. /dev/ttyUSB0)")
        if any(v <= 0 for v in self.poll.values()):
            raise ValueError("poll intervals must be longer than zero")
        return self


class ThresholdModel(Strict):
    at_least: float
    state: PointState


class ValueMapModel(Strict):
    """How a value becomes a state: exact values, or set points with a dead-band."""

    values: dict[str, PointState] = Field(default_factory=dict)
    thresholds: list[ThresholdModel] = Field(default_factory=list)
    deadband: float = Field(0.0, ge=0)

    @field_validator("values", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {value_key(k): v for k, v in value.items()}
        return value


class ModbusBindingModel(ValueMapModel):
    connection: str
    unit: int = Field(ge=0, le=247)
    table: Table = "holding"
    address: int = Field(ge=0, le=65535)
    type: DataType | None = None
    bit: int | None = Field(None, ge=0, le=15)
    word_order: Literal["big", "little"] = "big"
    scale: float = 1.0
    offset: float = 0.0
    mask: int | None = Field(None, ge=1, le=0xFFFF)
    poll: str = "default"
    # the address is the device's own protocol address though it looks like the 1-based
    # Modicon notation (a SunSpec map starting at 40000): check takes it as written
    protocol_address: bool = False
    bits: dict[int, PointState] = Field(default_factory=dict)
    counter: bool = False

    @field_validator("bits")
    @classmethod
    def _bit_numbers(cls, value: dict[int, PointState]) -> dict[int, PointState]:
        if any(not 0 <= b <= 31 for b in value):
            raise ValueError("bit numbers run from 0 to 31")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ModbusBindingModel:
        bit_table = self.table in ("coil", "discrete_input")
        kind = self.type or ("bool" if bit_table else "uint16")
        if bit_table and kind != "bool":
            raise ValueError(f"a {self.table} holds one bit: its type is bool")
        if not bit_table and kind == "bool":
            raise ValueError("a register is not a bool: use type bit with 'bit: N'")
        if kind == "bit" and self.bit is None:
            raise ValueError("type bit needs 'bit' (0 = least significant)")
        if self.bit is not None and kind != "bit":
            raise ValueError("'bit' goes with type bit")
        if self.counter and kind not in ("uint16", "uint32"):
            raise ValueError("a counter register is an unsigned integer (uint16 or uint32)")
        if self.counter and (self.values or self.thresholds or self.bits):
            raise ValueError("a counter maps increments to alarm by itself; "
                             "drop values/thresholds/bits")
        if self.bits and kind in ("float32", "bool", "bit"):
            raise ValueError("'bits' reads a status word: use an integer type")
        if self.address + WORDS[kind] - 1 > 0xFFFF:
            raise ValueError("the value runs past the last address 65535")
        return self


class ModbusWriteModel(Strict):
    connection: str
    unit: int = Field(ge=0, le=247)
    table: Literal["coil", "holding"] = "coil"
    address: int = Field(ge=0, le=65535)
    value: bool | int = True
    protocol_address: bool = False  # as for a binding: the address as written

    @model_validator(mode="after")
    def _value_fits(self) -> ModbusWriteModel:
        if self.table == "holding" and (isinstance(self.value, bool)
                                        or not 0 <= self.value <= 0xFFFF):
            raise ValueError("a holding register takes an integer 0..65535")
        return self


class FeedbackModel(Strict):
    point: str
    value: float | bool | str | None = None
    state: PointState | None = None
    timeout: Duration = 60.0

    @model_validator(mode="after")
    def _one_condition(self) -> FeedbackModel:
        if (self.value is None) == (self.state is None):
            raise ValueError("feedback waits for either 'value' or 'state' of its point")
        return self


# ----------------------------------------------------------------------------- compiled


@dataclass(frozen=True, slots=True)
class ModbusConnection:
    id: str
    transport: str
    host: str
    port: int
    device: str | None
    baudrate: int
    parity: str
    stopbits: int
    bytesize: int
    timeout: float
    poll: Mapping[str, float]
    backoff_max: float

    def describe(self) -> str:
        if self.transport == "rtu":
            return f"rtu:{self.device}@{self.baudrate}{self.parity}{self.stopbits}"
        return f"tcp:{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Threshold:
    at_least: float
    state: PointState


@dataclass(frozen=True, slots=True)
class ModbusBinding:
    connection: str
    unit: int
    table: str
    address: int
    type: str
    bit: int | None
    word_order: str
    scale: float
    offset: float
    mask: int | None
    poll: str
    values: Mapping[str, PointState]
    thresholds: tuple[Threshold, ...]
    deadband: float
    bits: tuple[tuple[int, PointState], ...]
    counter: bool
    # conditions over several registers of the unit (gateway.config.point_rules)
    inputs: tuple[tuple[str, ModbusBinding], ...] = ()
    rules: Rules | None = None

    @property
    def words(self) -> int:
        return WORDS[self.type]


@dataclass(frozen=True, slots=True)
class Feedback:
    point: str
    value: float | bool | str | None
    state: PointState | None
    timeout: float

    def met(self, value: object, state: PointState) -> bool:
        if self.state is not None:
            return state is self.state
        return value_key(value) == value_key(self.value)


def compile_connection(m: ModbusConnectionModel) -> ModbusConnection:
    return ModbusConnection(
        id=m.id, transport=m.transport, host=m.host, port=m.port, device=m.device,
        baudrate=m.baudrate, parity=m.parity, stopbits=m.stopbits, bytesize=m.bytesize,
        timeout=m.timeout, poll=dict(m.poll), backoff_max=m.backoff_max)


def compile_binding(m: ModbusBindingModel) -> ModbusBinding:
    bit_table = m.table in ("coil", "discrete_input")
    return ModbusBinding(
        connection=m.connection, unit=m.unit, table=m.table, address=m.address,
        type=m.type or ("bool" if bit_table else "uint16"), bit=m.bit, word_order=m.word_order,
        scale=m.scale, offset=m.offset, mask=m.mask, poll=m.poll, values=dict(m.values),
        thresholds=tuple(sorted((Threshold(t.at_least, t.state) for t in m.thresholds),
                                key=lambda t: t.at_least)),
        deadband=m.deadband, bits=tuple(sorted(m.bits.items())), counter=m.counter)
