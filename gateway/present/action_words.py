"""What became of an auto-action, in words: the adapters and the engine record it in English
for the log (``unit acknowledged the write``, ``ELV-B1-L1-RECALLED reports True``); a page or
a report says it in the reader's language, with the site's names for the points."""

from __future__ import annotations

import re
from collections.abc import Callable

from gateway.domain.model import Text
from gateway.present.names import Names
from gateway.present.words import bi

_KNOWN = {
    "unit acknowledged the write": bi("设备已确认写入", "the unit acknowledged the write"),
    "broker acknowledged": bi("消息服务器已确认收到", "the broker acknowledged it"),
    "drill: real write withheld": bi("演练：未实际写入", "drill: the real write was withheld"),
}
_YES_NO = {"true": ("是", "yes"), "false": ("否", "no"), "1": ("是", "yes"), "0": ("否", "no")}


def _feedback(m: re.Match[str], n: Names) -> Text:
    point = m.group("point")
    name = n.points.get(point) or Text(point, point)
    zh, en = _YES_NO.get(m.group("value").lower(), (m.group("value"), m.group("value")))
    return Text(f"反馈已到：{name.zh} = {zh}", f"feedback came: {name.en} = {en}")


def _rule(zh: str, en: str) -> Callable[[re.Match[str], Names], Text]:
    return lambda m, n: Text(zh.format(**m.groupdict()), en.format(**m.groupdict()) + m.string
                             .removeprefix(m.group(0)))


def _unconfirmed(m: re.Match[str], n: Names) -> Text:
    point = m.group("point")
    name = n.points.get(point) or Text(point, point)
    seconds = m.group("seconds")
    return Text(f"{seconds} 秒内未收到{name.zh}的确认",
                f"no confirmation from {name.en} within {seconds} s")


_PATTERNS: list[tuple[re.Pattern[str], Callable[[re.Match[str], Names], Text]]] = [
    (re.compile(r"(?P<point>[\w.-]+) reports (?P<value>.+)"), _feedback),
    (re.compile(r"unit (?P<unit>\d+) did not answer the write"),
     _rule("{unit}号设备未应答写入", "unit {unit} did not answer the write")),
    (re.compile(r"unit (?P<unit>\d+) refused the write"),
     _rule("{unit}号设备拒绝写入", "unit {unit} refused the write")),
    (re.compile(r".* is not connected"), _rule("与执行设备的连接中断，未写入",
                                                "not connected to the unit: nothing written")),
    (re.compile(r"publish to .* failed"), _rule("发布到消息服务器失败", "publishing failed")),
    (re.compile(r"no adapter of this site sends"), _rule("本站没有能发送此命令的连接",
                                                         "no connection of this site sends it")),
    (re.compile(r"no .* actuator serves"), _rule("此处没有可执行此联动的设备",
                                                 "no actuator serves this place")),
    (re.compile(r"no confirmation from (?P<point>[\w.-]+) within (?P<seconds>\d+)s"),
     _unconfirmed),
]


def action_detail(detail: str, n: Names) -> Text:
    """An action's recorded detail in both languages; one not known stays as it was written,
    said to be the device's or the connection's own words."""
    if not detail:
        return Text("", "")
    known = _KNOWN.get(detail)
    if known is not None:
        return known
    for pattern, said in _PATTERNS:
        match = pattern.match(detail)
        if match is not None:
            return said(match, n)
    return Text(f"详情（原文）：{detail}", detail)
