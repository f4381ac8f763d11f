"""The engine as a pure state machine, driven with a virtual clock on a small site of its own."""

from __future__ import annotations

import json

import pytest

from gateway.domain.effects import ModbusWrite, MqttPublish, Notify, Purpose, target
from gateway.domain.incident import Incident, from_json, to_json
from gateway.domain.model import (
    ActionStatus,
    IncidentStatus,
    PointState,
    PromptStatus,
    StepStatus,
)
from gateway.engine.machine import Engine
from gateway.engine.state import EngineState
from gateway.errors import CommandError
from tests.support.engine import CLOSE, T0, Harness, close_out


def test_first_detector_opens_unverified_fire_with_verify_step_due_in_3_minutes(h: Harness) -> None:
    out = h.signal("B1-F12-Z3", device="SD-01")
    incident = h.only()
    assert (incident.type, incident.stage, incident.status) == ("fire", "unverified",
                                                              IncidentStatus.OPEN)
    verify = incident.step("verify")
    assert verify is not None
    assert verify.role == "on_duty_patrol"
    assert verify.due_at == T0 + 180
    assert [e.kind for e in out.events][:2] == ["incident_opened", "stage_entered"]
    assert not incident.actions


def test_a_burst_of_40_zone_alarms_from_one_panel_is_one_incident(h: Harness) -> None:
    for floor in range(1, 11):
        for zone in range(1, 5):
            h.signal(f"B1-F{floor}-Z{zone}", device="SD-01")
    incident = h.only()
    assert len(incident.devices) == 40
    assert incident.signal_count == 40
    assert h.kinds().count("incident_opened") == 1


def test_repeated_report_of_the_same_device_adds_no_device_and_no_incident(h: Harness) -> None:
    h.signal("B1-F12-Z3", device="SD-01")
    repeat = h.signal("B1-F12-Z3", device="SD-01", changed=False)
    incident = h.only()
    assert len(incident.devices) == 1
    # a heartbeat: the incident is not touched (counted on the point instead)
    assert incident.signal_count == 1
    assert (repeat.incidents, repeat.events, repeat.attached) == ({}, [], [])


def test_second_device_in_same_zone_confirms_and_recalls_that_buildings_elevators(
        h: Harness) -> None:
    h.signal("B1-F12-Z3", device="SD-01")
    out = h.signal("B1-F12-MCP3")
    incident = h.only()
    assert incident.stage == "confirmed"
    assert sorted(a.actuator_id for a in incident.actions) == ["ELV-B1-L1", "ELV-B1-L2"]
    commands = sorted((p.effect.topic, json.loads(p.effect.payload)["cmd"]) for p in out.effects
                      if p.purpose is Purpose.COMMAND and isinstance(p.effect, MqttPublish))
    assert commands == [("small/elevator/b1/l1/cmd", "fire_recall"),
                        ("small/elevator/b1/l2/cmd", "fire_recall")]
    assert {p.id for p in incident.prompts} == {"call_119", "cut_gas_and_power", "start_pa"}
    stage_event = next(e for e in out.events if e.kind == "stage_entered")
    assert stage_event.data["devices"] == ["B1-F12-Z3/SD-01", "B1-F12-MCP3"]


def test_two_detectors_behind_one_zone_point_are_independent_devices(h: Harness) -> None:
    h.signal("B2-F3-Z1", device="SD-01")
    h.signal("B2-F3-Z1", device="SD-02")
    incident = h.only()
    assert incident.stage == "confirmed"
    assert sorted(a.actuator_id for a in incident.actions) == ["ELV-B2-L1", "ELV-B2-L2"]


def test_devices_in_different_zones_do_not_confirm(h: Harness) -> None:
    h.signal("B1-F12-Z3", device="SD-01")
    h.signal("B1-F12-Z4", device="SD-01")
    h.signal("B1-F11-Z3", device="SD-01")
    assert h.only().stage == "unverified"
    assert not h.only().actions


