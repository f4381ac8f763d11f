"""KPIs over a period, read from the store (read-only; works beside the running daemon).

The period's incidents are those opened in ``[since, until)``. Drills are never counted in the
real figures: they are listed apart with their drill score (from the incident snapshot, see
``gateway.report.drill_score``).

- real incidents by type, with their verdicts;
- time to acknowledge: median, p90 (nearest rank), max;
- time to arrive on scene per role (from ``arrival`` events): median, max, share on time
  among the arrivals that had a deadline;
- missed deadlines (``deadline_missed`` of steps and branches, ``prompt_timed_out`` of
  prompts), by incident type and item;
- false alarms per device: incidents of the device with verdict ``false_alarm`` over all
  incidents the device was part of; a device is flagged for maintenance with 2 or more false
  alarms, or a rate of 50 % or more over 2 or more incidents;
- incidents open at the end of the period (closed and reopened events decide, not the
  current status alone).
"""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.config.site import SiteConfig
from gateway.domain.incident import Incident
from gateway.domain.model import Text, Verdict
from gateway.present.report import ACK_TARGET, drill_score
from gateway.present.report_render import Cell, Section, check_lang, html_page, markdown_page
from gateway.present.words import STATUS, Lang, clock, duration, utc_offset
from gateway.store.records import Records

MAINTENANCE_FALSE_ALARMS = 2  # this many false alarms in the period flag a device
MAINTENANCE_RATE = 0.5  # ... or this share of its incidents,
MAINTENANCE_MIN_INCIDENTS = 2  # ... over at least this many
DEVICES_SHOWN = 20  # the rendered tables list the flagged devices and at most this many more


@dataclass(frozen=True, slots=True)
class Stat:
    count: int
    median: float | None = None
    p90: float | None = None
    max: float | None = None


def stat(values: Iterable[float]) -> Stat:
    ordered = sorted(values)
    if not ordered:
        return Stat(0)
    rank = max(1, math.ceil(0.9 * len(ordered)))  # nearest rank
    return Stat(len(ordered), float(statistics.median(ordered)), ordered[rank - 1], ordered[-1])


@dataclass(frozen=True, slots=True)
class TypeCount:
    type: str
    name: Text
    total: int
    real: int = 0
    minor: int = 0
    false_alarm: int = 0
    undecided: int = 0


@dataclass(frozen=True, slots=True)
class RoleArrival:
    role: str
    name: Text
    times: Stat
    timed: int  # arrivals that had a deadline
    on_time: int

    @property
    def on_time_share(self) -> float | None:
        return self.on_time / self.timed if self.timed else None


@dataclass(frozen=True, slots=True)
class MissedDeadline:
    type: str
    kind: str  # step | branch | prompt
    item: str
    count: int


@dataclass(frozen=True, slots=True)
class DeviceRate:
    device: str  # point, or point/device behind a zone point
    location: str
    incidents: int
    false_alarms: int

    @property
    def rate(self) -> float:
        return self.false_alarms / self.incidents if self.incidents else 0.0

    @property
    def maintenance(self) -> bool:
        return self.false_alarms >= MAINTENANCE_FALSE_ALARMS or (
            self.incidents >= MAINTENANCE_MIN_INCIDENTS and self.rate >= MAINTENANCE_RATE)


@dataclass(frozen=True, slots=True)
class OpenIncident:
    id: str
    type: str
    status: str  # its status now
    opened_at: float
    location: str
    drill: bool


@dataclass(frozen=True, slots=True)
class DrillResult:
    id: str
    type: str
    opened_at: float
    met: int
    total: int

    @property
    def percent(self) -> float | None:
        return round(100.0 * self.met / self.total, 1) if self.total else None


@dataclass(frozen=True, slots=True)
class Kpis:
    since: float
    until: float
    generated_at: float
    incidents: int  # real ones
    by_type: tuple[TypeCount, ...]
    ack: Stat
    unacknowledged: int
    arrivals: tuple[RoleArrival, ...]
    missed: tuple[MissedDeadline, ...]
    devices: tuple[DeviceRate, ...]  # most false alarms first
    open_at_end: tuple[OpenIncident, ...]
    drills: tuple[DrillResult, ...]
    type_names: dict[str, Text]

    @property
    def missed_total(self) -> int:
        return sum(m.count for m in self.missed)

    @property
    def false_alarms(self) -> int:
        return sum(t.false_alarm for t in self.by_type)

    @property
    def drill_average(self) -> float | None:
        scored = [d.percent for d in self.drills if d.percent is not None]
        return round(sum(scored) / len(scored), 1) if scored else None

    @property
    def maintenance(self) -> tuple[DeviceRate, ...]:
        return tuple(d for d in self.devices if d.maintenance)


