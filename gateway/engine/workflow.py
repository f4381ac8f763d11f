"""Operator commands on incidents: the workflow from alarm to review.

open → acknowledged → (resolved) → closed, with reopen. Every command names who gives it and is
recorded with the time; a command on an unknown incident, in the wrong state or without the
fields it needs raises ``CommandError`` and changes nothing. Like the engine, this is pure: the
runtime hands in the state (and the stored incident, for commands on closed ones) and persists
the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from gateway.config.schema import unknown_name
from gateway.domain import site_time
from gateway.domain.commands import INCIDENT_VERBS, NO, YES
from gateway.domain.events import EventKind, StageReason
from gateway.domain.incident import FollowUp, Incident, RecordEntry
from gateway.domain.model import (
    ActionStatus,
    BranchStatus,
    IncidentStatus,
    Location,
    StepStatus,
)
from gateway.engine.checklist import Checklist
from gateway.errors import CommandError, Refusal
from gateway.playbook.definition import Playbook, RecordDef

if TYPE_CHECKING:
    from gateway.engine.machine import Engine
    from gateway.engine.state import EngineState, OperatorCommand, Outcome, Tx

REVIEW_PARTS = ("handling", "analysis", "improvement")

Handler = Callable[["Tx", Playbook, Incident, "OperatorCommand"], Incident]


def incident_records(playbook: Playbook, incident: Incident) -> list[RecordDef]:
    """The record fields the incident asks for: the playbook's and those of the stages it
    entered (a stage the playbook no longer has adds none)."""
    out = list(playbook.records)
    for stage_id in incident.entered:
        try:
            out.extend(playbook.stage(stage_id).records)
        except KeyError:
            continue
    return out


def required_records(playbook: Playbook, incident: Incident) -> list[RecordDef]:
    """The records the incident must have before it can be closed."""
    return [r for r in incident_records(playbook, incident) if r.required]


GAP_WORDS = {"undecided": "decisions not taken", "open_steps": "steps not done",
             "unanswered_prompts": "prompts not answered",
             "unconfirmed_actions": "actions not confirmed"}


def gaps(incident: Incident, *, closing: bool) -> dict[str, list[str]]:
    """What of the playbook is left undone: its open decisions (the verification among them)
    and, for a close, its steps, prompts and auto-actions not finished."""
    found = {"undecided": [b.id for b in incident.branches if b.status is BranchStatus.OPEN]}
    if closing:
        found["open_steps"] = [s.id for s in incident.steps if s.status is not StepStatus.DONE]
        found["unanswered_prompts"] = [p.id for p in incident.prompts if p.waiting]
        found["unconfirmed_actions"] = [
            f"{a.action}/{a.actuator_id}" for a in incident.actions
            if a.status in (ActionStatus.PENDING, ActionStatus.SENT)]
    return {kind: ids for kind, ids in found.items() if ids}


def _needs_reason(incident: Incident, verb: str, left: dict[str, list[str]],
                  reason: str) -> None:
    if left and not reason:
        said = "; ".join(f"{GAP_WORDS[k]}: {', '.join(v)}" for k, v in left.items())
        refused = CommandError(f"{incident.id}: {said}. To {verb} now, give the reason "
                               "(--reason); it goes on record and in the report",
                               code="needs_reason", verb=verb)
        refused.params.update(left)
        raise refused


def parse_time(value: str, now: float) -> float:
    """A time as an operator types it, on the site's clock (``gateway.domain.site_time``)."""
    try:
        return site_time.parse(value, now)
    except site_time.TimeError as exc:
        raise CommandError(str(exc), code="not_a_time", value=value) from None


