"""Every shipped playbook driven through its main path and each branch with a virtual clock.

Each test asserts the timeline (the ordered events, in brief) an operator would see, not just
where the incident ends: which steps start, who is notified or escalated to and why, which
prompts are raised and what they do on timeout, which commands go out (and which a drill
withholds), and what closing asks for.
"""

from __future__ import annotations

import pytest

from gateway.config.site import SiteConfig
from gateway.domain import site_time
from gateway.domain.effects import Notify, Purpose, payload_text
from gateway.domain.events import StageReason
from gateway.domain.incident import Incident
from gateway.domain.model import (
    ActionStatus,
    Event,
    IncidentStatus,
    PointState,
    PromptStatus,
    StepStatus,
    Verdict,
)
from gateway.engine.machine import Engine
from gateway.engine.state import OperatorCommand, Outcome, statement
from gateway.errors import CommandError
from gateway.playbook.definition import Playbook
from gateway.playbook.load import load_playbooks
from tests.support.engine import AS_IT_STANDS, T0, Harness

REVIEW = {"handling": "接报后 2 分钟到场，按流程处置", "analysis": "原因已查明，维保到位",
          "improvement": "加强巡查，组织一次演练"}
CLOSE = {**REVIEW, "reason": AS_IT_STANDS}


@pytest.fixture(scope="module")
def playbooks(site: SiteConfig) -> dict[str, Playbook]:
    # what `alarm-gateway check` does: every playbook checked against the site config
    return load_playbooks(site.playbook_dir, site)


@pytest.fixture(scope="module")
def engine(site: SiteConfig, playbooks: dict[str, Playbook]) -> Engine:
    return Engine(site, playbooks)


# ----------------------------------------------------------------------------- helpers

_FIELDS: dict[str, tuple[str, ...]] = {
    "stage_entered": ("stage",), "notified": ("to",), "escalated": ("to", "reason"),
    "step_started": ("step",), "step_done": ("step",), "prompt_raised": ("prompt",),
    "prompt_answered": ("prompt", "answer"), "prompt_confirmation_needed": ("prompt",),
    "prompt_timed_out": ("prompt", "policy"), "branch_raised": ("branch",),
    "branch_decided": ("branch", "option"), "action_requested": ("action", "actuator"),
    "action_skipped": ("action",), "action_failed": ("actuator",),
    "action_done": ("actuator",), "action_sent": ("actuator",),
    "action_withheld": ("actuator",), "record": ("field", "value"), "arrival": ("role",),
    "follow_up_done": ("task",),
}


def brief(event: Event) -> tuple[object, ...]:
    """An event as the few fields that tell what happened."""
    if event.kind == "signal":
        return ("signal", event.point_id, event.data["state"])
    if event.kind == "deadline_missed":
        return ("deadline_missed", event.data.get("step") or event.data["branch"])
    return (event.kind, *(event.data[f] for f in _FIELDS.get(event.kind, ())))


def timeline(*outcomes: Outcome) -> list[tuple[object, ...]]:
    return [brief(e) for o in outcomes for e in o.events]


def since(h: Harness, mark: int) -> list[tuple[object, ...]]:
    """The timeline of everything the harness ran after ``mark = len(h.log)``."""
    return timeline(*h.log[mark:])


def commands(*outcomes: Outcome) -> list[tuple[str, str, bool]]:
    return [(p.target, payload_text(p.effect), p.withhold) for o in outcomes for p in o.effects
            if p.purpose is Purpose.COMMAND]


def notices(*outcomes: Outcome) -> list[tuple[str, bool]]:
    return [(p.effect.role, p.withhold) for o in outcomes for p in o.effects
            if isinstance(p.effect, Notify)]


def dispatch(h: Harness, *outcomes: Outcome) -> None:
    """What the runtime's dispatcher reports for each command: withheld in a drill, else
    sent (a sent command with feedback is done only when its point confirms it)."""
    for outcome in outcomes:
        for p in outcome.effects:
            if p.purpose is Purpose.COMMAND:
                status, detail = ((ActionStatus.WITHHELD, "drill: real write withheld")
                                  if p.withhold else (ActionStatus.SENT, "acknowledged"))
                h.run(h.engine.on_action_result(h.state, p.incident_id, p.action_id, status,
                                                detail, h.now))


def run_until(h: Harness, seconds: float) -> list[tuple[object, ...]]:
    """Tick second by second up to ``seconds`` after T0; the timeline of those ticks."""
    mark = len(h.log)
    while h.now < T0 + seconds:
        h.tick(1.0)
    return since(h, mark)


def earlier(h: Harness, minutes: float) -> str:
    """A wall-clock time ``minutes`` before the virtual now, as an operator writes it."""
    return site_time.wall(h.now - 60 * minutes)[:16]


def open_by_hand(h: Harness, playbook: str, actor: str = "王工", **args: str) -> Incident:
    out = h.command("open", "", actor=actor, playbook=playbook, **args)
    (incident,) = out.incidents.values()
    return incident


def close_with(h: Harness, incident_id: str, records: dict[str, str],
               actor: str = "张主管") -> Incident:
    """Acknowledge, show that the review and each record are required, then close."""
    h.command("ack", incident_id)
    with pytest.raises(CommandError, match="closing needs the review"):
        h.command("close", incident_id, actor=actor)
    for field, value in records.items():
        with pytest.raises(CommandError, match=f"closing needs these records first: .*{field}"):
            h.command("close", incident_id, actor=actor, **CLOSE)
        h.command("record", incident_id, field=field, value=value)
    out = h.command("close", incident_id, actor=actor, **CLOSE)
    closed = out.incidents[incident_id]
    assert closed.status is IncidentStatus.CLOSED
    assert closed.review == REVIEW
    return closed


def required(playbook: Playbook, *stages: str) -> list[str]:
    every = [r for r in playbook.records if r.required]
    every += [r for s in stages for r in playbook.stage(s).records if r.required]
    return [r.id for r in every]


# ----------------------------------------------------------------------------- all playbooks

ALL = ["car_park_vehicle", "device_fault", "earthquake", "elevator_call", "elevator_entrapment",
       "fire", "gas_leak", "gateway_health", "mains_outage", "unit_power_outage", "water_leak"]


def test_every_playbook_loads_against_the_demo_site(playbooks: dict[str, Playbook]) -> None:
    assert sorted(playbooks) == ALL
    by_hand_only = sorted(p.id for p in playbooks.values() if p.trigger is None)
    assert by_hand_only == ["car_park_vehicle", "earthquake", "unit_power_outage"]
    for playbook in playbooks.values():
        assert playbook.review is not None
        assert playbook.statement is not None
        steps = [s for stage in playbook.stages for s in stage.steps]
        for step in steps:
            if step.escalate_to:
                assert step.deadline is not None, (playbook.id, step.id)
        prompts = [p for stage in playbook.stages for p in stage.prompts]
        assert all(p.timeout and p.on_timeout for p in prompts), playbook.id


# the gateway's own health is a desk job (check the PC, the network, the broker): no one has a
# scene to reach
@pytest.mark.parametrize("name", [p for p in ALL if p not in ("fire", "gas_leak",
                                                                 "device_fault",
                                                                 "gateway_health")])
