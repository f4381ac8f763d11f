"""The incident report written out: its sections as tables, in Markdown or HTML, zh-CN or
English. Every string a device or an operator supplied is escaped (HTML with ``html.escape``,
Markdown with backslashes) so that neither table cells break nor raw HTML gets through."""

from __future__ import annotations

from gateway.domain.model import (
    Text,
)
from gateway.present.pages import Cell, Section, check_lang, html_page, markdown_page
from gateway.present.report_values import (
    ACK_TARGET,
    LATE,
    MISSED,
    ON_TIME,
    IncidentReport,
    ResponseItem,
)
from gateway.present.words import (
    ACTION_STATUS_WORDS,
    FACT_WORDS,
    POLICY_WORDS,
    REVIEW_PARTS,
    SEVERITY,
    STATE_WORDS,
    STATUS,
    VERDICT,
    Lang,
    clock,
    duration,
    pair,
    utc_offset,
)

_L: dict[str, tuple[str, str]] = {
    "title": ("事件报告", "Incident report"),
    "drill": ("演练", "DRILL"),
    "field": ("项目", "Field"), "value": ("内容", "Value"),
    "incident": ("事件编号", "Incident"), "playbook": ("预案", "Playbook"),
    "location": ("位置", "Location"), "severity": ("级别", "Severity"),
    "status": ("状态", "Status"), "verdict": ("结论", "Verdict"), "stage": ("当前阶段", "Stage"),
    "commander": ("现场指挥", "Commander"), "opened": ("开启", "Opened"),
    "acknowledged": ("确认接警", "Acknowledged"), "resolved": ("处置完毕", "Resolved"),
    "closed": ("关闭", "Closed"), "reopened": ("重新打开次数", "Times reopened"),
    "devices_signals": ("设备 / 信号", "Devices / signals"),
    "undecided": ("未定", "undecided"), "by": ("由", "by"),
    "by_hand": ("手动开启", "opened by hand"), "by_device": ("设备触发", "opened by device"),
    "times_in": ("时间均为本地时间（{offset}）。", "Times are local ({offset})."),
    "not_loaded": ("预案已不再加载，部分名称以编号显示",
                   "the playbook is no longer loaded: some names show as ids"),
    "timeline": ("时间线", "Timeline"), "time": ("时间", "Time"), "actor": ("操作人", "Actor"),
    "event": ("事件", "Event"),
    "responses": ("响应时间", "Response times"), "item": ("事项", "Item"),
    "kind": ("类别", "Kind"), "role": ("负责", "Role"), "start": ("开始", "Started"),
    "due": ("期限", "Due"), "done": ("完成", "Done"), "done_by": ("完成人", "Done by"),
    "took": ("用时", "Took"), "result": ("结果", "Result"), "detail": ("说明", "Detail"),
    "ack": ("接警", "ack"), "step": ("步骤", "step"), "branch": ("决策", "decision"),
    "prompt": ("提示", "prompt"),
    "on_time": ("按时", "on time"), "late": ("超时", "late by"),
    "missed": ("超时未完成", "missed (not done)"), "pending": ("进行中（未到期）", "pending"),
    "not_due": ("未完成（遗留：见处置/关闭原因）", "not done (left undone: see the reason given)"),
    "untimed": ("无时限", "no deadline"),
    "ack_note": (f"预案未规定接警时限；本报告以 {duration(ACK_TARGET, 'zh')} "
                 "为目标计时并计入评分。",
                 f"The playbooks set no deadline for acknowledging; this report times it "
                 f"against a {duration(ACK_TARGET, 'en')} target and scores it."),
    "arrivals": ("到场", "Arrivals on scene"), "who": ("人员", "Who"),
    "arrived": ("到场时间", "Arrived"), "after_open": ("开启后", "After opening"),
    "recorded_by": ("登记人", "Recorded by"),
    "actions": ("联动", "Actions"), "actuator": ("设备", "Actuator"),
    "command": ("命令", "Command"), "requested": ("请求", "Requested"),
    "sent": ("已发送", "Sent"), "feedback": ("反馈", "Feedback"),
    "failed": ("失败", "Failed"), "withheld": ("演练拦截", "Withheld"),
    "prompts": ("提示与确认", "Prompts and who answered"), "text": ("内容", "Text"),
    "raised": ("提出", "Raised"), "answer": ("回答", "Answer"),
    "answered_by": ("回答人", "Answered by"), "confirmer": ("第二确认人", "Second operator"),
    "answered_at": ("回答时间", "Answered at"), "policy": ("超时策略", "On timeout"),
    "yes": ("是", "yes"), "no": ("否", "no"),
    "awaiting_second": ("待第二人确认", "awaiting a second operator"),
    "acted_on_timeout": ("超时自动执行", "acted on timeout"), "open": ("未回答", "open"),
    "timed_out": ("已超时", "timed out"),
    "calls": ("外部电话", "Outside calls"), "contact": ("对象", "Contact"),
    "phone": ("电话", "Phone"), "facts": ("通报内容", "Facts to give"),
    "called": ("已拨打", "called"), "not_called": ("未拨打", "not called"),
    "unconfirmed": ("未确认", "not confirmed"),
    "records": ("记录", "Records"), "label": ("项目", "Field"), "missing": ("缺少（必填）",
                                                                        "missing (required)"),
    "review": ("复盘", "Review"), "part": ("部分", "Part"), "guide": ("要求", "Guide"),
    "not_written": ("未填写", "not written"),
    "follow_ups": ("回访任务", "Follow-up tasks"), "task": ("任务", "Task"),
    "note": ("备注", "Note"), "done_status": ("已完成", "done"),
    "pending_status": ("待办", "pending"), "overdue_status": ("已逾期", "overdue"),
    "drill_score": ("演练评分", "Drill score"), "met": ("达标", "met"),
    "score_line": ("按时 {met} / {total} 项，得分 {pct}", "{met} of {total} timed items on time: "
                   "{pct}"),
    "score_none": ("没有可计分的时限项目", "no timed item to score"),
    "score_excluded": ("另有 {n} 项未到期或事件在期限前结束，不计分。",
                       "{n} more timed items were not due yet or the incident ended first: "
                       "not scored."),
    "devices": ("设备", "Devices"), "device": ("设备", "Device"), "state": ("状态", "State"),
    "first": ("首次", "First"), "last": ("最近", "Last"),
    "devices_more": ("另有 {n} 个设备未列出", "{n} more devices not listed"),
    "none": ("无", "none"), "generated": ("生成于", "Generated"),
    "events_count": ("条事件", "events"),
}


