"""The incident engine: a pure state machine.

``decide(state, input, now) -> Outcome`` reads the state and never changes it, does no I/O and
reads no clock; ``apply(state, outcome)`` folds the outcome in. The runtime persists each outcome
(events, incident snapshots, outbox effects) in one transaction before anything leaves the
process, so a crash at any point replays cleanly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.config import ActuatorConfig, SiteConfig
from gateway.errors import CommandError
from gateway.incident import ActionState, DeviceRef, Incident, PromptState, StepState
from gateway.model import (
    ActionStatus,
    Event,
    IncidentStatus,
    Location,
    PointState,
    PromptStatus,
    Signal,
    StepStatus,
)
from gateway.playbook import Playbook, StageDef

# Outbox rows of Modbus writes carry this target instead of an MQTT topic:
# modbus://CONNECTION/UNIT/TABLE/ADDRESS, with the value as the JSON payload.
MODBUS_SCHEME = "modbus://"

# A timer that fires this much after its due time is marked late (e.g. it fell due while the
# gateway was down); below it, it is just the scheduler's jitter.
LATE_AFTER = 2.0


@dataclass(frozen=True, slots=True)
class Publish:
    """An MQTT publish that goes out through the outbox after the commit."""

    topic: str
    payload: str
    qos: int = 1
    retain: bool = False
    kind: str = "event"  # command | event | notify
    incident_id: str = ""
    action_id: str = ""
    withhold: bool = False


@dataclass(frozen=True, slots=True)
class OperatorCommand:
    verb: str  # ack | confirm | close | note | step | answer
    incident_id: str
    actor: str
    args: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Outcome:
    incidents: dict[str, Incident] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    effects: list[Publish] = field(default_factory=list)
    attached: list[str] = field(default_factory=list)
    opened: int = 0
    point_values: dict[str, tuple[object, PointState]] = field(default_factory=dict)


@dataclass(slots=True)
class EngineState:
    incidents: dict[str, Incident] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    by_point: dict[str, set[str]] = field(default_factory=dict)
    next_number: int = 1
    # the last value and state of every point that reported, for action feedback
    point_values: dict[str, tuple[object, PointState]] = field(default_factory=dict)

    @classmethod
    def restore(cls, open_incidents: Iterable[Incident], next_number: int) -> EngineState:
        state = cls(next_number=next_number)
        for incident in open_incidents:
            _index(state, incident)
        return state


def _index(state: EngineState, incident: Incident) -> None:
    state.incidents[incident.id] = incident
    state.by_key[incident.key] = incident.id
    for ref in incident.devices:
        state.by_point.setdefault(ref.point_id, set()).add(incident.id)


def apply(state: EngineState, outcome: Outcome) -> None:
    for incident in outcome.incidents.values():
        if incident.status is IncidentStatus.CLOSED:
            state.incidents.pop(incident.id, None)
            if state.by_key.get(incident.key) == incident.id:
                del state.by_key[incident.key]
            for ref in incident.devices:
                ids = state.by_point.get(ref.point_id)
                if ids is not None:
                    ids.discard(incident.id)
                    if not ids:
                        del state.by_point[ref.point_id]
        else:
            _index(state, incident)
    state.next_number += outcome.opened
    state.point_values.update(outcome.point_values)


def location_key(location: Location, level: str, point_id: str = "") -> tuple[str, ...]:
    parts = [location.site]
    if level in {"building", "floor", "zone", "point"}:
        parts.append(location.building)
    if level in {"floor", "zone", "point"}:
        parts.append(location.floor)
    if level in {"zone", "point"}:
        parts.append(location.zone)
    if level == "point":
        parts.append(point_id)
    return tuple(parts)


def correlation_key(playbook: Playbook, signal: Signal) -> str:
    parts = location_key(signal.location, playbook.trigger.correlate_by, signal.point_id)
    return "/".join((playbook.id, *parts)) + ("#drill" if signal.drill else "")


class _Tx:
    """Collects one decision's changes; reads fall through to the untouched state."""

    def __init__(self, engine: Engine, state: EngineState, now: float) -> None:
        self.engine = engine
        self.state = state
        self.now = now
        self.out = Outcome()

    def get(self, incident_id: str) -> Incident | None:
        return self.out.incidents.get(incident_id) or self.state.incidents.get(incident_id)

    def put(self, incident: Incident) -> Incident:
        incident = replace(incident, updated_at=self.now)
        self.out.incidents[incident.id] = incident
        return incident

    def event(self, incident: Incident, kind: str, /, *, actor: str = "", point_id: str = "",
              **data: Any) -> None:
        self.out.events.append(Event(kind=kind, at=self.now, incident_id=incident.id,
                                     point_id=point_id, actor=actor, data=data))


