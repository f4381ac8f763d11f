"""The incident report's first page, written out: the project and its address in both
languages, the summary, the key facts, the gaps box and the sign-off lines. Printed, it is one
A4 page (``@page``) and the details start on the next. Every string a device, an operator or
the site's config supplied is escaped as in ``pages``: HTML with ``html.escape``, Markdown with
``md_escape``."""

from __future__ import annotations

import html

from gateway.present.pages import Cell, md_escape
from gateway.present.report_labels import both, label, pick
from gateway.present.report_summary import gap_kind
from gateway.present.report_values import (
    GAPS_LISTED,
    LATE,
    MISSED,
    ON_TIME,
    IncidentReport,
)
from gateway.present.words import (
    SEVERITY,
    STATUS,
    VERDICT,
    Lang,
    clock,
    duration,
    pair,
    utc_offset,
)

# the places the key facts name one by one (a storm can bring dozens)
PLACES_LISTED = 8

# the first page on A4, the details after it; the summary kept compact in print
FRONT_CSS = """
@page { size: A4; margin: 15mm }
section.summary{break-after:page;page-break-after:always}
.project{margin:-4px 0 10px;font-size:15px}.project .k{color:#555;margin-right:6px}
.aside{color:#555;margin-left:8px}
p.summary-text{margin:4px 0 8px}
.gaps{border:2px solid #a40000;padding:0 8px 6px;margin:12px 0}
.gaps h2{border:0;color:#a40000;margin-top:6px}
.gaps.clear{border-color:#17612a}.gaps.clear h2{color:#17612a}
.sign-line{display:flex;gap:12px;align-items:flex-end;margin:20px 0 0}
.sign-role{min-width:14em;font-weight:bold}.sign-field{flex:1;white-space:nowrap}
.blank{display:inline-block;min-width:8em;border-bottom:1px solid #000;padding:0 4px}
@media print{section.summary{font-size:10.5px}section.summary h2{margin:10px 0 4px}
section.summary td,section.summary th{padding:1px 5px}.gaps,.gaps h2{color:#000;border-color:#000}}
"""


def facts(report: IncidentReport, lang: Lang) -> tuple[list[list[Cell]], list[str]]:
    """The key facts as field/value rows, and the notes under them."""
    h = report.header
    verdict = pick(pair(VERDICT, h.verdict), lang) if h.verdict else label("undecided", lang)
    opened_by = (f"{label('by_hand', lang)}: {h.opened_by}" if h.opened_by else
                 f"{label('by_device', lang)}: {pick(h.opened_by_device, lang)}"
                 if h.opened_by_device.zh else "")
    commander = h.commander or ""
    if h.commander_role.zh:
        role = pick(h.commander_role, lang)
        commander = f"{commander} ({role})" if commander else role
    places = [pick(p, lang) for p in h.places] or [pick(h.place, lang)]
    where = ("、" if lang == "zh" else "; ").join(places[:PLACES_LISTED])
    if len(places) > PLACES_LISTED:
        where += (f" 等 {len(places)} 处" if lang == "zh"
                  else f" and {len(places) - PLACES_LISTED} more")

    def when(at: float | None, by: str) -> str:
        if at is None:
            return "-"
        return f"{clock(at)} · {label('by', lang)} {by}" if by else clock(at)

    acknowledged = when(h.acknowledged_at, h.acknowledged_by)
    if h.acknowledged_at is not None:
        took = duration(h.acknowledged_at - h.opened_at, lang)
        acknowledged += f"（开启后 {took}）" if lang == "zh" else f" ({took} after opening)"
    outcomes = [i.outcome for i in report.responses]
    on_time, late, missed = (outcomes.count(o) for o in (ON_TIME, LATE, MISSED))
    rows: list[list[Cell]] = [
        [label("incident", lang), h.incident_id + (f" [{label('drill', lang)}]" if h.drill
                                                   else "")],
        [label("type", lang), pick(h.playbook_name, lang)],
        [label("location", lang), where],
        [label("severity", lang), pick(pair(SEVERITY, h.severity), lang)],
        [label("status", lang), pick(pair(STATUS, h.status), lang)],
        [label("verdict", lang), verdict],
        [label("stage", lang), pick(h.stage, lang)],
        [label("commander", lang), commander or "-"],
        [label("opened", lang), clock(h.opened_at) + (f" · {opened_by}" if opened_by else "")],
        [label("acknowledged", lang), acknowledged],
        [label("resolved", lang), when(h.resolved_at, h.resolved_by)],
        [label("closed", lang), when(h.closed_at, h.closed_by)],
        [label("deadlines", lang), (label("deadline_line", lang).format(
            on_time=on_time, late=late, missed=missed), "late" if late or missed else "ok")],
        [label("devices_signals", lang), f"{h.device_count} / {h.signal_count}"],
    ]
    if h.reopened:
        rows.append([label("reopened", lang), str(h.reopened)])
    notes = [label("times_in", lang).format(offset=utc_offset(h.opened_at))]
    if not h.playbook_loaded:
        notes.append(label("not_loaded", lang) + ".")
    return rows, notes


def gap_rows(report: IncidentReport, lang: Lang) -> tuple[list[list[Cell]], str]:
    """The gaps box's rows, and the note of those left for the details."""
    rows: list[list[Cell]] = [[pick(gap_kind(g.kind), lang), pick(g.what, lang),
                               (pick(g.state, lang), "late" if g.alert else "")]
                              for g in report.gaps[:GAPS_LISTED]]
    more = len(report.gaps) - GAPS_LISTED
    return rows, label("gaps_more", lang).format(n=more) if more > 0 else ""


