"""The walk test's commissioning record: for each point of the walk's scope, whether and when
it reported between the walk's start and end, as a page to print and sign."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.config.site import SiteConfig
from gateway.present.pages import Cell, Section, html_page, markdown_page
from gateway.present.words import STATE_WORDS, Lang, clock, pair, utc_offset

_L = {
    "title": ("点位巡检（走测）记录", "Walk-test record"),
    "walk": ("走测", "Walk"), "project": ("项目", "Project"), "address": ("地址", "Address"),
    "from": ("开始", "Started"), "to": ("结束", "Ended"), "by": ("测试人", "Tested by"),
    "scope": ("范围", "Scope"), "whole": ("全部点位", "every point"),
    "result": ("结果", "Result"), "points": ("点位", "Points"),
    "id": ("编号", "Point"), "name": ("名称", "Name"), "place": ("位置", "Place"),
    "reported": ("是否上报", "Reported"), "first": ("首次", "First"), "last": ("末次", "Last"),
    "count": ("次数", "Signals"), "states": ("状态", "States"),
    "yes": ("已上报", "yes"), "no": ("未上报", "NO"),
    "summary": ("{n} / {total} 个点位在走测期间上报；未上报的 {missing} 个点位需复查。",
                "{n} of {total} points reported during the walk; the {missing} that did not "
                "need a second look."),
    "times": ("时间为项目所在地时间（{offset}）。", "Times are the site's ({offset})."),
    "sign": ("签字", "Sign-off"),
    "signer": ("{role}　姓名：__________　签字：__________　日期：__________",
               "{role}　Name: __________　Signature: __________　Date: __________"),
    "technician": ("测试技术员", "Technician"), "witness": ("物业见证人", "Witness (property)"),
}


def _l(key: str, lang: Lang) -> str:
    zh, en = _L[key]
    return zh if lang == "zh" else en


def walk_record(site: SiteConfig, heard: Sequence[tuple[str, float, float, int, str]],
                since: float, until: float, lang: Lang, *, building: str | None = None,
                by: str = "", fmt: str = "html") -> str:
    """``heard``: the store's ``heard_between(since, until)``."""
    seen = {row[0]: row for row in heard}
    points = [p for p in site.points.values()
              if building is None or p.location.building == building]
    rows: list[list[Cell]] = []
    for p in sorted(points, key=lambda p: (p.id in seen, p.id)):  # the silent ones first
        row = seen.get(p.id)
        name = p.name.zh if lang == "zh" else p.name.en
        where = site.zones.place(p.location)
        place = where.zh if lang == "zh" else where.en
        if row is None:
            rows.append([p.id, name, place, (_l("no", lang), "alert"), "-", "-", "0", "-"])
            continue
        states = "、" if lang == "zh" else ", "
        said = states.join(getattr(pair(STATE_WORDS, s), lang) for s in row[4].split(",") if s)
        rows.append([p.id, name, place, (_l("yes", lang), "ok"), clock(row[1]),
                     clock(row[2]), str(row[3]), said])
    reported = sum(p.id in seen for p in points)
    head = Section(_l("walk", lang), kv=True, rows=[
        [_l("project", lang), getattr(site.site_name, lang)],
        [_l("address", lang), getattr(site.address, lang)],
        [_l("from", lang), clock(since)], [_l("to", lang), clock(until)],
        [_l("scope", lang), (f"{building}号楼" if lang == "zh" else f"building {building}")
         if building else _l("whole", lang)],
        [_l("by", lang), by or "-"],
        [_l("result", lang), _l("summary", lang).format(
            n=reported, total=len(points), missing=len(points) - reported)]],
        notes=[_l("times", lang).format(offset=utc_offset(since))])
    table = Section(_l("points", lang), [_l(k, lang) for k in (
        "id", "name", "place", "reported", "first", "last", "count", "states")], rows)
    sign = Section(_l("sign", lang), notes=[
        _l("signer", lang).format(role=_l(r, lang)) for r in ("technician", "witness")])
    render = html_page if fmt == "html" else markdown_page
    return render(_l("title", lang), [head, table, sign], lang)