def test_call_119_prompt_carries_the_facts_the_call_must_give(h: Harness) -> None:
    h.signal("B1-F12-Z3", device="SD-01")
    out = h.command("confirm", h.only().id)
    raised = {e.data["prompt"]: e.data for e in out.events if e.kind == "prompt_raised"}
    call = raised["call_119"]["call"]
    assert call["phone"] == "119"
    assert call["project_zh"] == "测试小区"
    assert "测试路" in call["address_zh"]
    assert call["crossroads_zh"]
    assert call["where_zh"] == "1号楼12层3防区"
    assert call["callback_zh"] == "0755-0000 0000"


def test_operator_confirmation_confirms_and_cannot_be_repeated(h: Harness) -> None:
    h.signal("B1-F12-Z3", device="SD-01")
    incident_id = h.only().id
    h.command("confirm", incident_id, note="patrol sees smoke")
    assert h.only().stage == "confirmed"
    with pytest.raises(CommandError, match="nothing left to confirm"):
        h.command("confirm", incident_id)


def test_fire_trouble_opens_a_maintenance_incident_never_a_fire(h: Harness) -> None:
    h.signal("B1-F12-Z3", PointState.TROUBLE, device="SD-01")
    incident = h.only()
    assert incident.type == "device_fault"
    assert "fire" not in {i.type for i in h.state.incidents.values()}


def test_restore_to_normal_is_recorded_and_the_incident_stays_open(h: Harness) -> None:
    h.signal("B1-F12-Z3", device="SD-01")
    out = h.signal("B1-F12-Z3", PointState.NORMAL, device="SD-01")
    incident = h.only()
    assert incident.status is IncidentStatus.OPEN
    assert incident.devices[0].state == "normal"
    assert [e.data["state"] for e in out.events if e.kind == "signal"] == ["normal"]


def test_missed_deadline_escalates_once_to_the_named_role(h: Harness) -> None:
    h.signal("B1-F12-Z3", device="SD-01")
    assert not h.tick(179).events
    out = h.tick(1.5)
    missed = [e for e in out.events if e.kind == "deadline_missed"]
    assert [e.data["step"] for e in missed] == ["verify"]
    assert missed[0].data["late"] is False
    escalated = [e for e in out.events if e.kind == "escalated"]
    assert escalated[0].data["to"] == "duty_supervisor"
    notified = [p.effect for p in out.effects if p.purpose is Purpose.NOTIFY]
    assert [n.role for n in notified if isinstance(n, Notify)] == ["duty_supervisor"]
    assert h.only().step("verify").status is StepStatus.OVERDUE  # type: ignore[union-attr]
    assert not h.tick(10).events


def test_ten_minutes_of_escalation_in_virtual_time(h: Harness) -> None:
    h.signal("B1-F12-Z3", device="SD-01")
    for _ in range(600):
        h.tick(1.0)
    missed = [e.data.get("step") or e.data.get("branch") for o in h.log for e in o.events
              if e.kind == "deadline_missed"]
    assert missed == ["verify", "supervisor_on_scene", "verdict"]
    targets = [e.data["to"] for o in h.log for e in o.events if e.kind == "escalated"]
    assert targets == ["duty_supervisor", "project_manager", "duty_supervisor"]


def test_step_done_in_time_is_not_escalated(h: Harness) -> None:
    h.signal("B1-F12-Z3", device="SD-01")
    h.now += 100
    out = h.command("step", h.only().id, step="verify", note="on scene, smell of burning")
    assert out.events[0].data["on_time"] is True
    assert "verify" not in [e.data.get("step") for e in h.tick(200).events
                            if e.kind == "deadline_missed"]


def test_deadline_that_passed_while_down_fires_at_once_marked_late(h: Harness,
                                                                   engine: Engine) -> None:
    h.signal("B1-F12-Z3", device="SD-01")
    snapshot = json.loads(json.dumps(to_json(h.only())))
    restored = EngineState.restore([from_json(snapshot)], h.state.next_number)
    h.state = restored
    h.now += 600
    out = h.run(engine.on_tick(h.state, h.now))
    missed = {e.data.get("step") or e.data["branch"]: e.data for e in out.events
              if e.kind == "deadline_missed"}
    assert set(missed) == {"verify", "supervisor_on_scene", "verdict"}
    assert missed["verify"]["late"] is True
    assert missed["verify"]["late_by"] == pytest.approx(420)


