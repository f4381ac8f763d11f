"""A replay's expectations judged on what the store holds: one line per expectation, with
what was found when it is not met."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.domain.incident import Incident
from gateway.domain.model import IncidentStatus, PointState
from gateway.store.records import Records
from gateway.store.values import Mark
from simulators.scenario_model import (
    ActionExpect,
    ExpectModel,
    IncidentExpect,
    PointExpect,
    PromptExpect,
    SignalExpect,
)


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    text: str


def _count_ok(found: int, count: int | None) -> tuple[bool, str]:
    if count is None:
        return found >= 1, f"{found} (expected at least 1)"
    return found == count, f"{found} (expected {'none' if count == 0 else f'exactly {count}'})"


def _ids(items: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def evaluate(records: Records, expect: ExpectModel, since: Mark,
             device_writes: list[str] | None) -> list[Check]:
    """One line per expectation, judged on what the store holds now."""
    recent = records.incidents_touched_since(since.at)
    incidents = sorted((i for i in recent if i.opened_at >= since.at), key=lambda i: i.id)
    # signals of this replay that joined an incident still open from before it
    joined = sorted((i for i in recent if i.opened_at < since.at
                     and i.status is not IncidentStatus.CLOSED), key=lambda i: i.id)
    checks = [_incident(e, incidents, joined) for e in expect.incidents]
    checks += [_action(a, incidents) for a in expect.actions]
    checks += [_prompt(p, incidents) for p in expect.prompts]
    checks += [_point(pt, records, since) for pt in expect.points]
    rows = records.signals_after(since) if expect.signals else []
    checks += [_signals(s, rows) for s in expect.signals]
    if expect.no_writes:
        checks.append(_no_writes(records, since, device_writes))
    return checks


def _incident(e: IncidentExpect, incidents: list[Incident], joined: list[Incident]) -> Check:
    same_type = [i for i in incidents if i.type == e.type]
    found = [i for i in same_type
             if (e.stage is None or i.stage == e.stage)
             and (e.status is None or i.status is e.status)
             and (e.building is None or i.location.building == e.building)
             and (e.drill is None or i.drill is e.drill)]
    ok, counted = _count_ok(len(found), e.count)
    text = f"{e.describe()}: {counted}"
    if found:
        text += f": {_ids([i.id for i in found])}"
    if not ok and same_type:
        text += "; " + e.type + " incidents since the start: " + _ids(
            [f"{i.id} {i.stage} B{i.location.building}{' drill' if i.drill else ''}"
             for i in same_type])
    older = [f"{i.id} B{i.location.building}" for i in joined if i.type == e.type]
    if not ok and older:
        text += (f"; {e.type} incidents opened before the replay took its signals: "
                 f"{_ids(older)} (close them first)")
    return Check(ok, text)


def _action(a: ActionExpect, incidents: list[Incident]) -> Check:
    candidates = [(i, x) for i in incidents for x in i.actions
                  if (a.actuator is None or x.actuator_id == a.actuator)
                  and (a.action is None or x.action == a.action)
                  and (a.command is None or x.command == a.command)]
    found = [(i, x) for i, x in candidates if a.status is None or x.status is a.status]
    ok, counted = _count_ok(len(found), a.count)
    text = f"{a.describe()}: {counted}"
    if candidates and (not ok or a.status is None):
        text += "; seen: " + _ids([f"{i.id} {x.actuator_id} {x.command} {x.status}"
                                   + (f" ({x.detail})" if x.detail else "")
                                   for i, x in candidates])
    return Check(ok, text)


def _prompt(p: PromptExpect, incidents: list[Incident]) -> Check:
    found = [i.id for i in incidents for x in i.prompts
             if x.id == p.prompt and (p.status is None or x.status is p.status)]
    ok, counted = _count_ok(len(found), p.count)
    text = f"{p.describe()} raised: {counted}"
    if found:
        text += f": {_ids(found)}"
    return Check(ok, text)


def _point(pt: PointExpect, records: Records, since: Mark) -> Check:
    row = records.point_row(pt.point)
    if row is None:
        return Check(False, f"{pt.describe()}: the gateway has no state for it yet")
    if row[1] < since.at and pt.state is not PointState.NORMAL:
        # the store writes a point when it changes: an old alarm is not this replay's
        return Check(False, f"{pt.describe()}: not reported since the replay started (last "
                     f"state {row[0]})")
    return Check(row[0] == pt.state.value, f"{pt.describe()}: {row[0]}")


def _signals(s: SignalExpect, rows: list[tuple[str, str, bool]]) -> Check:
    of_point = [r for r in rows if fnmatch.fnmatchcase(r[0], s.point)]
    found = [r for r in of_point if (s.state is None or r[1] == s.state.value)
             and (s.drill is None or r[2] is s.drill)]
    ok, counted = _count_ok(len(found), s.count)
    text = f"{s.describe()}: {counted}"
    if of_point and not ok:
        states: dict[str, int] = {}
        for _, st, dr in of_point:
            key = st + (" drill" if dr else "")
            states[key] = states.get(key, 0) + 1
        text += "; stored: " + ", ".join(f"{k} ×{n}" for k, n in sorted(states.items()))
    return Check(ok, text)


def _no_writes(records: Records, since: Mark, device_writes: list[str] | None) -> Check:
    writes = [f"{topic} ({status})" for topic, status in records.commands_after(since)]
    if device_writes:
        writes += device_writes
    scope = ("gateway commands (devices not run here)" if device_writes is None
             else "gateway commands or simulated device writes")
    return Check(not writes, f"no actuator writes: {len(writes)} {scope}"
                 + (f": {_ids(writes)}" if writes else ""))