def label(key: str, lang: Lang) -> str:
    zh, en = _L[key]
    return zh if lang == "zh" else en


def _pick(text: Text | None, lang: Lang) -> str:
    if text is None:
        return ""
    return text.zh if lang == "zh" else (text.en or text.zh)


def _result(item: ResponseItem, lang: Lang) -> Cell:
    if item.outcome == LATE:
        return (f"{label('late', lang)} {duration(item.late_by, lang)}", "late")
    css = {ON_TIME: "ok", MISSED: "late"}.get(item.outcome, "")
    return (label(item.outcome, lang), css)


def _t(at: float | None, day: str) -> str:
    """A time in a table: the clock only on the incident's own day."""
    if at is None:
        return "-"
    full = clock(at)
    return full[11:] if full[:10] == day else full


def _answer(answer: str, lang: Lang) -> str:
    return label(answer, lang) if answer in ("yes", "no") else answer


def sections(report: IncidentReport, lang: Lang) -> tuple[str, list[Section]]:
    """The report as a title and sections of tables, shared by both renderers."""
    h = report.header
    day = clock(h.opened_at)[:10]
    title = f"{label('title', lang)} {h.incident_id} · {_pick(h.playbook_name, lang)}"
    parts = [_header(report, lang), *(make(report, lang, day) for make in (
        _timeline, _responses, _arrivals, _actions, _prompts, _calls, _records, _review,
        _follow_ups, _drill_score, _devices))]
    return title, [part for part in parts if part is not None]


def _header(report: IncidentReport, lang: Lang) -> Section:
    h = report.header
    verdict = _pick(pair(VERDICT, h.verdict), lang) if h.verdict else label("undecided", lang)
    opened_by = (f"{label('by_hand', lang)}: {h.opened_by}" if h.opened_by else
                 f"{label('by_device', lang)}: {h.opened_by_device}" if h.opened_by_device
                 else "")
    commander = h.commander or ""
    if h.commander_role.zh:
        role = _pick(h.commander_role, lang)
        commander = f"{commander} ({role})" if commander else role

    def when(at: float | None, by: str) -> str:
        if at is None:
            return "-"
        return f"{clock(at)} · {label('by', lang)} {by}" if by else clock(at)

    header = Section(label("incident", lang), kv=True, rows=[
        [label("incident", lang), h.incident_id + (f" [{label('drill', lang)}]" if h.drill
                                                   else "")],
        [label("playbook", lang), f"{_pick(h.playbook_name, lang)} ({h.playbook_id})"],
        [label("location", lang), f"{_pick(h.place, lang)} · {h.location}"],
        [label("severity", lang), _pick(pair(SEVERITY, h.severity), lang)],
        [label("status", lang), _pick(pair(STATUS, h.status), lang)],
        [label("verdict", lang), verdict],
        [label("stage", lang), _pick(h.stage, lang)],
        [label("commander", lang), commander or "-"],
        [label("opened", lang), clock(h.opened_at) + (f" · {opened_by}" if opened_by else "")],
        [label("acknowledged", lang), when(h.acknowledged_at, h.acknowledged_by)],
        [label("resolved", lang), when(h.resolved_at, h.resolved_by)],
        [label("closed", lang), when(h.closed_at, h.closed_by)],
        [label("devices_signals", lang), f"{h.device_count} / {h.signal_count}"],
                     ])
    if h.reopened:
        header.rows.append([label("reopened", lang), str(h.reopened)])
    header.notes.append(label("times_in", lang).format(offset=utc_offset(h.opened_at)))
    if not h.playbook_loaded:
        header.notes.append(label("not_loaded", lang) + ".")
    return header