def event_messages(prefix: str, events: list[Event],
                   incidents: Mapping[str, Incident]) -> list[Publish]:
    """One MQTT message per incident carrying its new events in order.

    Built per committed batch rather than per event: an incident opening is four events, a
    storm attaches hundreds of devices to one incident, and each publish costs a PUBACK, an
    outbox row and its delivery mark.
    """
    by_incident: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_incident.setdefault(e.incident_id, []).append({
            "kind": e.kind, "at": e.at, "actor": e.actor, "point_id": e.point_id,
            "data": e.data})
    out = []
    for incident_id, items in by_incident.items():
        incident = incidents[incident_id]
        out.append(Publish(
            topic=f"{prefix}/incidents/{incident_id}/events",
            payload=json.dumps({
                "incident_id": incident_id, "type": incident.type, "stage": incident.stage,
                "status": incident.status.value, "severity": incident.severity.value,
                "drill": incident.drill, "location": incident.location.label(),
                "events": items,
            }, ensure_ascii=False, separators=(",", ":")),
            kind="event", incident_id=incident_id))
    return out


class Engine:
    def __init__(self, site: SiteConfig, playbooks: Mapping[str, Playbook]) -> None:
        self.site = site
        self.playbooks = dict(playbooks)
        self.prefix = site.mqtt_prefix
        # config-derived only (actuators never change under a running engine), so memoising
        # keeps decisions pure
        self._targets_cache: dict[tuple[str, str, tuple[str, ...]], list[ActuatorConfig]] = {}
        self._feedback_points = {c.feedback.point for a in site.actuators.values()
                                 for c in a.commands.values() if c.feedback is not None}
        self._actuator_index: dict[tuple[str, str],
                                   dict[tuple[str, ...], list[ActuatorConfig]]] = {}
        self._commands = {
            "ack": self._cmd_ack, "confirm": self._cmd_confirm, "close": self._cmd_close,
            "note": self._cmd_note, "step": self._cmd_step, "answer": self._cmd_answer,
        }

    # ------------------------------------------------------------------ signals

    def on_signal(self, state: EngineState, signal: Signal, now: float) -> Outcome:
        tx = _Tx(self, state, now)
        tx.out.point_values[signal.point_id] = (signal.value, signal.state)
        self._feedback(tx, signal.point_id, signal.value, signal.state)
        touched: set[str] = set()
        for playbook in self.playbooks.values():
            if not playbook.trigger.matches(signal.kind, signal.state):
                continue
            key = correlation_key(playbook, signal)
            incident_id = state.by_key.get(key)
            if incident_id is None:
                if signal.changed:
                    touched.add(self._open(tx, playbook, key, signal))
            else:
                incident = tx.get(incident_id)
                assert incident is not None
                self._attach(tx, playbook, incident, signal)
                touched.add(incident_id)
        for incident_id in sorted(state.by_point.get(signal.point_id, ())):
            # a device of an open incident changed without matching its trigger (restored,
            # faulted, went offline): the incident records it and stays open
            if incident_id in touched:
                continue
            incident = tx.get(incident_id)
            assert incident is not None
            touched.add(incident_id)
            incident = replace(incident, signal_count=incident.signal_count + 1)
            if signal.changed:
                ref = incident.device(signal.point_id, signal.device)
                if ref is not None:
                    incident = _update_device(incident, ref, signal)
                tx.event(incident, "signal", point_id=signal.point_id, **_signal_data(signal))
            tx.put(incident)
        tx.out.attached = sorted(touched)
        return tx.out

    def _open(self, tx: _Tx, playbook: Playbook, key: str, signal: Signal) -> str:
        number = tx.state.next_number + tx.out.opened
        tx.out.opened += 1
        stage = playbook.stages[0]
        incident = Incident(
            id=f"INC-{number:06d}", type=playbook.id, key=key, severity=playbook.severity,
            status=IncidentStatus.OPEN, stage=stage.id, location=signal.location,
            opened_at=tx.now, updated_at=tx.now, drill=signal.drill,
            devices=(_ref(signal),), signal_count=1)
        tx.event(incident, "incident_opened", point_id=signal.point_id,
                 name_zh=playbook.name.zh, name_en=playbook.name.en,
                 location=incident.location.label(), trigger_at=signal.at,
                 **_signal_data(signal))
        incident = self._enter_stage(tx, playbook, incident, stage, reason="opened")
        incident = self._advance(tx, playbook, incident)
        tx.put(incident)
        return incident.id

    def _attach(self, tx: _Tx, playbook: Playbook, incident: Incident, signal: Signal) -> None:
        incident = replace(incident, signal_count=incident.signal_count + 1)
        ref = incident.device(signal.point_id, signal.device)
        if ref is None:
            incident = replace(incident, devices=(*incident.devices, _ref(signal)))
            tx.event(incident, "signal", point_id=signal.point_id, new_device=True,
                     **_signal_data(signal))
        elif signal.changed:
            incident = _update_device(incident, ref, signal)
            tx.event(incident, "signal", point_id=signal.point_id, **_signal_data(signal))
        incident = self._advance(tx, playbook, incident)
        tx.put(incident)

    def _advance(self, tx: _Tx, playbook: Playbook, incident: Incident) -> Incident:
        """Enter every later stage whose device condition now holds."""
        current = playbook.stage_index(incident.stage)
        for stage in playbook.stages[current + 1:]:
            assert stage.enter is not None
            if stage.enter.state is not None:
                reached = [r for r in incident.devices if r.state == stage.enter.state.value]
                if not reached:
                    break
                incident = self._enter_stage(
                    tx, playbook, incident, stage,
                    reason=f"{reached[0].point_id} reached {stage.enter.state.value}",
                    devices=[r.point_id for r in reached])
                continue
            need = stage.enter.independent_devices
            if need is None:
                break
            groups: dict[tuple[str, ...], list[DeviceRef]] = {}
            for ref in incident.devices:
                groups.setdefault(location_key(ref.location, stage.enter.within, ref.point_id),
                                  []).append(ref)
            met = next((refs for refs in groups.values() if len(refs) >= need), None)
            if met is None:
                break
            names = [f"{r.point_id}/{r.device}" if r.device else r.point_id for r in met]
            incident = self._enter_stage(
                tx, playbook, incident, stage,
                reason=f"{len(met)} independent devices in one {stage.enter.within}",
                devices=names)
        return incident

    def _enter_stage(self, tx: _Tx, playbook: Playbook, incident: Incident, stage: StageDef,
                     *, reason: str, actor: str = "", **extra: Any) -> Incident:
        now = tx.now
        incident = replace(incident, stage=stage.id)
        tx.event(incident, "stage_entered", actor=actor, stage_name_zh=stage.name.zh,
                 stage_name_en=stage.name.en, reason=reason, **extra)
        steps = list(incident.steps)
        for step in stage.steps:
            due = now + step.deadline if step.deadline is not None else None
            steps.append(StepState(step.id, stage.id, step.role, StepStatus.PENDING, now, due))
            tx.event(incident, "step_started", step=step.id, role=step.role,
                     text_zh=step.text.zh, text_en=step.text.en, due_at=due)
        actions = list(incident.actions)
        for action in stage.actions:
            for actuator in self._targets(action.actuator_kind.value, action.scope, incident):
                command = actuator.commands[action.command]
                action_id = f"{action.id}:{actuator.id}"
                feedback = command.feedback
                actions.append(ActionState(
                    action_id, action.id, actuator.id, action.command, ActionStatus.PENDING,
                    now, now, feedback_point=feedback.point if feedback else "",
                    feedback_due=now + feedback.timeout if feedback else None,
                    escalate_to=action.escalate_to or ""))
                if command.modbus is not None:
                    w = command.modbus
                    topic = f"{MODBUS_SCHEME}{w.connection}/{w.unit}/{w.table}/{w.address}"
                    payload = json.dumps(w.value)
                else:
                    topic, payload = command.topic, command.payload
                tx.event(incident, "action_requested", action=action.id, actuator=actuator.id,
                         command=action.command, topic=topic, name_zh=action.name.zh,
                         name_en=action.name.en, withheld=incident.drill,
                         feedback=feedback.point if feedback else "")
                tx.out.effects.append(Publish(
                    topic=topic, payload=payload, qos=command.qos,
                    retain=command.retain, kind="command", incident_id=incident.id,
                    action_id=action_id, withhold=incident.drill))
        prompts = list(incident.prompts)
        for prompt in stage.prompts:
            prompts.append(PromptState(prompt.id, stage.id, PromptStatus.OPEN, now))
            data: dict[str, Any] = {"prompt": prompt.id, "text_zh": prompt.text.zh,
                                    "text_en": prompt.text.en}
            if prompt.call:
                data["call"] = self._call_facts(prompt.call, playbook, incident)
            tx.event(incident, "prompt_raised", **data)
        return replace(incident, steps=tuple(steps), actions=tuple(actions),
                       prompts=tuple(prompts))

    def _targets(self, kind: str, scope: str, incident: Incident) -> list[ActuatorConfig]:
        """Actuators of a kind serving the incident's place at the scope's level.

        Parts of an actuator's location left empty match anything: a site-wide PA system
        serves every building.
        """
        want = location_key(incident.location, scope)
        cached = self._targets_cache.get((kind, scope, want))
        if cached is None:
            patterns = self._actuator_index.get((kind, scope))
            if patterns is None:
                patterns = {}
                for a in self.site.actuators.values():
                    if a.kind.value == kind:
                        patterns.setdefault(location_key(a.location, scope), []).append(a)
                self._actuator_index[(kind, scope)] = patterns
            # an actuator matches when each part of its place is the incident's or left empty:
            # look up every such blanking of the incident's place (at most 2^5 of them)
            cached = []
            for blanked in sorted({tuple("" if (mask >> i) & 1 else part
                                         for i, part in enumerate(want))
                                   for mask in range(1 << len(want))}):
                cached.extend(patterns.get(blanked, ()))
            self._targets_cache[(kind, scope, want)] = cached
        return cached

    def _call_facts(self, contact_id: str, playbook: Playbook,
                    incident: Incident) -> dict[str, str]:
        contact = self.site.contacts[contact_id]
        site = self.site
        loc = incident.location
        where_zh = "".join(filter(None, [
            f"{loc.building}号楼" if loc.building else "", f"{loc.floor}层" if loc.floor else "",
            f"{loc.zone}防区" if loc.zone else "", f"{loc.unit}室" if loc.unit else ""]))
        return {
            "contact": contact.id, "name_zh": contact.name.zh, "name_en": contact.name.en,
            "phone": contact.phone, "project_zh": site.site_name.zh,
            "project_en": site.site_name.en, "address_zh": site.address.zh,
            "address_en": site.address.en,
            "crossroads_zh": site.crossroads.zh if site.crossroads else "",
            "crossroads_en": site.crossroads.en if site.crossroads else "",
            "where_zh": where_zh, "where_en": loc.label(), "what_zh": playbook.name.zh,
            "what_en": playbook.name.en, "callback": site.callback_phone,
        }

    # ------------------------------------------------------------------ operators

    def on_command(self, state: EngineState, command: OperatorCommand, now: float) -> Outcome:
        if not command.actor.strip():
            raise CommandError("say who you are (--by NAME)")
        incident = state.incidents.get(command.incident_id)
        if incident is None:
            raise CommandError(f"no open incident {command.incident_id}")
        playbook = self.playbooks.get(incident.type)
        if playbook is None:
            raise CommandError(f"incident {incident.id} runs playbook {incident.type!r}, "
                               "which is no longer loaded")
        tx = _Tx(self, state, now)
        handler = self._commands.get(command.verb)
        if handler is None:
            raise CommandError(f"unknown command {command.verb!r}")
        tx.put(handler(tx, playbook, incident, command))
        return tx.out

    def _cmd_ack(self, tx: _Tx, playbook: Playbook, incident: Incident,
                 cmd: OperatorCommand) -> Incident:
        if incident.status is not IncidentStatus.OPEN:
            raise CommandError(f"{incident.id} was already acknowledged by "
                               f"{incident.acknowledged_by}")
        incident = replace(incident, status=IncidentStatus.ACKNOWLEDGED, acknowledged_at=tx.now,
                           acknowledged_by=cmd.actor)
        tx.event(incident, "acknowledged", actor=cmd.actor, note=cmd.args.get("note", ""),
                 seconds_to_ack=round(tx.now - incident.opened_at, 3))
        return incident

    def _cmd_confirm(self, tx: _Tx, playbook: Playbook, incident: Incident,
                     cmd: OperatorCommand) -> Incident:
        current = playbook.stage_index(incident.stage)
        stage = next((s for s in playbook.stages[current + 1:] if s.enter and s.enter.operator),
                     None)
        if stage is None:
            raise CommandError(f"{incident.id} is already in stage {incident.stage!r}; "
                               "there is no later stage an operator can confirm")
        return self._enter_stage(tx, playbook, incident, stage, reason="confirmed by operator",
                                 actor=cmd.actor, note=cmd.args.get("note", ""))

    def _cmd_close(self, tx: _Tx, playbook: Playbook, incident: Incident,
                   cmd: OperatorCommand) -> Incident:
        report = cmd.args.get("report", "").strip()
        if not report:
            raise CommandError("closing needs a report (--report TEXT)")
        incident = replace(incident, status=IncidentStatus.CLOSED, closed_at=tx.now,
                           closed_by=cmd.actor, report=report)
        tx.event(incident, "closed", actor=cmd.actor, report=report,
                 open_steps=[s.id for s in incident.steps if s.status is not StepStatus.DONE])
        return incident

    def _cmd_note(self, tx: _Tx, playbook: Playbook, incident: Incident,
                  cmd: OperatorCommand) -> Incident:
        text = cmd.args.get("text", "").strip()
        if not text:
            raise CommandError("a note needs text")
        tx.event(incident, "note", actor=cmd.actor, text=text)
        return incident

    def _cmd_step(self, tx: _Tx, playbook: Playbook, incident: Incident,
                  cmd: OperatorCommand) -> Incident:
        step_id = cmd.args.get("step", "")
        step = incident.step(step_id)
        if step is None:
            known = ", ".join(s.id for s in incident.steps) or "none"
            raise CommandError(f"{incident.id} has no step {step_id!r} (steps: {known})")
        if step.status is StepStatus.DONE:
            raise CommandError(f"step {step_id!r} was already done by {step.done_by}")
        done = replace(step, status=StepStatus.DONE, done_at=tx.now, done_by=cmd.actor,
                       note=cmd.args.get("note", ""))
        incident = replace(incident, steps=tuple(done if s.id == step_id else s
                                                 for s in incident.steps))
        tx.event(incident, "step_done", actor=cmd.actor, step=step_id, note=done.note,
                 on_time=step.due_at is None or tx.now <= step.due_at)
        return incident

    def _cmd_answer(self, tx: _Tx, playbook: Playbook, incident: Incident,
                    cmd: OperatorCommand) -> Incident:
        prompt_id = cmd.args.get("prompt", "")
        answer = cmd.args.get("answer", "").lower()
        if answer not in {"yes", "no"}:
            raise CommandError("answer yes or no")
        prompt = incident.prompt(prompt_id)
        if prompt is None:
            known = ", ".join(p.id for p in incident.prompts) or "none"
            raise CommandError(f"{incident.id} has no prompt {prompt_id!r} (prompts: {known})")
        if prompt.status is PromptStatus.ANSWERED:
            raise CommandError(f"prompt {prompt_id!r} was already answered "
                               f"{prompt.answer!r} by {prompt.answered_by}")
        answered = replace(prompt, status=PromptStatus.ANSWERED, answer=answer,
                           answered_by=cmd.actor, answered_at=tx.now)
        incident = replace(incident, prompts=tuple(answered if p.id == prompt_id else p
                                                   for p in incident.prompts))
        tx.event(incident, "prompt_answered", actor=cmd.actor, prompt=prompt_id, answer=answer)
        return incident

    # ------------------------------------------------------------------ time and feedback

    def next_due(self, state: EngineState) -> float | None:
        dues = [d for i in state.incidents.values() if (d := i.next_deadline()) is not None]
        return min(dues) if dues else None

    def on_tick(self, state: EngineState, now: float) -> Outcome:
        tx = _Tx(self, state, now)
        for incident in list(state.incidents.values()):
            due = incident.next_deadline()
            if due is None or due > now:
                continue
            steps = []
            for step in incident.steps:
                if step.status is not StepStatus.PENDING or step.due_at is None \
                        or step.due_at > now:
                    steps.append(step)
                    continue
                steps.append(replace(step, status=StepStatus.OVERDUE))
                late_by = now - step.due_at
                tx.event(incident, "deadline_missed", step=step.id, role=step.role,
                         due_at=step.due_at, late=late_by > LATE_AFTER,
                         late_by=round(late_by, 3))
                definition = self.playbooks[incident.type].stage(step.stage).steps
                escalate_to = next((d.escalate_to for d in definition if d.id == step.id), None)
                if escalate_to:
                    self._escalate(tx, incident, escalate_to, "deadline_missed", step=step.id)
            actions = []
            for action in incident.actions:
                if not action.awaiting_feedback or action.feedback_due is None \
                        or action.feedback_due > now:
                    actions.append(action)
                    continue
                detail = (f"no confirmation from {action.feedback_point} within "
                          f"{action.feedback_due - action.requested_at:.0f}s")
                actions.append(replace(action, status=ActionStatus.FAILED, updated_at=now,
                                       detail=detail))
                tx.event(incident, "action_failed", action=action.action,
                         actuator=action.actuator_id, detail=detail,
                         late=now - action.feedback_due > LATE_AFTER)
                if action.escalate_to:
                    self._escalate(tx, incident, action.escalate_to, "action_failed",
                                   action=action.id)
            tx.put(replace(incident, steps=tuple(steps), actions=tuple(actions)))
        return tx.out

    def _escalate(self, tx: _Tx, incident: Incident, to: str, reason: str,
                  **what: str) -> None:
        role = self.site.roles.get(to)
        tx.event(incident, "escalated", to=to, to_zh=role.zh if role else to,
                 to_en=role.en if role else to, reason=reason, **what)
        tx.out.effects.append(Publish(
            topic=f"{self.prefix}/notify/{to}",
            payload=json.dumps({
                "incident_id": incident.id, "type": incident.type,
                "location": incident.location.label(), "reason": reason, **what,
                "drill": incident.drill,
            }, ensure_ascii=False, separators=(",", ":")),
            kind="notify", incident_id=incident.id))

    def on_action_result(self, state: EngineState, incident_id: str, action_id: str,
                         status: ActionStatus, detail: str, now: float) -> Outcome:
        """What the dispatcher did with an action's command: sent, withheld or failed."""
        tx = _Tx(self, state, now)
        incident = state.incidents.get(incident_id)
        if incident is None:
            return tx.out
        action = next((a for a in incident.actions if a.id == action_id), None)
        if action is None or action.status is status or action.status in (
                ActionStatus.DONE, ActionStatus.FAILED):
            return tx.out
        if status is ActionStatus.WITHHELD:
            # a drill: nothing was written, so no confirmation will come
            action = replace(action, feedback_due=None)
        updated = replace(action, status=status, updated_at=now, detail=detail)
        incident = replace(incident, actions=tuple(updated if a.id == action_id else a
                                                   for a in incident.actions))
        tx.event(incident, f"action_{status.value}", action=action.action,
                 actuator=action.actuator_id, detail=detail)
        if status is ActionStatus.FAILED and action.escalate_to:
            self._escalate(tx, incident, action.escalate_to, "action_failed", action=action.id)
        known = state.point_values.get(updated.feedback_point)
        if status is ActionStatus.SENT and known is not None:
            # the device may already be where the command sends it (a car parked at the
            # ground floor with its doors open): its last report counts
            incident = self._confirm_actions(tx, incident, updated.feedback_point, *known)
        tx.put(incident)
        return tx.out

    def on_value(self, state: EngineState, point_id: str, value: object,
                 point_state: PointState, now: float) -> Outcome:
        """A point's value moved without a state change: it may confirm an action."""
        tx = _Tx(self, state, now)
        tx.out.point_values[point_id] = (value, point_state)
        self._feedback(tx, point_id, value, point_state)
        return tx.out

    def _feedback(self, tx: _Tx, point_id: str, value: object, point_state: PointState) -> None:
        if point_id not in self._feedback_points:
            return  # the common case, checked without looking at any incident
        for incident in list(tx.state.incidents.values()):
            current = tx.get(incident.id)
            assert current is not None
            if any(a.awaiting_feedback and a.feedback_point == point_id and
                   a.status is ActionStatus.SENT for a in current.actions):
                tx.put(self._confirm_actions(tx, current, point_id, value, point_state))

    def _confirm_actions(self, tx: _Tx, incident: Incident, point_id: str, value: object,
                         point_state: PointState) -> Incident:
        actions = []
        for action in incident.actions:
            updated = action
            if action.awaiting_feedback and action.status is ActionStatus.SENT \
                    and action.feedback_point == point_id:
                command = self.site.actuators[action.actuator_id].commands[action.command]
                assert command.feedback is not None
                if command.feedback.met(value, point_state):
                    detail = f"{point_id} reports {value}"
                    updated = replace(action, status=ActionStatus.DONE, updated_at=tx.now,
                                      detail=detail)
                    tx.event(incident, "action_done", action=action.action,
                             actuator=action.actuator_id, detail=detail,
                             seconds=round(tx.now - action.requested_at, 3))
            actions.append(updated)
        return replace(incident, actions=tuple(actions))


def _ref(signal: Signal) -> DeviceRef:
    return DeviceRef(signal.point_id, signal.device, signal.location, signal.state.value,
                     signal.at, signal.at)


def _update_device(incident: Incident, ref: DeviceRef, signal: Signal) -> Incident:
    new = replace(ref, state=signal.state.value, last_at=signal.at)
    return replace(incident, devices=tuple(new if r is ref else r for r in incident.devices))


def _signal_data(signal: Signal) -> dict[str, Any]:
    data: dict[str, Any] = {"state": signal.state.value, "kind": signal.kind.value,
                            "source": signal.source}
    if signal.device:
        data["device"] = signal.device
    if signal.value is not None:
        data["value"] = signal.value
    if signal.replayed:
        data["replayed"] = True
    return data
