"""Operator commands in the pipeline: those of an incident go to the engine, as does an actuator
commanded by hand; those of the site (a drill window, a point shelved, a reload) are the
daemon's own. Every command is answered on record (``command_results``), applied or refused
with the reason."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, timedelta

import structlog

from gateway.config.schema import unknown_name
from gateway.daemon.decisions import Decisions, Shelf
from gateway.daemon.inputs import QueuedCommand, Reload
from gateway.domain import drill as drill_window
from gateway.domain import site_time
from gateway.domain.commands import MAX_SHELVE_MINUTES, YES, Answer
from gateway.domain.events import EventKind
from gateway.domain.model import PointState, Signal
from gateway.domain.roster import Override
from gateway.engine.state import Outcome
from gateway.errors import CommandError, Refusal
from gateway.store.values import WriteSet

log = structlog.get_logger("gateway")


def on_command(d: Decisions, item: QueuedCommand, ws: WriteSet, now: float) -> None:
    cmd = item.command
    if cmd.verb in ("drill_start", "drill_stop"):
        _drill(d, item, ws, now)
        return
    if cmd.verb in ("shelve", "unshelve"):
        _shelve(d, item, ws, now)
        return
    if cmd.verb == "roster_swap":
        _swap(d, item, ws, now)
        return
    if cmd.verb == "reload":
        if d.on_reload is not None:
            d.on_reload(Reload(cmd.actor, "command", item.row_id), ws, now)
        return
    try:
        if cmd.verb == "actuate":
            outcome = _actuate(d, item, now)
        else:
            outcome = d.engine.on_command(d.state, cmd, now, item.stored)
    except CommandError as exc:
        ws.command_results.append(Answer.refused(item.row_id, exc))
        log.info("command_rejected", verb=cmd.verb, incident=cmd.incident_id,
                 actor=cmd.actor, reason=str(exc))
        return
    d.fold(outcome, ws)
    ws.command_results.append(Answer(item.row_id, outcome.result))
    log.info("command_applied", verb=cmd.verb, incident=cmd.incident_id, actor=cmd.actor)


def _swap(d: Decisions, item: QueuedCommand, ws: WriteSet, now: float) -> None:
    """Someone else on duty in a role for the shift now running, on record and kept."""
    cmd = item.command
    role, person = cmd.args.get("role", ""), cmd.args.get("person", "")
    reason = cmd.args.get("reason", "").strip()
    duty = d.state.roster(d.site.roster).on_duty(role, site_time.local(now))
    try:
        if role not in d.site.roles:
            raise CommandError(unknown_name("role", role, d.site.roles), code="no_role",
                               role=role)
        if person not in d.site.people:
            raise CommandError(unknown_name("person", person, d.site.people),
                               code="no_person", value=person)
        if duty is None:
            raise CommandError(f"nobody is on duty as {role} now: the roster names no shift "
                               "to swap", code="no_duty", role=role)
        if not reason:
            raise CommandError("say why (--reason TEXT): it goes on record", code="swap_reason")
    except CommandError as exc:
        ws.command_results.append(Answer.refused(item.row_id, exc))
        return
    day = (duty.since or site_time.local(now)).date()
    swap = Override(day, role, person, duty.shift, reason)
    recent = site_time.local(now).date() - timedelta(days=2)  # older swaps are done with
    d.state.swaps = [s for s in d.state.swaps if s.day >= recent
                     and (s.day, s.role, s.shift) != (day, role, duty.shift)] + [swap]
    ws.meta["roster_swaps"] = json.dumps([{**asdict(s), "day": s.day.isoformat()}
                                          for s in d.state.swaps], ensure_ascii=False)
    d.site_event(ws, EventKind.ROSTER_SWAPPED, now, "", cmd.actor, role=role, person=person,
                 was=duty.person, shift=duty.shift, day=day.isoformat(), reason=reason)
    log.warning("roster_swapped", role=role, person=person, was=duty.person,
                shift=duty.shift, actor=cmd.actor, reason=reason)
    ends = f" until {site_time.wall(duty.until.timestamp())}" if duty.until else " today"
    ws.command_results.append(Answer(item.row_id, f"{person} on duty as {role} instead of "
                                                  f"{duty.person}{ends}"))


def swaps_of(text: str) -> list[Override]:
    """The swaps the store keeps (``roster_swaps``)."""
    return [Override(date.fromisoformat(s["day"]), s["role"], s["person"], s.get("shift", ""),
                     s.get("reason", "")) for s in json.loads(text or "[]")]


def _actuate(d: Decisions, item: QueuedCommand, now: float) -> Outcome:
    """An actuator commanded by hand; as a drill's (a tester's), only in the drill window."""
    cmd = item.command
    drill = cmd.args.get("drill", "").lower() in YES
    if drill and (d.drill is None or not d.drill.active(now)):
        raise CommandError("a drill's command needs the drill window on "
                           "(alarm-gateway drill start)", code="no_drill")
    return d.engine.on_actuate(d.state, cmd, now, number=item.row_id, drill=drill,
                               stored=item.stored)


def _drill(d: Decisions, item: QueuedCommand, ws: WriteSet, now: float) -> None:
    cmd = item.command
    if cmd.verb == "drill_start":
        try:
            d.drill = drill_window.start(cmd.args, cmd.actor, now, d.site.buildings,
                                         d.site.points)
        except CommandError as exc:
            ws.command_results.append(Answer.refused(item.row_id, exc))
            return
        result = drill_window.describe(d.drill)
    else:
        d.drill = None
        result = "drill off"
    ws.meta["drill_window"] = json.dumps(d.drill.to_json()) if d.drill else ""
    d.site_event(ws, EventKind.DRILL_STARTED if d.drill else EventKind.DRILL_STOPPED, now, "",
                 cmd.actor, **(d.drill.to_json() if d.drill else {}))
    ws.command_results.append(Answer(item.row_id, result))
    log.warning("drill", actor=cmd.actor, state=result,
                note="signals of the drill's scope are drill signals: their actuator "
                     "writes and notifications are withheld; every other signal is real")


def _shelve(d: Decisions, item: QueuedCommand, ws: WriteSet, now: float) -> None:
    cmd = item.command
    point_id = cmd.args.get("point", "")
    if point_id not in d.site.points:
        ws.command_results.append(Answer(item.row_id,
                                         unknown_name("point", point_id, d.site.points),
                                         Refusal.CONFLICT, "no_point", {"value": point_id}))
        return
    if cmd.verb == "shelve":
        reason = cmd.args.get("reason", "").strip()
        try:
            minutes = float(cmd.args.get("minutes", "60"))
        except ValueError:
            minutes = -1.0
        if not reason or not 0 < minutes <= MAX_SHELVE_MINUTES:
            ws.command_results.append(Answer(
                item.row_id, "shelving needs a reason and lasts between 1 minute and 24 hours",
                Refusal.CONFLICT, "shelve_terms"))
            return
        shelf = Shelf(now + minutes * 60, cmd.actor, reason, now)
        d.shelved[point_id] = shelf
        result = (f"{point_id} shelved until "
                  f"{site_time.wall(shelf.until, date=False)}")
        d.site_event(ws, EventKind.POINT_SHELVED, now, point_id, cmd.actor, until=shelf.until,
                     reason=reason)
        log.warning("point_shelved", point=point_id, actor=cmd.actor, reason=reason,
                    minutes=minutes, note="its signals open no incident until then")
    else:
        if d.shelved.pop(point_id, None) is None:
            ws.command_results.append(Answer(item.row_id, f"{point_id} is not shelved",
                                             Refusal.CONFLICT, "not_shelved", {"point": point_id}))
            return
        result = f"{point_id} unshelved"
        unshelved(d, point_id, ws, now, cmd.actor, "unshelved by operator")
    keep_shelves(d, ws)
    ws.command_results.append(Answer(item.row_id, result))


def expire_shelves(d: Decisions, ws: WriteSet, now: float) -> None:
    """Shelves whose time is up end; their points are announced if still not normal."""
    expired = [pid for pid, shelf in d.shelved.items() if shelf.until <= now]
    for point_id in expired:
        del d.shelved[point_id]
        unshelved(d, point_id, ws, now, "", "shelving expired")
    if expired:
        keep_shelves(d, ws)


def keep_shelves(d: Decisions, ws: WriteSet) -> None:
    ws.meta["shelved"] = json.dumps({pid: asdict(s) for pid, s in d.shelved.items()})


def unshelved(d: Decisions, point_id: str, ws: WriteSet, now: float, actor: str,
              why: str) -> None:
    d.site_event(ws, EventKind.POINT_UNSHELVED, now, point_id, actor, reason=why)
    log.info("point_unshelved", point=point_id, actor=actor, reason=why)
    status = d.points.get(point_id)
    point = d.site.points.get(point_id)
    if point is not None and status is not None and status.state is not PointState.NORMAL:
        # still not normal: it is announced now, as if it had just happened
        d.signal(Signal(point_id=point_id, kind=point.kind, location=point.location,
                        state=status.state, at=now, value=status.value, source="unshelved"),
                 ws, now, b"")
