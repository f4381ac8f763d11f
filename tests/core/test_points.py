"""Point conditioning (readings → status and signal) and heartbeat supervision."""

from __future__ import annotations

from gateway.config.site import MqttBinding, PointConfig, Threshold
from gateway.domain.model import Location, PointKind, PointState, Signal, Text
from gateway.points.conditioning import PointStatus, condition, supervise
from gateway.points.decode import Reading

ALARM, PREALARM, NORMAL = PointState.ALARM, PointState.PREALARM, PointState.NORMAL
TROUBLE, OFFLINE, TEST = PointState.TROUBLE, PointState.OFFLINE, PointState.TEST

HOUR = 3600.0


def point(point_id: str = "B1-F3-Z2", *, kind: PointKind = PointKind.SMOKE_DETECTOR,
          heartbeat: float | None = None, thresholds: tuple[Threshold, ...] = (),
          deadband: float = 0.0) -> PointConfig:
    return PointConfig(
        id=point_id, kind=kind, name=Text(point_id, point_id),
        location=Location(site="demo", building="1", floor="3", zone="2"), heartbeat=heartbeat,
        mqtt=MqttBinding(
            topic=f"t/{point_id}", decoder="json", field="state", device_field="device",
            drill_field="drill", property=None, value_property=None,
            trouble_properties=("battery_low", "tamper"),
            values={"fire": ALARM, "normal": NORMAL, "fault": TROUBLE},
            thresholds=thresholds, deadband=deadband))


ZONE = point()
GAS = point("G-B1-01", kind=PointKind.GAS_DETECTOR, heartbeat=25 * HOUR,
            thresholds=(Threshold(25.0, PREALARM), Threshold(50.0, ALARM)), deadband=5.0)


def reading(state: PointState | None, *, device: str = "", value: object = None,
            drill: bool = False) -> Reading:
    raw = state.value if value is None and state is not None else value
    assert raw is None or isinstance(raw, float | str | bool)
    return Reading(state, raw, device, drill)


# ----------------------------------------------------------------------------- condition


def cond(point: PointConfig, previous: PointStatus | None, reading: Reading, at: float, *,
         source: str, replayed: bool = False) -> tuple[PointStatus, Signal]:
    """The status and the main channel's signal of one reading."""
    status, signals = condition(point, previous, reading, at, source=source, replayed=replayed)
    return status, signals[0]


def test_first_reading_sets_the_status() -> None:
    status, _ = cond(ZONE, None, reading(ALARM, device="SD-01"), 100.0, source="mqtt")

    assert status == PointStatus(ALARM, 100.0, 100.0, "alarm", (("SD-01", ALARM),),
                                 activations=(100.0,))


def test_first_reading_signal_is_changed_and_describes_the_point() -> None:
    _, signal = cond(ZONE, None, reading(ALARM, device="SD-01"), 100.0, source="mqtt")

    assert signal.changed is True
    assert (signal.point_id, signal.kind, signal.location) == (ZONE.id, ZONE.kind, ZONE.location)
    assert (signal.state, signal.at, signal.device, signal.source) == (ALARM, 100.0, "SD-01",
                                                                       "mqtt")
    assert signal.value == "alarm"


def test_first_normal_reading_is_also_changed() -> None:
    _, signal = cond(ZONE, None, reading(NORMAL), 100.0, source="mqtt")

    assert signal.changed is True


def test_repeat_of_the_same_state_is_not_changed() -> None:
    first, _ = cond(ZONE, None, reading(ALARM, device="SD-01"), 100.0, source="mqtt")

    status, signal = cond(ZONE, first, reading(ALARM, device="SD-01"), 130.0, source="mqtt")

    assert signal.changed is False
    assert status.since == 100.0
    assert status.last_seen == 130.0


def test_second_device_on_the_same_zone_is_changed() -> None:
    first, _ = cond(ZONE, None, reading(ALARM, device="SD-01"), 100.0, source="mqtt")

    status, signal = cond(ZONE, first, reading(ALARM, device="SD-02"), 110.0, source="mqtt")

    assert signal.changed is True
    assert signal.device == "SD-02"
    assert status.sources == (("SD-01", ALARM), ("SD-02", ALARM))
    assert status.since == 100.0


def test_zone_state_is_the_worst_of_its_devices() -> None:
    status, _ = cond(ZONE, None, reading(TROUBLE, device="SD-01"), 100.0, source="mqtt")

    status, signal = cond(ZONE, status, reading(ALARM, device="SD-02"), 110.0,
                               source="mqtt")

    assert status.state is ALARM
    assert status.since == 110.0
    assert signal.state is ALARM


