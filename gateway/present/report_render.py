"""The incident report written out, in Markdown or HTML, zh-CN or English: the first page
(``report_front``), then the details as tables. Every string a device or an operator supplied
is escaped (HTML with ``html.escape``, Markdown with backslashes) so that neither table cells
break nor raw HTML gets through."""

from __future__ import annotations

from gateway.present.pages import Cell, Section, check_lang, html_page, markdown_page
from gateway.present.report_front import FRONT_CSS, front_html, front_markdown
from gateway.present.report_labels import at_time, label, pick
from gateway.present.report_summary import ending, ending_css, ending_words
from gateway.present.report_values import (
    LATE,
    MISSED,
    ON_TIME,
    ActionItem,
    IncidentReport,
    ResponseItem,
)
from gateway.present.words import (
    FACT_WORDS,
    POLICY_WORDS,
    REVIEW_PARTS,
    STATE_WORDS,
    Lang,
    clock,
    duration,
    pair,
)


def _result(item: ResponseItem, lang: Lang) -> Cell:
    if item.outcome == LATE:
        return (f"{label('late', lang)} {duration(item.late_by, lang)}", "late")
    css = {ON_TIME: "ok", MISSED: "late"}.get(item.outcome, "")
    return (label(item.outcome, lang), css)


def _answer(answer: str, lang: Lang) -> str:
    return label(answer, lang) if answer in ("yes", "no") else answer


def sections(report: IncidentReport, lang: Lang) -> tuple[str, list[Section]]:
    """The report's title and its details (after the first page), as sections of tables."""
    h = report.header
    day = clock(h.opened_at)[:10]
    title = f"{label('title', lang)} {h.incident_id} · {pick(h.playbook_name, lang)}"
    parts = [make(report, lang, day) for make in (
        _timeline, _responses, _arrivals, _actions, _prompts, _calls, _records, _review,
        _follow_ups, _drill_score, _devices)]
    return title, [part for part in parts if part is not None]


def _timeline(report: IncidentReport, lang: Lang, day: str) -> Section:
    return Section(label("timeline", lang),
                       [label("time", lang), label("actor", lang), label("event", lang)],
                       [[at_time(e.at, day), e.actor, (pick(e.text, lang), "alert" if e.alert
                                                  else "")] for e in report.timeline],
                       empty=label("none", lang))


def _responses(report: IncidentReport, lang: Lang, day: str) -> Section:
    rows: list[list[Cell]] = []
    for item in report.responses:
        rows.append([label(item.kind, lang), pick(item.label, lang), pick(item.role, lang),
                     at_time(item.start_at, day), at_time(item.due_at, day),
                     at_time(item.done_at, day),
                     item.done_by, duration(item.seconds, lang), _result(item, lang),
                     pick(item.detail, lang)])
    return Section(label("responses", lang), [
        label("kind", lang), label("item", lang), label("role", lang), label("start", lang),
        label("due", lang), label("done", lang), label("done_by", lang), label("took", lang),
        label("result", lang), label("detail", lang)], rows, [label("ack_note", lang)])


def _arrivals(report: IncidentReport, lang: Lang, day: str) -> Section:
    return Section(label("arrivals", lang), [
        label("role", lang), label("who", lang), label("arrived", lang),
        label("after_open", lang), label("due", lang), label("result", lang),
        label("recorded_by", lang)], [
        [pick(a.role_name, lang), a.who, at_time(a.at, day), duration(a.seconds, lang),
         at_time(a.due_at, day),
         (label("untimed", lang), "") if a.due_at is None else
         (label("on_time", lang), "ok") if a.on_time else
         (f"{label('late', lang)} {duration(a.late_by, lang)}", "late"), a.recorded_by]
        for a in report.arrivals], empty=label("none", lang))


def _feedback(a: ActionItem, lang: Lang, day: str) -> str:
    """When the device confirmed (or the action failed), and the point it answers on."""
    said = []
    if a.done_at is not None:
        said.append(at_time(a.done_at, day) + (
            f" ({label('after_request', lang)} {duration(a.feedback_seconds, lang)})"
            if a.feedback_seconds is not None else ""))
    elif a.failed_at is not None:
        said.append(f"{label('failed', lang)} {at_time(a.failed_at, day)}")
    if a.feedback_name is not None:
        said.append(f"{label('feedback_from', lang)} {pick(a.feedback_name, lang)}")
    return "; ".join(said) or "-"


def _actions(report: IncidentReport, lang: Lang, day: str) -> Section:
    live = report.header.live
    rows: list[list[Cell]] = []
    for a in report.actions:
        key = ending(a, live)
        css = ending_css(key)
        rows.append([pick(a.name, lang), f"{pick(a.actuator_name, lang)} ({a.actuator})"
                     if a.actuator else "-", at_time(a.requested_at, day),
                     (pick(ending_words(key), lang), css),
                     at_time(a.sent_at or a.withheld_at, day), _feedback(a, lang, day),
                     pick(a.detail_text, lang) or a.detail])
    return Section(label("actions", lang), [
        label("item", lang), label("actuator", lang), label("requested", lang),
        label("result_final", lang), label("sent", lang), label("feedback", lang),
        label("detail", lang)], rows, empty=label("none", lang))