# ----------------------------------------------------------------------------- compute


_KPI_EVENTS = ("incident_opened", "arrival", "deadline_missed", "prompt_timed_out")


def compute_kpis(records: Records, since: float, until: float, *,
                 site: SiteConfig | None = None, now: float | None = None) -> Kpis:
    """KPIs of the incidents opened in ``[since, until)``; ``site`` only adds role names."""
    generated = time.time() if now is None else now
    incidents = records.incidents_opened(since, until)
    drill_ids = {i.id for i in incidents if i.drill}
    names: dict[str, Text] = {}
    arrivals: dict[str, list[tuple[float, bool | None]]] = defaultdict(list)
    missed: Counter[tuple[str, str, str]] = Counter()
    types = {i.id: i.type for i in incidents}
    for incident_id, kind, data in records.incident_event_data(since, until, _KPI_EVENTS):
        incident_type = types.get(incident_id, "")
        if kind == "incident_opened":
            if data.get("name_zh"):
                names[incident_type] = Text(str(data["name_zh"]), str(data.get("name_en", "")))
            continue
        if incident_id in drill_ids:
            continue
        if kind == "arrival":
            seconds = data.get("seconds")
            if isinstance(seconds, int | float):
                timed = data.get("due_at") is not None
                arrivals[str(data.get("role", ""))].append(
                    (float(seconds), bool(data.get("on_time")) if timed else None))
        elif kind == "deadline_missed":
            what = "branch" if data.get("branch") else "step"
            missed[(incident_type, what, str(data.get(what, "")))] += 1
        else:
            missed[(incident_type, "prompt", str(data.get("prompt", "")))] += 1
    real = [i for i in incidents if not i.drill]
    roles = site.roles if site is not None else {}
    return Kpis(
        since=since, until=until, generated_at=generated, incidents=len(real),
        by_type=tuple(_by_type(real, names)),
        ack=stat(i.acknowledged_at - i.opened_at for i in real if i.acknowledged_at is not None),
        unacknowledged=sum(1 for i in real if i.acknowledged_at is None),
        arrivals=tuple(
            RoleArrival(role, roles.get(role) or Text(role, role),
                        stat(s for s, _ in items),
                        sum(1 for _, on_time in items if on_time is not None),
                        sum(1 for _, on_time in items if on_time))
            for role, items in sorted(arrivals.items())),
        missed=tuple(MissedDeadline(t, k, item, count) for (t, k, item), count
                     in sorted(missed.items(), key=lambda kv: (-kv[1], kv[0]))),
        devices=tuple(_devices(real)),
        open_at_end=tuple(_open_at(records, until)),
        drills=tuple(_drill(i, min(until, generated)) for i in incidents if i.drill),
        type_names=names)


def _by_type(real: Sequence[Incident], names: dict[str, Text]) -> list[TypeCount]:
    out = []
    for incident_type in sorted({i.type for i in real}):
        of_type = [i for i in real if i.type == incident_type]
        verdicts = Counter(i.verdict for i in of_type)
        out.append(TypeCount(
            incident_type, names.get(incident_type) or Text(incident_type, incident_type),
            len(of_type), verdicts[Verdict.REAL], verdicts[Verdict.MINOR],
            verdicts[Verdict.FALSE_ALARM], verdicts[None]))
    return sorted(out, key=lambda t: (-t.total, t.type))


def _devices(real: Sequence[Incident]) -> list[DeviceRate]:
    seen: dict[str, list[int]] = {}
    where: dict[str, str] = {}
    for incident in real:
        false_alarm = incident.verdict is Verdict.FALSE_ALARM
        for name in {(f"{d.point_id}/{d.device}" if d.device else d.point_id)
                     for d in incident.devices}:
            counts = seen.setdefault(name, [0, 0])
            counts[0] += 1
            counts[1] += int(false_alarm)
        for d in incident.devices:
            where.setdefault(f"{d.point_id}/{d.device}" if d.device else d.point_id,
                             d.location.label())
    rates = [DeviceRate(name, where.get(name, ""), n, fa) for name, (n, fa) in seen.items()]
    return sorted(rates, key=lambda d: (-d.false_alarms, -d.rate, -d.incidents, d.device))


def _open_at(records: Records, until: float) -> list[OpenIncident]:
    return [OpenIncident(i.id, i.type, i.status.value, i.opened_at, i.location.label(), i.drill)
            for i in records.incidents_open_at(until)]


