"""A point's conditions beside its alarm, the device's own clock, availability, chattering and
unreadable messages, in the pure point layer."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config.site import MqttBinding, PointConfig
from gateway.domain.model import Location, PointKind, PointState, Text
from gateway.errors import DecodeError
from gateway.points.conditioning import (
    BAD_INPUT_AFTER,
    PointStatus,
    back_online,
    condition,
    rejected,
    went_offline,
)
from gateway.points.decode import Reading, availability, decode

ALARM, NORMAL, TROUBLE = PointState.ALARM, PointState.NORMAL, PointState.TROUBLE
OFFLINE, WARMUP = PointState.OFFLINE, PointState.WARMUP


def zigbee(prop: str, **extra: Any) -> MqttBinding:
    return MqttBinding(
        topic="zigbee2mqtt/garage/leak_1", decoder="zigbee2mqtt", field=None,
        device_field=None, drill_field=None, property=prop, value_property=None,
        trouble_properties=("battery_low", "tamper"), values={}, thresholds=(), deadband=0.0,
        time_field="last_seen", availability="zigbee2mqtt/garage/leak_1/availability",
        bridge="zigbee2mqtt/bridge/state", **extra)


LEAK = PointConfig(id="W-GAR-01", kind=PointKind.WATER_LEAK, name=Text("漏水", "leak"),
                   location=Location("demo", "2", "B1", "garage"), heartbeat=None,
                   mqtt=zigbee("water_leak"), group="mqtt:zigbee2mqtt")


def read(payload: str, previous: PointStatus | None, at: float) -> tuple[PointStatus, list[Any]]:
    assert LEAK.mqtt is not None
    reading = decode(LEAK.mqtt, payload.encode())
    assert reading is not None
    return condition(LEAK, previous, reading, at, source=LEAK.mqtt.topic)


# ----------------------------------------------------------------------------- conditions


def test_a_leak_restoring_while_its_battery_is_low_shows_the_restore_and_the_trouble() -> None:
    wet, signals = read('{"water_leak": true, "battery_low": false}', None, 10.0)
    assert [(s.state, s.condition) for s in signals] == [(ALARM, "")]
    low, signals = read('{"water_leak": true, "battery_low": true}', wet, 20.0)
    assert [(s.state, s.condition, s.changed) for s in signals] == [
        (ALARM, "", False), (TROUBLE, "low_battery", True)]
    dry, signals = read('{"water_leak": false, "battery_low": true}', low, 30.0)
    # the leak stopped: said on the main channel, while the battery stays low
    assert [(s.state, s.condition, s.changed) for s in signals] == [(NORMAL, "", True)]
    assert dry.state is TROUBLE
    assert dry.conditions == ("low_battery",)
    ok, signals = read('{"water_leak": false, "battery_low": false}', dry, 40.0)
    assert [(s.state, s.condition) for s in signals] == [(NORMAL, ""), (NORMAL, "low_battery")]
    assert ok.state is NORMAL


def test_each_trouble_is_its_own_condition() -> None:
    status, signals = read('{"water_leak": false, "battery_low": true, "tamper": true}', None,
                           10.0)
    assert [s.condition for s in signals] == ["", "low_battery", "tamper"]
    status, signals = read('{"water_leak": false, "tamper": false}', status, 20.0)
    assert [(s.condition, s.state) for s in signals] == [("", NORMAL), ("tamper", NORMAL)]
    assert status.conditions == ("low_battery",)  # left out of the payload: still low


# ----------------------------------------------------------------------------- stale


def test_a_message_older_than_the_last_accepted_one_is_stale_and_never_obeyed() -> None:
    wet, _ = read('{"water_leak": true, "last_seen": "2026-12-05T10:00:05+08:00"}', None, 100.0)
    late, signals = read('{"water_leak": false, "last_seen": "2026-12-05T10:00:01+08:00"}',
                         wet, 101.0)
    assert [(s.state, s.stale) for s in signals] == [(NORMAL, True)]
    assert late.state is ALARM  # the newer alarm stands
    assert late.last_seen == 101.0
    newer, signals = read('{"water_leak": false, "last_seen": 1796968809000}', late, 102.0)
    assert (signals[0].stale, newer.state) == (False, NORMAL)  # epoch ms, later: obeyed


def test_without_a_device_time_arrival_order_holds() -> None:
    wet, _ = read('{"water_leak": true}', None, 100.0)
    dry, signals = read('{"water_leak": false}', wet, 101.0)
    assert (signals[0].stale, dry.state) == (False, NORMAL)


def test_a_device_time_that_is_no_time_is_bad_input() -> None:
    assert LEAK.mqtt is not None
    with pytest.raises(DecodeError, match="is not a time"):
        decode(LEAK.mqtt, b'{"water_leak": true, "last_seen": "yesterday"}')


# ----------------------------------------------------------------------------- chattering


def test_three_alarms_in_a_minute_is_chattering() -> None:
    status = None
    counts = []
    for i in range(4):
        status, signals = read('{"water_leak": true}', status, 10.0 * i)
        counts.append(signals[0].chattering)
        status, _ = read('{"water_leak": false}', status, 10.0 * i + 5)
    assert counts == [0, 0, 3, 4]
    status, signals = read('{"water_leak": true}', status, 200.0)  # a quiet minute later
    assert signals[0].chattering == 0


# ----------------------------------------------------------------------------- availability


@pytest.mark.parametrize(("payload", "online"), [
    (b'{"state":"online"}', True), (b'{"state": "offline"}', False), (b"online", True),
    (b"offline", False), (b" OFFLINE\n", False)])
def test_availability_json_or_plain(payload: bytes, online: bool) -> None:
    assert availability(payload) is online


@pytest.mark.parametrize("payload", [b'{"state": "sleeping"}', b'{"online": true}', b"maybe",
                                     b"\xff"])
def test_availability_that_says_neither_is_bad_input(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        availability(payload)


def test_offline_keeps_what_the_point_last_said_and_online_restores_it() -> None:
    wet, _ = read('{"water_leak": true}', None, 10.0)
    gone, signal = went_offline(LEAK, wet, 20.0, "bridge zigbee2mqtt/bridge/state offline",
                                "zigbee2mqtt/bridge/state")
    assert signal is not None
    assert (gone.state, signal.state) == (OFFLINE, OFFLINE)
    again, _ = went_offline(LEAK, gone, 21.0, "device reports offline", "x")
    assert _ is None  # offline already: no second signal
    back, signal = back_online(LEAK, again, 30.0, "zigbee2mqtt/garage/leak_1/availability",
                               reasons=("device reports offline",))
    assert signal is not None
    assert (back.state, signal.state, signal.value) == (ALARM, ALARM, "online")


def test_a_device_back_online_does_not_end_its_bridges_outage() -> None:
    dry, _ = read('{"water_leak": false}', None, 10.0)
    gone, _ = went_offline(LEAK, dry, 20.0, "bridge zigbee2mqtt/bridge/state offline", "b")
    still, signal = back_online(LEAK, gone, 30.0, "a", reasons=("device reports offline",))
    assert (still.state, signal) == (OFFLINE, None)


def test_a_reading_ends_any_offline() -> None:
    dry, _ = read('{"water_leak": false}', None, 10.0)
    gone, _ = went_offline(LEAK, dry, 20.0, "silent for 90000s", "supervision")
    back, signals = read('{"water_leak": false}', gone, 30.0)
    assert (back.state, signals[0].changed) == (NORMAL, True)


# ----------------------------------------------------------------------------- unreadable


def test_messages_that_cannot_be_read_make_a_trouble_until_one_can() -> None:
    status, _ = read('{"water_leak": false}', None, 10.0)
    raised = []
    for i in range(BAD_INPUT_AFTER + 2):
        status, signal = rejected(LEAK, status, 20.0 + i, LEAK.mqtt.topic if LEAK.mqtt else "",
                                  "bad_json")
        raised.append(signal is not None)
    assert raised == [False, False, True, False, False]
    assert (status.state, status.conditions) == (TROUBLE, ("bad_input",))
    status, signals = read('{"water_leak": false}', status, 40.0)
    assert [(s.condition, s.state) for s in signals][-1] == ("bad_input", NORMAL)
    assert status.state is NORMAL


# ----------------------------------------------------------------------------- warm-up


@pytest.mark.parametrize(("binding", "payload", "state"), [
    # Heiman HS1CG / HS3CG natural gas: preheating after power-up
    (zigbee("gas"), {"gas": False, "preheat": True, "battery": 100}, WARMUP),
    (zigbee("gas"), {"gas": False, "preheat": False}, NORMAL),
    (zigbee("gas"), {"gas": True, "preheat": True}, ALARM),  # an alarm is never hidden
    # a detector that reports its warm-up as the value itself
    (zigbee("gas"), {"gas": "preparation"}, WARMUP),
    # Tuya / Heiman smoke, Aqara leak: no warm-up, as before
    (zigbee("smoke"), {"smoke": True, "battery_low": False}, ALARM),
    (zigbee("water_leak"), {"water_leak": False, "battery": 97}, NORMAL),
])
def test_warm_up_is_its_own_state(binding: MqttBinding, payload: dict[str, Any],
                                  state: PointState) -> None:
    import json

    reading = decode(binding, json.dumps(payload).encode())
    assert isinstance(reading, Reading)
    assert reading.state is state