def test_new_playbooks_follow_the_3_and_5_minute_response_rule(
        playbooks: dict[str, Playbook], name: str) -> None:
    first = playbooks[name].stages[0]
    arrivals = [(s.role, s.deadline, s.escalate_to) for s in first.steps if s.arrival]
    assert (arrivals[0][1], arrivals[0][2]) == (180, "duty_supervisor")
    assert ("duty_supervisor", 300, "project_manager") in arrivals


def test_a_playbook_without_trigger_opens_by_hand_and_never_merges(h: Harness) -> None:
    first = open_by_hand(h, "earthquake", note="震感强烈")
    second = open_by_hand(h, "earthquake", note="余震")
    assert first.id != second.id
    assert sorted(i.type for i in h.state.incidents.values()) == ["earthquake", "earthquake"]


def test_opening_by_hand_needs_a_known_playbook_and_building(h: Harness) -> None:
    with pytest.raises(CommandError, match="unknown playbook 'flood'"):
        h.command("open", "", playbook="flood")
    with pytest.raises(CommandError, match="unknown building '9'"):
        h.command("open", "", playbook="unit_power_outage", building="9")
    assert not h.state.incidents


# ----------------------------------------------------------------------------- elevator

ENTRAPMENT_OPENED = [
    ("incident_opened",), ("stage_entered", "trapped"), ("notified", "engineering"),
    ("step_started", "intercom"), ("step_started", "patrol_on_scene"),
    ("step_started", "engineering_on_scene"), ("step_started", "supervisor_on_scene"),
    ("step_started", "reassure"), ("step_started", "after_release"),
    ("step_started", "incident_report"), ("prompt_raised", "call_elevator_maintenance"),
    ("branch_raised", "vulnerable")]


def test_car_stopped_outside_a_landing_opens_an_entrapment_and_its_button_joins(
        h: Harness) -> None:
    opened = h.signal("ELV-B2-L1-STATUS")
    assert timeline(opened) == ENTRAPMENT_OPENED
    raised = next(e for e in opened.events if e.kind == "prompt_raised")
    assert raised.data["call"]["phone"] == "400-000-0000"
    assert raised.data["call"]["facts"] == "project,address,where,what,callback,caller"
    assert raised.data["on_timeout"] == "escalate"
    pressed = h.signal("ELV-B2-L1-BTN")
    assert timeline(pressed) == [("signal", "ELV-B2-L1-BTN", "alarm")]
    incident = h.only()
    assert (incident.type, incident.stage) == ("elevator_entrapment", "trapped")
    assert [d.point_id for d in incident.devices] == ["ELV-B2-L1-STATUS", "ELV-B2-L1-BTN"]


def test_each_car_is_its_own_entrapment_and_none_is_a_fire(h: Harness) -> None:
    h.signal("ELV-B1-L1-BTN")
    h.signal("ELV-B1-L2-BTN")
    h.signal("ELV-B1-L1-BTN", PointState.NORMAL)  # released: recorded, stays open
    incidents = sorted(h.state.incidents.values(), key=lambda i: i.id)
    assert [(i.type, i.location.zone) for i in incidents] == [
        ("elevator_entrapment", "elevator-1"), ("elevator_entrapment", "elevator-2")]
    assert incidents[0].status is IncidentStatus.OPEN


def test_entrapment_missed_deadlines_and_an_unmade_call_escalate(h: Harness) -> None:
    h.signal("ELV-B2-L1-BTN")
    assert run_until(h, 600) == [
        ("deadline_missed", "intercom"), ("escalated", "duty_supervisor", "deadline_missed"),
        ("prompt_timed_out", "call_elevator_maintenance", "escalate"),
        ("escalated", "duty_supervisor", "prompt_timed_out"),
        ("deadline_missed", "patrol_on_scene"),
        ("escalated", "duty_supervisor", "deadline_missed"),
        ("deadline_missed", "vulnerable"), ("escalated", "duty_supervisor", "deadline_missed"),
        ("deadline_missed", "engineering_on_scene"),
        ("escalated", "duty_supervisor", "deadline_missed"),
        ("deadline_missed", "supervisor_on_scene"),
        ("escalated", "project_manager", "deadline_missed")]
    prompt = h.only().prompt("call_elevator_maintenance")
    assert prompt is not None
    assert (prompt.status, prompt.timed_out) == (PromptStatus.OPEN, True)  # may still be made


def test_entrapment_handled_in_time_escalates_nothing(h: Harness) -> None:
    h.signal("ELV-B2-L1-BTN")
    incident_id = h.only().id
    h.now += 30
    h.command("step", incident_id, step="intercom", note="2 人被困，均为成年人，情绪稳定")
    h.command("answer", incident_id, prompt="call_elevator_maintenance", answer="yes",
              note="维保预计 20 分钟到")
    h.command("decide", incident_id, branch="vulnerable", option="not_at_risk")
    h.now += 90
    h.command("arrive", incident_id, role="on_duty_patrol", who="巡逻李四")
    h.command("arrive", incident_id, role="engineering", who="工程赵六")
    h.now += 60
    out = h.command("arrive", incident_id, role="duty_supervisor", who="张主管")
    assert timeline(out) == [("arrival", "duty_supervisor"),
                             ("step_done", "supervisor_on_scene")]
    assert out.events[0].data["on_time"] is True
    assert not [e for e in run_until(h, 3600) if e[0] in ("deadline_missed", "escalated")]
    assert h.only().verdict is Verdict.REAL


def test_vulnerable_passengers_bring_in_the_managers_and_an_ambulance(h: Harness) -> None:
    h.signal("ELV-B2-L1-BTN")
    incident_id = h.only().id
    h.now += 45
    out = h.command("decide", incident_id, branch="vulnerable", option="at_risk",
                    note="轿厢内有孕妇，感觉闷热")
    assert timeline(out) == [
        ("branch_decided", "vulnerable", "at_risk"), ("stage_entered", "vulnerable"),
        ("notified", "duty_supervisor"), ("notified", "project_manager"),
        ("step_started", "supervisor_leads_rescue"), ("step_started", "first_aid_ready"),
        ("prompt_raised", "call_120")]
    assert notices(out) == [("duty_supervisor", False), ("project_manager", False)]
    call = next(e for e in out.events if e.kind == "prompt_raised").data["call"]
    assert (call["phone"], call["what_zh"]) == ("120", "电梯困人")
    assert call["crossroads_zh"]
    incident = h.only()
    assert (incident.stage, incident.verdict) == ("vulnerable", Verdict.REAL)
    said = statement(h.engine.playbooks["elevator_entrapment"], incident)
    assert said is not None
    assert said.en.startswith("People are trapped")
    # the ambulance call is due in 2 minutes from the decision
    assert run_until(h, 45 + 120) == [
        ("deadline_missed", "intercom"), ("escalated", "duty_supervisor", "deadline_missed"),
        ("prompt_timed_out", "call_elevator_maintenance", "escalate"),
        ("escalated", "duty_supervisor", "prompt_timed_out"),
        ("prompt_timed_out", "call_120", "escalate"),
        ("escalated", "duty_supervisor", "prompt_timed_out")]


