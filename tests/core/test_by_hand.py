"""Actuators commanded by hand (``actuate``) on the pure engine with a virtual clock: for no
incident (the site's), for an incident (one of its actions), followed to their feedback as the
playbook's auto-actions are, withheld in a drill, refused with a code when wrong."""

from __future__ import annotations

import pytest

from gateway.domain.effects import ModbusWrite, MqttPublish, Purpose
from gateway.domain.incident import ActionState, from_json, to_json
from gateway.domain.model import ActionStatus, PointState
from gateway.engine.state import OperatorCommand, Outcome
from gateway.errors import CommandError, Refusal
from tests.support.engine import CLOSE, Harness

REASON = "维保复位后试运行 / test run after maintenance"


def actuate(h: Harness, actuator: str, command: str, *, number: int = 7, reason: str = REASON,
            incident: str = "", drill: bool = False, actor: str = "李明") -> Outcome:
    cmd = OperatorCommand("actuate", "", actor, {
        "actuator": actuator, "command": command, "reason": reason, "incident": incident,
        "drill": "yes" if drill else ""})
    return h.run(h.engine.on_actuate(h.state, cmd, h.now, number=number, drill=drill))


def result(h: Harness, action_id: str, status: ActionStatus, incident: str = "",
           detail: str = "unit acknowledged the write") -> Outcome:
    return h.run(h.engine.on_action_result(h.state, incident, action_id, status, detail, h.now))


def report(h: Harness, point_id: str, value: object) -> Outcome:
    return h.run(h.engine.on_value(h.state, point_id, value, PointState.NORMAL, h.now))


def site_action(h: Harness, action_id: str) -> ActionState:
    return h.state.site_actions[action_id]


# ----------------------------------------------------------------------------- for no incident


def test_a_recall_by_hand_is_sent_and_done_when_the_car_confirms_it(h: Harness) -> None:
    out = actuate(h, "ELV-B2-L1", "recall")
    (effect,) = out.effects
    assert effect.purpose is Purpose.COMMAND
    assert (effect.incident_id, effect.action_id, effect.withhold) == (
        "", "by_hand-7:ELV-B2-L1", False)
    assert effect.effect == ModbusWrite("elevators", 1, "coil", 0, True)
    (requested,) = out.events
    assert (requested.kind, requested.incident_id, requested.actor) == (
        "action_requested", "", "李明")
    assert requested.data["by_hand"] is True
    assert requested.data["reason"] == REASON
    assert requested.data["feedback"] == "ELV-B2-L1-RECALLED"
    assert "ELV-B2-L1-RECALLED" in out.result
    action = site_action(h, "by_hand-7:ELV-B2-L1")
    assert (action.status, action.by, action.reason) == (ActionStatus.PENDING, "李明", REASON)

    result(h, "by_hand-7:ELV-B2-L1", ActionStatus.SENT)
    assert site_action(h, "by_hand-7:ELV-B2-L1").status is ActionStatus.SENT
    h.now += 12
    report(h, "ELV-B2-L1-RECALLED", 0)  # still travelling
    assert site_action(h, "by_hand-7:ELV-B2-L1").status is ActionStatus.SENT
    done = report(h, "ELV-B2-L1-RECALLED", 1)
    assert site_action(h, "by_hand-7:ELV-B2-L1").status is ActionStatus.DONE
    (event,) = done.events
    assert (event.kind, event.incident_id) == ("action_done", "")
    assert event.data["seconds"] == 12
    assert event.data["by_hand"] is True
    assert event.data["name_en"] == "recall (by hand)"
    assert h.engine.next_due(h.state) is None


def test_a_recall_by_hand_fails_when_no_confirmation_comes_in_time(h: Harness) -> None:
    actuate(h, "ELV-B1-L1", "recall")
    result(h, "by_hand-7:ELV-B1-L1", ActionStatus.SENT, detail="broker acknowledged")
    assert h.engine.next_due(h.state) == h.now + 90
    assert h.tick(89).events == []
    out = h.tick(2)
    action = site_action(h, "by_hand-7:ELV-B1-L1")
    assert action.status is ActionStatus.FAILED
    assert action.detail == "no confirmation from ELV-B1-L1-RECALLED within 90s"
    assert [(e.kind, e.incident_id) for e in out.events] == [("action_failed", "")]
    assert out.effects == []  # a site's command escalates to no one: its page and log say so
    assert h.engine.next_due(h.state) is None


