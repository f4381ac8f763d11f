"""The one place where an event becomes text, zh and en: ``describe`` gives the line a person
reads, for the CLI, the incident report and the console (which shows it as given and never
parses the engine's words). ``Names`` resolves ids to the playbook's and the site's names,
falling back on what the events themselves carry."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.domain.events import EventKind, StageReason
from gateway.domain.model import (
    Event,
    Text,
)
from gateway.present.action_words import action_detail
from gateway.present.names import Names
from gateway.present.timeline_acts import OPERATOR_LINES, Line, on_time_text
from gateway.present.words import (
    ACTION_STATUS_WORDS,
    ESCALATION_WORDS,
    LEVEL_WORDS,
    POLICY_WORDS,
    STATE_WORDS,
    bi,
    cat,
    clock,
    device_name,
    dur,
    duration,
    fval,
    pair,
    same,
    sval,
    with_note,
)


def stage_reason_text(d: Mapping[str, Any], n: Names) -> Text:
    """Why a stage was entered (or a branch decided by it): the engine's ``StageReason`` and
    its particulars; records written before the reasons were codes carry a sentence."""
    reason = sval(d, "reason")
    if reason in (StageReason.OPENED, ""):
        return bi("事件开启", "incident opened")
    if reason == StageReason.OPENED_BY_HAND:
        return bi("手动开启", "opened by hand")
    if reason == StageReason.CONFIRMED_BY_OPERATOR:
        return bi("操作员确认", "confirmed by an operator")
    if reason == StageReason.DEVICES_IN_SCOPE:
        return _devices_in_scope(sval(d, "count"), sval(d, "within"))
    if reason == StageReason.POINT_REACHED:
        return _point_reached(sval(d, "point"), sval(d, "state"))
    if reason == StageReason.BRANCH_DECIDED:
        branch = sval(d, "by_branch")
        return cat(n.branch(branch), " → ", n.option(branch, sval(d, "by_option")))
    return _legacy_reason(reason, n)


def _devices_in_scope(count: str, within: str) -> Text:
    level = pair(LEVEL_WORDS, within)
    return bi(f"同一{level.zh}内{count}个独立设备报警",
              f"{count} independent devices in one {level.en}")


def _point_reached(point: str, state_id: str) -> Text:
    state = pair(STATE_WORDS, state_id)
    return bi(f"{point} 达到{state.zh}", f"{point} reached {state.en}")


def _legacy_reason(reason: str, n: Names) -> Text:
    """A reason as the engine wrote it before reasons were codes (stores kept from then)."""
    if reason == "opened by hand":
        return bi("手动开启", "opened by hand")
    if reason == "confirmed by operator":
        return bi("操作员确认", "confirmed by an operator")
    if m := re.fullmatch(r"(\d+) independent devices in one (\w+)", reason):
        return _devices_in_scope(m[1], m[2])
    if m := re.fullmatch(r"(\S+) reached (\w+)", reason):
        return _point_reached(m[1], m[2])
    if m := re.fullmatch(r"(\w+): (\w+)", reason):
        return cat(n.branch(m[1]), " → ", n.option(m[1], m[2]))
    return same(reason)


def step_note(note: str) -> Text:
    """A step's note; the one ``arrive`` writes (``on scene: WHO``) in both languages."""
    if note.startswith("on scene: "):
        who = note.removeprefix("on scene: ")
        return bi(f"到场：{who}", note)
    return same(note)


def describe(e: Event, n: Names) -> Text:
    """One event as a line a person reads."""
    line = _LINES.get(e.kind)
    return line(e, e.data, n) if line is not None else same(e.kind)