def test_confirming_an_entrapment_answers_its_branch_with_no_vulnerable_people(
        h: Harness) -> None:
    h.signal("ELV-B2-L2-STATUS")
    out = h.command("confirm", h.only().id, note="对讲确认 1 名成年人被困")
    assert timeline(out) == [("branch_decided", "vulnerable", "not_at_risk")]
    assert (h.only().stage, h.only().verdict) == ("trapped", Verdict.REAL)


def test_nobody_in_the_car_is_rejected_as_a_false_alarm(h: Harness) -> None:
    h.signal("ELV-B1-L1-BTN")
    incident_id = h.only().id
    with pytest.raises(CommandError, match="say what was found"):
        h.command("reject", incident_id)
    out = h.command("reject", incident_id, note="小孩误按报警按钮，轿厢内无人")
    assert timeline(out) == [("branch_decided", "vulnerable", "nobody_trapped")]
    assert h.only().verdict is Verdict.FALSE_ALARM


def test_entrapment_opened_from_the_intercom_takes_the_cars_later_alarms(h: Harness) -> None:
    incident = open_by_hand(h, "elevator_entrapment", actor="监控员小陈", building="2",
                            zone="elevator-1", reporter="轿厢对讲", note="乘客来电称被困")
    assert timeline(h.log[-1]) == ENTRAPMENT_OPENED
    assert incident.opened_by == "监控员小陈"
    out = h.signal("ELV-B2-L1-STATUS")
    assert timeline(out) == [("signal", "ELV-B2-L1-STATUS", "alarm")]
    assert h.only().id == incident.id
    with pytest.raises(CommandError, match="already open"):
        h.command("open", "", playbook="elevator_entrapment", building="2", zone="elevator-1")


def test_entrapment_closes_with_release_and_technician_records_and_a_follow_up(
        h: Harness, playbooks: dict[str, Playbook]) -> None:
    h.signal("ELV-B2-L1-BTN")
    incident_id = h.only().id
    h.command("decide", incident_id, branch="vulnerable", option="at_risk")
    h.now += 40 * 60
    assert required(playbooks["elevator_entrapment"], "trapped", "vulnerable") == [
        "released_at", "technician_arrived_at", "technician_left_at", "repair_staff"]
    h.command("record", incident_id, field="injuries", value="孕妇轻微不适，送南山医院检查")
    with pytest.raises(CommandError, match="must be a number"):
        h.command("record", incident_id, field="trapped_count", value="两人")
    h.command("record", incident_id, field="trapped_count", value="2")
    with pytest.raises(CommandError, match="in the future"):
        h.command("record", incident_id, field="released_at",
                  value=site_time.wall(h.now + 3600)[:16])
    closed = close_with(h, incident_id, {
        "released_at": earlier(h, 5), "technician_arrived_at": earlier(h, 20),
        "technician_left_at": earlier(h, 2), "repair_staff": "维保刘工 138-0000-0000"})
    assert [(f.id, f.role, f.due_at) for f in closed.follow_ups] == [
        ("passenger_call", "customer_service", h.now + 86400)]
    assert closed.record("trapped_count").value == "2"  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- water leak

LEAK_OPENED = [
    ("incident_opened",), ("stage_entered", "leak"), ("notified", "engineering"),
    ("step_started", "verify"), ("step_started", "supervisor_on_scene"),
    ("step_started", "isolate_and_repair"), ("step_started", "sandbags"),
    ("step_started", "notify_residents"), ("step_started", "remove_water"),
    ("prompt_raised", "close_water_valve"), ("branch_raised", "elevator")]


def test_garage_leak_opens_one_incident_for_its_three_sensors(h: Harness) -> None:
    assert timeline(h.signal("W-GAR-01")) == LEAK_OPENED
    assert timeline(h.signal("W-GAR-02"), h.signal("W-GAR-03")) == [
        ("signal", "W-GAR-02", "alarm"), ("signal", "W-GAR-03", "alarm")]
    assert len(h.only().devices) == 3
    h.signal("W-PUMP-01")  # another zone, another flood
    assert sorted(i.location.zone for i in h.state.incidents.values()) == ["garage",
                                                                           "pump_room"]


def test_pump_room_valve_closes_by_itself_when_nobody_answers(h: Harness) -> None:
    h.signal("W-PUMP-01")
    mark = len(h.log)
    assert run_until(h, 180) == [
        ("prompt_timed_out", "close_water_valve", "act"),
        ("action_requested", "close_valve", "V-WATER-PUMP-01"),
        # the valve never reported closed: the duty supervisor hears at once
        ("action_failed", "V-WATER-PUMP-01"), ("escalated", "duty_supervisor", "action_failed"),
        ("deadline_missed", "verify"), ("escalated", "duty_supervisor", "deadline_missed")]
    assert commands(*h.log[mark:]) == [("modbus://valves/2/coil/0", "true", False)]
    prompt = h.only().prompt("close_water_valve")
    assert prompt is not None
    assert prompt.status is PromptStatus.ACTED_ON_TIMEOUT
    action = h.only().actions[0]
    assert (action.feedback_point, action.prompt) == ("V-WATER-PUMP-01-POS",
                                                      "close_water_valve")


def test_valve_answered_yes_closes_at_once_and_a_floor_without_valve_says_so(
        h: Harness) -> None:
    h.signal("W-PUMP-01")
    out = h.command("answer", h.only().id, prompt="close_water_valve", answer="是")
    assert timeline(out) == [("prompt_answered", "close_water_valve", "yes"),
                             ("action_requested", "close_valve", "V-WATER-PUMP-01")]
    dispatch(h, out)
    h.now += 8
    closed = h.run(h.engine.on_value(h.state, "V-WATER-PUMP-01-POS", 2, PointState.NORMAL,
                                     h.now))
    assert timeline(closed) == [("action_done", "V-WATER-PUMP-01")]
    assert closed.events[0].data["seconds"] == 8
    h.signal("W-GAR-01")
    garage = next(i for i in h.state.incidents.values() if i.location.zone == "garage")
    out = h.command("answer", garage.id, prompt="close_water_valve", answer="yes")
    assert timeline(out) == [("prompt_answered", "close_water_valve", "yes"),
                             ("action_skipped", "close_valve")]
    assert "no water_valve actuator serves small-B2-FB1-Zgarage at floor level" in \
        out.events[1].data["detail"]
    assert not commands(out)


