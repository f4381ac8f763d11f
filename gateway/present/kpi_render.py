"""The KPIs written out: a terminal summary, Markdown, or a printable HTML page, zh-CN or
English."""

from __future__ import annotations

from gateway.domain.model import Text
from gateway.present.kpi import (
    DEVICES_SHOWN,
    MAINTENANCE_FALSE_ALARMS,
    MAINTENANCE_MIN_INCIDENTS,
    MAINTENANCE_RATE,
    DeviceRate,
    Kpis,
)
from gateway.present.pages import Cell, Section, check_lang, html_page, markdown_page
from gateway.present.report_values import ACK_TARGET
from gateway.present.words import STATUS, Lang, clock, duration, utc_offset

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
