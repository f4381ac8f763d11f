"""Polled Modbus registers as readings: the value a binding's words (or bit) hold, and the
state the binding's table gives it (bits, a counter, exact values, thresholds, conditions over
several registers of the unit)."""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence

from gateway.config.modbus import ModbusBinding
from gateway.domain.model import PointState, value_key
from gateway.errors import DecodeError
from gateway.points.decode import Reading

_STATE_RANK = (PointState.ALARM, PointState.PREALARM, PointState.TROUBLE, PointState.OFFLINE,
               PointState.TEST, PointState.NORMAL)


def modbus_value(binding: ModbusBinding, raw: Sequence[int | bool]) -> int | float | bool:
    """The value a point's registers (or bit) hold, after word order, mask, scale, offset."""
    kind = binding.type
    if kind == "bool":
        if not raw:
            raise DecodeError("short_read", "expected 1 bit, got none")
        return bool(raw[0])
    words = [int(w) & 0xFFFF for w in raw[:binding.words]]
    if len(words) < binding.words:
        raise DecodeError("short_read", f"expected {binding.words} registers, got {len(words)}")
    if kind == "bit":
        if binding.bit is None:
            raise DecodeError("no_bit", "a bit binding names no bit")
        return (words[0] >> binding.bit) & 1
    if binding.words == 2:
        hi, lo = (words[0], words[1]) if binding.word_order == "big" else (words[1], words[0])
        packed = struct.pack(">HH", hi, lo)
        fmt = {"int32": ">i", "uint32": ">I", "float32": ">f"}[kind]
        number: int | float = struct.unpack(fmt, packed)[0]
    else:
        number = struct.unpack(">h" if kind == "int16" else ">H",
                               struct.pack(">H", words[0]))[0]
    if binding.mask is not None and isinstance(number, int):
        number &= binding.mask
    if isinstance(number, float) and not math.isfinite(number):
        raise DecodeError("bad_value", f"register value is {number}")
    if binding.counter or binding.bits or binding.values:
        return number
    if binding.scale != 1.0 or binding.offset != 0.0:
        return number * binding.scale + binding.offset
    return number


def decode_modbus(binding: ModbusBinding, raw: Sequence[int | bool],
                  previous_value: object = None,
                  inputs: Mapping[str, object] | None = None) -> Reading:
    """A polled register (or bit) as a reading; the table in the config says how.

    ``bits`` reads a status word (the worst state of the set bits wins); ``counter`` turns an
    event counter into alarm when it moved since the last poll (a short pulse between two polls
    is not lost); ``values`` maps exact values; ``thresholds`` work as for MQTT values. A
    binding with none of these is informational (e.g. feedback): always normal, value kept.
    """
    value = modbus_value(binding, raw)
    if binding.rules is not None:
        rule = binding.rules.decide({"value": value, **(inputs or {})})
        if rule is not None:
            return Reading(rule.state, value, reason=f"when {rule.text}")
    if binding.counter:
        moved = previous_value is not None and value != previous_value
        return Reading(PointState.ALARM if moved else PointState.NORMAL, value)
    if binding.bits:
        if not isinstance(value, int):
            raise DecodeError("not_bits", f"bits read from a {binding.type} value {value!r}")
        set_states = [state for bit, state in binding.bits if (value >> bit) & 1]
        state = next((s for s in _STATE_RANK if s in set_states), PointState.NORMAL)
        return Reading(state, value)
    if binding.values:
        mapped = binding.values.get(value_key(value))
        if mapped is None:
            raise DecodeError("unmapped_value", f"value {value!r} has no state mapping")
        return Reading(mapped, value)
    if binding.thresholds:
        return Reading(None, float(value))
    return Reading(PointState.NORMAL, value)