def test_flooded_elevator_power_is_cut_only_after_a_second_operator_confirms(
        h: Harness) -> None:
    h.signal("W-GAR-01")
    incident_id = h.only().id
    out = h.command("decide", incident_id, branch="elevator", option="flooded",
                    note="1 号梯底坑已有积水")
    assert timeline(out) == [
        ("branch_decided", "elevator", "flooded"), ("stage_entered", "elevator_flooded"),
        ("notified", "duty_supervisor"), ("notified", "engineering"),
        ("step_started", "forbid_use"), ("step_started", "inspect_after_cleanup"),
        ("prompt_raised", "cut_elevator_power")]
    raised = out.events[-1].data
    assert (raised["second_confirmation"], raised["actions"]) == (True, ["elevator_power_off"])
    first = h.command("answer", incident_id, actor="王工", prompt="cut_elevator_power",
                      answer="yes", note="已确认轿厢无人")
    assert timeline(first) == [("prompt_confirmation_needed", "cut_elevator_power")]
    assert not commands(first)
    assert h.only().prompt("cut_elevator_power").status is (  # type: ignore[union-attr]
        PromptStatus.AWAITING_SECOND)
    with pytest.raises(CommandError, match="needs a second operator: 王工 already said yes"):
        h.command("answer", incident_id, actor="王工", prompt="cut_elevator_power",
                  answer="yes")
    second = h.command("answer", incident_id, actor="李明", prompt="cut_elevator_power",
                       answer="yes")
    assert timeline(second) == [("prompt_answered", "cut_elevator_power", "yes"),
                                ("action_requested", "elevator_power_off", "PWR-ELV-B2")]
    assert second.events[0].data["first"] == "王工"
    assert commands(second) == [("small/power/elevator-b2/cmd", '{"cmd":"off"}', False)]
    prompt = h.only().prompt("cut_elevator_power")
    assert prompt is not None
    assert (prompt.answered_by, prompt.confirmed_by) == ("王工", "李明")
    with pytest.raises(CommandError, match="already settled"):
        h.command("answer", incident_id, actor="赵六", prompt="cut_elevator_power",
                  answer="yes")


def test_an_unconfirmed_power_cut_escalates_on_timeout_and_cuts_nothing(h: Harness) -> None:
    h.signal("W-GAR-01")
    incident_id = h.only().id
    h.command("answer", incident_id, prompt="close_water_valve", answer="no",
              note="车库无独立进水阀")
    h.command("decide", incident_id, branch="elevator", option="flooded")
    h.command("arrive", incident_id, role="on_duty_patrol")
    h.command("arrive", incident_id, role="duty_supervisor")
    h.command("step", incident_id, step="isolate_and_repair")
    h.command("step", incident_id, step="sandbags")
    h.command("step", incident_id, step="forbid_use")
    h.command("answer", incident_id, actor="王工", prompt="cut_elevator_power", answer="yes")
    mark = len(h.log)
    assert run_until(h, 600) == [("prompt_timed_out", "cut_elevator_power", "escalate"),
                                 ("escalated", "duty_supervisor", "prompt_timed_out")]
    assert not commands(*h.log[mark:])
    assert not h.only().actions
    # a second operator may still confirm after the escalation
    late = h.command("answer", incident_id, actor="张主管", prompt="cut_elevator_power",
                     answer="yes")
    assert timeline(late)[-1] == ("action_requested", "elevator_power_off", "PWR-ELV-B2")
    assert late.events[0].data["on_time"] is False


def test_dry_elevators_are_parked_up_and_taken_out_of_service(h: Harness) -> None:
    h.signal("W-GAR-02")
    out = h.command("decide", h.only().id, branch="elevator", option="not_flooded")
    assert timeline(out) == [
        ("branch_decided", "elevator", "not_flooded"), ("stage_entered", "elevator_dry"),
        ("step_started", "check_parked"), ("step_started", "return_to_service"),
        ("action_requested", "elevators_out_of_service", "ELV-B2-L1"),
        ("action_requested", "elevators_out_of_service", "ELV-B2-L2")]
    assert commands(out) == [("modbus://elevators/1/coil/1", "true", False),
                             ("modbus://elevators/2/coil/1", "true", False)]
    h.signal("W-PUMP-01")
    pump = next(i for i in h.state.incidents.values() if i.location.zone == "pump_room")
    out = h.command("decide", pump.id, branch="elevator", option="not_flooded")
    assert commands(out) == [
        ("small/elevator/b1/l1/cmd", '{"cmd":"out_of_service"}', False),
        ("small/elevator/b1/l2/cmd", '{"cmd":"out_of_service"}', False)]


def test_no_elevator_affected_only_gives_the_verdict(h: Harness) -> None:
    h.signal("W-PUMP-01")
    out = h.command("decide", h.only().id, branch="elevator", option="no_elevator")
    assert timeline(out) == [("branch_decided", "elevator", "no_elevator")]
    assert (h.only().stage, h.only().verdict) == ("leak", Verdict.REAL)
    assert not h.only().actions


def test_water_leak_drill_withholds_the_valve_and_the_notifications(h: Harness) -> None:
    opened = h.signal("W-PUMP-01", drill=True)
    assert timeline(opened) == LEAK_OPENED
    assert notices(opened) == [("engineering", True)]
    mark = len(h.log)
    dispatch(h, h.tick(120))
    h.tick(60)
    assert since(h, mark) == [
        ("prompt_timed_out", "close_water_valve", "act"),
        ("action_requested", "close_valve", "V-WATER-PUMP-01"),
        ("action_withheld", "V-WATER-PUMP-01"),  # so it waits for no confirmation
        ("deadline_missed", "verify"), ("escalated", "duty_supervisor", "deadline_missed")]
    assert commands(*h.log[mark:]) == [("modbus://valves/2/coil/0", "true", True)]
    assert notices(*h.log[mark:]) == [("duty_supervisor", True)]
    escalated = [e for o in h.log[mark:] for e in o.events if e.kind == "escalated"]
    assert [e.data["withheld"] for e in escalated] == [True]
    h.signal("W-PUMP-01")  # the real one is apart from the drill
    assert sorted(i.drill for i in h.state.incidents.values()) == [False, True]


def test_water_leak_closes_with_cause_water_cut_damage_and_the_elevator_record(
        h: Harness, playbooks: dict[str, Playbook]) -> None:
    h.signal("W-GAR-01")
    incident_id = h.only().id
    h.command("decide", incident_id, branch="elevator", option="flooded")
    assert required(playbooks["water_leak"], "leak", "elevator_flooded") == [
        "leak_cause", "water_cut", "damage", "elevator_back_at"]
    h.now += 3 * 3600
    with pytest.raises(CommandError, match="water_cut is yes or no"):
        h.command("record", incident_id, field="water_cut", value="也许")
    closed = close_with(h, incident_id, {
        "leak_cause": "消防管接头老化渗漏", "water_cut": "否",
        "damage": "车库 B 区约 50 平方米积水",
        "elevator_back_at": earlier(h, 10)})
    assert closed.record("water_cut").value == "no"  # type: ignore[union-attr]
    assert [f.id for f in closed.follow_ups] == ["resident_visit"]


# ----------------------------------------------------------------------------- earthquake

EARTHQUAKE_OPENED = [
    ("incident_opened",), ("stage_entered", "evacuation"), ("notified", "duty_supervisor"),
    ("notified", "project_manager"), ("notified", "engineering"),
    ("notified", "customer_service"), ("step_started", "announce"),
    ("step_started", "posts_at_exits"), ("step_started", "supervisor_on_scene"),
    ("step_started", "cut_power_and_water"), ("step_started", "head_count"),
    ("step_started", "keep_out"), ("step_started", "ask_authorities"),
    ("step_started", "inspect_and_restore"), ("step_started", "list_losses"),
    ("action_requested", "elevators_out_of_service", "ELV-B1-L1"),
    ("action_requested", "elevators_out_of_service", "ELV-B1-L2"),
    ("action_requested", "elevators_out_of_service", "ELV-B2-L1"),
    ("action_requested", "elevators_out_of_service", "ELV-B2-L2"),
    ("prompt_raised", "start_pa"), ("prompt_raised", "cut_ac_and_gas"),
    ("prompt_raised", "call_120")]

