"""The words of the incident report's tables and headings, zh-CN and English."""

from __future__ import annotations

from gateway.domain.model import Text
from gateway.present.report_values import ACK_TARGET
from gateway.present.words import Lang, clock, duration

LABELS: dict[str, tuple[str, str]] = {
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
    # the first page
    "project": ("项目", "Project"), "address": ("地址", "Address"),
    "summary": ("摘要", "Summary"), "key_facts": ("关键信息", "Key facts"),
    "gaps": ("遗留与异常", "Gaps"), "category": ("类别", "Kind"),
    "no_gaps": ("无遗留事项：步骤、决定、提示与联动均已完成，没有超时。",
                "Nothing left undone: every step, decision, prompt and action was completed and "
                "no deadline was missed."),
    "gaps_more": ("另有 {n} 项，见下文各节明细。", "{n} more: see the details below."),
    "deadlines": ("时限执行", "Deadlines"),
    "deadline_line": ("按时 {on_time} 项，超时完成 {late} 项，超时未完成 {missed} 项",
                      "{on_time} on time, {late} done late, {missed} missed"),
    "sign_off": ("签字", "Sign-off"), "name": ("姓名", "Name"),
    "signature": ("签字", "Signature"), "date": ("日期", "Date"),
    "details": ("明细", "Details"), "type": ("类型", "Type"),
    "result_final": ("结果", "How it ended"), "feedback_from": ("反馈点", "feedback from"),
    "after_request": ("请求后", "after the request"),
}


def label(key: str, lang: Lang) -> str:
    zh, en = LABELS[key]
    return zh if lang == "zh" else en


def pick(text: Text | None, lang: Lang) -> str:
    """A text in the report's language (the Chinese where there is no English)."""
    if text is None:
        return ""
    return text.zh if lang == "zh" else (text.en or text.zh)


def both(text: Text, lang: Lang) -> tuple[str, str]:
    """A text in the report's language first, the other beside it (when it differs)."""
    first, other = (text.zh, text.en) if lang == "zh" else (text.en or text.zh, text.zh)
    return first, "" if other == first else other


def at_time(at: float | None, day: str) -> str:
    """A time in a table: the clock only on the incident's own day."""
    if at is None:
        return "-"
    full = clock(at)
    return full[11:] if full[:10] == day else full