def test_restored_state_attaches_instead_of_reopening(h: Harness, engine: Engine) -> None:
    h.signal("B1-F12-Z3", device="SD-01")
    snapshot = from_json(json.loads(json.dumps(to_json(h.only()))))
    h.state = EngineState.restore([snapshot], h.state.next_number)
    h.signal("B1-F12-MCP3")
    assert h.only().stage == "confirmed"


def test_acknowledge_then_close_with_report(h: Harness) -> None:
    h.signal("B1-F12-Z3", device="SD-01")
    incident_id = h.only().id
    h.now += 42
    ack = h.command("ack", incident_id, actor="李明")
    assert ack.events[0].data["seconds_to_ack"] == 42
    with pytest.raises(CommandError, match="already acknowledged by 李明"):
        h.command("ack", incident_id)
    with pytest.raises(CommandError, match="needs the review: handling"):
        h.command("close", incident_id, handling="  ")
    with pytest.raises(CommandError, match="needs these records first: cause"):
        h.command("close", incident_id, **CLOSE)
    h.command("record", incident_id, field="cause", value="厨房油烟")
    h.command("record", incident_id, field="injuries", value="无")
    out = h.command("close", incident_id, actor="张主管", **CLOSE)
    closed = out.incidents[incident_id]
    assert closed.status is IncidentStatus.CLOSED
    assert closed.closed_by == "张主管"
    assert not h.state.incidents


def test_commands_on_unknown_incident_or_without_operator_are_rejected(h: Harness) -> None:
    with pytest.raises(CommandError, match="no incident INC-999999"):
        h.command("ack", "INC-999999")
    h.signal("B1-F12-Z3", device="SD-01")
    with pytest.raises(CommandError, match="say who you are"):
        h.command("ack", h.only().id, actor=" ")
    with pytest.raises(CommandError, match="no step"):
        h.command("step", h.only().id, step="nonsense")


def test_prompt_answer_is_recorded_once(h: Harness) -> None:
    h.signal("B1-F12-Z3", device="SD-01")
    incident_id = h.only().id
    h.command("confirm", incident_id)
    h.command("answer", incident_id, prompt="start_pa", answer="yes")
    prompt = h.only().prompt("start_pa")
    assert prompt is not None
    assert (prompt.status, prompt.answer, prompt.answered_by) == (PromptStatus.ANSWERED, "yes",
                                                                  "王工")
    with pytest.raises(CommandError, match="already settled"):
        h.command("answer", incident_id, prompt="start_pa", answer="no")


def test_closed_incident_is_not_reopened_by_a_repeat_but_a_new_device_opens_anew(
        h: Harness) -> None:
    h.signal("B1-F12-Z3", device="SD-01")
    close_out(h, h.only().id)
    h.signal("B1-F12-Z3", device="SD-01", changed=False)
    assert not h.state.incidents
    h.signal("B1-F12-Z3", device="SD-02")
    assert h.only().id == "INC-000002"


def test_drill_incident_withholds_actuator_writes_and_stays_apart_from_real_ones(
        h: Harness) -> None:
    h.signal("B1-F12-Z3", device="SD-01", drill=True)
    out = h.signal("B1-F12-Z3", device="SD-02", drill=True)
    commands = [p for p in out.effects if p.purpose is Purpose.COMMAND]
    assert commands
    assert all(p.withhold for p in commands)
    h.signal("B1-F12-Z3", device="SD-01")
    assert sorted(i.drill for i in h.state.incidents.values()) == [False, True]


def test_action_result_updates_the_action_and_the_timeline(h: Harness, engine: Engine) -> None:
    h.signal("B1-F12-Z3", device="SD-01")
    h.command("confirm", h.only().id)
    action = h.only().actions[0]
    out = h.run(engine.on_action_result(h.state, h.only().id, action.id, ActionStatus.SENT,
                                        "broker acknowledged", h.now))
    assert out.events[0].kind == "action_sent"
    assert h.only().actions[0].status is ActionStatus.SENT