OUT_OF_SERVICE = [("small/elevator/b1/l1/cmd", '{"cmd":"out_of_service"}'),
                  ("small/elevator/b1/l2/cmd", '{"cmd":"out_of_service"}'),
                  ("modbus://elevators/1/coil/1", "true"),
                  ("modbus://elevators/2/coil/1", "true")]


def test_earthquake_opened_by_hand_takes_every_elevator_out_of_service(
        h: Harness, playbooks: dict[str, Playbook]) -> None:
    assert playbooks["earthquake"].trigger is None
    incident = open_by_hand(h, "earthquake", actor="监控员小陈", note="明显震感，吊灯摇晃")
    out = h.log[-1]
    assert timeline(out) == EARTHQUAKE_OPENED
    assert [(t, p) for t, p, _ in commands(out)] == OUT_OF_SERVICE
    assert (incident.commander_role, incident.verdict) == ("project_manager", Verdict.REAL)
    assert incident.location.label() == "small"


def test_earthquake_announcement_plays_by_itself_and_missed_steps_escalate(
        h: Harness) -> None:
    incident = open_by_hand(h, "earthquake")
    h.now += 20
    h.command("step", incident.id, step="announce", note="广播和业主群已通知")
    mark = len(h.log)
    assert run_until(h, 590) == [
        ("prompt_timed_out", "start_pa", "act"),
        ("action_requested", "pa_earthquake", "PA-SITE"),
        ("deadline_missed", "posts_at_exits"),
        ("escalated", "duty_supervisor", "deadline_missed"),
        ("deadline_missed", "supervisor_on_scene"),
        ("escalated", "project_manager", "deadline_missed"),
        ("prompt_timed_out", "cut_ac_and_gas", "escalate"),
        ("escalated", "duty_supervisor", "prompt_timed_out")]
    assert commands(*h.log[mark:]) == [
        ("small/pa/cmd", '{"cmd":"play","message":"earthquake_evacuation"}', False)]


def test_earthquake_injured_call_120_escalates_when_unanswered(h: Harness) -> None:
    incident = open_by_hand(h, "earthquake")
    for prompt in ("start_pa", "cut_ac_and_gas"):
        h.command("answer", incident.id, prompt=prompt, answer="yes")
    for role in ("on_duty_patrol", "duty_supervisor"):
        h.command("arrive", incident.id, role=role)
    h.command("step", incident.id, step="announce")
    events = run_until(h, 3600)
    assert events == [("prompt_timed_out", "call_120", "escalate"),
                      ("escalated", "duty_supervisor", "prompt_timed_out"),
                      ("deadline_missed", "head_count"),
                      ("escalated", "duty_supervisor", "deadline_missed")]


def test_earthquake_drill_withholds_every_write_and_notification(h: Harness) -> None:
    incident = open_by_hand(h, "earthquake", note="年度地震疏散演练", drill="yes")
    opened = h.log[-1]
    assert incident.drill
    assert timeline(opened) == EARTHQUAKE_OPENED
    assert commands(opened) == [(t, p, True) for t, p in OUT_OF_SERVICE]
    assert notices(opened) == [(role, True) for role in ("duty_supervisor", "project_manager",
                                                         "engineering", "customer_service")]
    assert all(e.data["withheld"] for e in opened.events if e.kind in ("notified",
                                                                      "action_requested"))
    mark = len(h.log)
    run_until(h, 300)
    assert {w for _, _, w in commands(*h.log[mark:])} == {True}
    assert {w for _, w in notices(*h.log[mark:])} == {True}
    closed = close_with(h, incident.id, {"head_count": "326", "injuries": "无",
                                         "losses": "无"})
    assert not closed.follow_ups  # a drill calls nobody back


def test_earthquake_closes_with_head_count_injuries_and_losses(
        h: Harness, playbooks: dict[str, Playbook]) -> None:
    incident = open_by_hand(h, "earthquake")
    assert required(playbooks["earthquake"], "evacuation") == ["head_count", "injuries",
                                                               "losses"]
    with pytest.raises(CommandError, match="head_count must be a number"):
        h.command("record", incident.id, field="head_count", value="三百多")
    h.command("record", incident.id, field="all_clear_at", value=earlier(h, 0))
    closed = close_with(h, incident.id, {"head_count": "412",
                                         "injuries": "2 人轻微擦伤，现场包扎",
                                         "losses": "2 号楼外墙瓷砖脱落，已拍照存档"})
    assert closed.record("head_count").value == "412"  # type: ignore[union-attr]
    assert [f.id for f in closed.follow_ups] == ["resident_visit"]


# ----------------------------------------------------------------------------- power in a flat

UNIT_OUTAGE_OPENED = [
    ("incident_opened",), ("stage_entered", "reported"), ("step_started", "ask_cause"),
    ("step_started", "notify_electrician"), ("step_started", "electrician_on_scene"),
    ("step_started", "supervisor_on_scene"), ("step_started", "repair"),
    ("step_started", "report_result"), ("branch_raised", "fault_location")]


def open_unit_outage(h: Harness) -> Incident:
    return open_by_hand(h, "unit_power_outage", actor="客服小周", building="1", floor="12",
                        unit="1203", reporter="1203 业主", note="全屋停电")


def test_unit_outage_is_opened_by_hand_for_the_flat(h: Harness,
                                                     playbooks: dict[str, Playbook]) -> None:
    assert playbooks["unit_power_outage"].trigger is None
    incident = open_unit_outage(h)
    opened = h.log[-1].events[0]
    assert timeline(h.log[-1]) == UNIT_OUTAGE_OPENED
    assert (opened.data["manual"], opened.data["reporter"]) == (True, "1203 业主")
    assert incident.location.label() == "small-B1-F12-U1203"
    assert not h.log[-1].effects  # nobody is paged for a flat's outage until a deadline


def test_electrician_on_time_but_supervisor_late_escalates_to_the_project_manager(
        h: Harness) -> None:
    incident = open_unit_outage(h)
    h.now += 60
    h.command("step", incident.id, step="notify_electrician", note="已通知值班电工老孙")
    h.now += 100
    out = h.command("arrive", incident.id, actor="客服小周", role="engineering", who="电工老孙")
    assert timeline(out) == [("arrival", "engineering"), ("step_done", "electrician_on_scene")]
    assert out.events[0].data["on_time"] is True
    assert run_until(h, 400) == [
        ("deadline_missed", "ask_cause"),  # no escalation: customer service's own step
        ("deadline_missed", "supervisor_on_scene"),
        ("escalated", "project_manager", "deadline_missed")]


def test_a_fault_inside_the_flat_is_minor(h: Harness) -> None:
    incident = open_unit_outage(h)
    out = h.command("decide", incident.id, branch="fault_location", option="in_flat",
                    note="热水器漏电跳闸")
    assert timeline(out) == [("branch_decided", "fault_location", "in_flat"),
                             ("stage_entered", "in_flat"), ("step_started", "advise_owner")]
    assert h.only().verdict is Verdict.MINOR


