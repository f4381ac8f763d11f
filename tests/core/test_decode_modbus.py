"""Register decoding is a table: word order, types, masks, status bits, counters, mappings."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from gateway.config.modbus import ModbusBinding, ModbusBindingModel, compile_binding
from gateway.domain.model import PointState
from gateway.errors import DecodeError
from gateway.points.decode_modbus import decode_modbus


def binding(**fields: Any) -> ModbusBinding:
    return compile_binding(ModbusBindingModel.model_validate(
        {"connection": "c", "unit": 1, "address": 0, **fields}))


def float_words(value: float, word_order: str) -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo] if word_order == "big" else [lo, hi]


@pytest.mark.parametrize("order", ["big", "little"])
def test_float32_in_either_word_order(order: str) -> None:
    b = binding(type="float32", word_order=order)
    reading = decode_modbus(b, float_words(37.5, order))
    assert reading.value == 37.5
    assert reading.state is PointState.NORMAL


def test_float32_with_thresholds_leaves_the_state_to_conditioning() -> None:
    b = binding(type="float32", word_order="little",
                thresholds=[{"at_least": 25, "state": "prealarm"}])
    reading = decode_modbus(b, float_words(30.0, "little"))
    assert reading.state is None
    assert reading.value == 30.0


def test_int16_is_signed_and_uint32_spans_two_registers() -> None:
    assert decode_modbus(binding(type="int16"), [0xFFFF]).value == -1
    assert decode_modbus(binding(type="uint32"), [0x0001, 0x0002]).value == 0x00010002
    assert decode_modbus(binding(type="uint32", word_order="little"),
                         [0x0001, 0x0002]).value == 0x00020001


def test_scale_and_offset_apply_to_plain_numbers() -> None:
    assert decode_modbus(binding(type="uint16", scale=0.1, offset=-5), [250]).value \
        == pytest.approx(20.0)


def test_bit_of_a_register() -> None:
    b = binding(type="bit", bit=3)
    assert decode_modbus(b, [0b1000]).value == 1
    assert decode_modbus(b, [0b0111]).value == 0


def test_status_word_bits_give_the_worst_state_set() -> None:
    b = binding(bits={4: "trouble", 5: "alarm"})
    assert decode_modbus(b, [0]).state is PointState.NORMAL
    assert decode_modbus(b, [1 << 4]).state is PointState.TROUBLE
    assert decode_modbus(b, [(1 << 4) | (1 << 5)]).state is PointState.ALARM


def test_mask_before_value_mapping() -> None:
    b = binding(mask=0x000F, values={2: "normal", 3: "trouble"})
    assert decode_modbus(b, [0xFF03]).state is PointState.TROUBLE


def test_coil_is_a_bool_and_maps_like_a_value() -> None:
    b = binding(table="discrete_input", values={True: "alarm", False: "normal"})
    assert decode_modbus(b, [True]).state is PointState.ALARM
    assert decode_modbus(b, [False]).state is PointState.NORMAL


def test_counter_that_moved_between_polls_is_an_alarm_pulse() -> None:
    b = binding(type="uint16", counter=True)
    assert decode_modbus(b, [7], previous_value=None).state is PointState.NORMAL
    assert decode_modbus(b, [7], previous_value=7).state is PointState.NORMAL
    assert decode_modbus(b, [9], previous_value=7).state is PointState.ALARM
    assert decode_modbus(b, [0], previous_value=65535).state is PointState.ALARM  # wrapped


def test_unmapped_register_value_is_a_decode_error_naming_the_value() -> None:
    with pytest.raises(DecodeError, match="value 9 has no state mapping") as info:
        decode_modbus(binding(values={0: "normal"}), [9])
    assert info.value.reason == "unmapped_value"


def test_nan_is_refused() -> None:
    with pytest.raises(DecodeError) as info:
        decode_modbus(binding(type="float32"), [0x7FC0, 0x0000])
    assert info.value.reason == "bad_value"


@pytest.mark.parametrize(("fields", "message"), [
    ({"table": "coil", "type": "uint16"}, "holds one bit"),
    ({"type": "bool"}, "use type bit"),
    ({"type": "bit"}, "needs 'bit'"),
    ({"type": "float32", "counter": True}, "unsigned integer"),
    ({"type": "float32", "bits": {1: "alarm"}}, "status word"),
    ({"address": 65535, "type": "float32"}, "past the last address"),
])
def test_inconsistent_bindings_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        binding(**fields)