def test_device_restoring_while_another_is_in_alarm_keeps_the_zone_in_alarm() -> None:
    status, _ = cond(ZONE, None, reading(ALARM, device="SD-01"), 100.0, source="mqtt")
    status, _ = cond(ZONE, status, reading(ALARM, device="SD-02"), 110.0, source="mqtt")

    status, signal = cond(ZONE, status, reading(NORMAL, device="SD-01"), 120.0,
                               source="mqtt")

    assert signal.state is NORMAL
    assert signal.changed is True
    assert status.state is ALARM
    assert status.since == 100.0


def test_signal_carries_the_device_state_not_the_zone_state() -> None:
    status, _ = cond(ZONE, None, reading(ALARM, device="SD-01"), 100.0, source="mqtt")

    status, signal = cond(ZONE, status, reading(TROUBLE, device="SD-02"), 110.0,
                               source="mqtt")

    assert signal.state is TROUBLE
    assert status.state is ALARM


def test_prealarm_outranks_trouble_test_and_normal() -> None:
    status = None
    for device, state in (("a", NORMAL), ("b", TEST), ("c", TROUBLE), ("d", PREALARM)):
        status, _ = cond(ZONE, status, reading(state, device=device), 100.0, source="mqtt")

    assert status is not None
    assert status.state is PREALARM


def test_restore_to_normal_is_changed() -> None:
    alarm, _ = cond(ZONE, None, reading(ALARM), 100.0, source="mqtt")

    status, signal = cond(ZONE, alarm, reading(NORMAL), 200.0, source="mqtt")

    assert signal.changed is True
    assert signal.state is NORMAL
    assert status == PointStatus(NORMAL, 200.0, 200.0, "normal", (("", NORMAL),),
                                 activations=(100.0,))  # when it went into alarm


def test_replayed_flag_is_carried_to_the_signal() -> None:
    _, signal = cond(ZONE, None, reading(ALARM), 100.0, source="mqtt", replayed=True)

    assert signal.replayed is True


def test_live_reading_is_not_replayed() -> None:
    _, signal = cond(ZONE, None, reading(ALARM), 100.0, source="mqtt")

    assert signal.replayed is False


def test_drill_flag_is_carried_to_the_signal() -> None:
    _, signal = cond(ZONE, None, reading(ALARM, drill=True), 100.0, source="mqtt")

    assert signal.drill is True


def test_threshold_reading_without_history_is_judged_on_its_value() -> None:
    status, signal = cond(GAS, None, reading(None, value=30.0), 100.0, source="mqtt")

    assert signal.state is PREALARM
    assert signal.value == 30.0
    assert status.state is PREALARM


def test_threshold_reading_uses_the_previous_state_for_the_deadband() -> None:
    prealarm, _ = cond(GAS, None, reading(None, value=30.0), 100.0, source="mqtt")

    status, signal = cond(GAS, prealarm, reading(None, value=22.0), 110.0, source="mqtt")

    assert signal.state is PREALARM
    assert signal.changed is False
    assert status.state is PREALARM


def test_threshold_reading_below_the_deadband_restores() -> None:
    prealarm, _ = cond(GAS, None, reading(None, value=30.0), 100.0, source="mqtt")

    status, signal = cond(GAS, prealarm, reading(None, value=19.0), 110.0, source="mqtt")

    assert signal.state is NORMAL
    assert signal.changed is True
    assert status.state is NORMAL


def test_threshold_reading_from_normal_does_not_use_the_deadband() -> None:
    normal, _ = cond(GAS, None, reading(None, value=10.0), 100.0, source="mqtt")

    _, signal = cond(GAS, normal, reading(None, value=22.0), 110.0, source="mqtt")

    assert signal.state is NORMAL


def test_threshold_alarm_holds_inside_its_deadband() -> None:
    alarm, _ = cond(GAS, None, reading(None, value=55.0), 100.0, source="mqtt")

    _, signal = cond(GAS, alarm, reading(None, value=46.0), 110.0, source="mqtt")

    assert signal.state is ALARM
    assert signal.changed is False


# ----------------------------------------------------------------------------- supervise


def test_silent_point_goes_offline_after_its_heartbeat() -> None:
    seen, _ = cond(GAS, None, reading(NORMAL), 1000.0, source="mqtt")

    out = supervise({GAS.id: GAS}, {GAS.id: seen}, started_at=0.0, now=1000.0 + 25 * HOUR)

    assert len(out) == 1
    status, signal = out[0]
    # offline, what it last said kept for when it is heard again
    assert status == PointStatus(OFFLINE, 1000.0 + 25 * HOUR, 1000.0, "normal",
                                 (("", NORMAL),), offline="silent for 90000s")
    assert (signal.point_id, signal.state, signal.source) == (GAS.id, OFFLINE, "supervision")
    assert signal.at == 1000.0 + 25 * HOUR
    assert signal.value == 25 * HOUR
    assert signal.changed is True