def test_a_fault_in_the_building_supply_is_real_and_changes_the_statement(
        h: Harness, playbooks: dict[str, Playbook]) -> None:
    incident = open_unit_outage(h)
    playbook = playbooks["unit_power_outage"]
    assert statement(playbook, h.only()) == playbook.statement
    out = h.command("decide", incident.id, branch="fault_location", option="building_supply")
    assert timeline(out) == [
        ("branch_decided", "fault_location", "building_supply"),
        ("stage_entered", "building_supply"), ("notified", "duty_supervisor"),
        ("step_started", "check_neighbours"), ("step_started", "notify_affected")]
    assert h.only().verdict is Verdict.REAL
    said = statement(playbook, h.only())
    assert said is not None
    assert said.zh.startswith("楼层供电设备故障")


def test_unit_outage_closes_and_the_resident_is_called_back(h: Harness) -> None:
    incident = open_unit_outage(h)
    h.command("decide", incident.id, branch="fault_location", option="in_flat")
    h.now += 1800
    closed = close_with(h, incident.id, {"cause": "热水器漏电，复位后建议业主报修热水器",
                                         "restored_at": earlier(h, 5)})
    assert [(f.id, f.due_at) for f in closed.follow_ups] == [("resident_call", h.now + 86400)]
    assert closed.id not in h.state.incidents
    h.now += 3600
    # the runtime hands in the stored incident for commands on closed ones
    done = h.run(h.engine.on_command(
        h.state, OperatorCommand("follow_up", closed.id, "客服小周",
                                 {"task": "resident_call", "note": "用电正常，业主满意"}),
        h.now, stored=closed))
    assert timeline(done) == [("follow_up_done", "resident_call")]
    assert done.events[0].data["on_time"] is True


# ----------------------------------------------------------------------------- mains outage

MAINS_OPENED = [
    ("incident_opened",), ("stage_entered", "outage"), ("notified", "duty_supervisor"),
    ("notified", "engineering"), ("step_started", "engineer_on_scene"),
    ("step_started", "supervisor_on_scene"), ("step_started", "check_elevators"),
    ("step_started", "outage_scope"), ("step_started", "essential_loads"),
    ("step_started", "inform_residents")]

GENERATOR_FAILED = [
    ("stage_entered", "generator_failed"), ("notified", "duty_supervisor"),
    ("notified", "project_manager"), ("notified", "engineering"),
    ("step_started", "organise_repair"), ("step_started", "explain_to_residents"),
    ("step_started", "no_backup_checks"), ("prompt_raised", "call_power_bureau")]


def lose_mains(h: Harness) -> Incident:
    h.signal("PWR-MAINS-1")
    h.tick(10)
    return h.only()


def test_mains_lost_for_10_seconds_opens_one_outage_for_the_site(h: Harness) -> None:
    assert not timeline(h.signal("PWR-MAINS-1"))
    assert not timeline(h.tick(9.5))
    assert not h.state.incidents
    opened = h.tick(0.5)
    assert timeline(opened) == MAINS_OPENED
    assert opened.events[0].data["held_for"] == 10
    h.now += 5
    assert timeline(h.signal("PWR-MAINS-2")) == [("signal", "PWR-MAINS-2", "alarm")]
    incident = h.only()
    assert (incident.type, incident.key) == ("mains_outage", "mains_outage/small")
    assert [d.point_id for d in incident.devices] == ["PWR-MAINS-1", "PWR-MAINS-2"]


def test_a_mains_blip_shorter_than_10_seconds_opens_nothing(h: Harness) -> None:
    h.signal("PWR-MAINS-1")
    h.tick(4)
    h.signal("PWR-MAINS-1", PointState.NORMAL)
    h.tick(30)
    assert not h.state.incidents
    assert not h.state.pending


def test_outage_steps_check_the_elevators_and_escalate_when_late(h: Harness) -> None:
    incident = lose_mains(h)
    h.now += 120
    h.command("arrive", incident.id, role="engineering", who="值班电工")
    assert run_until(h, 10 + 300) == [
        ("deadline_missed", "supervisor_on_scene"),
        ("escalated", "project_manager", "deadline_missed"),
        ("deadline_missed", "check_elevators"),
        ("escalated", "duty_supervisor", "deadline_missed")]


def test_generator_failing_to_start_gives_the_agreed_statement_and_the_power_bureau_call(
        h: Harness, playbooks: dict[str, Playbook]) -> None:
    lose_mains(h)
    playbook = playbooks["mains_outage"]
    said = statement(playbook, h.only())
    assert said is not None
    assert said.zh.startswith("市政供电中断")
    h.now += 20
    out = h.signal("GEN-01", PointState.TROUBLE)
    mains = next(i.id for i in h.state.incidents.values() if i.type == "mains_outage")
    mine = [e for e in out.events if e.incident_id == mains]
    assert timeline(Outcome(events=mine)) == [("signal", "GEN-01", "trouble"),
                                              *GENERATOR_FAILED]
    assert (mine[1].data["reason"], mine[1].data["point"], mine[1].data["state"]) == (
        StageReason.POINT_REACHED, "GEN-01", "trouble")
    # the failed start is also a maintenance job of its own
    assert {i.type for i in h.state.incidents.values()} == {"mains_outage", "device_fault"}
    call = next(e for e in out.events if e.kind == "prompt_raised").data["call"]
    assert (call["phone"], call["name_en"]) == ("95598", "Power bureau")
    said = statement(playbook, h.state.incidents[mains])
    assert said is not None
    assert said.zh.startswith("市政停电，已联系供电局，正在抢修中")
    incident_id = mains
    for role in ("engineering", "duty_supervisor"):
        h.command("arrive", incident_id, role=role)
    h.command("step", incident_id, step="check_elevators", note="4 台电梯均无人被困")
    assert run_until(h, 30 + 300) == [
        ("prompt_timed_out", "call_power_bureau", "escalate"),
        ("escalated", "duty_supervisor", "prompt_timed_out")]
    assert run_until(h, 30 + 600) == [("deadline_missed", "organise_repair"),
                                      ("escalated", "project_manager", "deadline_missed")]


def test_an_outage_opened_by_hand_is_taken_to_generator_failed_by_confirm(h: Harness) -> None:
    incident = open_by_hand(h, "mains_outage", note="住户来电：全小区停电")
    assert timeline(h.log[-1]) == MAINS_OPENED
    assert incident.key == "mains_outage/small"
    h.tick(10)
    h.signal("PWR-MAINS-2")  # the feeder's report joins the hand-opened incident
    assert len(h.state.incidents) == 1
    out = h.command("confirm", incident.id, note="发电机三次启动失败")
    assert timeline(out) == GENERATOR_FAILED
    with pytest.raises(CommandError, match="nothing left to confirm"):
        h.command("confirm", incident.id)


def test_a_generator_fault_is_a_device_fault_not_an_outage(h: Harness) -> None:
    h.signal("GEN-01", PointState.TROUBLE)
    h.tick(30)
    assert h.only().type == "device_fault"


def test_mains_outage_closes_with_cause_restoration_and_the_generator_record(
        h: Harness, playbooks: dict[str, Playbook]) -> None:
    lose_mains(h)
    h.signal("GEN-01", PointState.TROUBLE)
    incident_id = next(i.id for i in h.state.incidents.values() if i.type == "mains_outage")
    assert required(playbooks["mains_outage"], "outage", "generator_failed") == [
        "cause", "restored_at", "generator_fault"]
    h.now += 2 * 3600
    h.signal("PWR-MAINS-1", PointState.NORMAL)
    closed = close_with(h, incident_id, {"cause": "供电局线路检修（非计划）",
                                         "restored_at": earlier(h, 1),
                                         "generator_fault": "启动蓄电池亏电，已更换"})
    assert closed.verdict is Verdict.REAL
    assert [f.id for f in closed.follow_ups] == ["resident_calls"]


