"""The report's own words for the few timeline lines whose shared text (``describe``) shows
ids: an action an escalation is about, the work a resolve or a close left undone, a follow-up
task. Every other line is the shared one, with people by the names they go by."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from gateway.domain.events import EventKind
from gateway.domain.incident import Incident
from gateway.domain.model import Event, Text
from gateway.present.report_naming import Naming
from gateway.present.timeline import describe
from gateway.present.timeline_acts import gaps_text, on_time_text
from gateway.present.words import (
    bi,
    cat,
    sval,
    with_note,
)

Line = Callable[[Event, Naming, Incident], Text]


def report_line(e: Event, k: Naming, incident: Incident) -> Text:
    """One event as the report says it."""
    seen = k.as_seen(e)
    line = _LINES.get(seen.kind)
    return line(seen, k, incident) if line is not None else describe(seen, k.names)


def left_undone(d: Mapping[str, Any], k: Naming) -> Text:
    """What a resolve or a close left undone, an action with how it stands."""
    return gaps_text(d, k.names, k.unconfirmed)


def _without(e: Event, *keys: str) -> Event:
    return replace(e, data={key: v for key, v in e.data.items() if key not in keys})


def _ended(e: Event, k: Naming, incident: Incident) -> Text:
    return cat(describe(_without(e, "gaps", "reason"), k.names), left_undone(e.data, k))


def _escalated_or_notified(e: Event, k: Naming, incident: Incident) -> Text:
    d = e.data
    if not d.get("action") or any(d.get(key) for key in ("step", "branch", "prompt")):
        return describe(e, k.names)
    return cat(describe(_without(e, "action"), k.names), bi("（联动 ", " (action "),
               k.action_state(sval(d, "action")), bi("）", ")"))


def _follow_up_done(e: Event, k: Naming, incident: Incident) -> Text:
    d = e.data
    return cat(bi("回访完成：", "follow-up done: "), k.follow_up(incident, sval(d, "task")),
               on_time_text(d.get("on_time")), with_note(sval(d, "note")))


_LINES: dict[EventKind, Line] = {
    EventKind.ESCALATED: _escalated_or_notified,
    EventKind.NOTIFIED: _escalated_or_notified,
    EventKind.RESOLVED: _ended,
    EventKind.CLOSED: _ended,
    EventKind.FOLLOW_UP_DONE: _follow_up_done,
}
