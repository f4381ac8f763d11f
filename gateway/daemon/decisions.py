"""The pipeline's decisions: one input at a time into the changes of a batch (``WriteSet``).

``Decisions`` owns what the decisions need and change: the engine and its state, the point
table, the drill window and the shelved points. Adapters' items become readings through the
intake of their kind (``gateway.daemon.registry``); operator commands, ticks and reloads have
modules of their own (``site_commands``, ``ticks``, ``reload``). Nothing here waits for I/O.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import structlog

from adapters.interface import Adapter
from gateway.config.site import SiteConfig
from gateway.daemon.inputs import ActionResult, Delivery, Input, QueuedCommand, Reload
from gateway.daemon.reporting import Reports
from gateway.domain.commands import Answer
from gateway.domain.drill import DrillWindow
from gateway.domain.events import EventKind
from gateway.domain.incident import action_json
from gateway.domain.model import Event, Signal
from gateway.engine.machine import Engine
from gateway.engine.state import EngineState, Outcome, apply
from gateway.errors import Refusal
from gateway.points.conditioning import PointStatus
from gateway.store.values import DEAD_LETTER_KEEP, DeadLetter, SignalRecord, WriteSet

log = structlog.get_logger("gateway")

BAD_INPUT_KEEP = 10_000  # recent bad inputs remembered for the health report

_LOGGED_EVENTS = {"incident_opened", "stage_entered", "action_requested", "action_sent",
                  "action_done", "action_failed", "deadline_missed", "escalated",
                  "prompt_timed_out", "branch_decided", "resolved", "closed", "reopened"}
# what became of an actuator commanded by hand is logged too, also for no incident
_LOGGED_BY_HAND = {"action_sent", "action_done", "action_failed", "action_withheld"}
_LOGGED_FIELDS = {"name_en", "location", "state", "stage_name_en", "reason", "actuator",
                  "command", "step", "late", "late_by", "to", "withheld", "by_hand", "detail",
                  # for what an action or an escalation is: the playbook's action (an
                  # escalation's: the action's id), prompt, branch; how long a device took
                  "action", "prompt", "branch", "role", "seconds"}
_WARNED_EVENTS = {"action_failed", "deadline_missed", "escalated"}


def _commanded(event: Event, state: EngineState) -> dict[str, str]:
    """The actuator and command of an action's event, or of the action an escalation is for,
    from the incident's action where the event does not carry them (sent, done, failed)."""
    action_id = event.data.get("action_id") or (
        event.data.get("action") if event.kind == "escalated" else None)
    incident = state.incidents.get(event.incident_id)
    if not action_id or incident is None:
        return {}
    action = next((a for a in incident.actions if a.id == action_id), None)
    if action is None:
        return {}
    return {k: v for k, v in (("actuator", action.actuator_id), ("command", action.command))
            if k not in event.data}


class Intake(Protocol):
    """How the items of one kind of adapter become readings (see ``registry``)."""

    def take(self, d: Decisions, adapter: Adapter, item: Any, ws: WriteSet, now: float) -> None:
        ...

    def source(self, item: Any) -> str:
        """Where the item came from, in a word (a topic, a register): logs, dead letters."""

    def heard(self, item: Any) -> bool:
        """Whether the item is something the far end sent (its silence is watched: SYS-SILENT),
        not the adapter's own news of the link."""

    def keep(self, item: Any, reason: str, detail: str) -> DeadLetter | None:
        """The item as a dead letter, when a defect stops it being decided (None: nothing
        to keep, e.g. a poll read again anyway)."""


@dataclass(frozen=True, slots=True)
class Shelf:
    until: float
    by: str
    reason: str
    at: float


