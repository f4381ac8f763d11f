"""Conditions over several readings of one device (``inputs:`` and ``when:``): the expression
language, its check at load, and the states it gives MQTT and Modbus points."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.config.site import SiteConfig, load_config
from gateway.domain.model import PointState
from gateway.domain.rules import evaluate, parse
from gateway.errors import ConfigReferenceError, ConfigSchemaError, DecodeError
from gateway.points.conditioning import condition
from gateway.points.decode import decode
from gateway.points.decode_modbus import decode_modbus
from gateway.points.modbus_plan import plan

HEAD = """\
site: {id: t1, name: Test site, address: 1 Test Road}
roles: {monitoring_center: Monitoring center}
modbus:
  - {id: elv, transport: tcp, host: 127.0.0.1, port: 1502, poll: {default: 1s}}
points:
"""

# a car stopped outside a landing zone with its doors shut is an entrapment; the passenger
# button at a landing with the doors open is an emergency call, not one
CAR = """\
  - id: CAR-1
    kind: elevator_status
    mqtt: {topic: elv/car1, field: state, values: {ok: normal}}
    inputs:
      moving: {field: car.moving}
      in_zone: {field: car.in_zone}
      doors: {field: doors}
    when:
      - if: "not moving and not in_zone and doors == 'closed'"
        state: alarm
      - if: "value == 'passenger_alarm' and doors == 'open'"
        state: prealarm
      - otherwise: normal
"""

# a radio channel heard of long ago is offline whatever its last reading says
RADIO = """\
  - id: GAS-07
    kind: gas_detector
    mqtt: {topic: gas/ch7, field: ppm, thresholds: [{at_least: 25, state: alarm}]}
    inputs:
      age: {field: seconds_since_last}
    when:
      - if: "age > 600"
        state: offline
"""

# the status word's bit 5 (stopped outside a landing zone) and the door register 60 words on
MODBUS = """\
  - id: ELV-2-TRAPPED
    kind: elevator_status
    modbus: {connection: elv, unit: 1, address: 4}
    inputs:
      doors: {address: 64}
    when:
      - if: "bit(value, 5) and doors == 0"
        state: alarm
      - otherwise: normal