def test_a_command_without_feedback_ends_when_sent(h: Harness) -> None:
    out = actuate(h, "ELV-B1-L2", "out_of_service")
    assert isinstance(out.effects[0].effect, MqttPublish)
    assert "no feedback point" in out.result
    result(h, "by_hand-7:ELV-B1-L2", ActionStatus.SENT, detail="broker acknowledged")
    assert site_action(h, "by_hand-7:ELV-B1-L2").status is ActionStatus.SENT
    assert h.engine.next_due(h.state) is None


def test_a_car_already_recalled_confirms_the_recall_as_soon_as_it_is_sent(h: Harness) -> None:
    report(h, "ELV-B1-L1-RECALLED", True)
    actuate(h, "ELV-B1-L1", "recall")
    result(h, "by_hand-7:ELV-B1-L1", ActionStatus.SENT, detail="broker acknowledged")
    assert site_action(h, "by_hand-7:ELV-B1-L1").status is ActionStatus.DONE


def test_each_actuator_keeps_its_commands_in_flight_and_its_last(h: Harness) -> None:
    actuate(h, "ELV-B2-L1", "recall", number=1)
    result(h, "by_hand-1:ELV-B2-L1", ActionStatus.SENT)
    actuate(h, "ELV-B2-L1", "out_of_service", number=2)  # the recall still awaits its car
    result(h, "by_hand-2:ELV-B2-L1", ActionStatus.SENT)
    actuate(h, "ELV-B2-L2", "recall", number=3)
    assert set(h.state.site_actions) == {"by_hand-1:ELV-B2-L1", "by_hand-2:ELV-B2-L1",
                                         "by_hand-3:ELV-B2-L2"}
    actuate(h, "ELV-B2-L1", "out_of_service", number=4)
    # the finished one gives way to the new one; the one in flight is followed to its end
    assert set(h.state.site_actions) == {"by_hand-1:ELV-B2-L1", "by_hand-3:ELV-B2-L2",
                                         "by_hand-4:ELV-B2-L1"}


def test_a_drill_command_is_withheld_and_awaits_no_confirmation(h: Harness) -> None:
    out = actuate(h, "ELV-B2-L1", "recall", drill=True)
    assert out.effects[0].withhold is True
    assert out.events[0].data["withheld"] is True
    assert "withheld" in out.result
    withheld = result(h, "by_hand-7:ELV-B2-L1", ActionStatus.WITHHELD,
                      detail="drill: real write withheld")
    assert [e.kind for e in withheld.events] == ["action_withheld"]
    action = site_action(h, "by_hand-7:ELV-B2-L1")
    assert (action.status, action.feedback_due) == (ActionStatus.WITHHELD, None)
    assert h.tick(120).events == []


def test_a_write_the_unit_refuses_fails_at_once(h: Harness) -> None:
    actuate(h, "ELV-B2-L1", "recall")
    result(h, "by_hand-7:ELV-B2-L1", ActionStatus.FAILED, detail="unit 1 refused the write")
    assert site_action(h, "by_hand-7:ELV-B2-L1").status is ActionStatus.FAILED
    assert h.engine.next_due(h.state) is None


# ----------------------------------------------------------------------------- for an incident


def fire_in_building_1(h: Harness, *, drill: bool = False) -> str:
    h.signal("B1-F12-Z3", device="SD-01", drill=drill)
    return h.only().id


def test_for_an_incident_it_is_one_of_its_actions_marked_by_hand(h: Harness) -> None:
    incident_id = fire_in_building_1(h)
    out = actuate(h, "ELV-B1-L1", "recall", incident=incident_id)
    (effect,) = out.effects
    assert (effect.incident_id, effect.action_id) == (incident_id, "by_hand-7:ELV-B1-L1")
    assert [(e.kind, e.incident_id) for e in out.events] == [("action_requested", incident_id)]
    (action,) = h.only().actions
    assert (action.by, action.reason, action.command) == ("李明", REASON, "recall")
    assert action.escalate_to == "duty_supervisor"  # as the fire playbook's recall
    assert from_json(to_json(h.only())) == h.only()
    result(h, "by_hand-7:ELV-B1-L1", ActionStatus.SENT, incident_id, "broker acknowledged")
    h.now += 5
    report(h, "ELV-B1-L1-RECALLED", True)
    (action,) = h.only().actions
    assert action.status is ActionStatus.DONE
    assert h.state.site_actions == {}