def test_offline_points_of_one_source_are_one_maintenance_incident(h: Harness) -> None:
    h.signal("W-PUMP-01", PointState.OFFLINE)
    h.signal("W-GAR-01", PointState.OFFLINE)  # both behind the Zigbee2MQTT bridge
    incident = h.only()
    assert incident.type == "device_fault"
    assert sorted(d.point_id for d in incident.devices) == ["W-GAR-01", "W-PUMP-01"]


def test_state_found_at_start_up_opens_its_incident_marked_replayed(h: Harness) -> None:
    out = h.signal("W-PUMP-01", PointState.TROUBLE, replayed=True)
    opened = next(e for e in out.events if e.kind == "incident_opened")
    assert opened.data["replayed"] is True
    assert h.only().type == "device_fault"


def test_incident_json_round_trip_is_exact(h: Harness) -> None:
    h.signal("B1-F12-Z3", device="SD-01")
    h.command("confirm", h.only().id)
    h.command("answer", h.only().id, prompt="start_pa", answer="yes")
    h.command("step", h.only().id, step="verify", note="到场")
    h.command("ack", h.only().id)
    incident = h.only()
    assert from_json(json.loads(json.dumps(to_json(incident)))) == incident
    from dataclasses import asdict
    every_field = json.loads(json.dumps(asdict(incident)))
    for device in every_field["devices"]:  # written only when set: rare, and thousands
        for rare, default in (("chattering", 0), ("condition", "")):
            if device[rare] == default:
                del device[rare]
    assert to_json(incident) == every_field


def test_events_go_out_as_one_message_per_incident_in_order(h: Harness) -> None:
    from gateway.engine.state import event_messages

    first = h.signal("B1-F12-Z3", device="SD-01")
    second = h.signal("B2-F1-Z1", device="SD-01")
    third = h.signal("B1-F12-MCP3")
    events = [*first.events, *second.events, *third.events]
    incidents = {**first.incidents, **second.incidents, **third.incidents}
    messages = event_messages("alarm-gateway/demo", events, incidents)
    assert [m.target for m in messages] == ["alarm-gateway/demo/incidents/INC-000001/events",
                                            "alarm-gateway/demo/incidents/INC-000002/events"]
    assert isinstance(messages[0].effect, MqttPublish)
    body = json.loads(messages[0].effect.payload)
    assert body["stage"] == "confirmed"
    kinds = [e["kind"] for e in body["events"]]
    assert kinds[:4] == ["incident_opened", "stage_entered", "step_started", "step_started"]
    assert kinds.count("action_requested") == 2
    assert kinds.index("signal") < kinds.index("action_requested")


def confirm_building_2(h: Harness) -> Incident:
    h.signal("B2-F3-Z1", device="SD-01")
    h.signal("B2-F3-Z1", device="SD-02")
    return h.only()


def test_modbus_recall_is_done_only_when_the_elevator_confirms(h: Harness,
                                                                engine: Engine) -> None:
    incident = confirm_building_2(h)
    writes = [p.effect for o in h.log for p in o.effects if p.purpose is Purpose.COMMAND]
    assert sorted(writes, key=target) == [ModbusWrite("elevators", 1, "coil", 0, True),
                                          ModbusWrite("elevators", 2, "coil", 0, True)]
    for action in incident.actions:
        h.run(engine.on_action_result(h.state, incident.id, action.id, ActionStatus.SENT,
                                      "unit acknowledged the write", h.now))
    assert {a.status for a in h.only().actions} == {ActionStatus.SENT}
    h.now += 12
    out = h.run(engine.on_value(h.state, "ELV-B2-L1-RECALLED", 1, PointState.NORMAL, h.now))
    done = [e for e in out.events if e.kind == "action_done"]
    assert [e.data["actuator"] for e in done] == ["ELV-B2-L1"]
    assert done[0].data["seconds"] == 12
    statuses = {a.actuator_id: a.status for a in h.only().actions}
    assert statuses == {"ELV-B2-L1": ActionStatus.DONE, "ELV-B2-L2": ActionStatus.SENT}


