"""The report's timeline: each event's line (``report_lines``), its actor by the name they go
by, and a run of device signals (a storm) said in one line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.domain.incident import Incident
from gateway.domain.model import (
    Event,
    Text,
)
from gateway.present.report_lines import report_line
from gateway.present.report_naming import Naming
from gateway.present.words import (
    STATE_WORDS,
    clock,
    device_name,
    join_texts,
    pair,
    sval,
)

# This many device signals in a row, or more, are one line of the timeline (a storm).
STORM_RUN = 5


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: float
    actor: str
    kind: str
    text: Text
    alert: bool = False  # a missed deadline, an escalation, a failed action


ALERT_KINDS = {"deadline_missed", "escalated", "action_failed", "prompt_timed_out", "reopened"}


def storm_entry(run: Sequence[Event]) -> TimelineEntry:
    states = Counter(sval(e.data, "state") for e in run)
    new = sum(1 for e in run if e.data.get("new_device"))
    names: list[str] = []
    for e in run:
        name = device_name(e.point_id, sval(e.data, "device"))
        if name not in names:
            names.append(name)
    sample = ", ".join(names[:5])
    more = len(names) - 5
    counts = join_texts([Text(f"{pair(STATE_WORDS, s).zh} {c}", f"{pair(STATE_WORDS, s).en} {c}")
                         for s, c in states.most_common()], "，", ", ")
    first, last = clock(run[0].at, date=False), clock(run[-1].at, date=False)
    text = Text(
        f"设备信号 {len(run)} 条（{first}–{last}，{len(names)} 个设备，新设备 {new} 个）："
        f"{counts.zh}；{sample}" + (f" 等（另 {more} 个）" if more > 0 else ""),
        f"{len(run)} device signals ({first}–{last}, {len(names)} devices, {new} new): "
        f"{counts.en}; {sample}" + (f" and {more} more" if more > 0 else ""))
    return TimelineEntry(run[0].at, "", "signals", text)


def timeline_entries(events: Sequence[Event], k: Naming,
                     incident: Incident) -> list[TimelineEntry]:
    out: list[TimelineEntry] = []
    i = 0
    while i < len(events):
        if events[i].kind == "signal":
            j = i
            while j < len(events) and events[j].kind == "signal":
                j += 1
            if j - i >= STORM_RUN:
                out.append(storm_entry(events[i:j]))
            else:
                out.extend(TimelineEntry(e.at, k.who(e.actor), e.kind,
                                         report_line(e, k, incident)) for e in events[i:j])
            i = j
            continue
        e = events[i]
        out.append(TimelineEntry(e.at, k.who(e.actor), e.kind, report_line(e, k, incident),
                                 alert=e.kind in ALERT_KINDS))
        i += 1
    return out
