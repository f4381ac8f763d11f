"""The incident report: what happened, who did what and when, against the playbook's deadlines.

``build_report`` reads an incident's snapshot and its timeline (the events) and returns plain
values; ``render_markdown`` and ``render_html`` write them out in zh-CN or English. The texts
of steps, prompts, branches and records are taken from the events first (they say what the
operators saw at the time) and from the playbook when an event lacks them; without either,
ids stand in. Nothing here does I/O.

Every string a device or an operator supplied (zones, device names, notes, answers, records,
the review) is escaped by the renderers: HTML with ``html.escape``, Markdown with backslashes
so that neither table cells break nor raw HTML gets through.
"""

from __future__ import annotations

import html
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.config.site import SiteConfig
from gateway.domain.incident import Incident
from gateway.domain.model import (
    BranchStatus,
    Event,
    IncidentStatus,
    Location,
    PromptStatus,
    StepStatus,
    Text,
)
from gateway.engine.workflow import required_records
from gateway.playbook.definition import Playbook

Lang = Literal["zh", "en"]
LANGS: tuple[str, ...] = ("zh", "en")

# The playbooks set no deadline for acknowledging: the report times it against this target
# (and says so), so that a drill scores the monitoring center's own reaction too.
ACK_TARGET = 60.0
# This many device signals in a row, or more, are one line of the timeline (a storm).
STORM_RUN = 5
# The device table lists at most this many devices (a storm can bring hundreds).
DEVICE_LIST_MAX = 30

# outcomes of a timed item
ON_TIME = "on_time"
LATE = "late"
MISSED = "missed"  # its deadline passed and it was never done
PENDING = "pending"  # not done, not due yet (the incident is still live)
NOT_DUE = "not_due"  # not done; the incident was resolved or closed before it fell due
UNTIMED = "untimed"
SCORED = (ON_TIME, LATE, MISSED)


# ----------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Header:
    incident_id: str
    playbook_id: str
    playbook_name: Text
    location: str  # the label: demo-B1-F12-Z3
    place: Text  # 1号楼12层3防区 / Building 1, floor 12, zone 3
    severity: str
    status: str
    verdict: str | None
    stage: Text
    commander: str
    commander_role: Text
    opened_at: float
    opened_by: str  # the operator who opened it by hand
    opened_by_device: str  # or the device that opened it
    acknowledged_at: float | None
    acknowledged_by: str
    resolved_at: float | None
    resolved_by: str
    closed_at: float | None
    closed_by: str
    drill: bool
    reopened: int
    device_count: int
    signal_count: int
    playbook_loaded: bool


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: float
    actor: str
    kind: str
    text: Text
    alert: bool = False  # a missed deadline, an escalation, a failed action


@dataclass(frozen=True, slots=True)
class ResponseItem:
    """One thing with (or without) a deadline: acknowledging, a step, a branch, a prompt."""

    kind: str  # ack | step | branch | prompt
    item_id: str
    label: Text
    role: Text
    start_at: float
    due_at: float | None
    done_at: float | None
    done_by: str
    outcome: str
    late_by: float | None = None
    detail: Text | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.done_at is None else self.done_at - self.start_at

    @property
    def scored(self) -> bool:
        return self.outcome in SCORED


@dataclass(frozen=True, slots=True)
class ArrivalItem:
    at: float
    role: str
    role_name: Text
    who: str
    seconds: float | None  # after the incident opened
    due_at: float | None
    on_time: bool
    late_by: float | None
    recorded_by: str


@dataclass(frozen=True, slots=True)
class ActionItem:
    action: str
    name: Text
    actuator: str
    actuator_name: Text
    command: str
    status: str  # pending | sent | done | withheld | failed | skipped
    requested_at: float
    sent_at: float | None = None
    done_at: float | None = None
    failed_at: float | None = None
    withheld_at: float | None = None
    detail: str = ""
    feedback_point: str = ""
    feedback_seconds: float | None = None
    prompt: str = ""


@dataclass(frozen=True, slots=True)
class PromptItem:
    prompt_id: str
    text: Text
    status: str
    raised_at: float
    due_at: float | None
    policy: str
    timed_out: bool
    answer: str
    answered_by: str
    answered_at: float | None
    confirmed_by: str
    first_at: float | None  # the first of two operators said yes


@dataclass(frozen=True, slots=True)
class CallItem:
    prompt_id: str
    contact: str
    name: Text
    phone: str
    facts: tuple[tuple[str, Text], ...]
    answer: str
    caller: str
    at: float | None


@dataclass(frozen=True, slots=True)
class RecordItem:
    record_id: str
    label: Text
    value: str
    by: str
    at: float | None  # None: required and missing


@dataclass(frozen=True, slots=True)
class ReviewItem:
    part: str
    guide: Text | None
    text: str


@dataclass(frozen=True, slots=True)
class FollowUpItem:
    task_id: str
    role: Text
    text: Text
    due_at: float
    status: str
    done_at: float | None
    done_by: str
    note: str


@dataclass(frozen=True, slots=True)
class DeviceItem:
    name: str
    kind: str
    location: str
    state: str
    first_at: float
    last_at: float


@dataclass(frozen=True, slots=True)
class DrillScore:
    met: int
    total: int
    items: tuple[ResponseItem, ...]
    excluded: int  # timed items not scored: not due yet, or the incident ended first

    @property
    def percent(self) -> float | None:
        return round(100.0 * self.met / self.total, 1) if self.total else None


@dataclass(frozen=True, slots=True)
class IncidentReport:
    header: Header
    timeline: tuple[TimelineEntry, ...]
    responses: tuple[ResponseItem, ...]
    arrivals: tuple[ArrivalItem, ...]
    actions: tuple[ActionItem, ...]
    prompts: tuple[PromptItem, ...]
    calls: tuple[CallItem, ...]
    records: tuple[RecordItem, ...]
    review: tuple[ReviewItem, ...]
    follow_ups: tuple[FollowUpItem, ...]
    devices: tuple[DeviceItem, ...]
    device_states: tuple[tuple[str, int], ...]
    drill_score: DrillScore | None
    generated_at: float
    event_count: int


# ----------------------------------------------------------------------------- names


def _text(zh: str, en: str) -> Text:
    return Text(zh, en)


def _same(value: str) -> Text:
    return Text(value, value)


_STATE = {"alarm": ("报警", "alarm"), "prealarm": ("预警", "pre-alarm"),
          "normal": ("恢复正常", "back to normal"), "trouble": ("故障", "trouble"),
          "offline": ("离线", "offline"), "test": ("测试", "test"),
          "warmup": ("预热中", "warming up")}
_LEVEL = {"site": ("项目", "site"), "building": ("楼栋", "building"), "floor": ("楼层", "floor"),
          "zone": ("防区", "zone"), "unit": ("单元", "unit"), "point": ("点位", "point")}
_POLICY = {"act": ("超时自动执行", "act on timeout"),
           "escalate": ("超时升级", "escalate on timeout"),
           "wait": ("超时继续等待", "keep waiting on timeout")}
_REASON = {"deadline_missed": ("超时", "deadline missed"),
           "action_failed": ("联动失败", "action failed"),
           "prompt_timed_out": ("提示超时", "prompt timed out"),
           "stage_entered": ("进入阶段", "stage entered")}