def _incident_opened(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    device = device_name(e.point_id, sval(d, "device"))
    name = n.playbook or same("")
    where = n.place(sval(d, "location"))
    if d.get("manual"):
        text = bi(f"手动开启事件：{name.zh}，位置 {where.zh}",
                  f"opened by hand: {name.en} at {where.en}")
        if d.get("reporter"):
            text = cat(text, bi(f"，报告人 {sval(d, 'reporter')}",
                                f", reported by {sval(d, 'reporter')}"))
        return cat(text, with_note(sval(d, "note")))
    state = pair(STATE_WORDS, sval(d, "state"))
    text = bi(f"事件开启：{name.zh}，位置 {where.zh}，由 {device} {state.zh}触发",
              f"opened: {name.en} at {where.en}, by {device} ({state.en})")
    if fval(d, "held_for") is not None:
        held = dur(fval(d, "held_for"))
        text = cat(text, bi(f"（持续 {held.zh} 后开启）", f" after holding {held.en}"))
    if d.get("replayed"):
        text = cat(text, bi("（启动时发现的状态）", " (state found at start-up)"))
    return text


def _signal(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    device = device_name(e.point_id, sval(d, "device"))
    who = cat(device, bi(f" {sval(d, 'condition_zh')}", f" {sval(d, 'condition_en')}")
              if d.get("condition") else "")
    state = pair(STATE_WORDS, sval(d, "state"))
    new = bi("（新设备）", " (new device)") if d.get("new_device") else same("")
    if d.get("announced"):
        place = n.place(sval(d, "place"))
        new_place = bi("，新位置", ", a new place") if d.get("new_place") else same("")
        return cat(bi(f"新报警：{who.zh} {state.zh}，位置 {place.zh}",
                      f"new alarm: {who.en} {state.en} at {place.en}"), new_place, new)
    return cat(bi(f"设备 {who.zh} {state.zh}", f"device {who.en} {state.en}"), new)


def _chattering(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    device = device_name(e.point_id, sval(d, "device"))
    times = sval(d, "activations")
    return bi(f"频繁报警：{device} 1 分钟内报警 {times} 次（已标记，不再逐次提示）",
              f"chattering: {device} alarmed {times} times in a minute (flagged, not "
              "announced each time)")


def _call_facts_updated(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    found: Any = d.get("call")
    facts: dict[str, Any] = found if isinstance(found, dict) else {}
    return bi(f"通话要点更新，报警位置：{facts.get('where_zh', '')}",
              f"call facts updated, where: {facts.get('where_en', '')}")


def _stage_entered(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    text = cat(bi("进入阶段「", "stage \""), n.stage(sval(d, "stage")),
               bi("」：", "\": "), stage_reason_text(d, n))
    devices = d.get("devices")
    if isinstance(devices, list) and devices:
        text = cat(text, f" [{', '.join(str(x) for x in devices)}]")
    return text


def _step_started(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    return cat(bi("步骤开始：", "step started: "), n.step(sval(d, "step")),
               role_and_due(d, n))


def _step_done(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    seconds = fval(d, "seconds")
    return cat(bi("步骤完成：", "step done: "), n.step(sval(d, "step")),
               bi(f"，用时 {duration(seconds, 'zh')}", f" in {duration(seconds, 'en')}"),
               on_time_text(d.get("on_time")),
               cat(bi("：", ": "), step_note(sval(d, "note"))) if d.get("note")
               else same(""))


def _deadline_missed(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    late = bi(f"（网关延迟 {duration(fval(d, 'late_by'), 'zh')} 才判定）",
              f" (noticed {duration(fval(d, 'late_by'), 'en')} late)") \
        if d.get("late") else same("")
    role = n.role(sval(d, "role"))
    if d.get("branch"):
        return cat(bi("超时未决定：", "deadline missed, undecided: "),
                   n.branch(sval(d, "branch")), bi(f"（{role.zh}）", f" ({role.en})"), late)
    return cat(bi("超时未完成：", "deadline missed: "), n.step(sval(d, "step")),
               bi(f"（{role.zh}）", f" ({role.en})"), late)


def _escalated_or_notified(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    k = e.kind
    to = n.role(sval(d, "to"))
    person = sval(d, "person")
    if person:  # the one on duty for the role, by the roster
        name = n.people.get(person) or same(person)
        to = Text(f"{to.zh}（{name.zh}）", f"{to.en} ({name.en})")
    what = what_of(d, n)
    held = bi("（演练：未实际发送）", " (drill: not sent)") if d.get("withheld") \
        else same("")
    if k == "notified":
        return cat(bi(f"通知 {to.zh}", f"notified {to.en}"), what, held)
    reason = pair(ESCALATION_WORDS, sval(d, "reason"))
    return cat(bi(f"升级至 {to.zh}：{reason.zh}", f"escalated to {to.en}: {reason.en}"),
               what, held)


def _action_requested(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    actuator = n.actuators.get(sval(d, "actuator")) or same(sval(d, "actuator"))
    held = bi("（演练：写入被拦截）", " (drill: write withheld)") if d.get("withheld") \
        else same("")
    if d.get("by_hand"):
        return cat(bi("手动指令：", "commanded by hand: "),
                   n.actions.get(sval(d, "action")) or same(sval(d, "command")), " → ",
                   actuator, bi(f"，原因：{sval(d, 'reason')}", f", because: {sval(d, 'reason')}"),
                   held)
    return cat(bi("联动请求：", "action requested: "),
               n.actions.get(sval(d, "action")) or same(sval(d, "action")), " → ", actuator,
               held)


def _detail(d: Mapping[str, Any], n: Names) -> Text:
    said = action_detail(sval(d, "detail"), n)
    return cat(bi("：", ": "), said) if said.zh else same("")


def _action_skipped(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    return cat(bi("联动跳过：", "action skipped: "),
               n.actions.get(sval(d, "action")) or same(sval(d, "action")),
               _detail(d, n))


def _action_status(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    k = e.kind
    status = pair(ACTION_STATUS_WORDS, k.removeprefix("action_"))
    actuator = n.actuators.get(sval(d, "actuator")) or same(sval(d, "actuator"))
    seconds = fval(d, "seconds")
    took = bi(f"，请求后 {duration(seconds, 'zh')}",
              f" {duration(seconds, 'en')} after the request") \
        if seconds is not None else same("")
    return cat(bi("联动", "action "), status, bi("：", ": "),
               n.actions.get(sval(d, "action")) or same(sval(d, "action")), " · ", actuator,
               took, _detail(d, n))


def _prompt_raised(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    text = cat(bi("提示：", "prompt: "), n.prompt(sval(d, "prompt")))
    due = fval(d, "due_at")
    if due is not None:
        policy = pair(POLICY_WORDS, sval(d, "on_timeout"))
        text = cat(text, bi(f"（{clock(due, date=False)} 前回答，{policy.zh}）",
                            f" (answer by {clock(due, date=False)}, {policy.en})"))
    call = d.get("call")
    if isinstance(call, dict):
        text = cat(text, bi(f"；需拨打 {sval(call, 'name_zh')} {sval(call, 'phone')}",
                            f"; call {sval(call, 'name_en')} {sval(call, 'phone')}"))
    return text


def _prompt_confirmation_needed(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    return cat(bi("提示「", "prompt \""), n.prompt(sval(d, "prompt")),
               bi(f"」{e.actor} 回答“是”，需第二人确认",
                  f"\": yes from {e.actor}, needs a second operator"),
               with_note(sval(d, "note")))


def _prompt_answered(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    answer = bi("是", "yes") if sval(d, "answer") == "yes" else bi("否", "no")
    text = cat(bi("提示「", "prompt \""), n.prompt(sval(d, "prompt")),
               bi("」回答：", "\" answered "), answer)
    if d.get("second"):
        text = cat(text, bi(f"（第二确认人，第一人 {sval(d, 'first')}）",
                            f" (second operator; first: {sval(d, 'first')})"))
    if d.get("on_time") is False:
        text = cat(text, bi("（超过时限）", " (after its timeout)"))
    return cat(text, with_note(sval(d, "note")))


def _prompt_timed_out(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    policy_id = sval(d, "policy")
    applied = {"act": bi("已自动执行", "acted automatically"),
               "escalate": bi("已升级", "escalated"),
               "wait": bi("继续等待回答", "still waiting for an answer")}.get(
                   policy_id, same(policy_id))
    return cat(bi("提示超时未答：", "prompt timed out: "), n.prompt(sval(d, "prompt")),
               bi("，", ", "), applied)


def _branch_raised(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    return cat(bi("待决定：", "to decide: "), n.branch(sval(d, "branch")),
               role_and_due(d, n))


def _branch_decided(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    by = same("") if e.actor else cat(bi("（设备自动：", " (by the devices: "),
                                      stage_reason_text(d, n), bi("）", ")"))
    late = bi("（超过期限）", " (after its deadline)") if d.get("on_time") is False \
        else same("")
    return cat(bi("决定：", "decided: "), n.branch(sval(d, "branch")), " → ",
               n.option(sval(d, "branch"), sval(d, "option")), by, late,
               with_note(sval(d, "note")))


_LINES: dict[EventKind, Line] = {
    **OPERATOR_LINES,
    EventKind.INCIDENT_OPENED: _incident_opened,
    EventKind.SIGNAL: _signal,
    EventKind.CHATTERING: _chattering,
    EventKind.CALL_FACTS_UPDATED: _call_facts_updated,
    EventKind.STAGE_ENTERED: _stage_entered,
    EventKind.STEP_STARTED: _step_started,
    EventKind.STEP_DONE: _step_done,
    EventKind.DEADLINE_MISSED: _deadline_missed,
    EventKind.ESCALATED: _escalated_or_notified,
    EventKind.NOTIFIED: _escalated_or_notified,
    EventKind.ACTION_REQUESTED: _action_requested,
    EventKind.ACTION_SKIPPED: _action_skipped,
    EventKind.ACTION_PENDING: _action_status,
    EventKind.ACTION_SENT: _action_status,
    EventKind.ACTION_DONE: _action_status,
    EventKind.ACTION_FAILED: _action_status,
    EventKind.ACTION_WITHHELD: _action_status,
    EventKind.PROMPT_RAISED: _prompt_raised,
    EventKind.PROMPT_CONFIRMATION_NEEDED: _prompt_confirmation_needed,
    EventKind.PROMPT_ANSWERED: _prompt_answered,
    EventKind.PROMPT_TIMED_OUT: _prompt_timed_out,
    EventKind.BRANCH_RAISED: _branch_raised,
    EventKind.BRANCH_DECIDED: _branch_decided,
}


def role_and_due(d: Mapping[str, Any], n: Names) -> Text:
    """" (engineering, due 14:05)" for a step or branch that was raised."""
    role = n.role(sval(d, "role"))
    due = fval(d, "due_at")
    deadline = bi(f"，期限 {clock(due, date=False)}", f", due {clock(due, date=False)}") \
        if due is not None else same("")
    return cat(bi(f"（{role.zh}", f" ({role.en}"), deadline, bi("）", ")"))


def what_of(d: Mapping[str, Any], n: Names) -> Text:
    """The step, branch, prompt, action or stage an escalation or notice is about."""
    if d.get("step"):
        return cat(bi("（步骤 ", " (step "), n.step(sval(d, "step")), bi("）", ")"))
    if d.get("branch"):
        return cat(bi("（", " ("), n.branch(sval(d, "branch")), bi("）", ")"))
    if d.get("prompt"):
        return cat(bi("（提示 ", " (prompt "), n.prompt(sval(d, "prompt")), bi("）", ")"))
    if d.get("action"):
        return same(f" ({sval(d, 'action')})")
    if d.get("stage"):
        return cat(bi("（", " ("), n.stage(sval(d, "stage")), bi("）", ")"))
    return same("")


def event_json(e: Event, n: Names) -> dict[str, Any]:
    """An event as the console's API gives it: its record, and its line in both languages
    (the page shows the line as given)."""
    text = describe(e, n)
    return {"kind": e.kind.value, "at": e.at, "actor": e.actor, "point_id": e.point_id,
            "incident_id": e.incident_id, "data": e.data, "text": {"zh": text.zh, "en": text.en}}