def _drill(incident: Incident, now: float) -> DrillResult:
    s = drill_score(incident, now=now)
    return DrillResult(incident.id, incident.type, incident.opened_at, s.met, s.total)


# ----------------------------------------------------------------------------- JSON


def _stat_json(s: Stat) -> dict[str, Any]:
    return {"count": s.count, "median": s.median, "p90": s.p90, "max": s.max}


def kpis_to_json(k: Kpis) -> dict[str, Any]:
    """The KPIs as JSON-ready values (seconds, shares from 0 to 1, epoch times)."""
    return {
        "since": k.since, "until": k.until, "generated_at": k.generated_at,
        "incidents": k.incidents, "false_alarms": k.false_alarms,
        "by_type": [{"type": t.type, "name_zh": t.name.zh, "name_en": t.name.en,
                     "total": t.total, "real": t.real, "minor": t.minor,
                     "false_alarm": t.false_alarm, "undecided": t.undecided}
                    for t in k.by_type],
        "time_to_ack": {**_stat_json(k.ack), "unacknowledged": k.unacknowledged},
        "arrivals": [{"role": a.role, "name_zh": a.name.zh, "name_en": a.name.en,
                      **_stat_json(a.times), "timed": a.timed, "on_time": a.on_time,
                      "on_time_share": a.on_time_share} for a in k.arrivals],
        "missed_deadlines": {
            "total": k.missed_total,
            "items": [{"type": m.type, "kind": m.kind, "item": m.item, "count": m.count}
                      for m in k.missed]},
        "devices": [{"device": d.device, "location": d.location, "incidents": d.incidents,
                     "false_alarms": d.false_alarms, "rate": round(d.rate, 4),
                     "maintenance": d.maintenance} for d in k.devices],
        "open_at_end": [{"id": o.id, "type": o.type, "status": o.status,
                         "opened_at": o.opened_at, "location": o.location, "drill": o.drill}
                        for o in k.open_at_end],
        "drills": {"count": len(k.drills), "average_score": k.drill_average,
                   "items": [{"id": d.id, "type": d.type, "opened_at": d.opened_at,
                              "met": d.met, "total": d.total, "score": d.percent}
                             for d in k.drills]},
    }


# ----------------------------------------------------------------------------- rendering

_L: dict[str, tuple[str, str]] = {
    "title": ("运行指标", "KPIs"),
    "period": ("统计期间", "Period"),
    "summary": ("概况", "Summary"),
    "incidents": ("实际事件（不含演练）", "Real incidents (drills excluded)"),
    "false_alarms": ("误报", "False alarms"),
    "missed_total": ("超时项", "Missed deadlines"),
    "open_count": ("期末未关闭", "Open at the end"),
    "drill_count": ("演练", "Drills"),
    "by_type": ("按类型", "By type"), "type": ("类型", "Type"), "total": ("总数", "Total"),
    "real": ("真实", "Real"), "minor": ("小事件", "Minor"), "false_alarm": ("误报", "False alarm"),
    "undecided": ("未定", "Undecided"),
    "ack": ("接警确认用时", "Time to acknowledge"), "count": ("数量", "Count"),
    "median": ("中位数", "Median"), "p90": ("90 分位", "p90"), "max": ("最长", "Max"),
    "unacked": ("未确认", "Not acknowledged"),
    "arrivals": ("到场用时（按角色）", "Time to arrive on scene, per role"),
    "role": ("角色", "Role"), "on_time_share": ("按时率", "On time"),
    "missed": ("超时项目", "Missed deadlines"), "kind": ("类别", "Kind"),
    "item": ("项目", "Item"), "step": ("步骤", "step"), "branch": ("决策", "decision"),
    "prompt": ("提示", "prompt"),
    "devices": ("设备误报率", "False alarms per device"), "device": ("设备", "Device"),
    "location": ("位置", "Location"), "rate": ("误报率", "Rate"),
    "maintenance": ("需维保", "Maintenance"), "yes": ("是", "yes"),
    "maintenance_rule": (
        f"误报 ≥ {MAINTENANCE_FALSE_ALARMS} 次，或至少 {MAINTENANCE_MIN_INCIDENTS} 起事件中误报率 "
        f"≥ {MAINTENANCE_RATE:.0%}，标记为需维保。",
        f"Flagged for maintenance: {MAINTENANCE_FALSE_ALARMS} or more false alarms, or a rate of "
        f"{MAINTENANCE_RATE:.0%} or more over {MAINTENANCE_MIN_INCIDENTS} or more incidents."),
    "devices_more": ("另有 {n} 个设备未列出（无误报）", "{n} more devices not listed"),
    "open": ("期末未关闭的事件", "Incidents open at the end of the period"),
    "id": ("编号", "Incident"), "opened": ("开启", "Opened"), "status_now": ("当前状态",
                                                                           "Status now"),
    "drill": ("演练", "drill"),
    "drills": ("演练评分", "Drill scores"), "score": ("得分", "Score"),
    "met": ("按时/计分项", "On time / scored"),
    "drill_average": ("平均得分", "Average score"),
    "drill_note": (f"评分：按时完成的时限项目占比；接警以 {duration(ACK_TARGET, 'zh')} "
                   "为目标计入。",
                   "Score: share of timed items done on time; acknowledging counts against a "
                   f"{duration(ACK_TARGET, 'en')} target."),
    "none": ("无", "none"),
    "generated": ("生成于", "Generated"),
}