_FACTS = {"project": ("项目名称", "Project"), "address": ("地址", "Address"),
          "crossroads": ("最近路口", "Nearest crossroads"), "where": ("位置", "Where"),
          "what": ("事件", "What"), "callback": ("回拨电话", "Call-back number"),
          "caller": ("报警人", "Caller")}
SEVERITY = {"critical": ("危急", "critical"), "high": ("高", "high"), "medium": ("中", "medium"),
            "low": ("低", "low")}
STATUS = {"open": ("未确认", "open"), "acknowledged": ("处置中", "acknowledged"),
          "resolved": ("已处置", "resolved"), "closed": ("已关闭", "closed")}
VERDICT = {"real": ("真实警情", "real"), "minor": ("小事件（已控制）", "minor"),
           "false_alarm": ("误报", "false alarm")}
_ACTION_STATUS = {"pending": ("待发送", "pending"), "sent": ("已发送", "sent"),
                  "done": ("已完成（设备确认）", "done (confirmed)"),
                  "withheld": ("演练拦截", "withheld (drill)"), "failed": ("失败", "failed"),
                  "skipped": ("跳过", "skipped")}
_REVIEW_PARTS = (("handling", ("处理经过", "Handling")), ("analysis", ("原因分析", "Analysis")),
                 ("improvement", ("改善措施", "Improvement")))


def _pair(table: Mapping[str, tuple[str, str]], key: str) -> Text:
    zh, en = table.get(key, (key, key))
    return Text(zh, en)


@dataclass(slots=True)
class _Names:
    """Display texts by id, from the playbook and the site, then from the events."""

    stages: dict[str, Text] = field(default_factory=dict)
    steps: dict[str, Text] = field(default_factory=dict)
    prompts: dict[str, Text] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)
    branches: dict[str, Text] = field(default_factory=dict)
    options: dict[tuple[str, str], Text] = field(default_factory=dict)
    records: dict[str, Text] = field(default_factory=dict)
    actions: dict[str, Text] = field(default_factory=dict)
    actuators: dict[str, Text] = field(default_factory=dict)
    roles: dict[str, Text] = field(default_factory=dict)
    playbook: Text | None = None

    def role(self, role_id: str) -> Text:
        return self.roles.get(role_id) or _same(role_id)

    def step(self, step_id: str) -> Text:
        return _short(self.steps[step_id]) if step_id in self.steps else _same(step_id)

    def prompt(self, prompt_id: str) -> Text:
        return _short(self.prompts[prompt_id]) if prompt_id in self.prompts \
            else _same(prompt_id)

    def branch(self, branch_id: str) -> Text:
        return self.branches.get(branch_id) or _same(branch_id)

    def option(self, branch_id: str, option_id: str) -> Text:
        return self.options.get((branch_id, option_id)) or _same(option_id)

    def record(self, record_id: str) -> Text:
        return self.records.get(record_id) or _same(record_id)

    def stage(self, stage_id: str) -> Text:
        return self.stages.get(stage_id) or _same(stage_id)