def test_point_within_its_heartbeat_is_not_offline() -> None:
    seen, _ = cond(GAS, None, reading(NORMAL), 1000.0, source="mqtt")

    assert supervise({GAS.id: GAS}, {GAS.id: seen}, 0.0, 1000.0 + 25 * HOUR - 1) == []


def test_old_last_seen_waits_one_interval_after_start_up() -> None:
    # the status was stored long ago; the gateway has just restarted
    stale = PointStatus(NORMAL, 0.0, 0.0, False, (("", NORMAL),))
    started = 100 * HOUR

    assert supervise({GAS.id: GAS}, {GAS.id: stale}, started, started + 1.0) == []
    assert supervise({GAS.id: GAS}, {GAS.id: stale}, started, started + 25 * HOUR - 1) == []
    out = supervise({GAS.id: GAS}, {GAS.id: stale}, started, started + 25 * HOUR)
    assert [signal.state for _, signal in out] == [OFFLINE]
    assert out[0][1].value == 125 * HOUR  # silent since it was last seen, not since start-up


def test_never_seen_point_goes_offline_one_interval_after_start_up() -> None:
    started = 5000.0

    assert supervise({GAS.id: GAS}, {}, started, started + 25 * HOUR - 1) == []
    out = supervise({GAS.id: GAS}, {}, started, started + 25 * HOUR)
    assert len(out) == 1
    status, signal = out[0]
    assert (status.state, status.last_seen, status.value) == (OFFLINE, 0.0, None)
    assert signal.value == 25 * HOUR


def test_point_without_heartbeat_is_never_offline() -> None:
    assert ZONE.heartbeat is None
    seen, _ = cond(ZONE, None, reading(NORMAL), 0.0, source="mqtt")

    assert supervise({ZONE.id: ZONE}, {ZONE.id: seen}, 0.0, 1e9) == []
    assert supervise({ZONE.id: ZONE}, {}, 0.0, 1e9) == []


def test_offline_point_is_not_reported_again() -> None:
    seen, _ = cond(GAS, None, reading(NORMAL), 0.0, source="mqtt")
    [(offline, _)] = supervise({GAS.id: GAS}, {GAS.id: seen}, 0.0, 25 * HOUR)

    assert supervise({GAS.id: GAS}, {GAS.id: offline}, 0.0, 100 * HOUR) == []


def test_only_the_silent_points_go_offline() -> None:
    other = point("G-B1-02", kind=PointKind.GAS_DETECTOR, heartbeat=25 * HOUR)
    quiet, _ = cond(GAS, None, reading(NORMAL), 0.0, source="mqtt")
    chatty, _ = cond(other, None, reading(NORMAL), 20 * HOUR, source="mqtt")

    out = supervise({GAS.id: GAS, other.id: other}, {GAS.id: quiet, other.id: chatty}, 0.0,
                    26 * HOUR)

    assert [signal.point_id for _, signal in out] == [GAS.id]


def test_reading_after_offline_leaves_offline_and_is_changed() -> None:
    seen, _ = cond(GAS, None, reading(NORMAL), 0.0, source="mqtt")
    [(offline, _)] = supervise({GAS.id: GAS}, {GAS.id: seen}, 0.0, 25 * HOUR)

    status, signal = cond(GAS, offline, reading(NORMAL), 26 * HOUR, source="mqtt")

    assert signal.changed is True
    assert signal.state is NORMAL
    assert status.state is NORMAL
    assert status.sources == (("", NORMAL),)
    assert status.since == 26 * HOUR


def test_device_reading_after_offline_is_changed_and_drops_the_offline_source() -> None:
    seen, _ = cond(ZONE, None, reading(NORMAL, device="SD-01"), 0.0, source="mqtt")
    supervised = point(ZONE.id, heartbeat=HOUR)
    [(offline, _)] = supervise({ZONE.id: supervised}, {ZONE.id: seen}, 0.0, HOUR)

    status, signal = cond(supervised, offline, reading(NORMAL, device="SD-01"), 2 * HOUR,
                               source="mqtt")

    assert signal.changed is True
    assert status.state is NORMAL
    assert status.sources == (("SD-01", NORMAL),)


def test_threshold_reading_after_offline_is_judged_without_deadband() -> None:
    seen, _ = cond(GAS, None, reading(None, value=30.0), 0.0, source="mqtt")
    [(offline, _)] = supervise({GAS.id: GAS}, {GAS.id: seen}, 0.0, 25 * HOUR)

    status, signal = cond(GAS, offline, reading(None, value=22.0), 26 * HOUR,
                               source="mqtt")

    assert signal.state is NORMAL
    assert signal.changed is True
    assert status.state is NORMAL
