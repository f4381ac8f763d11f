"""The words the reports, the timeline and the CLI share: zh/en texts of states, levels,
verdicts and statuses, times and durations, places, and how texts are joined."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from gateway.domain import site_time
from gateway.domain.model import (
    Location,
    Text,
)

Lang = Literal["zh", "en"]


LANGS: tuple[str, ...] = ("zh", "en")


def bi(zh: str, en: str) -> Text:
    return Text(zh, en)


def same(value: str) -> Text:
    return Text(value, value)


STATE_WORDS = {"alarm": ("报警", "alarm"), "prealarm": ("预警", "pre-alarm"),
               "normal": ("恢复正常", "back to normal"), "trouble": ("故障", "trouble"),
               "offline": ("离线", "offline"), "test": ("测试", "test"),
               "warmup": ("预热中", "warming up")}


POINT_KIND_WORDS = {
    "fire_panel": ("消防主机", "fire panel"), "smoke_detector": ("感烟探测器", "smoke detector"),
    "heat_detector": ("感温探测器", "heat detector"),
    "flame_detector": ("火焰探测器", "flame detector"),
    "manual_call_point": ("手动报警按钮", "manual call point"),
    "sprinkler_flow": ("水流指示器", "sprinkler flow switch"),
    "gas_detector": ("燃气探测器", "gas detector"),
    "water_leak": ("漏水感应器", "water-leak sensor"),
    "elevator_alarm_button": ("电梯报警按钮", "elevator alarm button"),
    "elevator_status": ("电梯状态", "elevator status"),
    "valve_position": ("阀门位置", "valve position"), "power_status": ("供电状态", "power status"),
    "generator": ("发电机", "generator"), "system": ("网关自身", "the gateway itself"),
    "generic": ("通用点位", "generic point")}


LEVEL_WORDS = {"site": ("项目", "site"), "building": ("楼栋", "building"),
               "floor": ("楼层", "floor"), "zone": ("防区", "zone"), "unit": ("单元", "unit"),
               "point": ("点位", "point")}


POLICY_WORDS = {"act": ("超时自动执行", "act on timeout"),
                "escalate": ("超时升级", "escalate on timeout"),
                "wait": ("超时继续等待", "keep waiting on timeout")}


ESCALATION_WORDS = {"deadline_missed": ("超时", "deadline missed"),
                    "action_failed": ("联动失败", "action failed"),
                    "prompt_timed_out": ("提示超时", "prompt timed out"),
                    "stage_entered": ("进入阶段", "stage entered")}


FACT_WORDS = {"project": ("项目名称", "Project"), "address": ("地址", "Address"),
              "crossroads": ("最近路口", "Nearest crossroads"), "where": ("位置", "Where"),
              "what": ("事件", "What"), "callback": ("回拨电话", "Call-back number"),
              "caller": ("报警人", "Caller")}


SEVERITY = {"critical": ("危急", "critical"), "high": ("高", "high"), "medium": ("中", "medium"),
            "low": ("低", "low")}


STATUS = {"open": ("未确认", "open"), "acknowledged": ("处置中", "acknowledged"),
          "resolved": ("已处置", "resolved"), "closed": ("已关闭", "closed")}


VERDICT = {"real": ("真实警情", "real"), "minor": ("小事件（已控制）", "minor"),
           "false_alarm": ("误报", "false alarm")}


ACTION_STATUS_WORDS = {"pending": ("待发送", "pending"), "sent": ("已发送", "sent"),
                       "done": ("已完成（设备确认）", "done (confirmed)"),
                       "withheld": ("演练拦截", "withheld (drill)"), "failed": ("失败", "failed"),
                       "skipped": ("跳过", "skipped")}


REVIEW_PARTS = (("handling", ("处理经过", "Handling")), ("analysis", ("原因分析", "Analysis")),
                ("improvement", ("改善措施", "Improvement")))


def pair(table: Mapping[str, tuple[str, str]], key: str) -> Text:
    zh, en = table.get(key, (key, key))
    return Text(zh, en)


def sval(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def fval(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


_STRONG = re.compile(r"[。；：！？;:!?]|\.(?:\s|$)")
_COMMA = re.compile(r"[，,]")


def cut(text: str, limit: int) -> str:
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


def short(text: Text) -> Text:
    """The first clause of a procedure text: enough to name the step in a table."""
    return Text(cut(text.zh, 32), cut(text.en, 90))


def clock(at: float | None, *, date: bool = True) -> str:
    """The site's wall-clock time, to the second."""
    if at is None:
        return "-"
    return site_time.wall(at, date=date)


def utc_offset(at: float) -> str:
    return site_time.offset(at)


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


def dur(seconds: float | None) -> Text:
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


def device_name(point_id: str, device: str) -> str:
    return f"{point_id}/{device}" if device else point_id


def join_texts(parts: Sequence[Text], zh_sep: str = "，", en_sep: str = ", ") -> Text:
    parts = [p for p in parts if p.zh or p.en]
    return Text(zh_sep.join(p.zh for p in parts), en_sep.join(p.en for p in parts))


def joined(texts: list[Text]) -> list[Text]:
    """Texts said one after another: 、 between them in Chinese, a comma in English."""
    out: list[Text] = []
    for i, text in enumerate(texts):
        if i:
            out.append(bi("、", ", "))
        out.append(text)
    return out


def cat(*parts: Text | str) -> Text:
    """Concatenate texts; a plain string goes into both languages as is."""
    return Text("".join(p if isinstance(p, str) else p.zh for p in parts),
                "".join(p if isinstance(p, str) else p.en for p in parts))


def with_note(note: str) -> Text:
    return bi(f"：{note}", f": {note}") if note else same("")