def _s(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def _f(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _names(events: Sequence[Event], playbook: Playbook | None,
           site: SiteConfig | None) -> _Names:
    n = _Names()
    if site is not None:
        n.roles.update(site.roles)
        n.actuators.update({a.id: a.name for a in site.actuators.values()})
    if playbook is not None:
        n.playbook = playbook.name
        for stage in playbook.stages:
            n.stages[stage.id] = stage.name
            n.steps.update({s.id: s.text for s in stage.steps})
            n.actions.update({a.id: a.name for a in stage.actions})
            for p in stage.prompts:
                n.prompts[p.id] = p.text
                n.policies[p.id] = p.on_timeout or ""
                n.actions.update({a.id: a.name for a in p.actions})
            if stage.branch is not None:
                b = stage.branch
                n.branches[b.id] = b.question
                n.options.update({(b.id, o.id): o.label for o in b.options})
            n.records.update({r.id: r.label for r in stage.records})
        n.records.update({r.id: r.label for r in playbook.records})
    for e in events:
        d = e.data
        k = e.kind
        if k == "incident_opened" and n.playbook is None and d.get("name_zh"):
            n.playbook = Text(_s(d, "name_zh"), _s(d, "name_en"))
        elif k == "stage_entered" and d.get("stage_name_zh"):
            n.stages[_s(d, "stage")] = Text(_s(d, "stage_name_zh"), _s(d, "stage_name_en"))
        elif k == "step_started" and d.get("text_zh"):
            n.steps[_s(d, "step")] = Text(_s(d, "text_zh"), _s(d, "text_en"))
        elif k == "prompt_raised":
            if d.get("text_zh"):
                n.prompts[_s(d, "prompt")] = Text(_s(d, "text_zh"), _s(d, "text_en"))
            if d.get("on_timeout"):
                n.policies[_s(d, "prompt")] = _s(d, "on_timeout")
        elif k == "branch_raised":
            branch = _s(d, "branch")
            if d.get("question_zh"):
                n.branches[branch] = Text(_s(d, "question_zh"), _s(d, "question_en"))
            for option in d.get("options") or ():
                if isinstance(option, dict) and option.get("id"):
                    n.options[(branch, str(option["id"]))] = Text(_s(option, "zh"),
                                                                  _s(option, "en"))
        elif k == "branch_decided" and d.get("label_zh"):
            n.options[(_s(d, "branch"), _s(d, "option"))] = Text(_s(d, "label_zh"),
                                                                 _s(d, "label_en"))
        elif k == "record" and d.get("label_zh"):
            n.records[_s(d, "field")] = Text(_s(d, "label_zh"), _s(d, "label_en"))
        elif k in ("action_requested", "action_skipped") and d.get("name_zh"):
            n.actions[_s(d, "action")] = Text(_s(d, "name_zh"), _s(d, "name_en"))
            if d.get("actuator_zh"):
                n.actuators[_s(d, "actuator")] = Text(_s(d, "actuator_zh"),
                                                      _s(d, "actuator_en"))
        elif k in ("escalated", "notified") and d.get("to_zh") and _s(d, "to") not in n.roles:
            n.roles[_s(d, "to")] = Text(_s(d, "to_zh"), _s(d, "to_en"))
    return n


_STRONG = re.compile(r"[。；：！？;:!?]|\.(?:\s|$)")
_COMMA = re.compile(r"[，,]")


def _cut(text: str, limit: int) -> str:
    """The first sentence; when that is too long, up to its last comma that fits."""
    text = " ".join(text.split())
    match = _STRONG.search(text)
    if match is not None and match.start() > 0:
        text = text[:match.start()]
    if len(text) <= limit:
        return text
    commas = [m.start() for m in _COMMA.finditer(text, 0, limit + 1) if m.start() > 0]
    if commas:
        return text[:commas[-1]]
    return text[:limit - 1] + "…"


def _short(text: Text) -> Text:
    """The first clause of a procedure text: enough to name the step in a table."""
    return Text(_cut(text.zh, 32), _cut(text.en, 90))


# ----------------------------------------------------------------------------- formatting


def clock(at: float | None, *, date: bool = True) -> str:
    """Local wall-clock time, to the second."""
    if at is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S", time.localtime(at))


def utc_offset(at: float) -> str:
    raw = time.strftime("%z", time.localtime(at))  # +0800
    return f"UTC{raw[:3]}:{raw[3:]}" if len(raw) == 5 else "UTC"


def duration(seconds: float | None, lang: Lang) -> str:
    """42秒 · 3分05秒 · 1小时05分 / 42 s · 3 min 05 s · 1 h 05 min."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    zh = lang == "zh"
    if s < 10 and round(s, 1) != round(s):
        return sign + (f"{s:.1f}秒" if zh else f"{s:.1f} s")
    total = round(s)
    if total < 60:
        return sign + (f"{total}秒" if zh else f"{total} s")
    if total < 3600:
        m, sec = divmod(total, 60)
        return sign + (f"{m}分{sec:02d}秒" if zh else f"{m} min {sec:02d} s")
    if total < 86400:
        h, rest = divmod(total, 3600)
        return sign + (f"{h}小时{rest // 60:02d}分" if zh else f"{h} h {rest // 60:02d} min")
    d, rest = divmod(total, 86400)
    return sign + (f"{d}天{rest // 3600}小时" if zh else f"{d} d {rest // 3600} h")


def _dur(seconds: float | None) -> Text:
    return Text(duration(seconds, "zh"), duration(seconds, "en"))


def place(location: Location) -> Text:
    zh = "".join(filter(None, [
        f"{location.building}号楼" if location.building else "",
        f"{location.floor}层" if location.floor else "",
        f"{location.zone}防区" if location.zone else "",
        f"{location.unit}室" if location.unit else ""]))
    en = ", ".join(filter(None, [
        f"building {location.building}" if location.building else "",
        f"floor {location.floor}" if location.floor else "",
        f"zone {location.zone}" if location.zone else "",
        f"unit {location.unit}" if location.unit else ""]))
    return Text(zh or location.site, en or location.site)


def _device(point_id: str, device: str) -> str:
    return f"{point_id}/{device}" if device else point_id


def _join(parts: Sequence[Text], zh_sep: str = "，", en_sep: str = ", ") -> Text:
    parts = [p for p in parts if p.zh or p.en]
    return Text(zh_sep.join(p.zh for p in parts), en_sep.join(p.en for p in parts))


def _joined(texts: list[Text]) -> list[Text]:
    """Texts said one after another: 、 between them in Chinese, a comma in English."""
    out: list[Text] = []
    for i, text in enumerate(texts):
        if i:
            out.append(_text("、", ", "))
        out.append(text)
    return out


def _cat(*parts: Text | str) -> Text:
    """Concatenate texts; a plain string goes into both languages as is."""
    return Text("".join(p if isinstance(p, str) else p.zh for p in parts),
                "".join(p if isinstance(p, str) else p.en for p in parts))


# ----------------------------------------------------------------------------- timeline


def _reason(reason: str, n: _Names) -> Text:
    if reason in ("opened", ""):
        return _text("事件开启", "incident opened")
    if reason == "opened by hand":
        return _text("手动开启", "opened by hand")
    if reason == "confirmed by operator":
        return _text("操作员确认", "confirmed by an operator")
    if m := re.fullmatch(r"(\d+) independent devices in one (\w+)", reason):
        level = _pair(_LEVEL, m[2])
        return _text(f"同一{level.zh}内{m[1]}个独立设备报警",
                     f"{m[1]} independent devices in one {level.en}")
    if m := re.fullmatch(r"(\S+) reached (\w+)", reason):
        state = _pair(_STATE, m[2])
        return _text(f"{m[1]} 达到{state.zh}", f"{m[1]} reached {state.en}")
    if m := re.fullmatch(r"(\w+): (\w+)", reason):
        return _cat(n.branch(m[1]), " → ", n.option(m[1], m[2]))
    return _same(reason)


def _on_time(on_time: Any, late_by: float | None = None) -> Text:
    if on_time is None:
        return _same("")
    if on_time:
        return _text("（按时）", " (on time)")
    if late_by is not None:
        late = _dur(late_by)
        return _text(f"（超时 {late.zh}）", f" (late by {late.en})")
    return _text("（超时）", " (late)")


def _note(note: str) -> Text:
    return _text(f"：{note}", f": {note}") if note else _same("")


def _step_note(note: str) -> Text:
    """A step's note; the one ``arrive`` writes (``on scene: WHO``) in both languages."""
    if note.startswith("on scene: "):
        who = note.removeprefix("on scene: ")
        return _text(f"到场：{who}", note)
    return _same(note)


def describe(e: Event, n: _Names) -> Text:
    """One event as a line a person reads."""
    d = e.data
    k = e.kind
    device = _device(e.point_id, _s(d, "device"))
    if k == "incident_opened":
        name = n.playbook or _same("")
        where = _s(d, "location")
        if d.get("manual"):
            text = _text(f"手动开启事件：{name.zh}，位置 {where}",
                         f"opened by hand: {name.en} at {where}")
            if d.get("reporter"):
                text = _cat(text, _text(f"，报告人 {_s(d, 'reporter')}",
                                        f", reported by {_s(d, 'reporter')}"))
            return _cat(text, _note(_s(d, "note")))
        state = _pair(_STATE, _s(d, "state"))
        text = _text(f"事件开启：{name.zh}，位置 {where}，由 {device} {state.zh}触发",
                     f"opened: {name.en} at {where}, by {device} ({state.en})")
        if _f(d, "held_for") is not None:
            held = _dur(_f(d, "held_for"))
            text = _cat(text, _text(f"（持续 {held.zh} 后开启）", f" after holding {held.en}"))
        if d.get("replayed"):
            text = _cat(text, _text("（启动时发现的状态）", " (state found at start-up)"))
        return text
    if k == "signal":
        who = _cat(device, _text(f" {_s(d, 'condition_zh')}", f" {_s(d, 'condition_en')}")
                   if d.get("condition") else "")
        state = _pair(_STATE, _s(d, "state"))
        new = _text("（新设备）", " (new device)") if d.get("new_device") else _same("")
        if d.get("announced"):
            place = _s(d, "place")
            new_place = _text("，新位置", ", a new place") if d.get("new_place") else _same("")
            return _cat(_text(f"新报警：{who.zh} {state.zh}，位置 {place}",
                              f"new alarm: {who.en} {state.en} at {place}"), new_place, new)
        return _cat(_text(f"设备 {who.zh} {state.zh}", f"device {who.en} {state.en}"), new)
    if k == "chattering":
        times = _s(d, "activations")
        return _text(f"频繁报警：{device} 1 分钟内报警 {times} 次（已标记，不再逐次提示）",
                     f"chattering: {device} alarmed {times} times in a minute (flagged, not "
                     "announced each time)")
    if k == "call_facts_updated":
        found: Any = d.get("call")
        facts: dict[str, Any] = found if isinstance(found, dict) else {}
        return _text(f"通话要点更新，报警位置：{facts.get('where_zh', '')}",
                     f"call facts updated, where: {facts.get('where_en', '')}")
    if k == "stage_entered":
        text = _cat(_text("进入阶段「", "stage \""), n.stage(_s(d, "stage")),
                    _text("」：", "\": "), _reason(_s(d, "reason"), n))
        devices = d.get("devices")
        if isinstance(devices, list) and devices:
            text = _cat(text, f" [{', '.join(str(x) for x in devices)}]")
        return text
    if k == "step_started":
        return _cat(_text("步骤开始：", "step started: "), n.step(_s(d, "step")),
                    _role_and_due(d, n))
    if k == "step_done":
        seconds = _f(d, "seconds")
        return _cat(_text("步骤完成：", "step done: "), n.step(_s(d, "step")),
                    _text(f"，用时 {duration(seconds, 'zh')}", f" in {duration(seconds, 'en')}"),
                    _on_time(d.get("on_time")),
                    _cat(_text("：", ": "), _step_note(_s(d, "note"))) if d.get("note")
                    else _same(""))
    if k == "deadline_missed":
        late = _text(f"（网关延迟 {duration(_f(d, 'late_by'), 'zh')} 才判定）",
                     f" (noticed {duration(_f(d, 'late_by'), 'en')} late)") \
            if d.get("late") else _same("")
        role = n.role(_s(d, "role"))
        if d.get("branch"):
            return _cat(_text("超时未决定：", "deadline missed, undecided: "),
                        n.branch(_s(d, "branch")), _text(f"（{role.zh}）", f" ({role.en})"), late)
        return _cat(_text("超时未完成：", "deadline missed: "), n.step(_s(d, "step")),
                    _text(f"（{role.zh}）", f" ({role.en})"), late)
    if k in ("escalated", "notified"):
        to = n.role(_s(d, "to"))
        what = _what(d, n)
        held = _text("（演练：未实际发送）", " (drill: not sent)") if d.get("withheld") \
            else _same("")
        if k == "notified":
            return _cat(_text(f"通知 {to.zh}", f"notified {to.en}"), what, held)
        reason = _pair(_REASON, _s(d, "reason"))
        return _cat(_text(f"升级至 {to.zh}：{reason.zh}", f"escalated to {to.en}: {reason.en}"),
                    what, held)
    if k == "action_requested":
        actuator = n.actuators.get(_s(d, "actuator")) or _same(_s(d, "actuator"))
        held = _text("（演练：写入被拦截）", " (drill: write withheld)") if d.get("withheld") \
            else _same("")
        return _cat(_text("联动请求：", "action requested: "),
                    n.actions.get(_s(d, "action")) or _same(_s(d, "action")), " → ", actuator,
                    f" [{_s(d, 'command')}]", held)
    if k == "action_skipped":
        return _cat(_text("联动跳过：", "action skipped: "),
                    n.actions.get(_s(d, "action")) or _same(_s(d, "action")),
                    _note(_s(d, "detail")))
    if k.startswith("action_"):
        status = _pair(_ACTION_STATUS, k.removeprefix("action_"))
        actuator = n.actuators.get(_s(d, "actuator")) or _same(_s(d, "actuator"))
        seconds = _f(d, "seconds")
        took = _text(f"，请求后 {duration(seconds, 'zh')}",
                     f" {duration(seconds, 'en')} after the request") \
            if seconds is not None else _same("")
        return _cat(_text("联动", "action "), status, _text("：", ": "),
                    n.actions.get(_s(d, "action")) or _same(_s(d, "action")), " · ", actuator,
                    took, _note(_s(d, "detail")))
    if k == "prompt_raised":
        text = _cat(_text("提示：", "prompt: "), n.prompt(_s(d, "prompt")))
        due = _f(d, "due_at")
        if due is not None:
            policy = _pair(_POLICY, _s(d, "on_timeout"))
            text = _cat(text, _text(f"（{clock(due, date=False)} 前回答，{policy.zh}）",
                                    f" (answer by {clock(due, date=False)}, {policy.en})"))
        call = d.get("call")
        if isinstance(call, dict):
            text = _cat(text, _text(f"；需拨打 {_s(call, 'name_zh')} {_s(call, 'phone')}",
                                    f"; call {_s(call, 'name_en')} {_s(call, 'phone')}"))
        return text
    if k == "prompt_confirmation_needed":
        return _cat(_text("提示「", "prompt \""), n.prompt(_s(d, "prompt")),
                    _text(f"」{e.actor} 回答“是”，需第二人确认",
                          f"\": yes from {e.actor}, needs a second operator"),
                    _note(_s(d, "note")))
    if k == "prompt_answered":
        answer = _text("是", "yes") if _s(d, "answer") == "yes" else _text("否", "no")
        text = _cat(_text("提示「", "prompt \""), n.prompt(_s(d, "prompt")),
                    _text("」回答：", "\" answered "), answer)
        if d.get("second"):
            text = _cat(text, _text(f"（第二确认人，第一人 {_s(d, 'first')}）",
                                    f" (second operator; first: {_s(d, 'first')})"))
        if d.get("on_time") is False:
            text = _cat(text, _text("（超过时限）", " (after its timeout)"))
        return _cat(text, _note(_s(d, "note")))
    if k == "prompt_timed_out":
        policy_id = _s(d, "policy")
        applied = {"act": _text("已自动执行", "acted automatically"),
                   "escalate": _text("已升级", "escalated"),
                   "wait": _text("继续等待回答", "still waiting for an answer")}.get(
                       policy_id, _same(policy_id))
        return _cat(_text("提示超时未答：", "prompt timed out: "), n.prompt(_s(d, "prompt")),
                    _text("，", ", "), applied)
    if k == "branch_raised":
        return _cat(_text("待决定：", "to decide: "), n.branch(_s(d, "branch")),
                    _role_and_due(d, n))
    if k == "branch_decided":
        by = _same("") if e.actor else _cat(_text("（设备自动：", " (by the devices: "),
                                             _reason(_s(d, "reason"), n), _text("）", ")"))
        late = _text("（超过期限）", " (after its deadline)") if d.get("on_time") is False \
            else _same("")
        return _cat(_text("决定：", "decided: "), n.branch(_s(d, "branch")), " → ",
                    n.option(_s(d, "branch"), _s(d, "option")), by, late,
                    _note(_s(d, "note")))
    if k == "acknowledged":
        seconds = _f(d, "seconds_to_ack")
        if d.get("again"):
            return _cat(_text(f"再次确认接警（新报警后 {duration(seconds, 'zh')}）",
                              f"acknowledged again, {duration(seconds, 'en')} after the new "
                              "alarm"), _note(_s(d, "note")))
        return _cat(_text(f"确认接警，开启后 {duration(seconds, 'zh')}",
                          f"acknowledged {duration(seconds, 'en')} after opening"),
                    _note(_s(d, "note")))
    if k == "arrival":
        role = n.role(_s(d, "role"))
        seconds = _f(d, "seconds")
        due = _f(d, "due_at")
        late_by = e.at - due if due is not None and not d.get("on_time") else None
        return _cat(_text(f"到场：{role.zh} {_s(d, 'who')}，开启后 {duration(seconds, 'zh')}",
                          f"on scene: {role.en} {_s(d, 'who')}, "
                          f"{duration(seconds, 'en')} after opening"),
                    _on_time(d.get("on_time") if due is not None else None, late_by),
                    _note(_s(d, "note")))
    if k == "record":
        label = n.record(_s(d, "field"))
        previous = _s(d, "previous")
        was = _text(f"（原为 {previous}）", f" (was {previous})") if previous else _same("")
        return _cat(_text("记录 ", "record "), label, _text("：", ": "), _s(d, "value"), was)
    if k == "note":
        return _cat(_text("备注：", "note: "), _s(d, "text"))
    if k == "commander_assigned":
        return _cat(_text("指定现场指挥：", "commander: "), _s(d, "commander"))
    if k == "resolved":
        return _cat(_text("处置完毕", "resolved"), _note(_s(d, "note")))
    if k == "closed":
        verdict = _s(d, "verdict")
        what = _cat(_text("，结论：", ", verdict: "), _pair(VERDICT, verdict)) if verdict \
            else _same("")
        return _cat(_text("关闭事件（已填写复盘）", "closed (review written)"), what)
    if k == "reopened":
        why = _s(d, "reason")
        if why.startswith("new alarm from "):  # the engine's, on a new alarm
            point = why.removeprefix("new alarm from ")
            return _text(f"重新打开：{point} 新报警", f"reopened: new alarm from {point}")
        return _cat(_text("重新打开", "reopened"), _note(why))
    if k == "follow_up_done":
        return _cat(_text(f"回访完成：{_s(d, 'task')}", f"follow-up done: {_s(d, 'task')}"),
                    _on_time(d.get("on_time")), _note(_s(d, "note")))
    return _same(k)


def _role_and_due(d: Mapping[str, Any], n: _Names) -> Text:
    """" (engineering, due 14:05)" for a step or branch that was raised."""
    role = n.role(_s(d, "role"))
    due = _f(d, "due_at")
    deadline = _text(f"，期限 {clock(due, date=False)}", f", due {clock(due, date=False)}") \
        if due is not None else _same("")
    return _cat(_text(f"（{role.zh}", f" ({role.en}"), deadline, _text("）", ")"))


def _what(d: Mapping[str, Any], n: _Names) -> Text:
    """The step, branch, prompt, action or stage an escalation or notice is about."""
    if d.get("step"):
        return _cat(_text("（步骤 ", " (step "), n.step(_s(d, "step")), _text("）", ")"))
    if d.get("branch"):
        return _cat(_text("（", " ("), n.branch(_s(d, "branch")), _text("）", ")"))
    if d.get("prompt"):
        return _cat(_text("（提示 ", " (prompt "), n.prompt(_s(d, "prompt")), _text("）", ")"))
    if d.get("action"):
        return _same(f" ({_s(d, 'action')})")
    if d.get("stage"):
        return _cat(_text("（", " ("), n.stage(_s(d, "stage")), _text("）", ")"))
    return _same("")


_ALERT = {"deadline_missed", "escalated", "action_failed", "prompt_timed_out", "reopened"}


def _storm(run: Sequence[Event]) -> TimelineEntry:
    states = Counter(_s(e.data, "state") for e in run)
    new = sum(1 for e in run if e.data.get("new_device"))
    names: list[str] = []
    for e in run:
        name = _device(e.point_id, _s(e.data, "device"))
        if name not in names:
            names.append(name)
    sample = ", ".join(names[:5])
    more = len(names) - 5
    counts = _join([Text(f"{_pair(_STATE, s).zh} {c}", f"{_pair(_STATE, s).en} {c}")
                    for s, c in states.most_common()], "，", ", ")
    first, last = clock(run[0].at, date=False), clock(run[-1].at, date=False)
    text = Text(
        f"设备信号 {len(run)} 条（{first}–{last}，{len(names)} 个设备，新设备 {new} 个）："
        f"{counts.zh}；{sample}" + (f" 等（另 {more} 个）" if more > 0 else ""),
        f"{len(run)} device signals ({first}–{last}, {len(names)} devices, {new} new): "
        f"{counts.en}; {sample}" + (f" and {more} more" if more > 0 else ""))
    return TimelineEntry(run[0].at, "", "signals", text)


def _timeline(events: Sequence[Event], n: _Names) -> list[TimelineEntry]:
    out: list[TimelineEntry] = []
    i = 0
    while i < len(events):
        if events[i].kind == "signal":
            j = i
            while j < len(events) and events[j].kind == "signal":
                j += 1
            if j - i >= STORM_RUN:
                out.append(_storm(events[i:j]))
            else:
                out.extend(TimelineEntry(e.at, e.actor, e.kind, describe(e, n))
                           for e in events[i:j])
            i = j
            continue
        e = events[i]
        out.append(TimelineEntry(e.at, e.actor, e.kind, describe(e, n),
                                 alert=e.kind in _ALERT))
        i += 1
    return out


# ----------------------------------------------------------------------------- response times


def _end_of_deadlines(incident: Incident, now: float) -> tuple[float, bool]:
    """Until when the incident's deadlines ran, and whether they still run."""
    if incident.live:
        return now, True
    ends = [t for t in (incident.resolved_at, incident.closed_at) if t is not None]
    return (min(ends) if ends else incident.updated_at), False


def _outcome(due: float | None, done: float | None, overdue: bool, end: float,
             live: bool) -> tuple[str, float | None]:
    if due is None:
        return UNTIMED, None
    if done is not None:
        return (ON_TIME, None) if done <= due else (LATE, done - due)
    if overdue or end > due:
        return MISSED, None
    return (PENDING if live else NOT_DUE), None


def response_items(incident: Incident, events: Sequence[Event] = (), *,
                   names: _Names | None = None, now: float | None = None) -> list[ResponseItem]:
    """Acknowledging, every step, branch and prompt against its deadline.

    Works from the snapshot alone (the events only add texts and the first of two
    confirmers), so the KPIs can score drills without reading timelines.
    """
    n = names or _Names()
    reference = now if now is not None else max(
        [incident.updated_at, *(e.at for e in events[-1:])])
    end, live = _end_of_deadlines(incident, reference)
    items: list[ResponseItem] = []
    center = n.roles.get("monitoring_center") or _text("监控中心", "Monitoring center")
    ack_due = incident.opened_at + ACK_TARGET
    outcome, late_by = _outcome(ack_due, incident.acknowledged_at, False, end, live)
    items.append(ResponseItem(
        "ack", "ack", _text("确认接警", "Acknowledge"), center,
        incident.opened_at, ack_due, incident.acknowledged_at, incident.acknowledged_by,
        outcome, late_by, _text(f"目标 {duration(ACK_TARGET, 'zh')}（本报告设定，预案未规定）",
                                f"target {duration(ACK_TARGET, 'en')} (set by this report; "
                                "the playbook sets none)")))
    for step in incident.steps:
        outcome, late_by = _outcome(step.due_at, step.done_at,
                                    step.status is StepStatus.OVERDUE, end, live)
        items.append(ResponseItem(
            "step", step.id, n.step(step.id), n.role(step.role), step.started_at, step.due_at,
            step.done_at, step.done_by, outcome, late_by,
            _step_note(step.note) if step.note else None))
    for branch in incident.branches:
        decided = branch.decided_at if branch.status is BranchStatus.DECIDED else None
        outcome, late_by = _outcome(branch.due_at, decided, branch.overdue, end, live)
        detail = None
        if branch.status is BranchStatus.DECIDED:
            detail = _cat(_text("选择：", "picked: "), n.option(branch.id, branch.option))
            if not branch.decided_by:
                detail = _cat(detail, _text("（设备自动）", " (by the devices)"))
        items.append(ResponseItem(
            "branch", branch.id, n.branch(branch.id), n.role(branch.role), branch.raised_at,
            branch.due_at, decided, branch.decided_by or ("" if decided is None else "-"),
            outcome, late_by, detail))
    for prompt in incident.prompts:
        answered = (prompt.confirmed_at or prompt.answered_at) \
            if prompt.status is PromptStatus.ANSWERED else None
        outcome, late_by = _outcome(prompt.due_at, answered,
                                    prompt.timed_out and answered is None, end, live)
        policy = n.policies.get(prompt.id, "")
        parts: list[Text] = []
        if prompt.status is PromptStatus.ANSWERED:
            parts.append(_text(f"回答：{'是' if prompt.answer == 'yes' else '否'}",
                               f"answer: {prompt.answer}"))
        if prompt.status is PromptStatus.AWAITING_SECOND:
            parts.append(_text(f"{prompt.answered_by} 已答“是”，待第二人确认",
                               f"yes from {prompt.answered_by}, awaiting a second operator"))
        if prompt.confirmed_by:
            parts.append(_text(f"第二确认人 {prompt.confirmed_by}",
                               f"confirmed by {prompt.confirmed_by}"))
        if policy:
            parts.append(_pair(_POLICY, policy))
        if prompt.status is PromptStatus.ACTED_ON_TIMEOUT:
            parts.append(_text("无人回答，已按策略自动执行", "nobody answered: acted by policy"))
        elif prompt.timed_out:
            parts.append(_text("超时策略已触发", "timeout policy applied"))
        by = prompt.answered_by if answered is not None else ""
        if prompt.confirmed_by:
            by = f"{prompt.answered_by} + {prompt.confirmed_by}"
        items.append(ResponseItem(
            "prompt", prompt.id, n.prompt(prompt.id), center,
            prompt.raised_at, prompt.due_at, answered, by, outcome, late_by,
            _join(parts, "；", "; ") if parts else None))
    return items


def score(items: Sequence[ResponseItem]) -> DrillScore:
    scored = tuple(i for i in items if i.scored)
    excluded = sum(1 for i in items if i.outcome in (PENDING, NOT_DUE))
    return DrillScore(sum(1 for i in scored if i.outcome == ON_TIME), len(scored), scored,
                      excluded)


def drill_score(incident: Incident, *, now: float | None = None) -> DrillScore:
    """Every timed item met or missed, from the snapshot alone (ack against ``ACK_TARGET``)."""
    return score(response_items(incident, now=now))


# ----------------------------------------------------------------------------- build


def build_report(incident: Incident, events: Sequence[Event], playbook: Playbook | None,
                 site: SiteConfig | None, *, now: float | None = None) -> IncidentReport:
    """The report of one incident; ``playbook``/``site`` may be None (ids stand in)."""
    events = list(events)
    n = _names(events, playbook, site)
    reference = now if now is not None else max(
        [incident.updated_at, *(e.at for e in events[-1:])])
    opened = next((e for e in events if e.kind == "incident_opened"), None)
    opened_by_device = ""
    if opened is not None and opened.point_id:
        opened_by_device = _device(opened.point_id, _s(opened.data, "device"))
    elif incident.devices and not incident.opened_by:
        first = incident.devices[0]
        opened_by_device = _device(first.point_id, first.device)
    header = Header(
        incident_id=incident.id, playbook_id=incident.type,
        playbook_name=n.playbook or _same(incident.type),
        location=", ".join(p.label() for p in incident.places()),
        place=_cat(*_joined([place(p) for p in incident.places()])),
        severity=incident.severity.value,
        status=incident.status.value,
        verdict=incident.verdict.value if incident.verdict else None,
        stage=n.stage(incident.stage), commander=incident.commander,
        commander_role=n.role(incident.commander_role) if incident.commander_role
        else _same(""),
        opened_at=incident.opened_at, opened_by=incident.opened_by,
        opened_by_device=opened_by_device, acknowledged_at=incident.acknowledged_at,
        acknowledged_by=incident.acknowledged_by, resolved_at=incident.resolved_at,
        resolved_by=incident.resolved_by, closed_at=incident.closed_at,
        closed_by=incident.closed_by, drill=incident.drill, reopened=incident.reopened,
        device_count=len(incident.devices), signal_count=incident.signal_count,
        playbook_loaded=playbook is not None)
    responses = response_items(incident, events, names=n, now=reference)
    return IncidentReport(
        header=header, timeline=tuple(_timeline(events, n)), responses=tuple(responses),
        arrivals=tuple(_arrivals(events, n)), actions=tuple(_actions(incident, events, n)),
        prompts=tuple(_prompts(incident, events, n)), calls=tuple(_calls(incident, events)),
        records=tuple(_records(incident, playbook, n)),
        review=tuple(_review(incident, events, playbook)),
        follow_ups=tuple(FollowUpItem(f.id, n.role(f.role), Text(f.text_zh, f.text_en),
                                      f.due_at, f.status, f.done_at, f.done_by, f.note)
                         for f in incident.follow_ups),
        devices=tuple(DeviceItem(_device(d.point_id, d.device), d.kind, d.location.label(),
                                 d.state, d.first_at, d.last_at)
                      for d in incident.devices[:DEVICE_LIST_MAX]),
        device_states=tuple(Counter(d.state for d in incident.devices).most_common()),
        drill_score=score(responses) if incident.drill else None,
        generated_at=reference, event_count=len(events))


def _arrivals(events: Sequence[Event], n: _Names) -> list[ArrivalItem]:
    out = []
    for e in events:
        if e.kind != "arrival":
            continue
        d = e.data
        due = _f(d, "due_at")
        on_time = bool(d.get("on_time", True))
        out.append(ArrivalItem(e.at, _s(d, "role"), n.role(_s(d, "role")), _s(d, "who"),
                               _f(d, "seconds"), due, on_time,
                               None if on_time or due is None else e.at - due, e.actor))
    return out


def _actions(incident: Incident, events: Sequence[Event], n: _Names) -> list[ActionItem]:
    seen: dict[tuple[str, str], dict[str, Event]] = {}
    for e in events:
        if e.kind.startswith("action_") and e.kind not in ("action_requested",
                                                           "action_skipped"):
            key = (_s(e.data, "action"), _s(e.data, "actuator"))
            seen.setdefault(key, {}).setdefault(e.kind.removeprefix("action_"), e)
    out: list[ActionItem] = []
    for a in incident.actions:
        times = seen.get((a.action, a.actuator_id), {})

        def at(status: str, times: dict[str, Event] = times) -> float | None:
            event = times.get(status)
            return event.at if event is not None else None

        done = times.get("done")
        out.append(ActionItem(
            a.action, n.actions.get(a.action) or _same(a.action), a.actuator_id,
            n.actuators.get(a.actuator_id) or _same(a.actuator_id), a.command, a.status.value,
            a.requested_at, at("sent"), at("done"), at("failed"), at("withheld"), a.detail,
            a.feedback_point, _f(done.data, "seconds") if done is not None else None,
            a.prompt))
    for e in events:
        if e.kind == "action_skipped":
            action = _s(e.data, "action")
            out.append(ActionItem(action, n.actions.get(action) or _same(action), "",
                                  _same(""), "", "skipped", e.at, detail=_s(e.data, "detail")))
    return out


def _prompts(incident: Incident, events: Sequence[Event], n: _Names) -> list[PromptItem]:
    first = {_s(e.data, "prompt"): e.at for e in events
             if e.kind == "prompt_confirmation_needed"}
    return [PromptItem(p.id, n.prompts.get(p.id) or _same(p.id), p.status.value, p.raised_at,
                       p.due_at, n.policies.get(p.id, ""), p.timed_out, p.answer,
                       p.answered_by, p.confirmed_at or p.answered_at, p.confirmed_by,
                       first.get(p.id, p.answered_at if p.confirmed_by else None))
            for p in incident.prompts]


def _calls(incident: Incident, events: Sequence[Event]) -> list[CallItem]:
    out = []
    for e in events:
        call = e.data.get("call")
        if e.kind != "prompt_raised" or not isinstance(call, dict):
            continue
        prompt_id = _s(e.data, "prompt")
        prompt = incident.prompt(prompt_id)
        answered = prompt is not None and prompt.status is PromptStatus.ANSWERED
        caller = prompt.answered_by if prompt is not None and answered else ""
        facts = []
        for fact in filter(None, _s(call, "facts").split(",")):
            value = Text(_s(call, f"{fact}_zh"), _s(call, f"{fact}_en"))
            if fact == "caller" and not (value.zh or value.en) and caller:
                value = _same(caller)  # the operator who said the call was made
            facts.append((fact, value))
        out.append(CallItem(prompt_id, _s(call, "contact"),
                            Text(_s(call, "name_zh"), _s(call, "name_en")), _s(call, "phone"),
                            tuple(facts), prompt.answer if prompt is not None and answered
                            else "", caller,
                            (prompt.confirmed_at or prompt.answered_at)
                            if prompt is not None and answered else None))
    return out


def _records(incident: Incident, playbook: Playbook | None, n: _Names) -> list[RecordItem]:
    out = [RecordItem(r.id, n.record(r.id), r.value, r.by, r.at) for r in incident.records]
    if playbook is not None and incident.status is not IncidentStatus.CLOSED:
        out += [RecordItem(r.id, r.label, "", "", None)
                for r in required_records(playbook, incident) if incident.record(r.id) is None]
    return out


def _review(incident: Incident, events: Sequence[Event],
            playbook: Playbook | None) -> list[ReviewItem]:
    review = dict(incident.review)
    if not any(review.values()):
        closed = [e for e in events if e.kind == "closed"]
        if closed:
            review = {part: _s(closed[-1].data, part) for part, _ in _REVIEW_PARTS}
    guides = playbook.review if playbook is not None else None
    return [ReviewItem(part, getattr(guides, part) if guides is not None else None,
                       review.get(part, "")) for part, _ in _REVIEW_PARTS]


# ----------------------------------------------------------------------------- rendering

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
    "not_due": ("未完成（事件在期限前结束）", "not done (ended before due)"),
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


# A cell: plain text (escaped by the renderer) with an optional CSS class.
Cell = str | tuple[str, str]


@dataclass(slots=True)
class Section:
    title: str
    headers: list[str] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kv: bool = False  # a two-column field/value table without a header row
    empty: str = ""


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
    verdict = _pick(_pair(VERDICT, h.verdict), lang) if h.verdict else label("undecided", lang)
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
        [label("severity", lang), _pick(_pair(SEVERITY, h.severity), lang)],
        [label("status", lang), _pick(_pair(STATUS, h.status), lang)],
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
    out = [header]

    out.append(Section(label("timeline", lang),
                       [label("time", lang), label("actor", lang), label("event", lang)],
                       [[_t(e.at, day), e.actor, (_pick(e.text, lang), "alert" if e.alert
                                                  else "")] for e in report.timeline],
                       empty=label("none", lang)))

    rows: list[list[Cell]] = []
    for item in report.responses:
        rows.append([label(item.kind, lang), _pick(item.label, lang), _pick(item.role, lang),
                     _t(item.start_at, day), _t(item.due_at, day), _t(item.done_at, day),
                     item.done_by, duration(item.seconds, lang), _result(item, lang),
                     _pick(item.detail, lang)])
    out.append(Section(label("responses", lang), [
        label("kind", lang), label("item", lang), label("role", lang), label("start", lang),
        label("due", lang), label("done", lang), label("done_by", lang), label("took", lang),
        label("result", lang), label("detail", lang)], rows, [label("ack_note", lang)]))

    out.append(Section(label("arrivals", lang), [
        label("role", lang), label("who", lang), label("arrived", lang),
        label("after_open", lang), label("due", lang), label("result", lang),
        label("recorded_by", lang)], [
        [_pick(a.role_name, lang), a.who, _t(a.at, day), duration(a.seconds, lang),
         _t(a.due_at, day),
         (label("untimed", lang), "") if a.due_at is None else
         (label("on_time", lang), "ok") if a.on_time else
         (f"{label('late', lang)} {duration(a.late_by, lang)}", "late"), a.recorded_by]
        for a in report.arrivals], empty=label("none", lang)))

    out.append(Section(label("actions", lang), [
        label("item", lang), label("actuator", lang), label("command", lang),
        label("requested", lang), label("status", lang), label("sent", lang),
        label("feedback", lang), label("detail", lang)], [
        [_pick(a.name, lang), f"{_pick(a.actuator_name, lang)} ({a.actuator})"
         if a.actuator else "-", a.command, _t(a.requested_at, day),
         (_pick(_pair(_ACTION_STATUS, a.status), lang),
          "late" if a.status in ("failed", "skipped") else "ok" if a.status == "done" else ""),
         _t(a.sent_at or a.withheld_at, day),
         (f"{_t(a.done_at, day)} (+{duration(a.feedback_seconds, lang)})" if a.done_at
          else f"{label('failed', lang)} {_t(a.failed_at, day)}" if a.failed_at
          else "-") + (f" ← {a.feedback_point}" if a.feedback_point else ""),
         a.detail] for a in report.actions], empty=label("none", lang)))

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
            _pick(_pair(_POLICY, p.policy), lang) if p.policy else "-"])
    out.append(Section(label("prompts", lang), [
        label("text", lang), label("raised", lang), label("due", lang), label("answer", lang),
        label("answered_by", lang), label("confirmer", lang), label("answered_at", lang),
        label("policy", lang)], prompt_rows, empty=label("none", lang)))

    call_rows: list[list[Cell]] = []
    for c in report.calls:
        facts = "; ".join(f"{_pick(_pair(_FACTS, fact), lang)}: {_pick(value, lang) or '-'}"
                          for fact, value in c.facts)
        done = (label("called", lang) if c.answer == "yes" else
                label("not_called", lang) if c.answer == "no" else label("unconfirmed", lang))
        call_rows.append([f"{_pick(c.name, lang)}", c.phone, facts,
                          (done, "ok" if c.answer == "yes" else "late"),
                          c.caller or "-", _t(c.at, day)])
    out.append(Section(label("calls", lang), [
        label("contact", lang), label("phone", lang), label("facts", lang),
        label("result", lang), label("answered_by", lang), label("time", lang)], call_rows,
        empty=label("none", lang)))

    out.append(Section(label("records", lang), [
        label("label", lang), label("value", lang), label("by", lang), label("time", lang)], [
        [_pick(r.label, lang), r.value if r.at is not None else (label("missing", lang), "late"),
         r.by, _t(r.at, day)] for r in report.records], empty=label("none", lang)))

    part_names = dict(_REVIEW_PARTS)
    out.append(Section(label("review", lang), [
        label("part", lang), label("guide", lang), label("value", lang)], [
        [_pick(_pair(part_names, r.part), lang), _pick(r.guide, lang),
         r.text or (label("not_written", lang), "late")] for r in report.review]))

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
    out.append(Section(label("follow_ups", lang), [
        label("task", lang), label("role", lang), label("due", lang), label("status", lang),
        label("done_by", lang), label("note", lang)], follow_rows, empty=label("none", lang)))

    if report.drill_score is not None:
        s = report.drill_score
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
        out.append(section)

    devices = Section(label("devices", lang), [
        label("device", lang), label("kind", lang), label("location", lang),
        label("state", lang), label("first", lang), label("last", lang)], [
        [d.name, d.kind, d.location, _pick(_pair(_STATE, d.state), lang), _t(d.first_at, day),
         _t(d.last_at, day)] for d in report.devices], empty=label("none", lang))
    if report.device_states:
        devices.notes.append(", ".join(f"{_pick(_pair(_STATE, st), lang)}: {count}"
                                       for st, count in report.device_states))
    if h.device_count > len(report.devices):
        devices.notes.append(label("devices_more", lang).format(
            n=h.device_count - len(report.devices)))
    out.append(devices)
    return title, out


