"""Payload decoders: bytes in, a reading (or a DecodeError with a stable reason) out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from gateway.config.site import MqttBinding, Threshold
from gateway.domain.model import PointState
from gateway.errors import DecodeError
from gateway.points.decode import Reading, decode, threshold_state

ALARM, PREALARM, NORMAL = PointState.ALARM, PointState.PREALARM, PointState.NORMAL
TROUBLE, TEST = PointState.TROUBLE, PointState.TEST

FIRE_PANEL_VALUES: Mapping[str, PointState] = {
    "fire": ALARM, "prealarm": PREALARM, "fault": TROUBLE, "normal": NORMAL, "test": TEST}
GAS_THRESHOLDS = (Threshold(25.0, PREALARM), Threshold(50.0, ALARM))


def binding(*, decoder: str = "json", field: str | None = None,
            device_field: str | None = None, drill_field: str | None = None,
            prop: str | None = None, value_property: str | None = None,
            values: Mapping[str, PointState] | None = None,
            thresholds: tuple[Threshold, ...] = (), deadband: float = 0.0) -> MqttBinding:
    """A binding as the config compiles it (value keys already lower-case text)."""
    return MqttBinding(
        topic="t/point", decoder=decoder, field=field, device_field=device_field,
        drill_field=drill_field, property=prop, value_property=value_property,
        trouble_properties=("battery_low", "tamper"), values=dict(values or {}),
        thresholds=thresholds, deadband=deadband)


def as_json(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def decode_error(b: MqttBinding, payload: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        decode(b, payload)
    return info.value


PANEL = binding(field="state", device_field="device", drill_field="drill",
                values=FIRE_PANEL_VALUES)


def zigbee(prop: str, **kwargs: Any) -> MqttBinding:
    return binding(decoder="zigbee2mqtt", prop=prop, **kwargs)


# ----------------------------------------------------------------------------- json


def test_json_field_is_mapped_to_a_state() -> None:
    reading = decode(PANEL, as_json({"state": "fire"}))

    assert reading == Reading(ALARM, "fire", "", False)


def test_json_value_mapping_ignores_case_and_surrounding_space() -> None:
    assert decode(PANEL, as_json({"state": "  FIRE "})).state is ALARM


def test_json_value_mapping_keeps_the_raw_value() -> None:
    assert decode(PANEL, as_json({"state": "Fault"})).value == "Fault"


def test_json_booleans_map_through_true_and_false_keys() -> None:
    b = binding(field="open", values={"true": ALARM, "false": NORMAL})

    assert decode(b, as_json({"open": True})).state is ALARM
    assert decode(b, as_json({"open": False})).state is NORMAL


def test_json_numbers_map_through_their_text() -> None:
    b = binding(field="code", values={"1": ALARM, "0": NORMAL})

    assert decode(b, as_json({"code": 1})).state is ALARM


def test_json_nested_dot_field() -> None:
    b = binding(field="status.fire.state", values=FIRE_PANEL_VALUES)

    assert decode(b, as_json({"status": {"fire": {"state": "prealarm"}}})).state is PREALARM


def test_json_without_field_maps_the_whole_document() -> None:
    b = binding(values={"fire": ALARM})

    assert decode(b, b'"fire"').state is ALARM


def test_json_device_field_names_the_device() -> None:
    reading = decode(PANEL, as_json({"state": "fire", "device": "SD-03"}))

    assert reading.device == "SD-03"


def test_json_numeric_device_becomes_text() -> None:
    assert decode(PANEL, as_json({"state": "fire", "device": 17})).device == "17"


def test_json_missing_device_field_means_no_device() -> None:
    assert decode(PANEL, as_json({"state": "fire"})).device == ""


def test_json_device_that_is_not_text_is_wrong_type() -> None:
    exc = decode_error(PANEL, as_json({"state": "fire", "device": ["SD-03"]}))

    assert exc.reason == "wrong_type"
    assert "'device'" in exc.detail


def test_json_drill_field_marks_a_drill() -> None:
    assert decode(PANEL, as_json({"state": "fire", "drill": True})).drill is True


def test_json_missing_drill_field_is_not_a_drill() -> None:
    assert decode(PANEL, as_json({"state": "fire"})).drill is False


def test_json_drill_flag_must_be_a_boolean() -> None:
    exc = decode_error(PANEL, as_json({"state": "fire", "drill": "yes"}))

    assert exc.reason == "wrong_type"
    assert "'drill'" in exc.detail


def test_json_number_with_thresholds_leaves_the_state_to_the_caller() -> None:
    b = binding(field="lel", thresholds=GAS_THRESHOLDS)

    reading = decode(b, as_json({"lel": 30}))

    assert reading.state is None
    assert reading.value == 30.0
    assert isinstance(reading.value, float)


def test_json_numeric_text_with_thresholds_is_a_number() -> None:
    b = binding(field="lel", thresholds=GAS_THRESHOLDS)

    assert decode(b, as_json({"lel": "12.5"})).value == 12.5


def test_json_value_mapping_wins_over_thresholds() -> None:
    b = binding(field="lel", values={"-1": TROUBLE}, thresholds=GAS_THRESHOLDS)

    assert decode(b, as_json({"lel": -1})).state is TROUBLE


# ----------------------------------------------------------------------------- plain


def test_plain_payload_is_stripped_and_mapped() -> None:
    b = binding(decoder="plain", values={"alarm": ALARM, "ok": NORMAL})

    assert decode(b, b"  ALARM\r\n") == Reading(ALARM, "ALARM")


def test_plain_number_with_thresholds() -> None:
    b = binding(decoder="plain", thresholds=GAS_THRESHOLDS)

    assert decode(b, b"42.5") == Reading(None, 42.5)


def test_plain_payload_that_is_not_json_is_fine() -> None:
    b = binding(decoder="plain", values={"{on": ALARM})

    assert decode(b, b"{on").state is ALARM


# ----------------------------------------------------------------------------- zigbee2mqtt


def test_zigbee_smoke_true_is_alarm() -> None:
    reading = decode(zigbee("smoke"), as_json({"smoke": True, "battery": 90}))

    assert reading == Reading(ALARM, True)


def test_zigbee_water_leak_false_is_normal() -> None:
    assert decode(zigbee("water_leak"), as_json({"water_leak": False})).state is NORMAL


@pytest.mark.parametrize(("flag", "condition"), [("battery_low", "low_battery"),
                                                 ("tamper", "tamper")])
def test_zigbee_trouble_flag_while_dry_is_a_condition_beside_the_dry_state(
        flag: str, condition: str) -> None:
    reading = decode(zigbee("water_leak"), as_json({"water_leak": False, flag: True}))

    assert reading is not None
    assert reading.state is NORMAL  # the leak stopped; the trouble is said on its own
    assert reading.conditions == ((condition, True),)


def test_zigbee_trouble_flag_does_not_hide_an_alarm() -> None:
    reading = decode(zigbee("water_leak"), as_json({"water_leak": True, "battery_low": True}))

    assert reading.state is ALARM


def test_zigbee_false_trouble_flags_stay_normal() -> None:
    payload = as_json({"water_leak": False, "battery_low": False, "tamper": False})

    assert decode(zigbee("water_leak"), payload).state is NORMAL


def test_zigbee_test_button_is_test() -> None:
    assert decode(zigbee("smoke"), as_json({"smoke": True, "test": True})).state is TEST


def test_zigbee_value_property_gives_the_numeric_value() -> None:
    b = zigbee("gas", value_property="gas_density")

    reading = decode(b, as_json({"gas": False, "gas_density": 12}))

    assert reading == Reading(NORMAL, 12.0)


def test_zigbee_value_property_may_be_absent() -> None:
    b = zigbee("gas", value_property="gas_density")

    assert decode(b, as_json({"gas": True})) == Reading(ALARM, True)


def test_zigbee_value_property_that_is_not_a_number_is_wrong_type() -> None:
    b = zigbee("gas", value_property="gas_density")

    exc = decode_error(b, as_json({"gas": False, "gas_density": "high"}))

    assert exc.reason == "wrong_type"
    assert "'gas_density'" in exc.detail


def test_zigbee_value_mapping_for_action_payloads() -> None:
    b = zigbee("action", values={"emergency": ALARM, "release": NORMAL})

    assert decode(b, as_json({"action": "emergency"})).state is ALARM
    assert decode(b, as_json({"action": "Release"})).state is NORMAL


def test_zigbee_unmapped_action_is_unmapped_value() -> None:
    b = zigbee("action", values={"emergency": ALARM})

    exc = decode_error(b, as_json({"action": "double"}))

    assert exc.reason == "unmapped_value"
    assert "'action'" in exc.detail
    assert "'double'" in exc.detail


def test_zigbee_missing_property_is_missing_field() -> None:
    exc = decode_error(zigbee("smoke"), as_json({"battery": 90}))

    assert exc.reason == "missing_field"
    assert "'smoke'" in exc.detail


def test_zigbee_text_where_a_boolean_is_expected_is_wrong_type() -> None:
    exc = decode_error(zigbee("smoke"), as_json({"smoke": "yes"}))

    assert exc.reason == "wrong_type"
    assert "'smoke'" in exc.detail


def test_zigbee_payload_that_is_not_an_object_is_wrong_type() -> None:
    assert decode_error(zigbee("smoke"), b"[true]").reason == "wrong_type"


# ----------------------------------------------------------------------------- thresholds


def test_threshold_below_every_set_point_is_normal() -> None:
    assert threshold_state(GAS_THRESHOLDS, 5.0, 10.0, None) is NORMAL


def test_threshold_at_the_lower_set_point_is_prealarm() -> None:
    assert threshold_state(GAS_THRESHOLDS, 5.0, 25.0, None) is PREALARM


def test_threshold_at_the_upper_set_point_is_alarm() -> None:
    assert threshold_state(GAS_THRESHOLDS, 5.0, 50.0, None) is ALARM


def test_threshold_just_below_a_set_point_from_normal_does_not_rise() -> None:
    assert threshold_state(GAS_THRESHOLDS, 5.0, 24.9, NORMAL) is NORMAL


def test_threshold_deadband_keeps_prealarm_on_the_way_down() -> None:
    assert threshold_state(GAS_THRESHOLDS, 5.0, 22.0, PREALARM) is PREALARM


def test_threshold_below_the_deadband_returns_to_normal() -> None:
    assert threshold_state(GAS_THRESHOLDS, 5.0, 19.0, PREALARM) is NORMAL


def test_threshold_deadband_keeps_alarm_on_the_way_down() -> None:
    assert threshold_state(GAS_THRESHOLDS, 5.0, 46.0, ALARM) is ALARM


def test_threshold_leaving_alarm_below_its_deadband_drops_to_prealarm() -> None:
    assert threshold_state(GAS_THRESHOLDS, 5.0, 44.0, ALARM) is PREALARM


def test_threshold_falling_from_alarm_past_every_deadband_is_normal() -> None:
    assert threshold_state(GAS_THRESHOLDS, 5.0, 19.0, ALARM) is NORMAL


def test_threshold_deadband_does_not_lower_the_next_set_point_up() -> None:
    assert threshold_state(GAS_THRESHOLDS, 5.0, 46.0, PREALARM) is PREALARM


def test_threshold_without_deadband_follows_the_value() -> None:
    assert threshold_state(GAS_THRESHOLDS, 0.0, 24.0, PREALARM) is NORMAL


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("payload", [b"{not json", b"", b'{"state": "fire"'])
def test_unparseable_json_is_bad_json(payload: bytes) -> None:
    exc = decode_error(PANEL, payload)

    assert exc.reason == "bad_json"
    assert "line 1" in exc.detail


@pytest.mark.parametrize("decoder", ["json", "plain", "zigbee2mqtt"])
def test_invalid_utf8_is_bad_encoding(decoder: str) -> None:
    b = binding(decoder=decoder, prop="smoke", values={"fire": ALARM})

    exc = decode_error(b, b'{"state": "\xff\xfe"}')

    assert exc.reason == "bad_encoding"
    assert "UTF-8" in exc.detail
    assert "byte 11" in exc.detail


def test_missing_field_names_the_field() -> None:
    exc = decode_error(PANEL, as_json({"status": "fire"}))

    assert exc.reason == "missing_field"
    assert exc.detail == "field 'state' is missing"


def test_missing_nested_field_names_the_whole_path() -> None:
    b = binding(field="status.fire", values=FIRE_PANEL_VALUES)

    exc = decode_error(b, as_json({"status": {"smoke": "fire"}}))

    assert exc.reason == "missing_field"
    assert "'status.fire'" in exc.detail


def test_nested_field_through_a_value_is_wrong_type() -> None:
    b = binding(field="status.fire", values=FIRE_PANEL_VALUES)

    exc = decode_error(b, as_json({"status": "fire"}))

    assert exc.reason == "wrong_type"
    assert "'status.fire'" in exc.detail


@pytest.mark.parametrize("raw", [{"level": "fire"}, ["fire"]])
def test_object_or_list_where_a_value_is_expected_is_wrong_type(raw: object) -> None:
    exc = decode_error(PANEL, as_json({"state": raw}))

    assert exc.reason == "wrong_type"
    assert "field 'state'" in exc.detail


def test_null_is_no_reading_not_bad_input() -> None:
    assert decode(PANEL, as_json({"state": None})) is None
    assert decode(zigbee("water_leak"), as_json({"water_leak": None, "battery": 80})) is None


def test_value_without_mapping_is_unmapped_value() -> None:
    exc = decode_error(PANEL, as_json({"state": "smouldering"}))

    assert exc.reason == "unmapped_value"
    assert "field 'state'" in exc.detail
    assert "'smouldering'" in exc.detail


def test_text_with_thresholds_only_is_unmapped_value() -> None:
    b = binding(field="lel", thresholds=GAS_THRESHOLDS)

    exc = decode_error(b, as_json({"lel": "n/a"}))

    assert exc.reason == "unmapped_value"
    assert "field 'lel'" in exc.detail


@pytest.mark.parametrize("raw", ["nan", "inf"])
def test_non_finite_number_with_thresholds_is_unmapped_value(raw: str) -> None:
    b = binding(field="lel", thresholds=GAS_THRESHOLDS)

    assert decode_error(b, as_json({"lel": raw})).reason == "unmapped_value"


def test_boolean_with_thresholds_only_is_unmapped_value() -> None:
    b = binding(field="lel", thresholds=GAS_THRESHOLDS)

    assert decode_error(b, as_json({"lel": True})).reason == "unmapped_value"


def test_decode_error_message_starts_with_the_reason() -> None:
    exc = decode_error(PANEL, as_json({"state": "smouldering"}))

    assert str(exc).startswith("unmapped_value: ")


# ----------------------------------------------------------------------------- hostile shapes


@pytest.mark.parametrize(("payload", "reason", "says"), [
    (b'{"state": "fire", "device": "\\ud800"}', "bad_text", "the device in the payload holds"),
    (b'{"state": "\\udfff"}', "unmapped_value", "has no state mapping"),
    (b'{"state": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "bad_json", "nested deeper than 32"),
    (b"[" * 33 + b"]" * 33, "bad_json", "nested deeper than 32"),
    (b'{"state": ' + b"7" * 5000 + b"}", "bad_json", "a number is too long"),
    (b'{"state": ' + b"9" * 400 + b"}", "unmapped_value", "(400 characters)"),
])
def test_hostile_payloads_are_bad_input_not_errors(payload: bytes, reason: str,
                                                    says: str) -> None:
    fire = binding(field="state", device_field="device", values=FIRE_PANEL_VALUES)
    with pytest.raises(DecodeError) as caught:
        decode(fire, payload)
    assert caught.value.reason == reason
    assert says in caught.value.detail


def test_brackets_inside_strings_are_not_nesting() -> None:
    fire = binding(field="state", device_field="device", values=FIRE_PANEL_VALUES)
    reading = decode(fire, as_json({"state": "fire", "device": "[" * 100}))
    assert reading.device == "[" * 100


def test_a_surrogate_in_a_field_the_binding_does_not_read_is_left_alone() -> None:
    leak = binding(decoder="zigbee2mqtt", prop="water_leak")
    assert decode(leak, b'{"water_leak": true, "note": "\\ud800"}').state is ALARM


def test_a_huge_number_on_a_threshold_point_is_not_a_reading() -> None:
    gas = binding(field="lel", thresholds=GAS_THRESHOLDS)
    with pytest.raises(DecodeError, match="unmapped_value"):
        decode(gas, b'{"lel": ' + b"9" * 400 + b"}")
