"""The lines of what people did: acknowledged, arrived, recorded, noted, assigned, resolved,
closed, reopened, followed up; points shelved and drills (facts of the site)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gateway.domain import site_time
from gateway.domain.events import REOPENED_BY_ALARM, EventKind
from gateway.domain.model import Event, Text
from gateway.present.names import Names
from gateway.present.words import (
    VERDICT,
    bi,
    cat,
    clock,
    dur,
    duration,
    fval,
    join_texts,
    pair,
    same,
    sval,
    with_note,
)

Line = Callable[[Event, Mapping[str, Any], Names], Text]


def on_time_text(on_time: Any, late_by: float | None = None) -> Text:
    if on_time is None:
        return same("")
    if on_time:
        return bi("（按时）", " (on time)")
    if late_by is not None:
        late = dur(late_by)
        return bi(f"（超时 {late.zh}）", f" (late by {late.en})")
    return bi("（超时）", " (late)")


def _acknowledged(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    seconds = fval(d, "seconds_to_ack")
    if d.get("again"):
        return cat(bi(f"再次确认接警（新报警后 {duration(seconds, 'zh')}）",
                      f"acknowledged again, {duration(seconds, 'en')} after the new "
                      "alarm"), with_note(sval(d, "note")))
    return cat(bi(f"确认接警，开启后 {duration(seconds, 'zh')}",
                  f"acknowledged {duration(seconds, 'en')} after opening"),
               with_note(sval(d, "note")))


def _arrival(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    role = n.role(sval(d, "role"))
    seconds = fval(d, "seconds")
    due = fval(d, "due_at")
    late_by = e.at - due if due is not None and not d.get("on_time") else None
    return cat(bi(f"到场：{role.zh} {sval(d, 'who')}，开启后 {duration(seconds, 'zh')}",
                  f"on scene: {role.en} {sval(d, 'who')}, "
                  f"{duration(seconds, 'en')} after opening"),
               on_time_text(d.get("on_time") if due is not None else None, late_by),
               with_note(sval(d, "note")))


def _record(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    label = n.record(sval(d, "field"))
    previous = site_time.readable(sval(d, "previous"))
    was = bi(f"（原为 {previous}）", f" (was {previous})") if previous else same("")
    value = site_time.readable(sval(d, "value"))
    return cat(bi("记录 ", "record "), label, bi("：", ": "), value, was)


def _note(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    return cat(bi("备注：", "note: "), sval(d, "text"))


def _commander_assigned(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    return cat(bi("指定现场指挥：", "commander: "), sval(d, "commander"))


# the kinds of work a resolve or a close can leave undone (``workflow.gaps``)
GAPS = {"undecided": ("未作决定", "decisions not taken"),
        "open_steps": ("未完成步骤", "steps not done"),
        "unanswered_prompts": ("未答复提示", "prompts not answered"),
        "unconfirmed_actions": ("未确认联动", "actions not confirmed")}


def action_at(n: Names) -> Callable[[str], Text]:
    """``elevator_recall/ELV-B1-L1`` → 电梯迫降首层 · 1号楼1号电梯."""
    def name(key: str) -> Text:
        action, _, actuator = key.partition("/")
        return cat(n.actions.get(action) or same(action), " · ",
                   n.actuators.get(actuator) or same(actuator))
    return name


def gaps_text(d: Mapping[str, Any], n: Names,
              unconfirmed: Callable[[str], Text] | None = None) -> Text:
    """"；遗留：未完成步骤：组织疏散、…；原因：…": the playbook's work left undone at a resolve
    or close, each by its name, and the reason given."""
    found = d.get("gaps")
    left: dict[str, Any] = found if isinstance(found, dict) else {}
    name: dict[str, Callable[[str], Text]] = {
        "undecided": n.branch, "open_steps": n.step, "unanswered_prompts": n.prompt,
        "unconfirmed_actions": unconfirmed or action_at(n)}
    parts = []
    for kind, ids in left.items():
        zh, en = GAPS.get(kind, (kind, kind))
        names = join_texts([name.get(kind, same)(str(i)) for i in ids or ()], "、", ", ")
        parts.append(bi(f"{zh}：{names.zh}", f"{en}: {names.en}"))
    why = sval(d, "reason")
    if why:
        parts.append(bi(f"原因：{why}", f"reason: {why}"))
    if not parts:
        return same("")
    return cat(bi("；遗留：" if left else "；", "; left undone: " if left else "; "),
               join_texts(parts, "；", "; "))


def _resolved(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    return cat(bi("处置完毕", "resolved"), with_note(sval(d, "note")), gaps_text(d, n))


def _closed(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    verdict = sval(d, "verdict")
    what = cat(bi("，结论：", ", verdict: "), pair(VERDICT, verdict)) if verdict \
        else same("")
    return cat(bi("关闭事件（已填写复盘）", "closed (review written)"), what, gaps_text(d, n))


def _reopened(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    why = sval(d, "reason")
    if d.get("cause") == REOPENED_BY_ALARM or why.startswith("new alarm from "):
        # the engine's, on a new alarm (before causes were codes, in a sentence)
        point = e.point_id or why.removeprefix("new alarm from ")
        return bi(f"重新打开：{point} 新报警", f"reopened: new alarm from {point}")
    return cat(bi("重新打开", "reopened"), with_note(why))


def _follow_up_done(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    return cat(bi(f"回访完成：{sval(d, 'task')}", f"follow-up done: {sval(d, 'task')}"),
               on_time_text(d.get("on_time")), with_note(sval(d, "note")))


def _roster_swapped(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    role = n.role(sval(d, "role"))
    person = n.people.get(sval(d, "person")) or same(sval(d, "person"))
    was = n.people.get(sval(d, "was")) or same(sval(d, "was"))
    return cat(bi(f"调班：{role.zh} 由 {person.zh} 接替 {was.zh}",
                  f"swap: {person.en} takes {role.en} from {was.en}"),
               with_note(sval(d, "reason")))


def _point_shelved(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    until = clock(fval(d, "until"), date=False)
    return cat(bi(f"{e.point_id} 暂停监视至 {until}", f"{e.point_id} shelved until {until}"),
               with_note(sval(d, "reason")))


def _point_unshelved(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    expired = sval(d, "reason") == "shelving expired"
    return bi(f"{e.point_id} 恢复监视" + ("（到期）" if expired else ""),
              f"{e.point_id} back in service" + (" (time up)" if expired else ""))


def _drill_started(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    until = clock(fval(d, "until"), date=False)
    scope = ", ".join([*(f"B{b}" for b in d.get("buildings") or ()),
                       *(str(p) for p in d.get("points") or ())])
    return bi(f"演练开始，至 {until}" + (f"，范围：{scope}" if scope else ""),
              f"drill started, until {until}" + (f", scope: {scope}" if scope else ""))


def _drill_stopped(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    return bi("演练结束", "drill stopped")


PANEL_OPERATIONS = {
    "reset": ("复位", "reset"), "silence": ("消音", "silence"),
    "manual_alarm": ("手动报警", "manual alarm"), "alarm_cleared": ("警情消除", "alarm cleared"),
    "self_test": ("自检", "self-test"), "acknowledge": ("确认", "acknowledge"),
    "test": ("测试", "test"), "duty_check_answer": ("查岗应答", "duty check answered"),
}


def _panel_operation(e: Event, d: Mapping[str, Any], n: Names) -> Text:
    done = [PANEL_OPERATIONS.get(str(o), (str(o), str(o))) for o in d.get("operations") or ()]
    who = sval(d, "operator")
    at_device = d.get("at") == "device"
    return bi(f"{e.point_id}{'（传输装置）' if at_device else ''}操作："
              f"{'、'.join(z for z, _ in done)}" + (f"（操作员 {who}）" if who else ""),
              f"{e.point_id}{' (transmission device)' if at_device else ''}: "
              f"{', '.join(en for _, en in done)}" + (f" (operator {who})" if who else ""))


OPERATOR_LINES: dict[EventKind, Line] = {
    EventKind.ACKNOWLEDGED: _acknowledged,
    EventKind.ARRIVAL: _arrival,
    EventKind.RECORD: _record,
    EventKind.NOTE: _note,
    EventKind.COMMANDER_ASSIGNED: _commander_assigned,
    EventKind.RESOLVED: _resolved,
    EventKind.CLOSED: _closed,
    EventKind.REOPENED: _reopened,
    EventKind.FOLLOW_UP_DONE: _follow_up_done,
    EventKind.POINT_SHELVED: _point_shelved,
    EventKind.ROSTER_SWAPPED: _roster_swapped,
    EventKind.POINT_UNSHELVED: _point_unshelved,
    EventKind.DRILL_STARTED: _drill_started,
    EventKind.DRILL_STOPPED: _drill_stopped,
    EventKind.PANEL_OPERATION: _panel_operation,
}