def _l(key: str, lang: Lang) -> str:
    zh, en = _L[key]
    return zh if lang == "zh" else en


def _both(key: str) -> str:
    zh, en = _L[key]
    return f"{zh} {en}"


def _name(text: Text, lang: Lang) -> str:
    return text.zh if lang == "zh" else text.en or text.zh


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.1f}%"


def _period(k: Kpis) -> str:
    return f"{clock(k.since)} – {clock(k.until)} ({utc_offset(k.until)})"


def _shown_devices(k: Kpis) -> list[DeviceRate]:
    flagged = [d for d in k.devices if d.maintenance]
    others = [d for d in k.devices if not d.maintenance and d.false_alarms][:DEVICES_SHOWN]
    return flagged + others


def kpi_sections(k: Kpis, lang: Lang) -> tuple[str, list[Section]]:
    # ``until`` is exclusive: a period up to midnight ends on the day before
    title = f"{_l('title', lang)} · {clock(k.since)[:10]} – {clock(k.until - 0.001)[:10]}"
    summary = Section(_l("summary", lang), kv=True, rows=[
        [_l("period", lang), _period(k)],
        [_l("incidents", lang), str(k.incidents)],
        [_l("false_alarms", lang), str(k.false_alarms)],
        [_l("missed_total", lang), str(k.missed_total)],
        [_l("open_count", lang), str(len(k.open_at_end))],
        [_l("drill_count", lang), str(len(k.drills)) + (
            f" · {_l('drill_average', lang)} {k.drill_average:.1f}%"
            if k.drill_average is not None else "")],
    ])
    out = [summary]
    out.append(Section(_l("by_type", lang), [
        _l("type", lang), _l("total", lang), _l("real", lang), _l("minor", lang),
        _l("false_alarm", lang), _l("undecided", lang)], [
        [f"{_name(t.name, lang)} ({t.type})", str(t.total), str(t.real), str(t.minor),
         str(t.false_alarm), str(t.undecided)] for t in k.by_type], empty=_l("none", lang)))
    out.append(Section(_l("ack", lang), [
        _l("count", lang), _l("median", lang), _l("p90", lang), _l("max", lang),
        _l("unacked", lang)], [
        [str(k.ack.count), duration(k.ack.median, lang), duration(k.ack.p90, lang),
         duration(k.ack.max, lang), str(k.unacknowledged)]]))
    out.append(Section(_l("arrivals", lang), [
        _l("role", lang), _l("count", lang), _l("median", lang), _l("max", lang),
        _l("on_time_share", lang)], [
        [_name(a.name, lang), str(a.times.count), duration(a.times.median, lang),
         duration(a.times.max, lang),
         f"{_pct(a.on_time_share)} ({a.on_time}/{a.timed})" if a.timed else "-"]
        for a in k.arrivals], empty=_l("none", lang)))
    out.append(Section(_l("missed", lang), [
        _l("type", lang), _l("kind", lang), _l("item", lang), _l("count", lang)], [
        [_name(k.type_names.get(m.type) or Text(m.type, m.type), lang), _l(m.kind, lang),
         m.item, (str(m.count), "late")] for m in k.missed], empty=_l("none", lang)))
    shown = _shown_devices(k)
    rows: list[list[Cell]] = [
        [d.device, d.location, str(d.incidents), str(d.false_alarms), _pct(d.rate),
         (_l("yes", lang), "late") if d.maintenance else ""] for d in shown]
    devices = Section(_l("devices", lang), [
        _l("device", lang), _l("location", lang), _l("total", lang), _l("false_alarm", lang),
        _l("rate", lang), _l("maintenance", lang)], rows, empty=_l("none", lang),
        notes=[_l("maintenance_rule", lang)])
    if len(k.devices) > len(shown):
        devices.notes.append(_l("devices_more", lang).format(n=len(k.devices) - len(shown)))
    out.append(devices)
    out.append(Section(_l("open", lang), [
        _l("id", lang), _l("type", lang), _l("opened", lang), _l("location", lang),
        _l("status_now", lang)], [
        [o.id + (f" [{_l('drill', lang)}]" if o.drill else ""),
         _name(k.type_names.get(o.type) or Text(o.type, o.type), lang), clock(o.opened_at),
         o.location, _name(Text(*STATUS.get(o.status, (o.status, o.status))), lang)]
        for o in k.open_at_end], empty=_l("none", lang)))
    drills = Section(_l("drills", lang), [
        _l("id", lang), _l("type", lang), _l("opened", lang), _l("met", lang),
        _l("score", lang)], [
        [d.id, _name(k.type_names.get(d.type) or Text(d.type, d.type), lang),
         clock(d.opened_at), f"{d.met}/{d.total}",
         f"{d.percent:.1f}%" if d.percent is not None else "-"] for d in k.drills],
        empty=_l("none", lang), notes=[_l("drill_note", lang)])
    out.append(drills)
    return title, out