def _role(text_zh: str, text_en: str, lang: Lang) -> str:
    return f"{text_zh} / {text_en}" if lang == "zh" else f"{text_en} / {text_zh}"


# ----------------------------------------------------------------------------- Markdown

_BLANK = "__________"


def _md_table(headers: list[str], rows: list[list[Cell]]) -> list[str]:
    out = ["| " + " | ".join(md_escape(x) for x in headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        cells = [c if isinstance(c, str) else c[0] for c in row]
        out.append("| " + " | ".join(md_escape(c) if c else " " for c in cells) + " |")
    return [*out, ""]


def front_markdown(report: IncidentReport, lang: Lang) -> str:
    """The first page in Markdown, ending in a rule before the details."""
    h = report.header
    colon = "：" if lang == "zh" else ": "
    out: list[str] = []
    if h.site_name.zh or h.site_name.en:
        for key, text in (("project", h.site_name), ("address", h.site_address)):
            first, other = both(text, lang)
            out.append(f"**{label(key, lang)}**{colon}{md_escape(first)}"
                       + (f" · {md_escape(other)}" if other else "") + "  ")
        out.append("")
    out += [f"## {label('summary', lang)}", "", md_escape(pick(report.summary, lang)), ""]
    rows, notes = facts(report, lang)
    out += [f"## {label('key_facts', lang)}", "",
            *_md_table([label("field", lang), label("value", lang)], rows)]
    out += [line for note in notes for line in (f"> {md_escape(note)}", "")]
    out += [f"## {label('gaps', lang)}", ""]
    gaps, more = gap_rows(report, lang)
    if gaps:
        out += _md_table([label("category", lang), label("item", lang), label("state", lang)],
                         gaps)
        out += [f"> {md_escape(more)}", ""] if more else []
    else:
        out += [md_escape(label("no_gaps", lang)), ""]
    out += [f"## {label('sign_off', lang)}", ""]
    colon, gap = ("：", "　") if lang == "zh" else (": ", "   ")
    for line in report.sign_off:
        fields = ((label("name", lang), md_escape(line.name) if line.name else _BLANK),
                  (label("signature", lang), _BLANK), (label("date", lang), _BLANK))
        out += [_role(line.role.zh, line.role.en, lang) + gap
                + gap.join(f"{key}{colon}{value}" for key, value in fields), ""]
    return "\n".join([*out, "---", "", ""])


# ----------------------------------------------------------------------------- HTML


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _td(cell: Cell, tag: str = "td") -> str:
    text, css = (cell, "") if isinstance(cell, str) else cell
    cls = f' class="{_esc(css)}"' if css else ""
    return f"<{tag}{cls}>{'<br>'.join(_esc(x) for x in text.splitlines())}</{tag}>"


def _html_table(rows: list[list[Cell]], headers: list[str] | None = None) -> list[str]:
    out = ['<table class="kv">' if headers is None else "<table>"]
    if headers is not None:
        out.append("<tr>" + "".join(_td(x, "th") for x in headers) + "</tr>")
    out += ["<tr>" + "".join(_td(c) for c in row) + "</tr>" for row in rows]
    return [*out, "</table>"]


def _bilingual(first: str, other: str) -> str:
    return _esc(first) + (f'<span class="aside">{_esc(other)}</span>' if other else "")


def front_html(report: IncidentReport, lang: Lang) -> str:
    """The first page as a ``<section>`` that breaks the printed page after it."""
    h = report.header
    out = ['<section class="summary">']
    if h.site_name.zh or h.site_name.en:
        out.append('<div class="project">')
        for key, text in (("project", h.site_name), ("address", h.site_address)):
            out.append(f'<div><span class="k">{_esc(label(key, lang))}</span>'
                       f"{_bilingual(*both(text, lang))}</div>")
        out.append("</div>")
    out += [f"<h2>{_esc(label('summary', lang))}</h2>",
            f'<p class="summary-text">{_esc(pick(report.summary, lang))}</p>',
            f"<h2>{_esc(label('key_facts', lang))}</h2>"]
    rows, notes = facts(report, lang)
    out += _html_table(rows)
    out += [f'<p class="note">{_esc(note)}</p>' for note in notes]
    gaps, more = gap_rows(report, lang)
    out += [f'<div class="gaps{"" if gaps else " clear"}">',
            f"<h2>{_esc(label('gaps', lang))}</h2>"]
    if gaps:
        out += _html_table(gaps, [label("category", lang), label("item", lang),
                                  label("state", lang)])
        out += [f'<p class="note">{_esc(more)}</p>'] if more else []
    else:
        out.append(f"<p>{_esc(label('no_gaps', lang))}</p>")
    out += ["</div>", '<div class="sign-off">', f"<h2>{_esc(label('sign_off', lang))}</h2>"]
    for line in report.sign_off:
        first, other = (line.role.zh, line.role.en) if lang == "zh" else (line.role.en,
                                                                         line.role.zh)
        fields = "".join(
            f'<span class="sign-field">{_esc(label(key, lang))}{"：" if lang == "zh" else ": "}'
            f'<span class="blank">{_esc(value)}</span></span>'
            for key, value in (("name", line.name), ("signature", ""), ("date", "")))
        out.append(f'<div class="sign-line"><span class="sign-role">'
                   f"{_bilingual(first, other)}</span>{fields}</div>")
    out += ["</div>", "</section>"]
    return "\n".join(out) + "\n"