class Decisions:
    def __init__(self, site: SiteConfig, engine: Engine, intakes: Mapping[str, Intake], *,
                 clock: Callable[[], float]) -> None:
        self.site = site
        self.engine = engine
        self.intakes = dict(intakes)
        self.clock = clock
        self.state = EngineState()
        self.points: dict[str, PointStatus] = {}
        # a tester's drill window: signals of its scope meanwhile are drill signals
        self.drill: DrillWindow | None = None
        # points an operator shelved (ISA-18.2): their signals are kept but open nothing
        self.shelved: dict[str, Shelf] = {}
        self.counters: Counter[str] = Counter()
        self.reports = Reports()  # which bad inputs are logged (each kind once, bounded)
        self.bad_input: deque[tuple[float, str]] = deque(maxlen=BAD_INPUT_KEEP)
        # what the daemon adds: site-level commands (shelve, drill, reload), ticks
        self.on_command: Callable[[QueuedCommand, WriteSet, float], None] | None = None
        self.on_reload: Callable[[Reload, WriteSet, float], None] | None = None
        self.on_tick: Callable[[WriteSet, float], None] | None = None

    # ------------------------------------------------------------------ one input

    def handle(self, item: Input, ws: WriteSet, now: float) -> None:
        if isinstance(item, Delivery):
            self.intakes[item.adapter.kind].take(self, item.adapter, item.item, ws, now)
        elif isinstance(item, QueuedCommand):
            if self.on_command is not None:
                self.on_command(item, ws, now)
        elif isinstance(item, Reload):
            if self.on_reload is not None:
                self.on_reload(item, ws, now)
        elif isinstance(item, ActionResult):
            self.fold(self.engine.on_action_result(
                self.state, item.incident_id, item.action_id, item.status, item.detail, now), ws)
        elif self.on_tick is not None:
            self.on_tick(ws, now)

    def internal_error(self, item: Input, ws: WriteSet, exc: Exception) -> None:
        """A defect met by one input: keep the input, say so loudly (with the traceback
        once per source and kind of error), go on with the rest."""
        self.counters["internal_errors"] += 1
        where = type(item).__name__
        if isinstance(item, Delivery):
            where = self.intakes[item.adapter.kind].source(item.item)
        if self.first_report(where, f"internal_error:{type(exc).__name__}"):
            log.exception("input_failed", input=type(item).__name__, source=where,
                          error=repr(exc), note="further ones from here are counted only")
        self.keep_failed(item, ws, exc)

    def keep_failed(self, item: Input, ws: WriteSet, exc: Exception) -> None:
        """What a defect stopped being decided is kept: an adapter's item as a dead letter,
        a command answered with the error."""
        if isinstance(item, Delivery):
            for letter in self.letters([item], "internal_error", repr(exc)):
                self.count_bad(letter.reason, letter.topic, letter.at)
                ws.dead_letters.append(letter)
        elif isinstance(item, QueuedCommand):
            ws.command_results.append(Answer(item.row_id, f"internal error: {exc!r}",
                                             Refusal.FAILED, "internal"))

    def letters(self, inputs: Sequence[Delivery], reason: str, detail: str) -> list[DeadLetter]:
        """Adapters' items as dead letters (those that have something to keep)."""
        out = []
        for delivery in inputs:
            intake = self.intakes.get(delivery.adapter.kind)
            letter = intake.keep(delivery.item, reason, detail) if intake else None
            if letter is not None:
                out.append(letter)
        return out

    # ------------------------------------------------------------------ what inputs share

    def fold(self, outcome: Outcome, ws: WriteSet) -> None:
        apply(self.state, outcome)
        ws.incidents.update(outcome.incidents)
        ws.events.extend(outcome.events)
        ws.outbox.extend(outcome.effects)
        if outcome.site_actions:  # kept where the site's state is: it survives a restart
            ws.meta["site_actions"] = json.dumps(
                [action_json(a) for a in self.state.site_actions.values()], ensure_ascii=False)
        for event in outcome.events:
            if (event.kind in _LOGGED_EVENTS and event.data.get("reason") != "opened") or (
                    event.kind in _LOGGED_BY_HAND and event.data.get("by_hand")):
                said = log.warning if event.kind in _WARNED_EVENTS else log.info
                said(event.kind, incident=event.incident_id, point=event.point_id,
                     actor=event.actor, **_commanded(event, self.state),
                     **{k: v for k, v in event.data.items()
                        if k in _LOGGED_FIELDS and (v or k not in ("prompt", "action"))})

    def signal(self, sig: Signal, ws: WriteSet, now: float, payload: bytes) -> None:
        """A point's signal into the engine (a shelved point's opens and joins nothing)."""
        self.counters["signals"] += 1
        shelf = self.shelved.get(sig.point_id)
        if shelf is not None and now < shelf.until:
            # kept on record, and still confirms actions, but opens and joins nothing
            self.counters["signals_shelved"] += 1
            outcome = self.engine.on_value(self.state, sig.point_id, sig.value, sig.state, now)
            self.fold(outcome, ws)
            self._record(sig, payload, outcome, (), ws)
            return
        outcome = self.engine.on_signal(self.state, sig, now)
        self.fold(outcome, ws)
        self._record(sig, payload, outcome, tuple(outcome.attached), ws)

    def _record(self, sig: Signal, payload: bytes, outcome: Outcome,
                incidents: tuple[str, ...], ws: WriteSet) -> None:
        if sig.changed or incidents or outcome.events or outcome.effects:
            ws.signals.append(SignalRecord(sig, payload, incidents))
        else:
            # a heartbeat (nothing changed, nothing happened): not a row of its own; the
            # point's row keeps its time and counts it (``repeats``)
            self.counters["heartbeats"] += 1
            ws.repeats[sig.point_id] = ws.repeats.get(sig.point_id, 0) + 1

    def set_point(self, point_id: str, status: PointStatus, ws: WriteSet) -> None:
        self.points[point_id] = status
        ws.points[point_id] = status

    def in_drill(self, sig: Signal) -> Signal:
        """A real signal is a drill signal only from a point the drill window names."""
        if not sig.drill and self.drill is not None and self.drill.covers(
                sig.point_id, sig.location, sig.at):
            return replace(sig, drill=True)
        return sig

    @property
    def drill_until(self) -> float:
        """When the drill window ends (0 when none is on)."""
        return self.drill.until if self.drill is not None else 0.0

    def dead_letter(self, ws: WriteSet, source: str, topic: str, reason: str, detail: str,
                    payload: bytes, at: float) -> None:
        """Bad input: kept, counted, logged once per source and reason."""
        self.count_bad(reason, topic, at)
        ws.dead_letters.append(DeadLetter(
            at=at, source=source, topic=topic, reason=reason, detail=detail,
            payload=payload[:DEAD_LETTER_KEEP], size=len(payload)))
        if self.first_report(topic, reason):
            # once per source and reason; the dead-letter table keeps every one
            log.warning("bad_input", source=source, topic=topic, reason=reason,
                        detail=detail, note="kept in dead_letters; further ones counted only")

    def count_bad(self, reason: str, where: str, at: float) -> None:
        self.counters[f"bad_input_{reason}"] += 1
        self.bad_input.append((at, where))

    def first_report(self, source: str, reason: str) -> bool:
        return self.reports.first(source, reason, self.clock())

    def site_event(self, ws: WriteSet, kind: EventKind, now: float, point_id: str, actor: str,
                   **data: Any) -> None:
        """A fact of the site on record, not of an incident (a point shelved, a drill)."""
        ws.events.append(Event(kind=kind, at=now, point_id=point_id, actor=actor, data=data))