def check_lang(lang: str) -> Lang:
    if lang not in LANGS:
        raise ValueError(f"language {lang!r}: use zh or en")
    return "zh" if lang == "zh" else "en"


_MD_SPECIAL = re.compile(r"([\\`\[\]<>|])")


def md_escape(text: str) -> str:
    """Safe inside a Markdown table cell: no pipes or newlines break the row, and no raw HTML,
    link or emphasis gets through."""
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return "<br>".join(line.strip() for line in text.replace("\r\n", "\n").replace(
        "\r", "\n").split("\n"))


def _md_cell(cell: Cell) -> str:
    text = cell if isinstance(cell, str) else cell[0]
    return md_escape(text) if text else " "


def markdown_page(title: str, parts: Sequence[Section], lang: Lang, *, badge: str = "",
                  footer: str = "") -> str:
    """Sections as Markdown: every cell escaped (``md_escape``)."""
    out = [f"# {md_escape(title)}" + (f" **〔{md_escape(badge)}〕**" if badge else ""), ""]
    for section in parts:
        out.append(f"## {md_escape(section.title)}")
        out.append("")
        if section.kv:
            out.append(f"| {label('field', lang)} | {label('value', lang)} |")
            out.append("|---|---|")
            out.extend(f"| {_md_cell(r[0])} | {_md_cell(r[1])} |" for r in section.rows)
            out.append("")
        elif section.rows:
            out.append("| " + " | ".join(md_escape(x) for x in section.headers) + " |")
            out.append("|" + "---|" * len(section.headers))
            out.extend("| " + " | ".join(_md_cell(c) for c in row) + " |"
                       for row in section.rows)
            out.append("")
        elif section.empty:
            out.append(md_escape(section.empty))
            out.append("")
        for note in section.notes:
            out.append(f"> {md_escape(note)}")
            out.append("")
    if footer:
        out.append(f"*{md_escape(footer)}*")
    return "\n".join(out).rstrip("\n") + "\n"


