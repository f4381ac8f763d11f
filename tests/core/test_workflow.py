"""The incident workflow, command by command, on the pure engine with a virtual clock.

The demo playbooks (fire, gas) and one test playbook exercising what they do not: a trigger
held for a duration, a second confirmation, each timeout policy.
"""

from __future__ import annotations

import json

import pytest

from gateway.config.site import SiteConfig
from gateway.domain import site_time
from gateway.domain.effects import Purpose
from gateway.domain.events import REOPENED_BY_ALARM
from gateway.domain.incident import from_json, to_json
from gateway.domain.model import (
    BranchStatus,
    IncidentStatus,
    PointState,
    PromptStatus,
    StepStatus,
    Verdict,
)
from gateway.engine.machine import Engine
from gateway.engine.state import EngineState, OperatorCommand
from gateway.errors import CommandError
from gateway.playbook.load import load_playbook, load_playbooks
from tests.support.engine import AS_IT_STANDS, CLOSE, REVIEW, T0, Harness, close_out

TEST_PLAYBOOK = """\
id: pump_room
name: {zh: 水泵房测试, en: Pump room test}
category: equipment
severity: high
trigger:
  point_kinds: [water_leak]
  states: [alarm]
  correlate_by: zone
  duration: 10s
statement: {zh: 测试口径, en: Test statement}
review:
  handling: {zh: 处理, en: Handling}
  analysis: {zh: 分析, en: Analysis}
  improvement: {zh: 改善, en: Improvement}
follow_up:
  - {id: call_back, role: customer_service, due: 1d, text: {zh: 回访, en: Call back}}
stages:
  - id: leak
    name: {zh: 漏水, en: Leak}
    steps:
      - {id: on_scene, role: on_duty_patrol, arrival: true, deadline: 3m,
         escalate_to: duty_supervisor, text: {zh: 到场, en: On scene}}
      - {id: supervisor, role: duty_supervisor, arrival: true, deadline: 5m,
         escalate_to: project_manager, text: {zh: 主管到场, en: Supervisor on scene}}
    prompts:
      - id: close_valve
        text: {zh: 关闭进水阀？, en: Close the inlet valve?}
        timeout: 2m
        on_timeout: escalate
        escalate_to: duty_supervisor
        second_confirmation: true
        actions:
          - {id: valve, name: {zh: 关阀, en: Close valve}, actuators: [V-WATER-PUMP-01],
             command: close}
      - id: pa
        text: {zh: 广播？, en: PA?}
        timeout: 1m
        on_timeout: act
        actions:
          - {id: pa_play, name: {zh: 广播, en: PA}, actuator_kind: pa_system, scope: site,
             command: fire_evacuation}
      - id: tell_residents
        text: {zh: 已通知住户？, en: Residents told?}
        timeout: 1m
        on_timeout: wait
"""


