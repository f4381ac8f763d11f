"""Tables of text as a page: Markdown or a self-contained HTML page (its own style, no script),
every cell escaped. The incident report and the KPIs are written out this way."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.present.words import (
    LANGS,
    Lang,
)

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
            field, value = ("项目", "内容") if lang == "zh" else ("Field", "Value")
            out.append(f"| {field} | {value} |")
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
