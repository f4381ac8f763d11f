"""Text views of incidents for the CLI: zh-CN first, English beside it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gateway.config.site import SiteConfig
from gateway.domain import site_time
from gateway.domain.incident import Incident
from gateway.domain.model import Event
from gateway.engine.state import statement
from gateway.engine.workflow import incident_records
from gateway.playbook.definition import BranchDef, Playbook
from gateway.present.names import Names, names_of
from gateway.present.timeline import describe
from gateway.store.values import FollowUpTask, StoredSignal

_STATUS = {"open": "未确认 open", "acknowledged": "已确认 acknowledged",
           "resolved": "已解除 resolved", "closed": "已关闭 closed"}
_VERDICT = {"real": "真实事件 real", "minor": "轻微 minor", "false_alarm": "误报 false alarm"}


def ts(at: float | None) -> str:
    if at is None:
        return "-"
    return site_time.wall(at) + f".{int(at * 1000) % 1000:03d}"


def _stage_name(incident: Incident, playbooks: Mapping[str, Playbook]) -> str:
    playbook = playbooks.get(incident.type)
    if playbook is None:
        return incident.stage
    try:
        return str(playbook.stage(incident.stage).name)
    except KeyError:
        return incident.stage


def incident_table(incidents: list[Incident], playbooks: Mapping[str, Playbook],
                   now: float) -> str:
    if not incidents:
        return "没有事件 / no incidents"
    rows = [("ID", "TYPE 类型", "STAGE 阶段", "STATUS 状态", "WHERE 位置", "OPENED 发生", "AGE",
             "NEXT DEADLINE")]
    for inc in incidents:
        due = inc.next_deadline()
        if due is None:
            due_text = "-"
        elif due <= now:
            due_text = "overdue 已超时" if inc.status.value != "closed" else "-"
        else:
            due_text = f"in {_span(due - now)}"
        rows.append((inc.id + (" [drill 演练]" if inc.drill else ""), inc.type,
                     _stage_name(inc, playbooks), _STATUS.get(inc.status.value, inc.status.value),
                     inc.location.label(), ts(inc.opened_at)[:19],
                     _span(now - inc.opened_at), due_text))
    return _columns(rows)


def _columns(rows: Sequence[tuple[str, ...]]) -> str:
    """Rows as aligned columns, two spaces apart."""
    widths = [max(_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(r, widths,
                                                                                  strict=True))
                     .rstrip() for r in rows)


def _width(text: str) -> int:
    # CJK characters take two columns in a terminal
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _span(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def incident_detail(inc: Incident, events: list[Event], signals: list[StoredSignal],
                    playbooks: Mapping[str, Playbook], now: float,
                    site: SiteConfig | None = None) -> str:
    """One incident with all it holds and its full timeline (``incidents show``)."""
    playbook = playbooks.get(inc.type)
    sections = [_header(inc, playbook, playbooks), _devices(inc), _steps(inc, playbook),
                _branches(inc, playbook), _actions(inc), _prompts(inc, playbook),
                _records(inc, playbook), _review(inc), _follow_ups(inc, now),
                _timeline(events, signals, names_of(events, playbook, site))]
    return "\n\n".join("\n".join(lines) for lines in sections if lines)


def _header(inc: Incident, playbook: Playbook | None,
            playbooks: Mapping[str, Playbook]) -> list[str]:
    status = _STATUS.get(inc.status.value, inc.status.value)
    if inc.status.value == "open" and inc.returned_to_normal:
        status += "  (已恢复正常，未确认 returned to normal, unacknowledged)"
    commander = inc.commander or (f"{inc.commander_role} (role)" if inc.commander_role else "-")
    out = [
        f"{inc.id}  {playbook.name if playbook else inc.type}"
        + ("  [演练 DRILL]" if inc.drill else ""),
        f"  阶段 stage:     {_stage_name(inc, playbooks)}",
        f"  状态 status:    {status}",
        f"  级别 severity:  {inc.severity.value}",
        f"  结论 verdict:   {_VERDICT.get(inc.verdict.value, '') if inc.verdict else '-'}",
        f"  指挥 commander: {commander}",
        f"  位置 location:  {inc.location.label()}",
        f"  报警位置 places: {', '.join(p.label() for p in inc.places())}",
        f"  发生 opened:    {ts(inc.opened_at)}"
        + (f" by {inc.opened_by} (by hand)" if inc.opened_by else ""),
    ]
    for label, at, by in (("确认 acked:    ", inc.acknowledged_at, inc.acknowledged_by),
                          ("解除 resolved: ", inc.resolved_at, inc.resolved_by),
                          ("关闭 closed:   ", inc.closed_at, inc.closed_by)):
        if at:
            out.append(f"  {label} {ts(at)} by {by}")
    if inc.announced_at:
        out.append(f"  新报警 new alarm: {ts(inc.announced_at)} — 待再次确认 to acknowledge again")
    if inc.reopened:
        out.append(f"  重开 reopened:  {inc.reopened} time(s)")
    out.append(f"  信号 signals:   {inc.signal_count}")
    said = statement(playbook, inc) if playbook else None
    if said is not None:
        out.append(f"  口径 statement: {said.zh}")
        out.append(f"                  {said.en}")
    return out


def _devices(inc: Incident) -> list[str]:
    out = [f"设备 Devices ({len(inc.devices)}):"]
    for ref in inc.devices:
        name = f"{ref.point_id}/{ref.device}" if ref.device else ref.point_id
        out.append(f"  {name:<24} {ref.state:<9} first {ts(ref.first_at)}  "
                   f"last {ts(ref.last_at)}")
    return out


def _steps(inc: Incident, playbook: Playbook | None) -> list[str]:
    out = ["步骤 Steps:"]
    for step in inc.steps:
        definition = _step_text(playbook, step.stage, step.id)
        due = f"due {ts(step.due_at)}" if step.due_at else "no deadline"
        done = f" — done {ts(step.done_at)} by {step.done_by}" if step.done_at else ""
        note = f" ({step.note})" if step.note else ""
        out.append(f"  [{step.status.value:<7}] {step.id} · {step.role} · {due}{done}{note}")
        if definition:
            out.append(f"            {definition}")
    return out


def _branches(inc: Incident, playbook: Playbook | None) -> list[str]:
    if not inc.branches:
        return []
    out = ["分支 Branches:"]
    for branch in inc.branches:
        branch_def = _branch(playbook, branch.stage)
        due = f", due {ts(branch.due_at)}" if branch.due_at else ""
        if branch.option:
            state = f"→ {branch.option} by {branch.decided_by or 'devices'} " \
                    f"at {ts(branch.decided_at)}"
        else:
            state = "open" + (" (overdue 已超时)" if branch.overdue else "")
        out.append(f"  {branch.id} ({branch.role}{due}): {state}")
        if branch_def is not None:
            out.append(f"            {branch_def.question}")
            out.extend(f"            - {option.id}: {option.label}"
                       for option in branch_def.options)
    return out


def _actions(inc: Incident) -> list[str]:
    if not inc.actions:
        return []
    return ["联动 Actions:", *(
        f"  [{action.status.value:<8}] {action.id} ({action.command}) "
        f"requested {ts(action.requested_at)}, updated {ts(action.updated_at)}"
        + (f": {action.detail}" if action.detail else "") for action in inc.actions)]


def _prompts(inc: Incident, playbook: Playbook | None) -> list[str]:
    if not inc.prompts:
        return []
    out = ["提示 Prompts:"]
    for prompt in inc.prompts:
        answer = ""
        if prompt.answered_at:
            answer = f" → {prompt.answer or 'yes'} by {prompt.answered_by}"
            if prompt.confirmed_by:
                answer += f", confirmed by {prompt.confirmed_by}"
            answer += f" at {ts(prompt.answered_at)}"
        due = f" (timeout {ts(prompt.due_at)})" if prompt.due_at and prompt.waiting else ""
        timed = " [timed out 已超时]" if prompt.timed_out else ""
        out.append(f"  [{prompt.status.value:<8}] {prompt.id}{answer}{due}{timed}")
        text = _prompt_text(playbook, prompt.stage, prompt.id)
        if text:
            out.append(f"            {text}")
    return out


def _records(inc: Incident, playbook: Playbook | None) -> list[str]:
    if playbook is None:
        return []
    fields = incident_records(playbook, inc)
    if not fields and not inc.records:
        return []
    out = ["记录 Records:"]
    for record in sorted(fields, key=lambda r: not r.required):  # the required ones first
        entry = inc.record(record.id)
        value = f"{entry.value}  ({entry.by}, {ts(entry.at)})" if entry else (
            "— 必填 required" if record.required else "—")
        out.append(f"  {record.id:<24} {value}")
        out.append(f"            {record.label}")
    return out


def _review(inc: Incident) -> list[str]:
    if not inc.review:
        return []
    return ["复盘 Review:", *(f"  {label}: {inc.review.get(part, '')}" for part, label in (
        ("handling", "处理 handling"), ("analysis", "分析 analysis"),
        ("improvement", "改善 improvement")))]


def _follow_ups(inc: Incident, now: float) -> list[str]:
    if not inc.follow_ups:
        return []
    out = ["回访 Follow-ups:"]
    for f in inc.follow_ups:
        state = f"done {ts(f.done_at)} by {f.done_by}: {f.note}" if f.status == "done" \
            else ("overdue 已超期" if f.due_at < now else "pending")
        out.append(f"  {f.id} · {f.role} · due {ts(f.due_at)} · {state}")
        out.append(f"            {f.text_zh} / {f.text_en}")
    return out


def _timeline(events: list[Event], signals: list[StoredSignal], names: Names) -> list[str]:
    lines: list[tuple[float, int, str]] = []
    for order, e in enumerate(events):
        if e.kind == "signal" and signals:
            continue  # the signal rows below say the same, with their source
        lines.append((e.at, order, event_line(e, names)))
    for s in signals:
        value = f" value={s.value}" if s.value is not None else ""
        tags = "".join([" (repeat)" if not s.changed else "",
                        " (replayed at start-up)" if s.replayed else ""])
        device = f"/{s.device}" if s.device else ""
        lines.append((s.at, -1, f"signal   {s.point_id}{device} {s.state}{value}{tags} "
                                f"← {s.source}"))
    return ["时间线 Timeline:", *(f"  {ts(at)}  {text}" for at, _, text in sorted(lines))]


def follow_up_table(tasks: list[FollowUpTask], now: float) -> str:
    if not tasks:
        return "没有回访任务 / no follow-up tasks"
    rows = [("INCIDENT", "TASK 任务", "ROLE 角色", "DUE 到期", "STATE 状态", "TEXT")]
    for t in tasks:
        if t.status == "done":
            state = f"done {ts(t.done_at)[:16]} {t.done_by}"
        else:
            state = "overdue 已超期" if t.due_at < now else f"in {_span(t.due_at - now)}"
        rows.append((t.incident_id, t.id, t.role, ts(t.due_at)[:16], state, t.text_zh))
    return _columns(rows)


def _stage_ids(playbook: Playbook) -> set[str]:
    return {s.id for s in playbook.stages}


def _branch(playbook: Playbook | None, stage: str) -> BranchDef | None:
    if playbook is None or stage not in _stage_ids(playbook):
        return None
    return playbook.stage(stage).branch


def _step_text(playbook: Playbook | None, stage: str, step_id: str) -> str:
    if playbook is None:
        return ""
    try:
        return next((str(s.text) for s in playbook.stage(stage).steps if s.id == step_id), "")
    except KeyError:
        return ""


def _prompt_text(playbook: Playbook | None, stage: str, prompt_id: str) -> str:
    if playbook is None:
        return ""
    try:
        return next((str(p.text) for p in playbook.stage(stage).prompts if p.id == prompt_id),
                    "")
    except KeyError:
        return ""


def event_line(e: Event, names: Names) -> str:
    """One event of the timeline: zh, then en, then who did it."""
    text = describe(e, names)
    line = text.zh if text.zh == text.en else f"{text.zh}  ·  {text.en}"
    return f"{line}  — {e.actor}" if e.actor else line