def _timeline(report: IncidentReport, lang: Lang, day: str) -> Section:
    return Section(label("timeline", lang),
                       [label("time", lang), label("actor", lang), label("event", lang)],
                       [[_t(e.at, day), e.actor, (_pick(e.text, lang), "alert" if e.alert
                                                  else "")] for e in report.timeline],
                       empty=label("none", lang))


def _responses(report: IncidentReport, lang: Lang, day: str) -> Section:
    rows: list[list[Cell]] = []
    for item in report.responses:
        rows.append([label(item.kind, lang), _pick(item.label, lang), _pick(item.role, lang),
                     _t(item.start_at, day), _t(item.due_at, day), _t(item.done_at, day),
                     item.done_by, duration(item.seconds, lang), _result(item, lang),
                     _pick(item.detail, lang)])
    return Section(label("responses", lang), [
        label("kind", lang), label("item", lang), label("role", lang), label("start", lang),
        label("due", lang), label("done", lang), label("done_by", lang), label("took", lang),
        label("result", lang), label("detail", lang)], rows, [label("ack_note", lang)])


def _arrivals(report: IncidentReport, lang: Lang, day: str) -> Section:
    return Section(label("arrivals", lang), [
        label("role", lang), label("who", lang), label("arrived", lang),
        label("after_open", lang), label("due", lang), label("result", lang),
        label("recorded_by", lang)], [
        [_pick(a.role_name, lang), a.who, _t(a.at, day), duration(a.seconds, lang),
         _t(a.due_at, day),
         (label("untimed", lang), "") if a.due_at is None else
         (label("on_time", lang), "ok") if a.on_time else
         (f"{label('late', lang)} {duration(a.late_by, lang)}", "late"), a.recorded_by]
        for a in report.arrivals], empty=label("none", lang))


def _actions(report: IncidentReport, lang: Lang, day: str) -> Section:
    return Section(label("actions", lang), [
        label("item", lang), label("actuator", lang), label("command", lang),
        label("requested", lang), label("status", lang), label("sent", lang),
        label("feedback", lang), label("detail", lang)], [
        [_pick(a.name, lang), f"{_pick(a.actuator_name, lang)} ({a.actuator})"
         if a.actuator else "-", a.command, _t(a.requested_at, day),
         (_pick(pair(ACTION_STATUS_WORDS, a.status), lang),
          "late" if a.status in ("failed", "skipped") else "ok" if a.status == "done" else ""),
         _t(a.sent_at or a.withheld_at, day),
         (f"{_t(a.done_at, day)} (+{duration(a.feedback_seconds, lang)})" if a.done_at
          else f"{label('failed', lang)} {_t(a.failed_at, day)}" if a.failed_at
          else "-") + (f" ← {a.feedback_point}" if a.feedback_point else ""),
         a.detail] for a in report.actions], empty=label("none", lang))


def _prompts(report: IncidentReport, lang: Lang, day: str) -> Section:
    prompt_rows: list[list[Cell]] = []
    for p in report.prompts:
        status = {"answered": _answer(p.answer, lang)}.get(p.status) or label(p.status, lang)
        if p.timed_out and p.status != "acted_on_timeout":
            status += f" ({label('timed_out', lang)})"
        first = f" ({_t(p.first_at, day)})" if p.first_at is not None and p.confirmed_by else ""
        prompt_rows.append([
            _pick(p.text, lang), _t(p.raised_at, day), _t(p.due_at, day),
            (status, "late" if p.timed_out else ""), (p.answered_by + first) or "-",
            p.confirmed_by or "-", _t(p.answered_at, day),
            _pick(pair(POLICY_WORDS, p.policy), lang) if p.policy else "-"])
    return Section(label("prompts", lang), [
        label("text", lang), label("raised", lang), label("due", lang), label("answer", lang),
        label("answered_by", lang), label("confirmer", lang), label("answered_at", lang),
        label("policy", lang)], prompt_rows, empty=label("none", lang))