def test_recall_without_confirmation_fails_at_its_timeout_and_escalates(
        h: Harness, engine: Engine) -> None:
    incident = confirm_building_2(h)
    for action in incident.actions:
        h.run(engine.on_action_result(h.state, incident.id, action.id, ActionStatus.SENT,
                                      "ok", h.now))
    assert not [e for e in h.tick(89).events if e.kind == "action_failed"]
    out = h.tick(2)
    failed = [e.data["actuator"] for e in out.events if e.kind == "action_failed"]
    assert sorted(failed) == ["ELV-B2-L1", "ELV-B2-L2"]
    escalated = [e.data for e in out.events if e.kind == "escalated"]
    assert {e["reason"] for e in escalated} == {"action_failed"}
    assert {e["to"] for e in escalated} == {"duty_supervisor"}
    assert not [e for e in h.tick(100).events if e.kind == "action_failed"]


def test_device_already_where_the_command_sends_it_confirms_at_once(
        h: Harness, engine: Engine) -> None:
    h.run(engine.on_value(h.state, "ELV-B2-L1-RECALLED", 1, PointState.NORMAL, h.now))
    incident = confirm_building_2(h)
    action = next(a for a in incident.actions if a.actuator_id == "ELV-B2-L1")
    h.run(engine.on_action_result(h.state, incident.id, action.id, ActionStatus.SENT, "ok",
                                  h.now))
    assert next(a for a in h.only().actions if a.actuator_id == "ELV-B2-L1").status \
        is ActionStatus.DONE


def test_a_refused_write_fails_the_action_and_escalates_at_once(h: Harness,
                                                                 engine: Engine) -> None:
    incident = confirm_building_2(h)
    out = h.run(engine.on_action_result(h.state, incident.id, incident.actions[0].id,
                                        ActionStatus.FAILED, "exception 02", h.now))
    assert [e.kind for e in out.events] == ["action_failed", "escalated"]


def test_drill_actions_are_withheld_and_never_time_out(h: Harness, engine: Engine) -> None:
    h.signal("B2-F3-Z1", device="SD-01", drill=True)
    h.signal("B2-F3-Z1", device="SD-02", drill=True)
    incident = h.only()
    for action in incident.actions:
        h.run(engine.on_action_result(h.state, incident.id, action.id, ActionStatus.WITHHELD,
                                      "drill: real write withheld", h.now))
    events = h.tick(600).events
    assert not [e for e in events if e.kind == "action_failed"]
    assert not [e for e in events if e.data.get("reason") == "action_failed"]
    recalls = [a for a in h.only().actions if a.action == "elevator_recall"]
    assert {a.status for a in recalls} == {ActionStatus.WITHHELD}


def test_gas_level_1_opens_and_level_2_closes_the_shut_off_valve(h: Harness) -> None:
    h.signal("G-B1-02", PointState.PREALARM)
    incident = h.only()
    assert (incident.type, incident.stage) == ("gas_leak", "detected")
    assert not incident.actions
    out = h.signal("G-B1-02", PointState.ALARM)
    incident = h.only()
    assert incident.stage == "level2"
    assert [(a.actuator_id, a.feedback_point) for a in incident.actions] == [
        ("V-GAS-B1-01", "V-GAS-B1-01-POS")]
    assert [p.effect for p in out.effects if p.purpose is Purpose.COMMAND] == [
        ModbusWrite("valves", 1, "coil", 0, True)]


def test_gas_already_at_level_2_when_first_seen_goes_straight_to_level_2(h: Harness) -> None:
    h.signal("G-B1-03", PointState.ALARM)
    assert h.only().stage == "level2"


def test_gas_back_below_the_dead_band_is_recorded_and_the_incident_stays(h: Harness) -> None:
    h.signal("G-B1-02", PointState.PREALARM)
    out = h.signal("G-B1-02", PointState.NORMAL)
    assert [e.data["state"] for e in out.events if e.kind == "signal"] == ["normal"]
    assert h.only().status is IncidentStatus.OPEN