@pytest.fixture(scope="module")
def engine(site: SiteConfig, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    playbooks = load_playbooks(site.playbook_dir, site)
    path = tmp_path_factory.mktemp("playbooks") / "pump_room.yaml"
    path.write_text(TEST_PLAYBOOK)
    playbook, _ = load_playbook(path)
    # the test playbook replaces whatever else answers a pump-room leak
    playbooks = {k: v for k, v in playbooks.items() if k != "water_leak"}
    playbooks[playbook.id] = playbook
    return Engine(site, playbooks)


def fire(h: Harness) -> str:
    h.signal("B1-F12-Z3", device="SD-01")
    return h.only().id


def events(h: Harness, kind: str) -> list[dict[str, object]]:
    return [e.data for o in h.log for e in o.events if e.kind == kind]


# ----------------------------------------------------------------------------- states


def test_acknowledge_is_not_resolve_and_close_needs_acknowledge_first(h: Harness) -> None:
    incident_id = fire(h)
    with pytest.raises(CommandError, match="not acknowledged yet"):
        h.command("resolve", incident_id)
    with pytest.raises(CommandError, match="not acknowledged yet"):
        h.command("close", incident_id, **CLOSE)
    h.command("ack", incident_id)
    assert h.only().status is IncidentStatus.ACKNOWLEDGED
    # the verification is not decided yet: resolving now is a choice on record
    with pytest.raises(CommandError, match=r"decisions not taken: verdict.*give the reason"):
        h.command("resolve", incident_id, note="明火已灭")
    out = h.command("resolve", incident_id, note="明火已灭", reason="巡逻已到场，确认为误报")
    assert h.only().status is IncidentStatus.RESOLVED
    (resolved,) = [e.data for e in out.events if e.kind == "resolved"]
    assert (resolved["gaps"], resolved["reason"]) == ({"undecided": ["verdict"]},
                                                      "巡逻已到场，确认为误报")
    with pytest.raises(CommandError, match="already resolved"):
        h.command("resolve", incident_id)


def test_a_rejected_command_changes_nothing(h: Harness) -> None:
    incident_id = fire(h)
    before = to_json(h.only())
    for verb, args in (("close", {}), ("step", {"step": "nope"}),
                       ("answer", {"prompt": "call_119", "answer": "yes"}),
                       ("record", {"field": "colour", "value": "red"}),
                       ("record", {"field": "brigade_arrived_at", "value": "yesterday-ish"}),
                       ("decide", {"branch": "verdict", "option": "maybe"}),
                       ("arrive", {"role": "astronaut"}), ("assign", {"commander": " "}),
                       ("reopen", {"reason": "x"}), ("follow_up", {"task": "resident_visit"}),
                       ("teleport", {})):
        with pytest.raises(CommandError):
            h.command(verb, incident_id, **args)
    assert to_json(h.only()) == before


def test_deadlines_stop_once_resolved_and_a_new_alarm_reopens(h: Harness) -> None:
    incident_id = fire(h)
    h.command("ack", incident_id)
    h.command("resolve", incident_id, reason=AS_IT_STANDS)
    assert h.engine.next_due(h.state) is None
    assert not [e for e in h.tick(600).events if e.kind == "deadline_missed"]
    h.signal("B1-F14-Z1", device="SD-09")
    incident = h.only()
    # reopened unacknowledged: the board flashes and sounds until an operator takes it
    assert incident.status is IncidentStatus.OPEN
    assert incident.announced_at == h.now
    assert incident.reopened == 1
    (reopened,) = events(h, "reopened")
    assert reopened["cause"] == REOPENED_BY_ALARM
    assert events(h, "reopened")[0]["unacknowledged"] is True


def test_restore_to_normal_while_unacknowledged_stays_visible(h: Harness) -> None:
    incident_id = fire(h)
    h.signal("B1-F12-Z3", PointState.NORMAL, device="SD-01")
    incident = h.only()
    assert incident.status is IncidentStatus.OPEN
    assert incident.returned_to_normal
    h.now += 30
    ack = h.command("ack", incident_id)
    assert ack.events[0].data["returned_to_normal"] is True


def test_close_with_review_then_follow_up_and_reopen_from_the_store(h: Harness) -> None:
    incident_id = fire(h)
    h.command("confirm", incident_id)
    h.command("ack", incident_id)
    for field, value in (("cause", "电线老化"), ("injuries", "无")):
        h.command("record", incident_id, field=field, value=value)
    with pytest.raises(CommandError, match=r"brigade_arrived_at.*fire_out_at"):
        h.command("close", incident_id, **CLOSE)
    h.command("record", incident_id, field="brigade_arrived_at",
              value=_clock(h.now - 60))
    h.command("record", incident_id, field="fire_out_at", value=_clock(h.now))
    h.now += 3600
    out = h.command("close", incident_id, actor="张主管", **CLOSE)
    closed = out.incidents[incident_id]
    assert closed.review == REVIEW
    assert [(f.id, f.due_at) for f in closed.follow_ups] == [("resident_visit",
                                                             h.now + 3 * 86400)]
    assert not h.state.incidents
    stored = from_json(json.loads(json.dumps(to_json(closed))))
    with pytest.raises(CommandError, match="say what the resident said"):
        h.run(h.engine.on_command(h.state, _cmd("follow_up", incident_id, task="resident_visit"),
                                  h.now, stored))
    done = h.run(h.engine.on_command(
        h.state, _cmd("follow_up", incident_id, task="resident_visit", note="无损失"), h.now,
        stored)).incidents[incident_id]
    assert done.status is IncidentStatus.CLOSED
    assert done.follow_ups[0].status == "done"
    assert not h.state.incidents  # a follow-up does not reopen
    reopened = h.run(h.engine.on_command(
        h.state, _cmd("reopen", incident_id, reason="焦味未散"), h.now, done))
    assert h.only().status is IncidentStatus.ACKNOWLEDGED
    assert reopened.events[0].data == {"reason": "焦味未散", "was": "closed"}
    # closing again needs no new follow-up: the done one stays done
    again = h.command("close", incident_id, **CLOSE).incidents[incident_id]
    assert [f.status for f in again.follow_ups] == ["done"]


def test_reopen_is_refused_while_another_incident_holds_the_place(h: Harness) -> None:
    first = fire(h)
    closed = close_out(h, first).incidents[first]
    h.signal("B1-F12-Z3", device="SD-02")
    with pytest.raises(CommandError, match="INC-000002 is open for the same place"):
        h.run(h.engine.on_command(h.state, _cmd("reopen", first, reason="x"), h.now, closed))


def test_drill_close_creates_no_follow_ups(h: Harness) -> None:
    h.signal("B1-F12-Z3", device="SD-01", drill=True)
    closed = close_out(h, h.only().id).incidents["INC-000001"]
    assert closed.follow_ups == ()


def test_commander_defaults_to_the_duty_supervisor_role_and_can_be_named(h: Harness) -> None:
    incident_id = fire(h)
    assert (h.only().commander_role, h.only().commander) == ("duty_supervisor", "")
    h.command("assign", incident_id, actor="李明", commander="张主管")
    assert h.only().commander == "张主管"
    assert events(h, "commander_assigned") == [{"commander": "张主管", "previous": ""}]


# ----------------------------------------------------------------------------- branches


def test_reject_takes_the_false_alarm_branch_and_sets_the_verdict(h: Harness) -> None:
    incident_id = fire(h)
    with pytest.raises(CommandError, match="say what was found"):
        h.command("reject", incident_id)
    h.command("reject", incident_id, note="厨房油烟")
    incident = h.only()
    assert incident.verdict is Verdict.FALSE_ALARM
    assert incident.entered == ("unverified", "false_alarm")
    assert [s.id for s in incident.steps if s.stage == "false_alarm"] == [
        "find_cause", "reset_panel", "notify_contractor"]
    assert not incident.actions
    with pytest.raises(CommandError, match="already decided"):
        h.command("decide", incident_id, branch="verdict", option="confirmed")


def test_a_second_device_decides_the_open_branch(h: Harness) -> None:
    fire(h)
    h.signal("B1-F12-MCP3")
    branch = h.only().branch("verdict")
    assert branch is not None
    assert (branch.status, branch.option, branch.decided_by) == (BranchStatus.DECIDED,
                                                                 "confirmed", "")
    assert h.only().verdict is Verdict.REAL


def test_decide_minor_branch(h: Harness) -> None:
    incident_id = fire(h)
    h.now += 100
    out = h.command("decide", incident_id, branch="verdict", option="minor", note="垃圾桶")
    assert [e.kind for e in out.events][:2] == ["branch_decided", "stage_entered"]
    assert out.events[0].data["on_time"] is True
    assert h.only().verdict is Verdict.MINOR
    assert h.only().record("burned") is None
    with pytest.raises(CommandError, match="burned"):
        close_out(h, incident_id)


def test_an_undecided_branch_escalates_at_its_deadline(h: Harness) -> None:
    fire(h)
    h.tick(299)
    out = h.tick(2)
    missed = next(e.data for e in out.events
                  if e.kind == "deadline_missed" and "branch" in e.data)
    assert (missed["branch"], missed["role"]) == ("verdict", "on_duty_patrol")
    assert "duty_supervisor" in [e.data["to"] for e in out.events if e.kind == "escalated"
                                 and e.data.get("branch") == "verdict"]
    assert h.only().branch("verdict").overdue  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- arrivals


def test_arrival_times_the_role_and_completes_its_arrival_step(h: Harness) -> None:
    incident_id = fire(h)
    h.now += 150
    out = h.command("arrive", incident_id, role="on_duty_patrol", who="赵保安")
    arrival = out.events[0].data
    assert (arrival["seconds"], arrival["on_time"], arrival["steps"]) == (150, True, ["verify"])
    step = h.only().step("verify")
    assert step is not None
    assert (step.status, step.done_by) == (StepStatus.DONE, "赵保安")
    h.now += 200  # supervisor after 350 s: late against 5 minutes
    late = h.command("arrive", incident_id, role="duty_supervisor", who="张主管").events[0]
    assert late.data["on_time"] is False


# ----------------------------------------------------------------------------- prompts


def leak(h: Harness) -> str:
    h.signal("W-PUMP-01")
    return h.only().id


def test_a_held_trigger_opens_only_after_its_duration(h: Harness) -> None:
    h.signal("W-PUMP-01")
    assert not h.state.incidents
    assert h.engine.next_due(h.state) == T0 + 10
    h.tick(5)
    h.signal("W-PUMP-01", PointState.NORMAL)  # back before 10 s: nothing opens
    h.tick(10)
    assert not h.state.incidents
    h.signal("W-PUMP-01")
    h.tick(9.9)
    assert not h.state.incidents
    out = h.tick(0.2)
    incident = h.only()
    assert incident.type == "pump_room"
    assert next(e for e in out.events if e.kind == "incident_opened").data["held_for"] == \
        pytest.approx(10.1)


def opened_leak(h: Harness) -> str:
    h.signal("W-PUMP-01")
    h.tick(10)
    return h.only().id


def test_second_confirmation_needs_a_different_operator(h: Harness) -> None:
    incident_id = opened_leak(h)
    first = h.command("answer", incident_id, actor="李明", prompt="close_valve", answer="yes")
    assert "a second operator must confirm" in first.result
    assert not first.effects
    assert h.only().prompt("close_valve").status is PromptStatus.AWAITING_SECOND  # type: ignore[union-attr]
    with pytest.raises(CommandError, match="needs a second operator"):
        h.command("answer", incident_id, actor="李明", prompt="close_valve", answer="yes")
    out = h.command("answer", incident_id, actor="张主管", prompt="close_valve", answer="yes")
    prompt = h.only().prompt("close_valve")
    assert prompt is not None
    assert (prompt.answered_by, prompt.confirmed_by) == ("李明", "张主管")
    assert [p.target for p in out.effects if p.purpose is Purpose.COMMAND] == [
        "modbus://valves/2/coil/0"]
    assert [a.actuator_id for a in h.only().actions] == ["V-WATER-PUMP-01"]


def test_second_operator_can_refuse(h: Harness) -> None:
    incident_id = opened_leak(h)
    h.command("answer", incident_id, actor="李明", prompt="close_valve", answer="yes")
    out = h.command("answer", incident_id, actor="张主管", prompt="close_valve", answer="no")
    assert not out.effects
    assert h.only().prompt("close_valve").answer == "no"  # type: ignore[union-attr]


def test_each_timeout_policy(h: Harness) -> None:
    incident_id = opened_leak(h)
    out = h.tick(60.5)
    timed = {e.data["prompt"]: e.data["policy"] for e in out.events
             if e.kind == "prompt_timed_out"}
    assert timed == {"pa": "act", "tell_residents": "wait"}
    assert [p.target for p in out.effects if p.purpose is Purpose.COMMAND] == ["small/pa/cmd"]
    incident = h.only()
    assert incident.prompt("pa").status is PromptStatus.ACTED_ON_TIMEOUT  # type: ignore[union-attr]
    waiting = incident.prompt("tell_residents")
    assert waiting is not None
    assert (waiting.status, waiting.timed_out) == (PromptStatus.OPEN, True)
    out = h.tick(60)
    assert next(e.data for e in out.events if e.kind == "prompt_timed_out")["policy"] == \
        "escalate"
    assert [e.data["to"] for e in out.events if e.kind == "escalated"] == ["duty_supervisor"]
    # waiting prompts can still be answered; settled ones cannot
    h.command("answer", incident_id, prompt="tell_residents", answer="yes")
    with pytest.raises(CommandError, match="already settled"):
        h.command("answer", incident_id, prompt="pa", answer="no")
    assert not [e for e in h.tick(600).events if e.kind == "prompt_timed_out"]


def test_drill_withholds_notifications_too(h: Harness) -> None:
    h.signal("B1-F12-Z3", device="SD-01", drill=True)
    out = h.tick(181)
    notify = [p for p in out.effects if p.purpose is Purpose.NOTIFY]
    assert notify
    assert all(p.withhold for p in notify)
    assert all(e.data["withheld"] for e in out.events if e.kind == "escalated")


# ----------------------------------------------------------------------------- by hand


def test_open_by_hand_at_a_unit_and_refuse_a_duplicate(h: Harness) -> None:
    out = h.run(h.engine.on_command(h.state, _cmd(
        "open", "", playbook="gas_leak", building="1", floor="12", unit="1203",
        reporter="1203 住户", note="闻到燃气味"), h.now))
    incident = h.only()
    assert out.result.startswith("opened INC-000001")
    assert (incident.type, incident.opened_by, incident.location.unit) == ("gas_leak", "王工",
                                                                           "1203")
    assert [e.kind for e in out.events][:3] == ["incident_opened", "stage_entered",
                                                "step_started"]
    with pytest.raises(CommandError, match="INC-000001 is already open"):
        h.run(h.engine.on_command(h.state, _cmd(
            "open", "", playbook="gas_leak", building="1", floor="12", unit="1203"), h.now))
    with pytest.raises(CommandError, match="unknown building '7'"):
        h.run(h.engine.on_command(h.state, _cmd("open", "", playbook="gas_leak",
                                                building="7"), h.now))
    # confirming the leak closes the floor's valve (none serves floor 12: recorded as skipped)
    h.command("confirm", incident.id)
    assert events(h, "action_skipped")
    assert h.only().verdict is Verdict.REAL


def test_open_by_hand_as_a_drill_withholds_writes(h: Harness) -> None:
    h.run(h.engine.on_command(h.state, _cmd("open", "", playbook="gas_leak", building="1",
                                            floor="B1", zone="kitchen", drill="yes"), h.now))
    out = h.command("confirm", h.only().id)
    commands = [p for p in out.effects if p.purpose is Purpose.COMMAND]
    assert commands
    assert all(p.withhold for p in commands)
    assert h.only().drill


def test_snapshot_round_trip_keeps_the_workflow_fields(h: Harness) -> None:
    incident_id = fire(h)
    h.command("ack", incident_id)
    h.command("arrive", incident_id, role="on_duty_patrol")
    h.command("reject", incident_id, note="油烟")
    h.command("record", incident_id, field="cause", value="油烟")
    h.command("assign", incident_id, commander="张主管")
    incident = h.only()
    assert from_json(json.loads(json.dumps(to_json(incident)))) == incident
    state = EngineState.restore([from_json(to_json(incident))], 2)
    assert state.incidents[incident_id].branches[0].option == "false_alarm"


def _cmd(verb: str, incident_id: str, actor: str = "王工", **args: str) -> OperatorCommand:
    return OperatorCommand(verb, incident_id, actor, args)


def _clock(at: float) -> str:
    return site_time.wall(at)


def test_a_car_reported_by_hand_with_its_floor_is_the_incident_its_button_joins(
        h: Harness) -> None:
    h.run(h.engine.on_command(h.state, _cmd(
        "open", "", playbook="elevator_entrapment", building="1", floor="12",
        zone="elevator-1", reporter="轿厢对讲", note="两人被困 12 层附近"), h.now))
    incident = h.only()
    assert incident.location.floor == "12"  # what the operator said is kept
    h.signal("ELV-B1-L1-BTN")
    assert h.only().id == incident.id
    assert [d.point_id for d in h.only().devices] == ["ELV-B1-L1-BTN"]
    with pytest.raises(CommandError, match="already open"):
        h.run(h.engine.on_command(h.state, _cmd(
            "open", "", playbook="elevator_entrapment", building="1", floor="3",
            zone="elevator-1"), h.now))


def test_record_times_may_be_said_relative_to_now() -> None:
    from gateway.engine.workflow import parse_time

    now = 1_800_000_000.0
    assert parse_time("now", now) == now
    assert parse_time("-5m", now) == now - 300
    assert parse_time("now - 90s", now) == now - 90
    assert parse_time("-1h", now) == now - 3600
    with pytest.raises(CommandError, match="write now, -5m, 14:05"):
        parse_time("five minutes ago", now)


def test_a_close_with_the_playbooks_work_undone_names_it_and_needs_a_reason(
        h: Harness) -> None:
    incident_id = fire(h)
    h.command("ack", incident_id)
    h.command("confirm", incident_id, note="巡逻确认起火")  # recall sent, prompts raised
    h.command("resolve", incident_id)
    for field, value in (("cause", "厨房油锅起火"), ("injuries", "无"),
                         ("brigade_arrived_at", "now"), ("fire_out_at", "now")):
        h.command("record", incident_id, field=field, value=value)
    with pytest.raises(CommandError) as refused:
        h.command("close", incident_id, **REVIEW)
    said = str(refused.value)
    assert "steps not done" in said
    assert "prompts not answered: call_119" in said
    assert "actions not confirmed: elevator_recall/ELV-B1-L1" in said
    out = h.command("close", incident_id, **REVIEW, reason="消防队接管现场，余下由其处置")
    (closed,) = [e.data for e in out.events if e.kind == "closed"]
    assert set(closed["gaps"]) == {"open_steps", "unanswered_prompts", "unconfirmed_actions"}
    assert closed["reason"] == "消防队接管现场，余下由其处置"