def test_an_incidents_command_by_hand_escalates_as_its_playbook_does(h: Harness) -> None:
    incident_id = fire_in_building_1(h)
    actuate(h, "ELV-B1-L1", "recall", incident=incident_id)
    result(h, "by_hand-7:ELV-B1-L1", ActionStatus.SENT, incident_id, "broker acknowledged")
    out = h.tick(91)
    failed = [e for e in out.events if e.kind == "action_failed"]
    assert [e.data["action_id"] for e in failed] == ["by_hand-7:ELV-B1-L1"]
    escalated = [e.data for e in out.events if e.kind == "escalated"]
    assert {"to": "duty_supervisor", "reason": "action_failed",
            "action": "by_hand-7:ELV-B1-L1"}.items() <= escalated[0].items()


def test_a_drill_incidents_command_by_hand_is_withheld(h: Harness) -> None:
    incident_id = fire_in_building_1(h, drill=True)
    out = actuate(h, "ELV-B1-L1", "recall", incident=incident_id)
    assert out.effects[0].withhold is True
    result(h, "by_hand-7:ELV-B1-L1", ActionStatus.WITHHELD, incident_id,
           "drill: real write withheld")
    (action,) = h.only().actions
    assert (action.status, action.feedback_due) == (ActionStatus.WITHHELD, None)


def test_a_resolved_incident_still_takes_a_command_by_hand(h: Harness) -> None:
    incident_id = fire_in_building_1(h)
    h.command("ack", incident_id)
    h.command("resolve", incident_id, reason="误报")
    actuate(h, "ELV-B1-L1", "out_of_service", incident=incident_id)
    assert [a.command for a in h.only().actions] == ["out_of_service"]


# ----------------------------------------------------------------------------- refused


@pytest.mark.parametrize(("args", "code", "refusal"), [
    ({"actuator": "ELV-B9-L9"}, "no_actuator", Refusal.NOT_FOUND),
    ({"command": "fly"}, "no_actuator_command", Refusal.CONFLICT),
    ({"reason": "  "}, "actuate_reason", Refusal.CONFLICT),
    ({"incident": "INC-000099"}, "no_incident", Refusal.NOT_FOUND),
    ({"actor": " "}, "who", Refusal.CONFLICT),
])
def test_a_wrong_command_is_refused_with_its_code_and_changes_nothing(
        h: Harness, args: dict[str, str], code: str, refusal: Refusal) -> None:
    given = {"actuator": "ELV-B2-L1", "command": "recall", "reason": REASON, "incident": "",
             "actor": "李明", **args}
    actor = given.pop("actor")
    with pytest.raises(CommandError) as refused:
        h.engine.on_actuate(h.state, OperatorCommand("actuate", "", actor, given), h.now,
                            number=1)
    assert (refused.value.code, refused.value.refusal) == (code, refusal)
    assert h.state.site_actions == {}


def test_an_unknown_command_names_the_ones_the_actuator_has(h: Harness) -> None:
    with pytest.raises(CommandError, match=r"has no command 'fly' \(it has: out_of_service, "
                                           r"recall\)") as refused:
        actuate(h, "ELV-B2-L1", "fly")
    assert refused.value.params == {"actuator": "ELV-B2-L1", "value": "fly"}


def test_a_closed_incident_is_refused(h: Harness) -> None:
    incident_id = fire_in_building_1(h)
    h.command("ack", incident_id)
    h.command("record", incident_id, field="cause", value="油烟")
    h.command("record", incident_id, field="injuries", value="无")
    h.command("close", incident_id, **CLOSE)
    closed = h.log[-1].incidents[incident_id]
    cmd = OperatorCommand("actuate", incident_id, "李明", {
        "actuator": "ELV-B1-L1", "command": "recall", "reason": REASON})
    with pytest.raises(CommandError) as refused:
        h.engine.on_actuate(h.state, cmd, h.now, number=2, stored=closed)
    assert refused.value.code == "closed"