def render_markdown(report: IncidentReport, lang: str = "zh") -> str:
    language = check_lang(lang)
    title, parts = sections(report, language)
    return markdown_page(title, parts, language,
                         badge=label("drill", language) if report.header.drill else "",
                         footer=_footer(report, language))


def _footer(report: IncidentReport, lang: Lang) -> str:
    return (f"{label('generated', lang)} {clock(report.generated_at)} · "
            f"{report.event_count} {label('events_count', lang)}")


_CSS = """
body{font-family:"PingFang SC","Microsoft YaHei","Noto Sans CJK SC","Source Han Sans SC",
sans-serif;color:#1a1a1a;margin:24px;line-height:1.45;font-size:14px}
h1{font-size:20px;margin:0 0 12px}h2{font-size:16px;margin:22px 0 6px;border-bottom:2px solid
#333;padding-bottom:2px}
table{border-collapse:collapse;width:100%;margin:4px 0 8px}
th,td{border:1px solid #bbb;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eee}table.kv td:first-child{width:9em;background:#f6f6f6;font-weight:bold}
td.late,td.alert{color:#a40000;font-weight:bold}td.ok{color:#17612a}
.badge{display:inline-block;background:#c75000;color:#fff;padding:1px 10px;border-radius:3px;
font-size:14px;vertical-align:middle;margin-left:8px}
p.note{color:#444;margin:2px 0 6px;font-size:13px}p.empty{color:#777}
footer{margin-top:24px;color:#666;font-size:12px}
@media print{body{margin:0;font-size:11px}h2{break-after:avoid}tr{break-inside:avoid}
.badge{border:1px solid #000;color:#000;background:none}td.late,td.alert{color:#000}}
"""


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _html_cell(cell: Cell, tag: str = "td") -> str:
    text, css = (cell, "") if isinstance(cell, str) else cell
    cls = f' class="{_esc(css)}"' if css else ""
    body = "<br>".join(_esc(line) for line in text.splitlines()) if text else ""
    return f"<{tag}{cls}>{body}</{tag}>"