def test_a_generator_failing_during_the_10_second_hold_is_not_lost(h: Harness) -> None:
    h.signal("PWR-MAINS-1")
    h.now += 5
    h.signal("GEN-01", PointState.TROUBLE)  # fails to start 5 s after the mains went
    h.tick(5)
    mains = next(i for i in h.state.incidents.values() if i.type == "mains_outage")
    assert mains.stage == "generator_failed"
    assert {d.point_id for d in mains.devices} == {"PWR-MAINS-1", "GEN-01"}


def test_a_generator_failing_its_test_run_is_a_device_fault_only(h: Harness) -> None:
    h.signal("GEN-01", PointState.TROUBLE)
    h.tick(30)
    assert [i.type for i in h.state.incidents.values()] == ["device_fault"]


def test_one_feeder_back_within_the_hold_does_not_cancel_the_other_feeders_outage(
        h: Harness) -> None:
    h.signal("PWR-MAINS-1")
    h.now += 2
    h.signal("PWR-MAINS-2")
    h.now += 2
    h.signal("PWR-MAINS-1", PointState.NORMAL)
    h.tick(20)
    incident = h.only()
    assert incident.type == "mains_outage"
    assert [d.point_id for d in incident.devices] == ["PWR-MAINS-2"]


# ----------------------------------------------------------------------------- car park

CAR_PARK_OPENED = [
    ("incident_opened",), ("stage_entered", "reported"),
    ("step_started", "attendant_on_scene"), ("step_started", "supervisor_on_scene"),
    ("step_started", "notify_owner"), ("step_started", "keep_cctv"),
    ("step_started", "shift_log"), ("step_started", "notify_insurers"),
    ("branch_raised", "what_happened")]


def open_car_park(h: Harness) -> Incident:
    return open_by_hand(h, "car_park_vehicle", actor="车场管理员老吴", building="2", floor="B1",
                        zone="garage", note="B-032 车位车辆车窗被砸")


def test_car_park_incident_is_opened_by_hand_by_the_attendant(h: Harness) -> None:
    incident = open_car_park(h)
    assert timeline(h.log[-1]) == CAR_PARK_OPENED
    assert incident.opened_by == "车场管理员老吴"
    assert run_until(h, 300) == [
        ("deadline_missed", "attendant_on_scene"),
        ("escalated", "duty_supervisor", "deadline_missed"),
        ("deadline_missed", "supervisor_on_scene"),
        ("escalated", "project_manager", "deadline_missed"),
        ("deadline_missed", "what_happened"), ("escalated", "duty_supervisor", "deadline_missed")]


def test_a_stolen_vehicle_is_reported_to_the_police_with_the_owner(h: Harness) -> None:
    incident = open_car_park(h)
    out = h.command("decide", incident.id, branch="what_happened", option="theft")
    assert timeline(out) == [
        ("branch_decided", "what_happened", "theft"), ("stage_entered", "theft"),
        ("notified", "duty_supervisor"), ("notified", "customer_service"),
        ("step_started", "confirm_with_owner"), ("step_started", "assist_police"),
        ("prompt_raised", "call_110")]
    call = out.events[-1].data["call"]
    assert (call["phone"], call["where_zh"]) == ("110", "2号楼B1层车库")
    for role in ("on_duty_patrol", "duty_supervisor"):
        h.command("arrive", incident.id, role=role)
    h.command("step", incident.id, step="notify_owner")
    assert run_until(h, 600) == [("prompt_timed_out", "call_110", "escalate"),
                                 ("escalated", "duty_supervisor", "prompt_timed_out")]
    h.command("answer", incident.id, prompt="call_110", answer="yes", note="南山派出所已受理")
    assert h.only().verdict is Verdict.REAL


def test_a_collision_holds_the_vehicle_and_calls_the_traffic_police(h: Harness) -> None:
    incident = open_car_park(h)
    out = h.command("decide", incident.id, branch="what_happened", option="collision")
    assert timeline(out) == [
        ("branch_decided", "what_happened", "collision"), ("stage_entered", "collision"),
        ("step_started", "hold_vehicle"), ("step_started", "protect_scene"),
        ("prompt_raised", "call_traffic_police")]
    assert out.events[-1].data["call"]["phone"] == "122"
    assert [s.id for s in h.only().steps if s.status is StepStatus.PENDING][-2:] == [
        "hold_vehicle", "protect_scene"]


def test_an_object_thrown_from_above_is_stopped_first(h: Harness) -> None:
    incident = open_car_park(h)
    out = h.command("decide", incident.id, branch="what_happened", option="thrown_object")
    assert timeline(out) == [
        ("branch_decided", "what_happened", "thrown_object"), ("stage_entered", "thrown_object"),
        ("notified", "duty_supervisor"), ("notified", "customer_service"),
        ("step_started", "stop_throwing"), ("step_started", "parties_to_scene"),
        ("prompt_raised", "call_110_thrown")]
    step = h.only().step("stop_throwing")
    assert step is not None
    assert step.due_at == h.now + 300


def test_a_vehicle_found_unharmed_is_a_false_alarm(h: Harness) -> None:
    incident = open_car_park(h)
    out = h.command("decide", incident.id, branch="what_happened", option="not_found",
                    note="车主家人已将车开走")
    assert timeline(out) == [("branch_decided", "what_happened", "not_found")]
    assert h.only().verdict is Verdict.FALSE_ALARM


def test_car_park_closes_with_the_attendants_log(h: Harness,
                                                  playbooks: dict[str, Playbook]) -> None:
    incident = open_car_park(h)
    h.command("decide", incident.id, branch="what_happened", option="collision")
    assert required(playbooks["car_park_vehicle"], "reported", "collision") == [
        "plate", "entry_time", "bay", "event_time", "told"]
    h.now += 2 * 3600
    closed = close_with(h, incident.id, {
        "plate": "粤B·12345", "entry_time": earlier(h, 300), "bay": "B-032",
        "event_time": earlier(h, 110),
        "told": "车主王先生、秩序维护主管张主管、客服中心；交警已到场定责"})
    assert [f.id for f in closed.follow_ups] == ["owner_call"]


# ----------------------------------------------------------------------------- fire