def render_kpis_markdown(k: Kpis, lang: str = "zh") -> str:
    language = check_lang(lang)
    title, parts = kpi_sections(k, language)
    return markdown_page(title, parts, language,
                         footer=f"{_l('generated', language)} {clock(k.generated_at)}")


def render_kpis_html(k: Kpis, lang: str = "zh") -> str:
    language = check_lang(lang)
    title, parts = kpi_sections(k, language)
    return html_page(title, parts, language,
                     footer=f"{_l('generated', language)} {clock(k.generated_at)}")


def render_kpis_text(k: Kpis) -> str:
    """Plain text for a terminal, zh-CN with English beside it."""
    def secs(value: float | None) -> str:
        return duration(value, "en")

    out = [f"{_both('title')}  {_period(k)}", ""]
    out.append(f"{_both('incidents')}: {k.incidents}   {_both('false_alarms')}: "
               f"{k.false_alarms}   {_both('missed_total')}: {k.missed_total}   "
               f"{_both('open_count')}: {len(k.open_at_end)}")
    for t in k.by_type:
        out.append(f"  {t.name.zh} {t.name.en} ({t.type}): {t.total}  real {t.real} · minor "
                   f"{t.minor} · false alarm {t.false_alarm} · undecided {t.undecided}")
    out.append("")
    a = k.ack
    out.append(f"{_both('ack')}: n={a.count} median {secs(a.median)} · p90 {secs(a.p90)} · "
               f"max {secs(a.max)} · {_both('unacked')} {k.unacknowledged}")
    out.append(f"{_both('arrivals')}:")
    if not k.arrivals:
        out.append(f"  {_both('none')}")
    for r in k.arrivals:
        share = f"{_pct(r.on_time_share)} ({r.on_time}/{r.timed})" if r.timed else "-"
        out.append(f"  {r.name.zh} {r.name.en}: n={r.times.count} median "
                   f"{secs(r.times.median)} · max {secs(r.times.max)} · on time {share}")
    out.append(f"{_both('missed')}: {k.missed_total}")
    for m in k.missed:
        out.append(f"  {m.type} {m.kind} {m.item}: {m.count}")
    out.append(f"{_both('devices')}:")
    shown = _shown_devices(k)
    if not shown:
        out.append(f"  {_both('none')}")
    for d in shown:
        flag = "  ← 需维保 maintenance" if d.maintenance else ""
        out.append(f"  {d.device} ({d.location}): {d.false_alarms}/{d.incidents} "
                   f"{_pct(d.rate)}{flag}")
    out.append(f"{_both('open')}:")
    if not k.open_at_end:
        out.append(f"  {_both('none')}")
    for o in k.open_at_end:
        out.append(f"  {o.id}{' [drill 演练]' if o.drill else ''} {o.type} "
                   f"{clock(o.opened_at)} {o.location} ({o.status})")
    average = f"{k.drill_average:.1f}%" if k.drill_average is not None else "-"
    out.append(f"{_both('drills')}: {len(k.drills)}, {_both('drill_average')} {average}")
    for drill in k.drills:
        score = f"{drill.percent:.1f}%" if drill.percent is not None else "-"
        out.append(f"  {drill.id} {drill.type} {clock(drill.opened_at)}: "
                   f"{drill.met}/{drill.total} {score}")
    return "\n".join(out) + "\n"