def _prompts(report: IncidentReport, lang: Lang, day: str) -> Section:
    prompt_rows: list[list[Cell]] = []
    for p in report.prompts:
        status = {"answered": _answer(p.answer, lang)}.get(p.status) or label(p.status, lang)
        if p.timed_out and p.status != "acted_on_timeout":
            status += f" ({label('timed_out', lang)})"
        first = f" ({at_time(p.first_at, day)})" \
            if p.first_at is not None and p.confirmed_by else ""
        prompt_rows.append([
            pick(p.text, lang), at_time(p.raised_at, day), at_time(p.due_at, day),
            (status, "late" if p.timed_out else ""), (p.answered_by + first) or "-",
            p.confirmed_by or "-", at_time(p.answered_at, day),
            pick(pair(POLICY_WORDS, p.policy), lang) if p.policy else "-"])
    return Section(label("prompts", lang), [
        label("text", lang), label("raised", lang), label("due", lang), label("answer", lang),
        label("answered_by", lang), label("confirmer", lang), label("answered_at", lang),
        label("policy", lang)], prompt_rows, empty=label("none", lang))


def _calls(report: IncidentReport, lang: Lang, day: str) -> Section:
    call_rows: list[list[Cell]] = []
    for c in report.calls:
        facts = "; ".join(f"{pick(pair(FACT_WORDS, fact), lang)}: {pick(value, lang) or '-'}"
                          for fact, value in c.facts)
        done = (label("called", lang) if c.answer == "yes" else
                label("not_called", lang) if c.answer == "no" else label("unconfirmed", lang))
        call_rows.append([f"{pick(c.name, lang)}", c.phone, facts,
                          (done, "ok" if c.answer == "yes" else "late"),
                          c.caller or "-", at_time(c.at, day)])
    return Section(label("calls", lang), [
        label("contact", lang), label("phone", lang), label("facts", lang),
        label("result", lang), label("answered_by", lang), label("time", lang)], call_rows,
                       empty=label("none", lang))


def _records(report: IncidentReport, lang: Lang, day: str) -> Section:
    return Section(label("records", lang), [
        label("label", lang), label("value", lang), label("by", lang), label("time", lang)], [
        [pick(r.label, lang), r.value if r.at is not None else (label("missing", lang), "late"),
         r.by, at_time(r.at, day)] for r in report.records], empty=label("none", lang))


def _review(report: IncidentReport, lang: Lang, day: str) -> Section:
    part_names = dict(REVIEW_PARTS)
    return Section(label("review", lang), [
        label("part", lang), label("guide", lang), label("value", lang)], [
        [pick(pair(part_names, r.part), lang), pick(r.guide, lang),
         r.text or (label("not_written", lang), "late")] for r in report.review])


def _follow_ups(report: IncidentReport, lang: Lang, day: str) -> Section:
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
        follow_rows.append([pick(f.text, lang), pick(f.role, lang), clock(f.due_at), state,
                            f.done_by, f.note])
    return Section(label("follow_ups", lang), [
        label("task", lang), label("role", lang), label("due", lang), label("status", lang),
        label("done_by", lang), label("note", lang)], follow_rows, empty=label("none", lang))


def _drill_score(report: IncidentReport, lang: Lang, day: str) -> Section | None:
    s = report.drill_score
    if s is None:
        return None
    pct = f"{s.percent:.1f}%" if s.percent is not None else "-"
    section = Section(f"{label('drill_score', lang)}: {pct}", [
        label("kind", lang), label("item", lang), label("result", lang)], [
        [label(i.kind, lang), pick(i.label, lang),
         (label("met", lang), "ok") if i.outcome == ON_TIME else _result(i, lang)]
        for i in s.items])
    line = label("score_line", lang) if s.total else label("score_none", lang)
    section.notes.append(line.format(met=s.met, total=s.total, pct=pct))
    section.notes.append(label("ack_note", lang))
    if s.excluded:
        section.notes.append(label("score_excluded", lang).format(n=s.excluded))
    return section


def _devices(report: IncidentReport, lang: Lang, day: str) -> Section:
    devices = Section(label("devices", lang), [
        label("device", lang), label("kind", lang), label("location", lang),
        label("state", lang), label("first", lang), label("last", lang)], [
        [pick(d.name, lang), pick(d.kind, lang), pick(d.location, lang),
         pick(pair(STATE_WORDS, d.state), lang), at_time(d.first_at, day),
         at_time(d.last_at, day)] for d in report.devices], empty=label("none", lang))
    if report.device_states:
        devices.notes.append(", ".join(f"{pick(pair(STATE_WORDS, st), lang)}: {count}"
                                       for st, count in report.device_states))
    if report.header.device_count > len(report.devices):
        devices.notes.append(label("devices_more", lang).format(
            n=report.header.device_count - len(report.devices)))
    return devices


def render_markdown(report: IncidentReport, lang: str = "zh") -> str:
    """The first page (``report_front``), a rule, then the details."""
    language = check_lang(lang)
    title, parts = sections(report, language)
    page = markdown_page(title, parts, language,
                         badge=label("drill", language) if report.header.drill else "",
                         footer=_footer(report, language))
    heading, rest = page.split("\n\n", 1)  # the title is one line (``md_escape``)
    return f"{heading}\n\n{front_markdown(report, language)}{rest}"


def _footer(report: IncidentReport, lang: Lang) -> str:
    return (f"{label('generated', lang)} {clock(report.generated_at)} · "
            f"{report.event_count} {label('events_count', lang)}")


def render_html(report: IncidentReport, lang: str = "zh") -> str:
    """The report as one self-contained page (see ``html_page``): the first page as a
    section printed on its own A4 sheet, the details after it."""
    language = check_lang(lang)
    title, parts = sections(report, language)
    page = html_page(title, parts, language,
                     badge=label("drill", language) if report.header.drill else "",
                     footer=_footer(report, language))
    # every text in the page is escaped, so these two tags are the page's own
    page = page.replace("</style>", f"{FRONT_CSS}</style>", 1)
    head, rest = page.split("</h1>\n", 1)
    return f"{head}</h1>\n{front_html(report, language)}{rest}"
