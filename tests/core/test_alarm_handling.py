"""Every alarm announced, none cleared by mistake: the engine's alarm handling on a virtual
clock (new alarms in open incidents, reopening, places and call facts, chattering)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config.site import SiteConfig
from gateway.domain import drill
from gateway.domain.effects import Purpose
from gateway.domain.model import IncidentStatus, PointState, Signal
from gateway.errors import CommandError
from tests.support.engine import AS_IT_STANDS, T0, Harness


def events(h: Harness, kind: str) -> list[dict[str, Any]]:
    return [e.data for o in h.log for e in o.events if e.kind == kind]


def call_119(h: Harness) -> dict[str, Any]:
    """The latest facts of the 119 call, as the console shows them."""
    raised = [e["call"] for e in events(h, "prompt_raised") if e["prompt"] == "call_119"]
    updated = [e["call"] for e in events(h, "call_facts_updated") if e["prompt"] == "call_119"]
    return (raised + updated)[-1]


def test_a_fire_on_another_floor_is_announced_and_needs_acknowledging_again(h: Harness) -> None:
    h.signal("B1-F8-Z2", device="SD-01")
    incident_id = h.only().id
    h.command("ack", incident_id, actor="李明")
    first_ack = h.only().acknowledged_at
    h.now += 120
    out = h.signal("B1-F16-Z1", device="SD-77")
    incident = h.only()
    assert incident.id == incident_id  # one incident per building: it joins
    assert incident.status is IncidentStatus.OPEN
    assert incident.announced_at == h.now
    (signal,) = [e.data for e in out.events if e.kind == "signal"]
    assert (signal["announced"], signal["place"], signal["new_place"]) == (
        True, "small-B1-F16-Z1", True)
    assert [p.label() for p in incident.places()] == ["small-B1-F8-Z2", "small-B1-F16-Z1"]
    h.now += 30
    h.command("ack", incident_id, actor="王工")
    incident = h.only()
    assert incident.status is IncidentStatus.ACKNOWLEDGED
    assert (incident.acknowledged_at, incident.announced_at) == (first_ack, None)
    again = events(h, "acknowledged")[-1]
    assert (again["again"], again["seconds_to_ack"]) == (True, 30)


def test_the_119_facts_name_every_place_in_alarm(h: Harness) -> None:
    h.signal("B1-F8-Z2", device="SD-01")
    h.signal("B1-F8-MCP2")  # confirmed: the 119 prompt is raised
    assert call_119(h)["where_zh"] == "1号楼8层2防区"
    h.signal("B1-F16-Z1", device="SD-77")
    facts = call_119(h)
    assert facts["where_zh"] == "1号楼8层2防区、1号楼16层1防区"
    assert facts["where_en"] == "building 1, floor 8, zone 2; building 1, floor 16, zone 1"


def test_a_second_device_in_a_known_place_is_announced_without_new_facts(h: Harness) -> None:
    h.signal("B1-F8-Z2", device="SD-01")
    h.command("ack", h.only().id)
    out = h.signal("B1-F8-Z2", device="SD-02")
    assert h.only().status is IncidentStatus.OPEN
    (signal,) = [e.data for e in out.events if e.kind == "signal"]
    assert (signal["announced"], signal["new_place"]) == (True, False)
    assert not events(h, "call_facts_updated")


def test_a_restore_is_recorded_but_not_announced(h: Harness) -> None:
    h.signal("B1-F8-Z2", device="SD-01")
    h.command("ack", h.only().id)
    out = h.signal("B1-F8-Z2", PointState.NORMAL, device="SD-01")
    assert h.only().status is IncidentStatus.ACKNOWLEDGED
    assert [e.data.get("announced") for e in out.events if e.kind == "signal"] == [None]


def test_a_resolved_incident_reopened_by_a_device_is_unacknowledged(h: Harness) -> None:
    h.signal("W-GAR-01")
    incident_id = h.only().id
    h.command("ack", incident_id)
    h.command("resolve", incident_id, reason=AS_IT_STANDS)
    h.now += 60
    h.signal("W-GAR-02")
    incident = h.only()
    assert (incident.status, incident.reopened) == (IncidentStatus.OPEN, 1)
    assert incident.resolved_at is None


def test_a_chattering_device_is_flagged_once_not_announced_each_cycle(h: Harness) -> None:
    h.signal("W-GAR-01")
    incident_id = h.only().id
    h.command("ack", incident_id)
    for cycle in range(3):
        h.now += 10
        h.signal("W-GAR-01", PointState.NORMAL)
        h.now += 10
        h.signal("W-GAR-01", chattering=3 + cycle)
    incident = h.only()
    assert incident.status is IncidentStatus.ACKNOWLEDGED  # not re-announced
    assert [e["activations"] for e in events(h, "chattering")] == [3]
    (ref,) = incident.devices
    assert ref.chattering == 5


def test_a_level_rising_to_alarm_is_announced(h: Harness) -> None:
    h.signal("G-B1-01", PointState.PREALARM)
    h.command("ack", h.only().id)
    h.signal("G-B1-01", PointState.ALARM)
    assert h.only().status is IncidentStatus.OPEN


# ----------------------------------------------------------------------------- drill scope


def test_a_drill_window_covers_only_the_buildings_and_points_it_names(site: SiteConfig) -> None:
    window = drill.start({"minutes": "30", "buildings": "2", "points": "W-PUMP-01"}, "测试员",
                         T0, site.buildings, site.points)
    b1, b2 = site.points["B1-F3-Z1"], site.points["B2-F3-Z1"]
    assert window.covers(b2.id, b2.location, T0 + 60)
    assert not window.covers(b1.id, b1.location, T0 + 60)  # a real fire stays real
    pump = site.points["W-PUMP-01"]
    assert window.covers(pump.id, pump.location, T0 + 60)
    assert not window.covers(b2.id, b2.location, T0 + 30 * 60)  # over
    assert drill.describe(window).endswith("(building 2; points W-PUMP-01)")


def test_a_drill_window_without_scope_makes_no_real_signal_a_drill(site: SiteConfig) -> None:
    window = drill.start({"minutes": "10"}, "测试员", T0, site.buildings, site.points)
    b1 = site.points["B1-F3-Z1"]
    assert window.active(T0 + 1)
    assert not window.covers(b1.id, b1.location, T0 + 1)
    assert window.scope_text() == "no scope: only signals marked drill"


@pytest.mark.parametrize(("args", "says"), [
    ({"minutes": "300"}, "between 1 minute and 4 hours"),
    ({"minutes": "x"}, "between 1 minute and 4 hours"),
    ({"minutes": "10", "buildings": "9"}, "unknown building '9'"),
    ({"minutes": "10", "points": "B9-X"}, "unknown point 'B9-X'"),
])
def test_a_drill_window_is_bounded_and_its_scope_checked(site: SiteConfig, args: dict[str, str],
                                                         says: str) -> None:
    with pytest.raises(CommandError, match=says):
        drill.start(args, "测试员", T0, site.buildings, site.points)


def test_a_drill_incident_withholds_its_writes_and_a_real_one_beside_it_does_not(
        h: Harness) -> None:
    h.signal("B2-F3-Z1", device="SD-01", drill=True)
    h.signal("B2-F3-MCP1", drill=True)
    h.signal("B1-F3-Z1", device="SD-02")
    h.signal("B1-F3-MCP1")
    building = {i.id: i.location.building for i in h.state.incidents.values()}
    recalls = {(building[p.incident_id], p.withhold) for o in h.log for p in o.effects
               if p.purpose is Purpose.COMMAND}
    assert recalls == {("1", False), ("2", True)}


# ----------------------------------------------------------------------------- troubles


def test_a_trouble_of_a_device_in_an_open_alarm_incident_joins_it(h: Harness) -> None:
    h.signal("ELV-B2-L1-STATUS")  # stuck between floors: entrapment
    (entrapment,) = h.state.incidents.values()
    assert entrapment.type == "elevator_entrapment"
    # the same car (Modbus unit) reports a fault in the same poll: not a second incident
    h.signal("ELV-B2-L1-RECALLED", PointState.TROUBLE)
    incident = h.only()
    assert incident.id == entrapment.id
    assert ("ELV-B2-L1-RECALLED", "trouble") in {(d.point_id, d.state) for d in incident.devices}
    assert incident.status is IncidentStatus.OPEN  # a trouble is recorded, not announced


def test_a_trouble_condition_of_a_point_in_its_leak_incident_stays_with_it(h: Harness) -> None:
    h.signal("W-GAR-01")
    h.command("ack", h.only().id)
    h.run(h.engine.on_signal(h.state, trouble("W-GAR-01", h), h.now))
    incident = h.only()
    assert incident.type == "water_leak"
    refs = {(d.point_id, d.condition, d.state) for d in incident.devices}
    assert refs == {("W-GAR-01", "", "alarm"), ("W-GAR-01", "low_battery", "trouble")}
    h.signal("W-GAR-01", PointState.NORMAL)  # the leak stopped; the battery is still low
    refs = {(d.point_id, d.condition, d.state) for d in h.only().devices}
    assert ("W-GAR-01", "", "normal") in refs
    assert ("W-GAR-01", "low_battery", "trouble") in refs


def test_a_device_fault_incident_names_its_cause(h: Harness) -> None:
    out = h.run(h.engine.on_signal(h.state, trouble("W-PUMP-01", h), h.now))
    incident = h.only()
    assert incident.type == "device_fault"
    (ref,) = incident.devices
    assert (ref.point_id, ref.condition) == ("W-PUMP-01", "low_battery")
    opened = next(e for e in out.events if e.kind == "incident_opened")
    assert opened.data["condition"] == "low_battery"


def test_many_points_of_one_source_going_offline_are_one_incident(h: Harness) -> None:
    zones = [p for p in h.site.points.values() if p.group == "mqtt:small/fire"]
    assert len(zones) > 80
    for point in zones:
        h.signal(point.id, PointState.OFFLINE)
    h.signal("W-PUMP-01", PointState.OFFLINE)  # another source: its own incident
    incidents = sorted(h.state.incidents.values(), key=lambda i: len(i.devices))
    assert [(i.type, len(i.devices)) for i in incidents] == [("device_fault", 1),
                                                             ("device_fault", len(zones))]


def test_an_alarm_of_a_point_in_a_fault_incident_still_opens_its_own(h: Harness) -> None:
    h.signal("B1-F3-Z1", PointState.OFFLINE)
    h.signal("B1-F3-Z1", device="SD-01")  # back, and in alarm: a fire, never a fault
    assert sorted(i.type for i in h.state.incidents.values()) == ["device_fault", "fire"]


def trouble(point_id: str, h: Harness, condition: str = "low_battery") -> Signal:
    point = h.site.points[point_id]
    return Signal(point_id=point_id, kind=point.kind, location=point.location,
                  state=PointState.TROUBLE, at=h.now, value=condition, source=point.source,
                  condition=condition)


def test_the_report_names_every_place_and_each_new_alarm(h: Harness) -> None:
    from gateway.present.report import build_report
    from gateway.present.report_render import render_markdown

    h.signal("B1-F8-Z2", device="SD-01")
    incident_id = h.only().id
    h.command("ack", incident_id)
    h.now += 60
    h.signal("B1-F16-Z1", device="SD-77")
    events = [e for o in h.log for e in o.events if e.incident_id == incident_id]
    text = render_markdown(build_report(h.only(), events, h.engine.playbooks["fire"], h.site),
                           "zh")
    assert "1号楼8层2防区、1号楼16层1防区" in text
    assert "新报警：B1-F16-Z1/SD-77 报警，位置 1号楼16层1防区，新位置" in text