def _calls(report: IncidentReport, lang: Lang, day: str) -> Section:
    call_rows: list[list[Cell]] = []
    for c in report.calls:
        facts = "; ".join(f"{_pick(pair(FACT_WORDS, fact), lang)}: {_pick(value, lang) or '-'}"
                          for fact, value in c.facts)
        done = (label("called", lang) if c.answer == "yes" else
                label("not_called", lang) if c.answer == "no" else label("unconfirmed", lang))
        call_rows.append([f"{_pick(c.name, lang)}", c.phone, facts,
                          (done, "ok" if c.answer == "yes" else "late"),
                          c.caller or "-", _t(c.at, day)])
    return Section(label("calls", lang), [
        label("contact", lang), label("phone", lang), label("facts", lang),
        label("result", lang), label("answered_by", lang), label("time", lang)], call_rows,
                       empty=label("none", lang))


def _records(report: IncidentReport, lang: Lang, day: str) -> Section:
    return Section(label("records", lang), [
        label("label", lang), label("value", lang), label("by", lang), label("time", lang)], [
        [_pick(r.label, lang), r.value if r.at is not None else (label("missing", lang), "late"),
         r.by, _t(r.at, day)] for r in report.records], empty=label("none", lang))


def _review(report: IncidentReport, lang: Lang, day: str) -> Section:
    part_names = dict(REVIEW_PARTS)
    return Section(label("review", lang), [
        label("part", lang), label("guide", lang), label("value", lang)], [
        [_pick(pair(part_names, r.part), lang), _pick(r.guide, lang),
         r.text or (label("not_written", lang), "late")] for r in report.review])


def _follow_ups(report: IncidentReport, lang: Lang, day: str) -> Section:
    follow_rows: list[list[Cell]] = []
    for f in report.follow_ups:
        if f.status == "done":
            state: Cell = (label("done_status", lang) + (
                "" if f.done_at is None or f.done_at <= f.due_at else
                f" ({label('late', lang)} {duration(f.done_at - f.due_at, lang)})"), "ok")
        elif report.generated_at > f.due_at:
            state = (label("overdue_status", lang), "late")
        else:
            state = label("pending_status", lang)
        follow_rows.append([_pick(f.text, lang), _pick(f.role, lang), clock(f.due_at), state,
                            f.done_by, f.note])
    return Section(label("follow_ups", lang), [
        label("task", lang), label("role", lang), label("due", lang), label("status", lang),
        label("done_by", lang), label("note", lang)], follow_rows, empty=label("none", lang))


def _drill_score(report: IncidentReport, lang: Lang, day: str) -> Section | None:
    s = report.drill_score
    if s is None:
        return None
    pct = f"{s.percent:.1f}%" if s.percent is not None else "-"
    section = Section(f"{label('drill_score', lang)}: {pct}", [
        label("kind", lang), label("item", lang), label("result", lang)], [
        [label(i.kind, lang), _pick(i.label, lang),
         (label("met", lang), "ok") if i.outcome == ON_TIME else _result(i, lang)]
        for i in s.items])
    line = label("score_line", lang) if s.total else label("score_none", lang)
    section.notes.append(line.format(met=s.met, total=s.total, pct=pct))
    section.notes.append(label("ack_note", lang))
    if s.excluded:
        section.notes.append(label("score_excluded", lang).format(n=s.excluded))
    return section


def _devices(report: IncidentReport, lang: Lang, day: str) -> Section:
    devices = Section(label("devices", lang), [
        label("device", lang), label("kind", lang), label("location", lang),
        label("state", lang), label("first", lang), label("last", lang)], [
        [d.name, d.kind, d.location, _pick(pair(STATE_WORDS, d.state), lang), _t(d.first_at, day),
         _t(d.last_at, day)] for d in report.devices], empty=label("none", lang))
    if report.device_states:
        devices.notes.append(", ".join(f"{_pick(pair(STATE_WORDS, st), lang)}: {count}"
                                       for st, count in report.device_states))
    if report.header.device_count > len(report.devices):
        devices.notes.append(label("devices_more", lang).format(
            n=report.header.device_count - len(report.devices)))
    return devices


def render_markdown(report: IncidentReport, lang: str = "zh") -> str:
    language = check_lang(lang)
    title, parts = sections(report, language)
    return markdown_page(title, parts, language,
                         badge=label("drill", language) if report.header.drill else "",
                         footer=_footer(report, language))


def _footer(report: IncidentReport, lang: Lang) -> str:
    return (f"{label('generated', lang)} {clock(report.generated_at)} · "
            f"{report.event_count} {label('events_count', lang)}")


def render_html(report: IncidentReport, lang: str = "zh") -> str:
    """The report as one self-contained page (see ``html_page``)."""
    language = check_lang(lang)
    title, parts = sections(report, language)
    return html_page(title, parts, language,
                     badge=label("drill", language) if report.header.drill else "",
                     footer=_footer(report, language))