class Workflow:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.site = engine.site
        checklist = Checklist(engine)
        # each command of an incident (gateway.domain.commands) and what does it
        self.handlers: dict[str, Handler] = {
            "ack": self.ack, "confirm": checklist.confirm, "reject": checklist.reject,
            "decide": checklist.decide, "step": checklist.step, "arrive": checklist.arrive,
            "answer": checklist.answer, "note": self.note, "record": self.record,
            "assign": self.assign, "resolve": self.resolve, "close": self.close,
            "reopen": self.reopen, "follow_up": self.follow_up,
        }
        if set(self.handlers) != set(INCIDENT_VERBS):
            raise RuntimeError(f"the workflow handles {sorted(self.handlers)}, the commands "
                               f"defined are {sorted(INCIDENT_VERBS)}")

    @property
    def verbs(self) -> list[str]:
        return ["open", *self.handlers]

    def handle(self, state: EngineState, cmd: OperatorCommand, now: float,
               stored: Incident | None) -> Outcome:
        from gateway.engine.state import Tx

        if not cmd.actor.strip():
            raise CommandError("say who you are (--by NAME)", code="who")
        tx = Tx(self.engine, state, now)
        if cmd.verb == "open":
            self.open(tx, cmd)
            return tx.out
        handler = self.handlers.get(cmd.verb)
        if handler is None:
            raise CommandError(unknown_name("command", cmd.verb, self.verbs), code="no_command",
                               value=cmd.verb)
        incident = state.incidents.get(cmd.incident_id)
        if incident is None and stored is not None and stored.id == cmd.incident_id:
            incident = stored
        if incident is None:
            raise CommandError(f"no incident {cmd.incident_id or '(none given)'}",
                               Refusal.NOT_FOUND, code="no_incident",
                               incident=cmd.incident_id)
        if incident.status is IncidentStatus.CLOSED and cmd.verb not in ("reopen",
                                                                          "follow_up"):
            raise CommandError(f"{incident.id} is closed (by {incident.closed_by}); reopen it "
                               "first", code="closed", actor=incident.closed_by or "")
        playbook = self.engine.playbooks.get(incident.type)
        if playbook is None:
            raise CommandError(f"incident {incident.id} runs playbook {incident.type!r}, "
                               "which is no longer loaded", code="playbook_changed")
        incident = handler(tx, playbook, incident, cmd)
        tx.put(incident)
        if not tx.out.result:
            tx.out.result = f"{cmd.verb} {incident.id}: done"
        return tx.out

    # ------------------------------------------------------------------ opening by hand

    def open(self, tx: Tx, cmd: OperatorCommand) -> None:
        from gateway.engine.state import correlation_key

        name = cmd.args.get("playbook", "")
        playbook = self.engine.playbooks.get(name)
        if playbook is None:
            raise CommandError(unknown_name("playbook", name, self.engine.playbooks),
                               code="no_playbook", value=name)
        if not playbook.manual:
            raise CommandError(f"playbook {name!r} is opened by its devices only",
                               code="not_manual", playbook=name)
        a = cmd.args
        building = a.get("building", "").strip()
        known = self.site.buildings
        if building and known and building not in known:
            raise CommandError(unknown_name("building", building, known), code="no_building",
                               value=building)
        location = Location(self.site.site_id, building, a.get("floor", "").strip(),
                            a.get("zone", "").strip(), a.get("unit", "").strip())
        drill = a.get("drill", "").lower() in YES
        keyed = replace(location, **dict.fromkeys(self.engine.unplaced.get(playbook.id, ()), ""))
        key = correlation_key(playbook, keyed, drill=drill)
        if playbook.trigger is None:
            key = f"{key}/{tx.state.next_number + tx.out.opened}"  # never merged
        existing = tx.state.by_key.get(key)
        if existing is not None:
            raise CommandError(f"{existing} is already open for {playbook.name.en} at "
                               f"{location.label()}: add to that one", code="already_open",
                               incident=existing)
        engine = self.engine
        incident = engine.new_incident(tx, playbook, key, location, drill=drill,
                                       opened_by=cmd.actor)
        tx.event(incident, EventKind.INCIDENT_OPENED, actor=cmd.actor, name_zh=playbook.name.zh,
                 name_en=playbook.name.en, location=location.label(), trigger_at=tx.now,
                 commander_role=incident.commander_role, manual=True,
                 reporter=a.get("reporter", ""), note=a.get("note", ""))
        incident = engine.enter_stage(tx, playbook, incident, playbook.stages[0],
                                      reason=StageReason.OPENED_BY_HAND, actor=cmd.actor)
        tx.put(incident)
        tx.out.result = f"opened {incident.id} ({playbook.name}) at {location.label()}"

    # ------------------------------------------------------------------ state

    def ack(self, tx: Tx, playbook: Playbook, incident: Incident,
            cmd: OperatorCommand) -> Incident:
        if incident.status is not IncidentStatus.OPEN:
            raise CommandError(f"{incident.id} was already acknowledged by "
                               f"{incident.acknowledged_by}", code="already_acknowledged",
                               actor=incident.acknowledged_by or "")
        # a new alarm announced after an earlier acknowledgement is acknowledged again; the
        # first acknowledgement stays the incident's (time to acknowledge is timed from it)
        again = incident.acknowledged_at is not None
        since = incident.announced_at if again and incident.announced_at else incident.opened_at
        incident = replace(incident, status=IncidentStatus.ACKNOWLEDGED, announced_at=None,
                           acknowledged_at=incident.acknowledged_at if again else tx.now,
                           acknowledged_by=incident.acknowledged_by if again else cmd.actor)
        tx.event(incident, EventKind.ACKNOWLEDGED, actor=cmd.actor, note=cmd.args.get("note", ""),
                 seconds_to_ack=round(tx.now - since, 3), again=again,
                 places=[p.label() for p in incident.places()],
                 returned_to_normal=incident.returned_to_normal)
        return incident

    def resolve(self, tx: Tx, playbook: Playbook, incident: Incident,
                cmd: OperatorCommand) -> Incident:
        if incident.status is IncidentStatus.OPEN:
            raise CommandError(f"{incident.id} is not acknowledged yet: acknowledge it first",
                               code="not_acknowledged")
        if incident.status is IncidentStatus.RESOLVED:
            raise CommandError(f"{incident.id} was already resolved by {incident.resolved_by}",
                               code="already_resolved", actor=incident.resolved_by or "")
        note = cmd.args.get("note", "").strip()
        reason = cmd.args.get("reason", "").strip()
        left = gaps(incident, closing=False)
        _needs_reason(incident, "resolve", left, reason)
        incident = replace(incident, status=IncidentStatus.RESOLVED, resolved_at=tx.now,
                           resolved_by=cmd.actor)
        tx.event(incident, EventKind.RESOLVED, actor=cmd.actor, note=note,
                 open_steps=[s.id for s in incident.steps if s.status is not StepStatus.DONE],
                 open_prompts=[p.id for p in incident.prompts if p.waiting],
                 gaps=left, reason=reason)
        return incident

    def close(self, tx: Tx, playbook: Playbook, incident: Incident,
              cmd: OperatorCommand) -> Incident:
        if incident.status is IncidentStatus.OPEN:
            raise CommandError(f"{incident.id} is not acknowledged yet: acknowledge it first",
                               code="not_acknowledged")
        review = {part: cmd.args.get(part, "").strip() for part in REVIEW_PARTS}
        missing = [part for part in REVIEW_PARTS if not review[part]]
        if missing:
            raise CommandError("closing needs the review: " + ", ".join(
                f"{part} (--{part})" for part in missing), code="needs_review", review=missing)
        absent = [r for r in required_records(playbook, incident)
                  if incident.record(r.id) is None]
        if absent:
            raise CommandError("closing needs these records first: " + "; ".join(
                f"{r.id} ({r.label})" for r in absent), code="needs_records",
                record=[r.id for r in absent])
        reason = cmd.args.get("reason", "").strip()
        left = gaps(incident, closing=True)
        _needs_reason(incident, "close", left, reason)
        follow_ups = list(incident.follow_ups)
        if not incident.drill:
            for f in playbook.follow_up:
                if not any(x.id == f.id for x in follow_ups):
                    follow_ups.append(FollowUp(f.id, f.role, f.text.zh, f.text.en,
                                               tx.now + f.due))
        incident = replace(incident, status=IncidentStatus.CLOSED, closed_at=tx.now,
                           closed_by=cmd.actor, review=review, follow_ups=tuple(follow_ups))
        tx.event(incident, EventKind.CLOSED, actor=cmd.actor, **review, gaps=left, reason=reason,
                 verdict=incident.verdict.value if incident.verdict else None,
                 open_steps=[s.id for s in incident.steps if s.status is not StepStatus.DONE],
                 follow_ups=[{"id": f.id, "role": f.role, "due_at": f.due_at}
                             for f in follow_ups if f.status == "pending"])
        return incident

    def reopen(self, tx: Tx, playbook: Playbook, incident: Incident,
               cmd: OperatorCommand) -> Incident:
        if incident.status not in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
            raise CommandError(f"{incident.id} is {incident.status.value}, not resolved or "
                               "closed: there is nothing to reopen", code="nothing_to_reopen")
        reason = cmd.args.get("reason", "").strip()
        if not reason:
            raise CommandError("say why it is reopened (--reason TEXT)", code="reopen_reason")
        other = tx.state.by_key.get(incident.key)
        if other is not None and other != incident.id:
            raise CommandError(f"{other} is open for the same place and playbook; work that one",
                               code="already_open", incident=other)
        was = incident.status.value
        incident = replace(incident, status=IncidentStatus.ACKNOWLEDGED, resolved_at=None,
                           resolved_by="", closed_at=None, closed_by="",
                           reopened=incident.reopened + 1)
        tx.event(incident, EventKind.REOPENED, actor=cmd.actor, reason=reason, was=was)
        return incident

    def assign(self, tx: Tx, playbook: Playbook, incident: Incident,
               cmd: OperatorCommand) -> Incident:
        commander = cmd.args.get("commander", "").strip()
        if not commander:
            raise CommandError("name the commander (--commander NAME)", code="commander")
        previous = incident.commander
        incident = replace(incident, commander=commander)
        tx.event(incident, EventKind.COMMANDER_ASSIGNED, actor=cmd.actor, commander=commander,
                 previous=previous)
        return incident

    # ------------------------------------------------------------------ verification, branches

    def note(self, tx: Tx, playbook: Playbook, incident: Incident,
             cmd: OperatorCommand) -> Incident:
        text = cmd.args.get("text", "").strip()
        if not text:
            raise CommandError("a note needs text", code="note_text")
        tx.event(incident, EventKind.NOTE, actor=cmd.actor, text=text)
        return incident

    def record(self, tx: Tx, playbook: Playbook, incident: Incident,
               cmd: OperatorCommand) -> Incident:
        field_id = cmd.args.get("field", "")
        definition = playbook.record(field_id)
        if definition is None:
            raise CommandError(unknown_name(f"record field of {playbook.id}", field_id,
                                            [r.id for r in playbook.all_records]),
                               code="no_record", record=field_id)
        raw = cmd.args.get("value", "").strip()
        if not raw:
            raise CommandError(f"record {field_id!r} needs a value", code="record_value",
                               record=field_id)
        value = raw
        if definition.type == "time":
            at = parse_time(raw, tx.now)
            if at > tx.now + 60:
                raise CommandError(f"{field_id} {raw!r} is in the future", code="future",
                                   record=field_id, value=site_time.wall(at))
            value = site_time.iso(at)
        elif definition.type == "number":
            try:
                value = str(float(raw)).removesuffix(".0")
            except ValueError:
                raise CommandError(f"{field_id} must be a number, not {raw!r}",
                                   code="not_a_number", record=field_id, value=raw) from None
        elif definition.type == "yes_no":
            if raw.lower() not in YES | NO:
                raise CommandError(f"{field_id} is yes or no, not {raw!r}", code="yes_or_no",
                                   record=field_id)
            value = "yes" if raw.lower() in YES else "no"
        previous = incident.record(field_id)
        entry = RecordEntry(field_id, value, cmd.actor, tx.now)
        records = (*(r for r in incident.records if r.id != field_id), entry)
        incident = replace(incident, records=records)
        tx.event(incident, EventKind.RECORD, actor=cmd.actor, field=field_id, value=value,
                 label_zh=definition.label.zh, label_en=definition.label.en,
                 previous=previous.value if previous else None)
        return incident

    def follow_up(self, tx: Tx, playbook: Playbook, incident: Incident,
                  cmd: OperatorCommand) -> Incident:
        task_id = cmd.args.get("task", "")
        task = next((f for f in incident.follow_ups if f.id == task_id), None)
        if task is None:
            known = [f.id for f in incident.follow_ups]
            raise CommandError(f"{incident.id} has no follow-up {task_id!r} "
                               f"(follow-ups: {', '.join(known) or 'none; they start at close'})",
                               code="no_follow_up", follow_up=task_id)
        if task.status == "done":
            raise CommandError(f"follow-up {task_id!r} was already done by {task.done_by}",
                               code="follow_up_done", follow_up=task_id,
                               actor=task.done_by or "")
        note = cmd.args.get("note", "").strip()
        if not note:
            raise CommandError("say what the resident said (--note TEXT)",
                               code="follow_up_note")
        done = replace(task, status="done", done_at=tx.now, done_by=cmd.actor, note=note)
        incident = replace(incident, follow_ups=tuple(done if f.id == task_id else f
                                                      for f in incident.follow_ups))
        tx.event(incident, EventKind.FOLLOW_UP_DONE, actor=cmd.actor, task=task_id, note=note,
                 on_time=tx.now <= task.due_at)
        return incident

