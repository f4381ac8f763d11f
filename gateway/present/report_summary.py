"""The report's first page, as values: the summary paragraph (what happened, where, who
acknowledged and how fast, the verdict, what was done and how it ended, who resolved and closed
it), the gaps (work left undone, deadlines missed, the reason given) and the sign-off lines."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.domain.incident import Incident
from gateway.domain.model import BranchStatus, Event, PromptStatus, StepStatus, Text
from gateway.present.report_naming import Naming
from gateway.present.report_values import (
    LATE,
    MISSED,
    NOT_DUE,
    PENDING,
    ActionItem,
    ArrivalItem,
    CallItem,
    FollowUpItem,
    GapItem,
    Header,
    RecordItem,
    ResponseItem,
    SignOff,
)
from gateway.present.timeline_acts import GAPS as GAP_KINDS
from gateway.present.words import (
    POLICY_WORDS,
    VERDICT,
    bi,
    cat,
    clock,
    dur,
    join_texts,
    pair,
    same,
    sval,
)

# the places the summary names one by one; more are counted
PLACES_SAID = 6
# an action on more actuators than this is said in counts (8 elevators: 6 confirmed, 2 failed)
ACTUATORS_SAID = 3

# how an auto-action ended (or stands, while the incident is live): its words, whether the
# gaps box lists it (as the engine's ``workflow.gaps`` does: not sent, or sent and not done),
# and whether that is a fault
_ENDINGS = {
    "confirmed": (bi("已确认到位", "confirmed by the device"), False, False),
    "done": (bi("已执行", "carried out"), False, False),
    "withheld": (bi("演练拦截，未实际执行", "withheld in the drill, not carried out"), False,
                 False),
    "skipped": (bi("跳过", "skipped"), False, False),
    "failed": (bi("失败", "failed"), True, True),
    "waiting": (bi("已发送，等待设备确认", "sent, waiting for the device to confirm"), True,
                False),
    "queued": (bi("等待发送", "waiting to be sent"), True, False),
    "sent": (bi("已发送，设备无反馈", "sent; the device gives no feedback"), True, False),
    "unconfirmed": (bi("已发送，未收到设备确认", "sent, never confirmed by the device"), True,
                    True),
    "unsent": (bi("未发出", "never sent"), True, True),
}

SIGN_OFF_ROLES = (bi("值班主管", "Duty supervisor"), bi("项目经理", "Project manager"))


def ending(a: ActionItem, live: bool) -> str:
    """How an auto-action ended (or stands, while the incident is live)."""
    if a.status == "done":
        return "confirmed" if a.feedback_point else "done"
    if a.status == "pending":
        return "queued" if live else "unsent"
    if a.status == "sent":
        return "sent" if not a.feedback_point else "waiting" if live else "unconfirmed"
    return a.status if a.status in _ENDINGS else "unconfirmed"


def ending_words(key: str) -> Text:
    return _ENDINGS[key][0]


def ending_css(key: str) -> str:
    """ok for an action done, late for one that failed or was never confirmed."""
    if key in ("confirmed", "done"):
        return "ok"
    return "late" if _ENDINGS[key][2] else ""


def sign_off(header: Header) -> tuple[SignOff, ...]:
    """The duty supervisor's line carries who closed (or resolved) the incident; the project
    manager signs by hand."""
    supervisor = header.closed_by or header.resolved_by
    return (SignOff(SIGN_OFF_ROLES[0], supervisor), SignOff(SIGN_OFF_ROLES[1]))


# ----------------------------------------------------------------------------- the paragraph


def summary_text(h: Header, incident: Incident, k: Naming, responses: Sequence[ResponseItem],
                 arrivals: Sequence[ArrivalItem], actions: Sequence[ActionItem],
                 calls: Sequence[CallItem]) -> Text:
    """A few sentences a property manager reads first."""
    sentences = [_opened(h), _acknowledged(h, responses), _arrived(arrivals),
                 _verdict(h, incident, k), _actions(actions, h.live), _calls(calls),
                 _prompts(incident), _ended(h)]
    text = join_texts([s for s in sentences if s.zh], "", " ")
    return cat(bi("【演练】", "Drill. "), text) if h.drill else text


def _places(h: Header) -> Text:
    said = join_texts(list(h.places[:PLACES_SAID]), "、", ", ")
    more = len(h.places) - PLACES_SAID
    if more > 0:
        return cat(said, bi(f" 等 {len(h.places)} 处", f" and {more} more"))
    return said


def _opened(h: Header) -> Text:
    at = clock(h.opened_at)
    name = h.playbook_name
    where = _places(h)
    if h.opened_by:
        text = bi(f"{at}，{h.opened_by} 手动开启{name.zh}事件，位置：{where.zh}",
                  f"At {at} {h.opened_by} opened a {name.en} incident by hand at {where.en}")
    elif h.opened_by_device.zh:
        device = h.opened_by_device
        text = bi(f"{at}，设备 {device.zh}报警，开启{name.zh}事件；报警位置：{where.zh}",
                  f"At {at} {device.en} went into alarm and a {name.en} incident was opened; "
                  f"places in alarm: {where.en}")
    else:
        text = bi(f"{at}，开启{name.zh}事件，位置：{where.zh}",
                  f"At {at} a {name.en} incident was opened at {where.en}")
    if h.device_count > 1:
        text = cat(text, bi(f"（共 {h.device_count} 个设备报警）",
                            f" ({h.device_count} devices in alarm)"))
    return cat(text, bi("。", "."))


def _result(item: ResponseItem) -> Text:
    if item.outcome == LATE:
        late = dur(item.late_by)
        return bi(f"超时 {late.zh}", f"late by {late.en}")
    return bi("按时", "on time") if item.outcome == "on_time" else same("")


def _acknowledged(h: Header, responses: Sequence[ResponseItem]) -> Text:
    ack = next((i for i in responses if i.kind == "ack"), None)
    if h.acknowledged_at is None or ack is None:
        return bi("尚未确认接警。", "Not acknowledged yet.") if h.live \
            else bi("无人确认接警。", "Nobody acknowledged it.")
    took = dur(h.acknowledged_at - h.opened_at)
    result = _result(ack)
    return bi(f"{h.acknowledged_by} 于开启后 {took.zh} 确认接警（{result.zh}）。",
              f"{h.acknowledged_by} acknowledged it {took.en} after it opened "
              f"({result.en}).")


def _arrived(arrivals: Sequence[ArrivalItem]) -> Text:
    if not arrivals:
        return same("")
    parts = []
    for a in arrivals:
        took = dur(a.seconds)
        late = dur(a.late_by) if a.late_by is not None else None
        parts.append(bi(f"{a.role_name.zh} {a.who}（开启后 {took.zh}"
                        + (f"，超时 {late.zh}" if late else "") + "）",
                        f"{a.role_name.en} {a.who} ({took.en} after opening"
                        + (f", late by {late.en}" if late else "") + ")"))
    said = join_texts(parts, "、", ", ")
    return bi(f"到场：{said.zh}。", f"On scene: {said.en}.")


def _verdict(h: Header, incident: Incident, k: Naming) -> Text:
    if not h.verdict:
        return bi("尚无核实结论。", "No verdict yet.")
    verdict = pair(VERDICT, h.verdict)
    decided = next((b for b in incident.branches if b.status is BranchStatus.DECIDED), None)
    how = same("")
    if decided is not None:
        option = k.names.option(decided.id, decided.option)
        by = bi(f"{k.who(decided.decided_by)} 决定", f"decided by {k.who(decided.decided_by)}") \
            if decided.decided_by else bi("设备自动判定", "decided by the devices")
        how = bi(f"（{option.zh}，{by.zh}）", f" ({option.en}, {by.en})")
    return cat(bi("核实结论：", "Verdict: "), verdict, how, bi("。", "."))


def _actions(actions: Sequence[ActionItem], live: bool) -> Text:
    groups: dict[str, list[ActionItem]] = {}
    for a in actions:
        groups.setdefault(a.action, []).append(a)
    parts = []
    for items in groups.values():
        endings = [ending(a, live) for a in items]
        if len(items) > ACTUATORS_SAID:
            counts = {key: endings.count(key) for key in dict.fromkeys(endings)}
            said = join_texts([cat(ending_words(key), f" {n}") for key, n in counts.items()],
                              "，", ", ")
            parts.append(cat(items[0].name, bi(f"（共 {len(items)} 台：", f" ({len(items)}: "),
                             said, bi("）", ")")))
            continue
        each = join_texts([cat(a.actuator_name, " ", ending_words(key)) if a.actuator
                           else ending_words(key) for a, key in zip(items, endings, strict=True)],
                          "；", "; ")
        parts.append(cat(items[0].name, bi("（", " ("), each, bi("）", ")")))
    if not parts:
        return same("")
    return cat(bi("联动：", "Actions: "), join_texts(parts, "；", "; "), bi("。", "."))


def _calls(calls: Sequence[CallItem]) -> Text:
    parts = []
    for c in calls:
        done = (bi("已拨打", "called") if c.answer == "yes" else
                bi("未拨打", "not called") if c.answer == "no" else bi("未确认", "not confirmed"))
        by = f"（{c.caller}）" if c.caller else ""
        parts.append(bi(f"{c.name.zh} {c.phone} {done.zh}{by}",
                        f"{c.name.en} {c.phone} {done.en}" + (f" ({c.caller})" if by else "")))
    if not parts:
        return same("")
    said = join_texts(parts, "；", "; ")
    return bi(f"外部电话：{said.zh}。", f"Outside calls: {said.en}.")


def _prompts(incident: Incident) -> Text:
    if not incident.prompts:
        return same("")
    answered = sum(1 for p in incident.prompts if p.status is PromptStatus.ANSWERED)
    acted = sum(1 for p in incident.prompts if p.status is PromptStatus.ACTED_ON_TIMEOUT)
    waiting = sum(1 for p in incident.prompts if p.waiting)
    zh = [f"已回答 {answered} 项"] + ([f"超时自动执行 {acted} 项"] if acted else []) + \
        ([f"未回答 {waiting} 项"] if waiting else [])
    en = [f"{answered} answered"] + ([f"{acted} acted on by their timeout"] if acted else []) + \
        ([f"{waiting} not answered"] if waiting else [])
    return bi(f"提示 {len(incident.prompts)} 项：{'，'.join(zh)}。",
              f"{len(incident.prompts)} prompts: {', '.join(en)}.")


def _ended(h: Header) -> Text:
    def at(when: float) -> str:  # the date only when it is not the day the incident opened
        full = clock(when)
        return full[11:] if full[:10] == clock(h.opened_at)[:10] else full

    parts = []
    if h.resolved_at is not None:
        took = dur(h.resolved_at - h.opened_at)
        parts.append(bi(f"{at(h.resolved_at)} 由 {h.resolved_by} 确认处置完毕"
                        f"（开启后 {took.zh}）",
                        f"{h.resolved_by} resolved it at {at(h.resolved_at)} ({took.en} "
                        "after it opened)"))
    if h.closed_at is not None:
        parts.append(bi(f"{at(h.closed_at)} 由 {h.closed_by} 关闭",
                        f"{h.closed_by} closed it at {at(h.closed_at)}"))
    if not parts:
        return bi("事件仍在处置中。", "The incident is still being handled.")
    said = join_texts(parts, "；", "; ")
    return bi(f"{said.zh}。", f"{said.en[:1].upper()}{said.en[1:]}.")


# ----------------------------------------------------------------------------- the gaps

_OUTCOME = {MISSED: bi("超时未完成", "deadline missed, not done"),
            NOT_DUE: bi("未完成（期限前已处置完毕或关闭）", "not done (ended before it was due)"),
            PENDING: bi("进行中（未到期）", "pending, not due yet")}


def _undone(item: ResponseItem | None) -> Text:
    if item is None:
        return bi("未完成", "not done")
    return _OUTCOME.get(item.outcome) or bi("未完成（无时限）", "not done (no deadline)")


def _with_role(what: Text, role: Text) -> Text:
    return cat(what, bi(f"（{role.zh}）", f" ({role.en})")) if role.zh else what


def gap_items(incident: Incident, events: Sequence[Event], k: Naming,
              responses: Sequence[ResponseItem], actions: Sequence[ActionItem],
              records: Sequence[RecordItem], follow_ups: Sequence[FollowUpItem],
              now: float) -> list[GapItem]:
    """What the incident left undone (as the engine's ``workflow.gaps`` counts it), the
    deadlines it missed, and the reason given for resolving or closing it so."""
    by_id = {(i.kind, i.item_id): i for i in responses}
    out: list[GapItem] = []
    for s in incident.steps:
        if s.status is not StepStatus.DONE:
            item = by_id.get(("step", s.id))
            out.append(GapItem("open_steps", _with_role(k.names.step(s.id), k.names.role(s.role)),
                               _undone(item), alert=item is None or item.outcome != PENDING))
    for b in incident.branches:
        if b.status is BranchStatus.OPEN:
            item = by_id.get(("branch", b.id))
            out.append(GapItem("undecided", _with_role(k.names.branch(b.id),
                                                       k.names.role(b.role)), _undone(item)))
    for p in incident.prompts:
        if p.waiting:
            item = by_id.get(("prompt", p.id))
            state = _undone(item)
            policy = k.names.policies.get(p.id, "")
            if p.timed_out and policy:
                state = cat(state, bi("，", ", "), pair(POLICY_WORDS, policy))
            if p.status is PromptStatus.AWAITING_SECOND:
                state = cat(state, bi("，待第二人确认", ", awaiting a second operator"))
            out.append(GapItem("unanswered_prompts", k.names.prompt(p.id), state))
    for a in actions:
        key = ending(a, incident.live)
        words, listed, alert = _ENDINGS[key]
        if listed:
            out.append(GapItem("unconfirmed_actions", k.action_on(a.action, a.actuator),
                               words, alert=alert))
    out += _late(incident, responses)
    out += [GapItem("missing_records", r.label, bi("必填，未填写", "required, not written"))
            for r in records if r.at is None]
    out += [GapItem("follow_ups", cat(f.text, bi(f"（{f.role.zh}）", f" ({f.role.en})")),
                    bi(f"已逾期（期限 {clock(f.due_at)}）", f"overdue (due {clock(f.due_at)})"))
            for f in follow_ups if f.status != "done" and now > f.due_at]
    return out + _reasons(events, k)


def _late(incident: Incident, responses: Sequence[ResponseItem]) -> list[GapItem]:
    """Deadlines missed by what was done after all, by nobody acknowledging, and by prompts
    nobody answered that their timeout acted on (the undone are listed above)."""
    acted = {p.id for p in incident.prompts if p.status is PromptStatus.ACTED_ON_TIMEOUT}
    out = []
    for i in responses:
        if i.outcome == LATE:
            late = dur(i.late_by)
            out.append(GapItem("late", _with_role(i.label, i.role),
                               bi(f"超时 {late.zh} 完成", f"done {late.en} late")))
        elif i.outcome == MISSED and i.kind == "ack":
            out.append(GapItem("late", i.label, bi("超时未确认接警", "not acknowledged in time")))
        elif i.outcome == MISSED and i.kind == "prompt" and i.item_id in acted:
            out.append(GapItem("late", i.label, bi("无人回答，已按策略自动执行",
                                                   "nobody answered: acted by policy")))
    return out


def _reasons(events: Sequence[Event], k: Naming) -> list[GapItem]:
    out = []
    for e in events:
        why = sval(e.data, "reason")
        if e.kind in ("resolved", "closed") and why:
            verb = bi("处置完毕时说明", "reason given at resolve") if e.kind == "resolved" \
                else bi("关闭时说明", "reason given at close")
            who = k.who(e.actor)
            out.append(GapItem("reason", same(why),
                               bi(f"{verb.zh}（{who}，{clock(e.at)}）",
                                  f"{verb.en} ({who}, {clock(e.at)})"), alert=False))
    return out


def gap_kind(kind: str) -> Text:
    words = {**GAP_KINDS, "late": ("超时", "deadlines missed"),
             "missing_records": ("缺少记录", "records missing"),
             "follow_ups": ("回访逾期", "follow-ups overdue"),
             "reason": ("遗留原因", "reason given")}
    text = pair(words, kind)
    return Text(text.zh, text.en[:1].upper() + text.en[1:])