def test_fire_confirmed_by_two_devices_recalls_elevators_and_prompts_act_or_escalate(
        h: Harness) -> None:
    opened = h.signal("B1-F12-Z3", device="SD-01")
    assert timeline(opened) == [
        ("incident_opened",), ("stage_entered", "unverified"), ("step_started", "verify"),
        ("step_started", "supervisor_on_scene"), ("branch_raised", "verdict")]
    confirmed = h.signal("B1-F12-MCP3")
    assert timeline(confirmed) == [
        ("signal", "B1-F12-MCP3", "alarm"), ("stage_entered", "confirmed"),
        ("branch_decided", "verdict", "confirmed"), ("notified", "duty_supervisor"),
        ("notified", "project_manager"), ("step_started", "evacuate"),
        ("step_started", "notify_management"), ("step_started", "fire_equipment"),
        ("step_started", "guide_fire_trucks"), ("step_started", "assist_brigade"),
        ("action_requested", "elevator_recall", "ELV-B1-L1"),
        ("action_requested", "elevator_recall", "ELV-B1-L2"),
        ("prompt_raised", "call_119"), ("prompt_raised", "start_pa"),
        ("prompt_raised", "cut_gas_and_power")]
    dispatch(h, confirmed)
    h.now += 40
    done = h.run(h.engine.on_value(h.state, "ELV-B1-L1-RECALLED", True, PointState.NORMAL,
                                   h.now))
    assert timeline(done) == [("action_done", "ELV-B1-L1")]
    assert run_until(h, 120) == [
        ("prompt_timed_out", "call_119", "escalate"),
        ("escalated", "duty_supervisor", "prompt_timed_out"),
        ("action_failed", "ELV-B1-L2"), ("escalated", "duty_supervisor", "action_failed"),
        ("deadline_missed", "notify_management"),
        ("escalated", "duty_supervisor", "deadline_missed"),
        ("prompt_timed_out", "start_pa", "act"),
        ("action_requested", "pa_evacuation", "PA-SITE")]


def test_fire_false_alarm_by_reject_and_minor_fire_by_decide(h: Harness) -> None:
    h.signal("B1-F12-Z3", device="SD-01")
    false_alarm = h.command("reject", h.only().id, note="厨房油烟")
    assert timeline(false_alarm) == [
        ("branch_decided", "verdict", "false_alarm"), ("stage_entered", "false_alarm"),
        ("step_started", "find_cause"), ("step_started", "reset_panel"),
        ("step_started", "notify_contractor")]
    assert h.only().verdict is Verdict.FALSE_ALARM
    h.signal("B2-F3-Z1", device="SD-01")
    other = next(i for i in h.state.incidents.values() if i.location.building == "2")
    minor = h.command("decide", other.id, branch="verdict", option="minor")
    assert timeline(minor) == [
        ("branch_decided", "verdict", "minor"), ("stage_entered", "minor"),
        ("step_started", "extinguish"), ("step_started", "check_area")]


def test_fire_closes_with_its_records(h: Harness, playbooks: dict[str, Playbook]) -> None:
    h.signal("B1-F12-Z3", device="SD-01")
    incident_id = h.only().id
    h.command("decide", incident_id, branch="verdict", option="minor")
    assert required(playbooks["fire"], "unverified", "minor") == ["cause", "injuries",
                                                                  "burned"]
    closed = close_with(h, incident_id, {"cause": "电动车充电器过热", "injuries": "无",
                                         "burned": "充电器及插线板，约 0.5 平方米"})
    assert [f.id for f in closed.follow_ups] == ["resident_visit"]


# ----------------------------------------------------------------------------- gas leak

def test_gas_level_1_verifies_and_level_2_closes_the_valve(h: Harness) -> None:
    opened = h.signal("G-B1-02", PointState.PREALARM)
    assert timeline(opened) == [
        ("incident_opened",), ("stage_entered", "detected"), ("step_started", "verify"),
        ("step_started", "supervisor_on_scene"), ("step_started", "advise_resident"),
        ("prompt_raised", "call_gas_company"), ("branch_raised", "verdict")]
    h.now += 30
    level2 = h.signal("G-B1-02", PointState.ALARM)
    assert timeline(level2) == [
        ("signal", "G-B1-02", "alarm"), ("stage_entered", "level2"),
        ("branch_decided", "verdict", "leak"), ("notified", "duty_supervisor"),
        ("notified", "engineering"), ("step_started", "confirm_valve_closed"),
        ("step_started", "assist_gas_company"), ("step_started", "report_customer_service"),
        ("action_requested", "close_gas_valve", "V-GAS-B1-01")]
    assert commands(level2) == [("modbus://valves/1/coil/0", "true", False)]
    incident_id = h.only().id
    for role in ("on_duty_patrol", "duty_supervisor"):
        h.command("arrive", incident_id, role=role)
    h.command("step", incident_id, step="advise_resident")
    events = run_until(h, 300)
    assert ("prompt_timed_out", "call_gas_company", "escalate") in events
    assert events[-1] == ("escalated", "duty_supervisor", "prompt_timed_out")


def test_gas_no_leak_is_rejected_and_a_resident_report_is_opened_by_hand(h: Harness) -> None:
    h.signal("G-B1-01", PointState.PREALARM)
    out = h.command("reject", h.only().id, note="探测器零点漂移")
    assert timeline(out) == [("branch_decided", "verdict", "no_leak"),
                             ("stage_entered", "no_leak"), ("step_started", "detector_check")]
    flat = open_by_hand(h, "gas_leak", building="1", floor="12", unit="1203",
                        reporter="1203 业主", note="厨房有燃气味")
    confirmed = h.command("confirm", flat.id, note="便携仪读数 30%LEL")
    # no automatic valve serves floor 12: the flat's valve is closed by hand
    assert ("action_skipped", "close_gas_valve") in timeline(confirmed)
    assert not commands(confirmed)


def test_gas_leak_closes_with_its_records(h: Harness, playbooks: dict[str, Playbook]) -> None:
    h.signal("G-B1-03", PointState.ALARM)
    incident_id = h.only().id
    assert required(playbooks["gas_leak"], "detected", "level2") == [
        "leak_location", "gas_company_arrived_at", "valve_reopened_at"]
    h.now += 3 * 3600
    close_with(h, incident_id, {"leak_location": "灶具软管老化",
                                "gas_company_arrived_at": earlier(h, 150),
                                "valve_reopened_at": earlier(h, 10)})


# ----------------------------------------------------------------------------- device fault

def test_device_fault_escalates_after_30_minutes_and_closes_with_the_repair(
        h: Harness) -> None:
    opened = h.signal("W-GAR-03", PointState.OFFLINE)
    assert timeline(opened) == [
        ("incident_opened",), ("stage_entered", "reported"), ("step_started", "inspect"),
        ("step_started", "notify_contractor")]
    assert run_until(h, 1800) == [("deadline_missed", "inspect"),
                                  ("escalated", "duty_supervisor", "deadline_missed")]
    closed = close_with(h, h.only().id, {"repair": "更换电池，信号恢复"})
    assert not closed.follow_ups  # no resident to call back about a sensor


def test_an_emergency_call_at_a_landing_is_not_an_entrapment(h: Harness) -> None:
    """The car's button with the doors open at a landing (a pre-alarm of the car, by the
    point's conditions) opens an emergency call; stopped between floors (an alarm), an
    entrapment."""
    h.signal("ELV-B1-L1-BTN", PointState.PREALARM)
    (call,) = h.state.incidents.values()
    assert (call.type, call.severity.value) == ("elevator_call", "medium")
    assert [s.id for s in call.steps] == ["answer_intercom", "check_camera", "patrol_on_scene",
                                         "supervisor_on_scene"]
    h.signal("ELV-B1-L2-BTN", PointState.ALARM)
    types = sorted(i.type for i in h.state.incidents.values())
    assert types == ["elevator_call", "elevator_entrapment"]