"""


def site(tmp_path: Path, *points: str) -> SiteConfig:
    path = tmp_path / "site.yaml"
    path.write_text(HEAD + "".join(points), encoding="utf-8")
    return load_config(path, environ={})


def payload(**doc: object) -> bytes:
    return json.dumps(doc).encode()


def test_an_expression_is_parsed_once_and_only_of_the_forms_allowed() -> None:
    names = {"value", "doors"}
    expr = parse("bit(value, 5) and doors in (0, 2) and -value < 100 * 2", names)
    assert evaluate(expr, {"value": 0b100000, "doors": 2}) is True
    assert evaluate(expr, {"value": 0, "doors": 2}) is False
    assert evaluate(parse("1 < value <= 3", names), {"value": 3}) is True
    assert evaluate(parse("doors == false", names), {"doors": False}) is True
    for text, said in (("door == 1", "names 'door', which is not an input"),
                       ("value.__class__", "uses Attribute"),
                       ("__import__('os')", "calls a function"),
                       ("(lambda: 1)()", "calls a function"),
                       ("[x for x in value]", "uses ListComp"),
                       ("value ==", "is not an expression")):
        with pytest.raises(ValueError, match=said):
            parse(text, names)
    with pytest.raises(DecodeError) as wrong:
        evaluate(parse("value > 3", names), {"value": "open"})
    assert wrong.value.reason == "condition_error"
    with pytest.raises(DecodeError, match="'doors' has no reading"):
        evaluate(parse("doors == 0", names), {"doors": None})


def test_an_entrapment_and_an_emergency_call_are_told_apart_by_the_cars_fields(
        tmp_path: Path) -> None:
    car = site(tmp_path, CAR).points["CAR-1"]
    assert car.mqtt is not None
    read = lambda **doc: decode(car.mqtt, payload(**doc))  # noqa: E731
    trapped = read(state="ok", car={"moving": False, "in_zone": False}, doors="closed")
    assert trapped is not None
    assert (trapped.state, trapped.reason) == (
        PointState.ALARM, "when not moving and not in_zone and doors == 'closed'")
    call = read(state="passenger_alarm", car={"moving": False, "in_zone": True}, doors="open")
    assert call is not None
    assert call.state is PointState.PREALARM
    riding = read(state="ok", car={"moving": True, "in_zone": False}, doors="closed")
    assert riding is not None
    assert riding.state is PointState.NORMAL
    with pytest.raises(DecodeError, match="'moving' has no reading"):
        read(state="ok", doors="closed")  # a message without the car's fields: bad input


def test_a_channel_heard_of_long_ago_is_offline_whatever_its_reading(tmp_path: Path) -> None:
    gas = site(tmp_path, RADIO).points["GAS-07"]
    assert gas.mqtt is not None
    stale = decode(gas.mqtt, payload(ppm=0, seconds_since_last=900))
    assert stale is not None
    status, (sig, *_) = condition(gas, None, stale, 100.0, source="gas/ch7")
    assert (status.state, status.offline, sig.state) == (
        PointState.OFFLINE, "when age > 600", PointState.OFFLINE)
    fresh = decode(gas.mqtt, payload(ppm=40, seconds_since_last=3))
    assert fresh is not None
    assert fresh.state is None  # no rule holds: the thresholds decide, as without conditions
    status, (sig, *_) = condition(gas, status, fresh, 101.0, source="gas/ch7")
    assert (status.state, status.offline, sig.changed) == (PointState.ALARM, "", True)


def test_a_modbus_point_reads_its_inputs_in_the_same_request(tmp_path: Path) -> None:
    config = site(tmp_path, MODBUS)
    point = config.points["ELV-2-TRAPPED"]
    assert point.modbus is not None
    (block,) = plan(config.points)["elv"].blocks
    assert (block.address, block.count) == (4, 61)  # one request: 4..64
    doors = dict(point.modbus.inputs)["doors"]
    assert decode_modbus(point.modbus, [0b100000], None, {"doors": 0}).state is PointState.ALARM
    assert decode_modbus(point.modbus, [0b100000], None, {"doors": 1}).state \
        is PointState.NORMAL
    assert doors.address == 64


@pytest.mark.parametrize(("points", "where", "said"), [
    (CAR.replace("doors == 'closed'", "door == 'closed'"), "points[0].when[0].if",
     "names 'door', which is not an input"),
    (CAR.replace("      - otherwise: normal\n", "      - otherwise: normal\n"
                 "      - {if: 'moving', state: alarm}\n"), "points[0].when[3]",
     "after 'otherwise' is never reached"),
    (RADIO.replace("age: {field: seconds_since_last}", "age: {address: 3}"),
     "points[0].inputs.age", "an input of an MQTT point is a payload field"),
    (MODBUS.replace("address: 64", "address: 400"), "points[0].inputs",
     "span 397 registers (4..400)"),
    (RADIO.replace("    when:\n      - if: \"age > 600\"\n        state: offline\n", ""),
     "points[0].inputs", "it has none"),
])
def test_check_names_each_mistake_in_a_condition(tmp_path: Path, points: str, where: str,
                                                  said: str) -> None:
    with pytest.raises(ConfigReferenceError) as refused:
        site(tmp_path, points)
    (problem,) = refused.value.problems
    assert problem.path == where
    assert said in problem.message
    assert problem.line is not None


def test_a_rule_is_an_if_with_a_state_or_an_otherwise(tmp_path: Path) -> None:
    with pytest.raises(ConfigSchemaError, match=r"a rule is \{if: EXPRESSION"):
        site(tmp_path, CAR.replace("        state: prealarm\n", ""))
    with pytest.raises(ConfigSchemaError, match=r"when\[0\]\.state"):
        site(tmp_path, CAR.replace("state: alarm", "state: burning"))


def test_a_condition_keeps_what_the_decoder_reads_beside_the_state(tmp_path: Path) -> None:
    """The drill flag, the device, a self-test and a low battery are the decoder's; the
    condition decides the state only."""
    car = CAR.replace("values: {ok: normal}}", "values: {ok: normal}, drill_field: drill, "
                      "device_field: car.id}")
    point = site(tmp_path, car).points["CAR-1"]
    assert point.mqtt is not None
    reading = decode(point.mqtt, payload(state="ok", drill=True, doors="closed",
                                         car={"moving": False, "in_zone": False, "id": "L1"}))
    assert reading is not None
    assert (reading.state, reading.drill, reading.device) == (PointState.ALARM, True, "L1")
    zigbee = """\
  - id: SMOKE-1
    kind: smoke_detector
    mqtt: {topic: z2m/smoke1, decoder: zigbee2mqtt, property: smoke}
    inputs: {seen: {field: linkquality}}
    when: [{if: "seen < 5", state: offline}]
