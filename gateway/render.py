"""Text views of incidents for the CLI: zh-CN first, English beside it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from gateway.incident import Incident
from gateway.model import Event
from gateway.playbook import Playbook
from gateway.store import StoredSignal

_STATUS = {"open": "未确认 open", "acknowledged": "已确认 acknowledged", "closed": "已关闭 closed"}


def ts(at: float | None) -> str:
    if at is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"


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
                    playbooks: Mapping[str, Playbook], now: float) -> str:
    playbook = playbooks.get(inc.type)
    out = [
        f"{inc.id}  {playbook.name if playbook else inc.type}"
        + ("  [演练 DRILL]" if inc.drill else ""),
        f"  阶段 stage:     {_stage_name(inc, playbooks)}",
        f"  状态 status:    {_STATUS.get(inc.status.value, inc.status.value)}",
        f"  级别 severity:  {inc.severity.value}",
        f"  位置 location:  {inc.location.label()}",
        f"  发生 opened:    {ts(inc.opened_at)}",
    ]
    if inc.acknowledged_at:
        out.append(f"  确认 acked:     {ts(inc.acknowledged_at)} by {inc.acknowledged_by}")
    if inc.closed_at:
        out.append(f"  关闭 closed:    {ts(inc.closed_at)} by {inc.closed_by}")

    out.append(f"  信号 signals:   {inc.signal_count}")
    out.append("")
    out.append(f"设备 Devices ({len(inc.devices)}):")
    for ref in inc.devices:
        name = f"{ref.point_id}/{ref.device}" if ref.device else ref.point_id
        out.append(f"  {name:<24} {ref.state:<9} first {ts(ref.first_at)}  "
                   f"last {ts(ref.last_at)}")
    out.append("")
    out.append("步骤 Steps:")
    for step in inc.steps:
        definition = _step_text(playbook, step.stage, step.id)
        due = f"due {ts(step.due_at)}" if step.due_at else "no deadline"
        done = f" — done {ts(step.done_at)} by {step.done_by}" if step.done_at else ""
        note = f" ({step.note})" if step.note else ""
        out.append(f"  [{step.status.value:<7}] {step.id} · {step.role} · {due}{done}{note}")
        if definition:
            out.append(f"            {definition}")
    if inc.actions:
        out.append("")
        out.append("联动 Actions:")
        for action in inc.actions:
            out.append(f"  [{action.status.value:<8}] {action.id} ({action.command}) "
                       f"requested {ts(action.requested_at)}, updated {ts(action.updated_at)}"
                       + (f": {action.detail}" if action.detail else ""))
    if inc.prompts:
        out.append("")
        out.append("提示 Prompts:")
        for prompt in inc.prompts:
            answer = (f" → {prompt.answer} by {prompt.answered_by} at {ts(prompt.answered_at)}"
                      if prompt.answered_at else "")
            out.append(f"  [{prompt.status.value:<8}] {prompt.id}{answer}")
            text = _prompt_text(playbook, prompt.stage, prompt.id)
            if text:
                out.append(f"            {text}")
    out.append("")
    out.append("时间线 Timeline:")
    lines: list[tuple[float, int, str]] = []
    for order, e in enumerate(events):
        if e.kind == "signal" and signals:
            continue  # the signal rows below say the same, with their source
        lines.append((e.at, order, _event_line(e)))
    for s in signals:
        value = f" value={s.value}" if s.value is not None else ""
        tags = "".join([" (repeat)" if not s.changed else "",
                        " (replayed at start-up)" if s.replayed else ""])
        device = f"/{s.device}" if s.device else ""
        lines.append((s.at, -1, f"signal   {s.point_id}{device} {s.state}{value}{tags} "
                                f"← {s.source}"))
    for at, _, text in sorted(lines):
        out.append(f"  {ts(at)}  {text}")
    return "\n".join(out)


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


def _event_line(e: Event) -> str:
    d: dict[str, Any] = e.data
    who = f" by {e.actor}" if e.actor else ""
    if e.kind == "incident_opened":
        return (f"opened   {d.get('name_zh')} / {d.get('name_en')} at {d.get('location')} "
                f"by {e.point_id}{'/' + d['device'] if d.get('device') else ''}")
    if e.kind == "signal":
        device = f"/{d['device']}" if d.get("device") else ""
        new = " new device" if d.get("new_device") else ""
        return f"device   {e.point_id}{device} → {d.get('state')}{new}"
    if e.kind == "stage_entered":
        extra = f" [{', '.join(d['devices'])}]" if d.get("devices") else ""
        return (f"stage    {d.get('stage_name_zh')} / {d.get('stage_name_en')}: "
                f"{d.get('reason')}{extra}{who}")
    if e.kind == "step_started":
        due = f", due {ts(d['due_at'])}" if d.get("due_at") else ""
        return f"step     {d.get('step')} started for {d.get('role')}{due}"
    if e.kind == "step_done":
        late = "" if d.get("on_time") else " (after its deadline)"
        return f"step     {d.get('step')} done{who}{late}" + (f": {d['note']}" if d.get("note")
                                                             else "")
    if e.kind == "deadline_missed":
        late = f", fired {d.get('late_by')}s late" if d.get("late") else ""
        return f"DEADLINE {d.get('step')} ({d.get('role')}) missed{late}"
    if e.kind == "escalated":
        return f"ESCALATE {d.get('step')} → {d.get('to_zh')} / {d.get('to_en')}"
    if e.kind == "action_requested":
        withheld = " (drill: withheld)" if d.get("withheld") else ""
        return (f"action   {d.get('name_zh')} / {d.get('name_en')}: {d.get('actuator')} "
                f"{d.get('command')} → {d.get('topic')}{withheld}")
    if e.kind.startswith("action_"):
        return f"action   {d.get('actuator')} {e.kind.removeprefix('action_')}: {d.get('detail')}"
    if e.kind == "prompt_raised":
        call = d.get("call")
        text = f"prompt   {d.get('prompt')}: {d.get('text_zh')}"
        if call:
            text += (f"\n{'':27}call {call['phone']} {call['name_zh']}: {call['project_zh']}, "
                     f"{call['address_zh']}, {call['crossroads_zh']}, {call['where_zh']}, "
                     f"{call['what_zh']}, 回拨 {call['callback']}")
        return text
    if e.kind == "prompt_answered":
        return f"prompt   {d.get('prompt')} answered {d.get('answer')}{who}"
    if e.kind == "acknowledged":
        return f"ack      acknowledged{who} after {d.get('seconds_to_ack')}s" + (
            f": {d['note']}" if d.get("note") else "")
    if e.kind == "note":
        return f"note    {who}: {d.get('text')}"
    if e.kind == "closed":
        return f"closed  {who}: {d.get('report')}"
    return f"{e.kind}{who} {d}"