def html_page(title: str, parts: Sequence[Section], lang: Lang, *, badge: str = "",
              footer: str = "") -> str:
    """Sections as one self-contained page: inline CSS, no script, no external asset,
    print-friendly; every text escaped with ``html.escape``."""
    mark = f'<span class="badge">{_esc(badge)}</span>' if badge else ""
    out = ["<!DOCTYPE html>", f'<html lang="{"zh-CN" if lang == "zh" else "en"}">',
           "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_esc(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
           f"<h1>{_esc(title)}{mark}</h1>"]
    for section in parts:
        out.append(f"<h2>{_esc(section.title)}</h2>")
        if section.kv:
            out.append('<table class="kv">')
            out.extend(f"<tr>{_html_cell(r[0])}{_html_cell(r[1])}</tr>" for r in section.rows)
            out.append("</table>")
        elif section.rows:
            out.append("<table>")
            out.append("<tr>" + "".join(_html_cell(x, "th") for x in section.headers) + "</tr>")
            out.extend("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>"
                       for row in section.rows)
            out.append("</table>")
        elif section.empty:
            out.append(f'<p class="empty">{_esc(section.empty)}</p>')
        out.extend(f'<p class="note">{_esc(note)}</p>' for note in section.notes)
    if footer:
        out.append(f"<footer>{_esc(footer)}</footer>")
    out.extend(["</body>", "</html>"])
    return "\n".join(out) + "\n"


def render_html(report: IncidentReport, lang: str = "zh") -> str:
    """The report as one self-contained page (see ``html_page``)."""
    language = check_lang(lang)
    title, parts = sections(report, language)
    return html_page(title, parts, language,
                     badge=label("drill", language) if report.header.drill else "",
                     footer=_footer(report, language))