"""
    smoke = site(tmp_path, zigbee).points["SMOKE-1"]
    assert smoke.mqtt is not None
    test = decode(smoke.mqtt, payload(smoke=False, linkquality=1, test=True))
    assert test is not None
    assert test.state is PointState.TEST  # a self-test is a test, whatever the conditions say
    low = decode(smoke.mqtt, payload(smoke=False, linkquality=1, battery_low=True))
    assert low is not None
    assert (low.state, low.conditions) == (PointState.OFFLINE, (("low_battery", True),))
    assert decode(smoke.mqtt, payload(smoke=None, linkquality=1)) is None  # no reading yet


def test_a_plain_payload_has_its_conditions_too(tmp_path: Path) -> None:
    plain = """\
  - id: DOOR-1
    kind: generic
    mqtt: {topic: door/1, decoder: plain, values: {shut: normal, open: normal}}
    when: [{if: "value == 'forced'", state: alarm}]
"""
    door = site(tmp_path, plain).points["DOOR-1"]
    assert door.mqtt is not None
    forced = decode(door.mqtt, b"forced")
    assert forced is not None
    assert forced.state is PointState.ALARM


def test_no_payload_can_make_a_condition_compute_for_long() -> None:
    names = {"value", "a", "b"}
    for text in ("'x' * 1000000000", "value * 'x'", "(1, 2)", "value == 1, a == 0",
                 "1 + " * 300 + "1"):
        with pytest.raises(ValueError, match=r"numbers only|list|at most|not an expression"):
            parse(text, names)
    for expr, values in (("value % 2 == 1", {"value": "%2147483647d"}),
                         ("a * b > 1", {"a": "x", "b": 10**9}),
                         ("a * b > 1", {"a": [1], "b": 10**9}),
                         ("bit(value, 5) == 1", {"value": float("inf")}),
                         ("value / 10 > 1", {"value": 10**400}),
                         ("bit(value, 100000000)", {"value": 1})):
        with pytest.raises(DecodeError) as refused:
            evaluate(parse(expr, names), values)
        assert refused.value.reason == "condition_error"


def test_an_input_is_named_by_a_word_and_a_bit_names_its_bit(tmp_path: Path) -> None:
    for inputs, said in (("{value: {field: other}}", "'value' cannot name an input"),
                         ("{'door state': {field: d}}", "'door state' cannot name an input"),
                         ("{bit: {field: d}}", "'bit' cannot name an input")):
        with pytest.raises(ConfigReferenceError, match=said):
            site(tmp_path, RADIO.replace("    inputs:\n      age: {field: seconds_since_last}\n",
                                         f"    inputs: {inputs}\n").replace("age > 600", "1 > 0"))
    with pytest.raises(ConfigReferenceError, match="type bit needs 'bit: N'"):
        site(tmp_path, MODBUS.replace("doors: {address: 64}", "doors: {address: 64, type: bit}"))


def test_a_short_read_of_an_input_is_bad_input_not_a_crash() -> None:
    from gateway.config.modbus import ModbusBindingModel, compile_binding
    from gateway.points.decode_modbus import modbus_value

    coil = compile_binding(ModbusBindingModel.model_validate(
        {"connection": "c", "unit": 1, "address": 0, "table": "coil"}))
    with pytest.raises(DecodeError, match="expected 1 bit"):
        modbus_value(coil, [])
