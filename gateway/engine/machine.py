"""The incident engine: a pure state machine.

``Engine.on_*(state, input, now) -> Outcome`` reads the state and never changes it, does no I/O
and reads no clock; ``apply(state, outcome)`` folds the outcome in. The runtime persists each
outcome (events, incident snapshots, outbox effects) in one transaction before anything leaves
the process, so a crash at any point replays cleanly. The operator commands are in
``gateway.workflow``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from gateway.config.site import ActuatorConfig, SiteConfig
from gateway.domain.conditions import name as condition_name
from gateway.domain.effects import Effect, MqttPublish, Notify, Outgoing, Purpose, target
from gateway.domain.events import REOPENED_BY_ALARM, Escalation, EventKind, StageReason
from gateway.domain.incident import (
    ActionState,
    BranchState,
    DeviceRef,
    Incident,
    PromptState,
    StepState,
)
from gateway.domain.model import (
    ActionStatus,
    BranchStatus,
    IncidentStatus,
    Location,
    PointState,
    PromptStatus,
    Signal,
    StepStatus,
)
from gateway.engine.state import (
    LATE_AFTER,
    EngineState,
    OperatorCommand,
    Outcome,
    PendingOpen,
    Tx,
    correlation_key,
    location_key,
    place,
)
from gateway.playbook.definition import ActionDef, OptionDef, Playbook, StageDef, Trigger

# what a StageReason is said with, on the events it explains
_REASON_PARTICULARS = ("point", "state", "count", "within", "by_branch", "by_option")


class Engine:
    def __init__(self, site: SiteConfig, playbooks: Mapping[str, Playbook]) -> None:
        from gateway.engine.workflow import Workflow

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
        self._triggered = [(p, p.trigger) for p in self.playbooks.values()
                           if p.trigger is not None]
        self._groups = {pid: p.group for pid, p in site.points.items()}
        # the points read from one physical device, each point to all of them
        by_device: dict[str, list[str]] = {}
        for point in site.points.values():
            by_device.setdefault(point.device_key, []).append(point.id)
        self._same_device = {pid: tuple(ids) for ids in by_device.values() for pid in ids}
        self.config_version = ""  # set by the runtime: recorded on every incident opened
        # per playbook, the parts of a place its trigger's points never have (an elevator's
        # button has no floor): an incident opened by hand with them filled in must still be
        # the one its devices join
        self.unplaced: dict[str, tuple[str, ...]] = {}
        for playbook, trigger in self._triggered:
            points = [p for p in site.points.values()
                      if (trigger.point_kinds is None or p.kind in trigger.point_kinds)
                      and (trigger.points is None or p.id in trigger.points)]
            if points:
                self.unplaced[playbook.id] = tuple(
                    part for part in ("building", "floor", "zone", "unit")
                    if all(not getattr(p.location, part) for p in points))
        self.workflow = Workflow(self)

    # ------------------------------------------------------------------ signals

    def on_signal(self, state: EngineState, signal: Signal, now: float) -> Outcome:
        tx = Tx(self, state, now)
        tx.out.point_values[signal.point_id] = (signal.value, signal.state)
        self._feedback(tx, signal.point_id, signal.value, signal.state)
        touched: set[str] = set()
        if signal.state in (PointState.TROUBLE, PointState.OFFLINE):
            # a trouble of a device already in an alarm incident (the car of an entrapment
            # going out of service) is part of that incident, not one of its own
            touched.update(self._attach_trouble(tx, signal))
        if not touched:
            where = place(signal.location)
            group = self._groups.get(signal.point_id, "gateway")
            for playbook, trigger in self._triggered:
                touched.update(self._by_trigger(tx, playbook, trigger, signal, where, group))
        self._on_devices_incidents(tx, signal, touched)
        tx.out.attached = sorted(touched)
        return tx.out

    def _by_trigger(self, tx: Tx, playbook: Playbook, trigger: Trigger, signal: Signal,
                    where: dict[str, str], group: str) -> list[str]:
        """What one playbook's trigger makes of a signal: an incident opened, joined or held
        for its duration; the incidents it touched."""
        state = tx.state
        opens = trigger.matches(signal.kind, signal.state, signal.point_id, where)
        joins = not opens and trigger.joins(signal.kind, signal.state)
        key = correlation_key(playbook, signal.location, signal.point_id, signal.drill, group)
        if not opens and not joins:
            if state.pending or tx.out.pending:
                self._unhold(tx, key, signal)
            return []
        incident_id = state.by_key.get(key)
        if incident_id is not None:
            incident = tx.incident(incident_id)
            return [incident_id] if self._attach(tx, playbook, incident, signal) else []
        if joins:
            # a point that joins an open incident but never opens one (the generator failing
            # to start during a mains outage), or the hold of one
            if self._held(tx, key) is not None:
                self._hold(tx, playbook, key, signal, None)
            return []
        if trigger.duration:
            self._hold(tx, playbook, key, signal, tx.now + trigger.duration)
        elif signal.changed:
            return [self._open(tx, playbook, key, signal)]
        return []

    def _on_devices_incidents(self, tx: Tx, signal: Signal, touched: set[str]) -> None:
        """A device of an open incident changed without matching its trigger (restored,
        faulted, went offline): the incident records it and stays open; a repeat of what it
        already knows (a heartbeat) leaves it alone."""
        if not signal.changed:
            return
        for incident_id in sorted(tx.state.by_point.get(signal.point_id, ())):
            if incident_id in touched:
                continue
            incident = tx.incident(incident_id)
            touched.add(incident_id)
            incident = replace(incident, signal_count=incident.signal_count + 1)
            ref = incident.device(signal.point_id, signal.device, signal.condition)
            if ref is not None:
                incident = _update_device(incident, ref, signal)
            tx.event(incident, EventKind.SIGNAL, point_id=signal.point_id,
                     **_signal_data(signal))
            tx.put(incident)

    def _attach_trouble(self, tx: Tx, signal: Signal) -> list[str]:
        """Put a trouble or offline signal on the open alarm incidents that hold its device
        (any point read from the same Modbus unit or MQTT device); their ids."""
        homes: set[str] = set()
        for point_id in self._same_device.get(signal.point_id, (signal.point_id,)):
            homes.update(tx.state.by_point.get(point_id, ()))
        found = []
        for incident_id in sorted(homes):
            incident = tx.get(incident_id)
            playbook = self.playbooks.get(incident.type) if incident is not None else None
            if incident is None or playbook is None or playbook.is_fault \
                    or incident.drill != signal.drill:
                continue
            ref = incident.device(signal.point_id, signal.device, signal.condition)
            if ref is not None and not signal.changed:
                found.append(incident_id)  # known already: nothing to add
                continue
            incident = replace(incident, signal_count=incident.signal_count + 1)
            data = _signal_data(signal)
            if ref is None:
                incident = replace(incident, devices=(*incident.devices, _ref(signal)))
                data["new_device"] = True
            else:
                incident = _update_device(incident, ref, signal)
            tx.event(incident, EventKind.SIGNAL, point_id=signal.point_id, **data)
            tx.put(incident)
            found.append(incident_id)
        return found

    def _held(self, tx: Tx, key: str) -> PendingOpen | None:
        if key in tx.out.pending:
            return tx.out.pending[key]
        return tx.state.pending.get(key)

    def _hold(self, tx: Tx, playbook: Playbook, key: str, signal: Signal,
              due: float | None) -> None:
        """Start a hold (``due``: when it opens), or add a signal to the one running."""
        held = self._held(tx, key)
        if held is None:
            if due is not None:
                tx.out.pending[key] = PendingOpen(playbook.id, (signal,), due)
        elif signal.point_id not in held.points() or signal.device not in {
                s.device for s in held.signals if s.point_id == signal.point_id}:
            tx.out.pending[key] = replace(held, signals=(*held.signals, signal))

    def _unhold(self, tx: Tx, key: str, signal: Signal) -> None:
        """A point back out of the trigger's states leaves a hold; the last one ends it."""
        held = self._held(tx, key)
        if held is None or signal.point_id not in held.points():
            return
        rest = tuple(s for s in held.signals if (s.point_id, s.device) != signal.source_key)
        tx.out.pending[key] = replace(held, signals=rest) if rest else None

    def _open(self, tx: Tx, playbook: Playbook, key: str, signal: Signal, *,
              held_for: float | None = None) -> str:
        incident = self.new_incident(tx, playbook, key, signal.location, drill=signal.drill,
                                     devices=(_ref(signal),))
        incident = replace(incident, alarm_places=(signal.location,))
        extra: dict[str, Any] = {}
        if held_for is not None:
            extra["held_for"] = held_for
        tx.event(incident, EventKind.INCIDENT_OPENED, point_id=signal.point_id,
                 name_zh=playbook.name.zh, name_en=playbook.name.en,
                 location=incident.location.label(), trigger_at=signal.at,
                 commander_role=incident.commander_role, **extra, **_signal_data(signal))
        incident = self.enter_stage(tx, playbook, incident, playbook.stages[0],
                                    reason=StageReason.OPENED)
        incident = self._advance(tx, playbook, incident)
        tx.put(incident)
        return incident.id

    def new_incident(self, tx: Tx, playbook: Playbook, key: str, location: Location, *,
                     drill: bool, devices: tuple[DeviceRef, ...] = (),
                     opened_by: str = "") -> Incident:
        number = tx.state.next_number + tx.out.opened
        tx.out.opened += 1
        return Incident(
            id=f"INC-{number:06d}", type=playbook.id, key=key, severity=playbook.severity,
            status=IncidentStatus.OPEN, stage=playbook.stages[0].id, location=location,
            opened_at=tx.now, updated_at=tx.now, drill=drill, devices=devices,
            signal_count=len(devices), commander_role=playbook.commander, opened_by=opened_by,
            config=self.config_version)

    def _attach(self, tx: Tx, playbook: Playbook, incident: Incident, signal: Signal) -> bool:
        """Add a signal to an open incident; False for a repeat of a device it holds already
        (a heartbeat), which changes nothing."""
        ref = incident.device(signal.point_id, signal.device, signal.condition)
        if ref is not None and not signal.changed:
            return False
        incident = replace(incident, signal_count=incident.signal_count + 1)
        data = _signal_data(signal)
        if ref is None:
            incident = replace(incident, devices=(*incident.devices, _ref(signal)))
            data["new_device"] = True
            fresh = True
        else:
            fresh = ref.state != signal.state.value
            incident = _update_device(incident, ref, signal)
        chattering = bool(signal.chattering) and ref is not None
        if fresh and not chattering:
            # a device newly in alarm is announced as a fire panel does: on the timeline with
            # its place, and the incident is unacknowledged again (the board flashes and
            # sounds); a resolved one is reopened, unacknowledged
            reopen = incident.status is IncidentStatus.RESOLVED
            if reopen:
                incident = replace(incident, resolved_at=None, resolved_by="",
                                   reopened=incident.reopened + 1)
            if incident.status is not IncidentStatus.OPEN:
                incident = replace(incident, status=IncidentStatus.OPEN, announced_at=tx.now)
            known = incident.places()  # its own place while opened by hand, device-less
            new_place = signal.location not in known
            if new_place:
                incident = replace(incident, alarm_places=(*known, signal.location))
            data.update(announced=True, place=signal.location.label(), new_place=new_place)
            tx.event(incident, EventKind.SIGNAL, point_id=signal.point_id, **data)
            if reopen:
                tx.event(incident, EventKind.REOPENED, point_id=signal.point_id,
                         cause=REOPENED_BY_ALARM, unacknowledged=True)
            if new_place:
                self._refresh_calls(tx, playbook, incident)
        else:
            tx.event(incident, EventKind.SIGNAL, point_id=signal.point_id, **data)
            if chattering and fresh:
                incident = self._chattering(tx, incident, signal)
        incident = self._advance(tx, playbook, incident)
        tx.put(incident)
        return True

    def _chattering(self, tx: Tx, incident: Incident, signal: Signal) -> Incident:
        """ISA-18.2: a device back in alarm 3 times or more within a minute is flagged once,
        not announced again each cycle."""
        ref = incident.device(signal.point_id, signal.device, signal.condition)
        if ref is None:
            return incident
        if not ref.chattering:
            tx.event(incident, EventKind.CHATTERING, point_id=signal.point_id, device=signal.device,
                     activations=signal.chattering)
        new = replace(ref, chattering=signal.chattering)
        return replace(incident, devices=tuple(new if r is ref else r for r in incident.devices))

    def _refresh_calls(self, tx: Tx, playbook: Playbook, incident: Incident) -> None:
        """The facts of the incident's outside calls name every place in alarm: a new place
        is said again (the 119 call's "where")."""
        for state in incident.prompts:
            definition = playbook.prompt(state.stage, state.id)
            if definition is None or not definition.call:
                continue
            tx.event(incident, EventKind.CALL_FACTS_UPDATED, prompt=state.id,
                     call=self.call_facts(definition.call, definition.facts, playbook, incident),
                     answered=not state.waiting)

    def _advance(self, tx: Tx, playbook: Playbook, incident: Incident) -> Incident:
        """Enter every stage whose device condition now holds."""
        for stage in playbook.stages[1:]:
            enter = stage.enter
            if enter is None or stage.id in incident.entered:
                continue
            if enter.state is not None:
                reached = [r for r in incident.devices if r.state == enter.state.value
                           and (enter.point_kinds is None or r.kind in enter.point_kinds)]
                if reached:
                    incident = self.enter_stage(
                        tx, playbook, incident, stage,
                        reason=StageReason.POINT_REACHED, point=reached[0].point_id,
                        state=enter.state.value, devices=[r.point_id for r in reached])
                continue
            need = enter.independent_devices
            if need is None:
                continue
            groups: dict[tuple[str, ...], list[DeviceRef]] = {}
            for ref in incident.devices:
                groups.setdefault(location_key(ref.location, enter.within, ref.point_id),
                                  []).append(ref)
            met = next((refs for refs in groups.values() if len(refs) >= need), None)
            if met is None:
                continue
            names = [f"{r.point_id}/{r.device}" if r.device else r.point_id for r in met]
            incident = self.enter_stage(
                tx, playbook, incident, stage,
                reason=StageReason.DEVICES_IN_SCOPE, count=len(met), within=enter.within,
                devices=names)
        return incident

    def enter_stage(self, tx: Tx, playbook: Playbook, incident: Incident, stage: StageDef,
                    *, reason: StageReason, actor: str = "", **extra: Any) -> Incident:
        """Enter ``stage`` for ``reason`` (its particulars in ``extra``, on the event)."""
        now = tx.now
        incident = replace(incident, stage=stage.id, entered=(*incident.entered, stage.id))
        if stage.verdict is not None:
            incident = replace(incident, verdict=stage.verdict)
        tx.event(incident, EventKind.STAGE_ENTERED, actor=actor, stage=stage.id,
                 stage_name_zh=stage.name.zh, stage_name_en=stage.name.en, reason=reason,
                 verdict=stage.verdict.value if stage.verdict else None, **extra)
        # a branch that offered this stage is decided by it (the second detector confirmed
        # the fire before the patrol reported), for the same reason
        why = {k: v for k, v in extra.items() if k in _REASON_PARTICULARS}
        branches = []
        for branch in incident.branches:
            option = self._option_to(playbook, branch, stage.id)
            if branch.status is BranchStatus.OPEN and option is not None:
                tx.event(incident, EventKind.BRANCH_DECIDED, actor=actor, branch=branch.id,
                         option=option.id, label_zh=option.label.zh, label_en=option.label.en,
                         reason=reason, on_time=branch.due_at is None or now <= branch.due_at,
                         verdict=option.verdict.value if option.verdict else None, **why)
                if option.verdict is not None:
                    incident = replace(incident, verdict=option.verdict)
                branches.append(replace(branch, status=BranchStatus.DECIDED, option=option.id,
                                        decided_by=actor, decided_at=now,
                                        note=str(extra.get("note", ""))))
            else:
                branches.append(branch)
        for role in stage.notify:
            self.notify(tx, incident, role, Escalation.STAGE_ENTERED, stage=stage.id)
        steps = list(incident.steps)
        for step in stage.steps:
            due = now + step.deadline if step.deadline is not None else None
            steps.append(StepState(step.id, stage.id, step.role, StepStatus.PENDING, now, due))
            tx.event(incident, EventKind.STEP_STARTED, step=step.id, role=step.role,
                     text_zh=step.text.zh, text_en=step.text.en, due_at=due,
                     arrival=step.arrival)
        actions = list(incident.actions)
        for action in stage.actions:
            actions.extend(self.request_action(tx, incident, action))
        prompts = list(incident.prompts)
        for prompt in stage.prompts:
            due = now + prompt.timeout if prompt.timeout is not None else None
            prompts.append(PromptState(prompt.id, stage.id, PromptStatus.OPEN, now, due_at=due))
            data: dict[str, Any] = {
                "prompt": prompt.id, "text_zh": prompt.text.zh, "text_en": prompt.text.en,
                "due_at": due, "on_timeout": prompt.on_timeout,
                "second_confirmation": prompt.second_confirmation,
                "actions": [a.id for a in prompt.actions]}
            if prompt.call:
                data["call"] = self.call_facts(prompt.call, prompt.facts, playbook, incident)
            tx.event(incident, EventKind.PROMPT_RAISED, **data)
        if stage.branch is not None:
            b = stage.branch
            due = now + b.deadline if b.deadline is not None else None
            branches.append(BranchState(b.id, stage.id, b.role, BranchStatus.OPEN, now, due))
            tx.event(incident, EventKind.BRANCH_RAISED, branch=b.id, role=b.role,
                     question_zh=b.question.zh, question_en=b.question.en, due_at=due,
                     options=[{"id": o.id, "zh": o.label.zh, "en": o.label.en}
                              for o in b.options])
        return replace(incident, steps=tuple(steps), actions=tuple(actions),
                       prompts=tuple(prompts), branches=tuple(branches))

    @staticmethod
    def _option_to(playbook: Playbook, branch: BranchState, stage_id: str) -> OptionDef | None:
        definition = playbook.stage(branch.stage).branch
        if definition is None:
            return None
        return next((o for o in definition.options if o.goto == stage_id), None)

    def request_action(self, tx: Tx, incident: Incident, action: ActionDef,
                       prompt: str = "") -> list[ActionState]:
        """Queue an action's command to each target; a drill's are queued withheld."""
        now = tx.now
        if action.actuators:
            targets = [self.site.actuators[a] for a in action.actuators]
        elif action.actuator_kind is not None:
            targets = self._targets(action.actuator_kind.value, action.scope, incident)
        else:
            targets = []  # the playbook check refuses such an action; none is sent
        if not targets:
            tx.event(incident, EventKind.ACTION_SKIPPED, action=action.id, name_zh=action.name.zh,
                     name_en=action.name.en,
                     detail=f"no {action.actuator_kind or 'listed'} actuator serves "
                            f"{incident.location.label()} at {action.scope} level")
        states = []
        for actuator in targets:
            command = actuator.commands[action.command]
            action_id = f"{action.id}:{actuator.id}"
            feedback = command.feedback
            states.append(ActionState(
                action_id, action.id, actuator.id, action.command, ActionStatus.PENDING,
                now, now, feedback_point=feedback.point if feedback else "",
                feedback_due=now + feedback.timeout if feedback else None,
                escalate_to=action.escalate_to or "", prompt=prompt))
            effect: Effect
            if command.modbus is not None:
                effect = command.modbus
            else:
                effect = MqttPublish(command.topic, command.payload, command.qos,
                                     command.retain)
            tx.event(incident, EventKind.ACTION_REQUESTED, action=action.id, action_id=action_id,
                     actuator=actuator.id,
                     actuator_zh=actuator.name.zh, actuator_en=actuator.name.en,
                     command=action.command, topic=target(effect), name_zh=action.name.zh,
                     name_en=action.name.en, withheld=incident.drill,
                     feedback=feedback.point if feedback else "", prompt=prompt)
            tx.out.effects.append(Outgoing(effect, Purpose.COMMAND, incident.id, action_id,
                                           withhold=incident.drill))
        return states

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

    def call_facts(self, contact_id: str, facts: Iterable[str], playbook: Playbook,
                   incident: Incident) -> dict[str, str]:
        """What the operator reads out on an outside call, filled from the site config."""
        contact = self.site.contacts[contact_id]
        site = self.site
        places = incident.places()
        where_zh = "、".join(_where_zh(loc) for loc in places)
        where_en = ", ".join(loc.label() for loc in places)
        every = {
            "project": (site.site_name.zh, site.site_name.en),
            "address": (site.address.zh, site.address.en),
            "crossroads": (site.crossroads.zh, site.crossroads.en) if site.crossroads
            else ("", ""),
            "where": (where_zh, where_en),
            "what": (playbook.name.zh, playbook.name.en),
            "callback": (site.callback_phone, site.callback_phone),
            "caller": ("", ""),  # the operator who makes the call: filled when answered
        }
        out = {"contact": contact.id, "name_zh": contact.name.zh, "name_en": contact.name.en,
               "phone": contact.phone, "facts": ",".join(facts)}
        for fact in facts:
            zh, en = every[fact]
            out[f"{fact}_zh"] = zh
            out[f"{fact}_en"] = en
        return out

    # ------------------------------------------------------------------ operators

    def on_command(self, state: EngineState, command: OperatorCommand, now: float,
                   stored: Incident | None = None) -> Outcome:
        """An operator's command; ``stored`` is the incident as the store has it, for the
        commands that work on closed incidents (reopen, follow-up done)."""
        return self.workflow.handle(state, command, now, stored)

    # ------------------------------------------------------------------ time and feedback

    def next_due(self, state: EngineState) -> float | None:
        dues = [d for i in state.incidents.values() if (d := i.next_deadline()) is not None]
        dues += [p.due_at for p in state.pending.values()]
        return min(dues) if dues else None

    def on_tick(self, state: EngineState, now: float) -> Outcome:
        tx = Tx(self, state, now)
        for key, held in sorted(state.pending.items()):
            if held.due_at > now:
                continue
            tx.out.pending[key] = None
            playbook = self.playbooks.get(held.playbook)
            if playbook is not None and key not in state.by_key:
                incident_id = self._open(tx, playbook, key, held.signal,
                                         held_for=round(now - held.signal.at, 3))
                for later in held.signals[1:]:
                    self._attach(tx, playbook, tx.incident(incident_id), later)
        for incident in list(state.incidents.values()):
            due = incident.next_deadline()
            if due is None or due > now:
                continue
            self._tick_incident(tx, incident, now)
        return tx.out

    def _tick_incident(self, tx: Tx, incident: Incident, now: float) -> None:
        playbook = self.playbooks.get(incident.type)
        live = incident.live
        steps = []
        for step in incident.steps:
            if not live or step.status is not StepStatus.PENDING or step.due_at is None \
                    or step.due_at > now:
                steps.append(step)
                continue
            steps.append(replace(step, status=StepStatus.OVERDUE))
            late_by = now - step.due_at
            tx.event(incident, EventKind.DEADLINE_MISSED, step=step.id, role=step.role,
                     due_at=step.due_at, late=late_by > LATE_AFTER, late_by=round(late_by, 3))
            definition = playbook.step(step.stage, step.id) if playbook else None
            if definition is not None and definition.escalate_to:
                self.escalate(tx, incident, definition.escalate_to, Escalation.DEADLINE_MISSED,
                              step=step.id)
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
            tx.event(incident, EventKind.ACTION_FAILED, action=action.action, action_id=action.id,
                     actuator=action.actuator_id, detail=detail,
                     late=now - action.feedback_due > LATE_AFTER)
            if action.escalate_to:
                self.escalate(tx, incident, action.escalate_to, Escalation.ACTION_FAILED,
                              action=action.id)
        incident = replace(incident, steps=tuple(steps), actions=tuple(actions))
        if live and playbook is not None:
            incident = self._tick_prompts(tx, playbook, incident, now)
            incident = self._tick_branches(tx, playbook, incident, now)
        tx.put(incident)

    def _tick_prompts(self, tx: Tx, playbook: Playbook, incident: Incident,
                      now: float) -> Incident:
        prompts = []
        actions = list(incident.actions)
        for prompt in incident.prompts:
            if not prompt.waiting or prompt.timed_out or prompt.due_at is None \
                    or prompt.due_at > now:
                prompts.append(prompt)
                continue
            definition = playbook.prompt(prompt.stage, prompt.id)
            policy = definition.on_timeout if definition else "wait"
            tx.event(incident, EventKind.PROMPT_TIMED_OUT, prompt=prompt.id, policy=policy,
                     due_at=prompt.due_at, late=now - prompt.due_at > LATE_AFTER)
            if policy == "act" and definition is not None:
                prompts.append(replace(prompt, status=PromptStatus.ACTED_ON_TIMEOUT,
                                       timed_out=True))
                for action in definition.actions:
                    actions.extend(self.request_action(tx, incident, action, prompt=prompt.id))
            else:
                prompts.append(replace(prompt, timed_out=True))
                if policy == "escalate" and definition is not None and definition.escalate_to:
                    self.escalate(tx, incident, definition.escalate_to,
                                  Escalation.PROMPT_TIMED_OUT, prompt=prompt.id)
        return replace(incident, prompts=tuple(prompts), actions=tuple(actions))

    def _tick_branches(self, tx: Tx, playbook: Playbook, incident: Incident,
                       now: float) -> Incident:
        branches = []
        for branch in incident.branches:
            if branch.status is not BranchStatus.OPEN or branch.overdue \
                    or branch.due_at is None or branch.due_at > now:
                branches.append(branch)
                continue
            tx.event(incident, EventKind.DEADLINE_MISSED, branch=branch.id, role=branch.role,
                     due_at=branch.due_at, late=now - branch.due_at > LATE_AFTER,
                     late_by=round(now - branch.due_at, 3))
            definition = playbook.stage(branch.stage).branch
            if definition is not None and definition.escalate_to:
                self.escalate(tx, incident, definition.escalate_to, Escalation.DEADLINE_MISSED,
                              branch=branch.id)
            branches.append(replace(branch, overdue=True))
        return replace(incident, branches=tuple(branches))

    def escalate(self, tx: Tx, incident: Incident, to: str, reason: Escalation,
                 **what: str) -> None:
        role = self.site.roles.get(to)
        tx.event(incident, EventKind.ESCALATED, to=to, to_zh=role.zh if role else to,
                 to_en=role.en if role else to, reason=reason, withheld=incident.drill, **what)
        self._publish_notify(tx, incident, to, reason, what)

    def notify(self, tx: Tx, incident: Incident, to: str, reason: Escalation,
               **what: str) -> None:
        role = self.site.roles.get(to)
        tx.event(incident, EventKind.NOTIFIED, to=to, to_zh=role.zh if role else to,
                 to_en=role.en if role else to, reason=reason, withheld=incident.drill, **what)
        self._publish_notify(tx, incident, to, reason, what)

    def _publish_notify(self, tx: Tx, incident: Incident, to: str, reason: str,
                        what: Mapping[str, str]) -> None:
        # a drill's notifications are recorded and withheld like its actuator writes
        tx.out.effects.append(Outgoing(Notify(to, json.dumps({
            "incident_id": incident.id, "type": incident.type,
            "location": incident.location.label(), "reason": reason, **what,
            "drill": incident.drill,
        }, ensure_ascii=False, separators=(",", ":"))), Purpose.NOTIFY, incident.id,
            withhold=incident.drill))

    def on_action_result(self, state: EngineState, incident_id: str, action_id: str,
                         status: ActionStatus, detail: str, now: float) -> Outcome:
        """What the dispatcher did with an action's command: sent, withheld or failed."""
        tx = Tx(self, state, now)
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
        tx.event(incident, EventKind.of_action(status.value), action=action.action,
                 action_id=action.id, actuator=action.actuator_id, detail=detail)
        if status is ActionStatus.FAILED and action.escalate_to:
            self.escalate(tx, incident, action.escalate_to, Escalation.ACTION_FAILED,
                          action=action.id)
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
        tx = Tx(self, state, now)
        tx.out.point_values[point_id] = (value, point_state)
        self._feedback(tx, point_id, value, point_state)
        return tx.out

    def _feedback(self, tx: Tx, point_id: str, value: object, point_state: PointState) -> None:
        if point_id not in self._feedback_points:
            return  # the common case, checked without looking at any incident
        for incident in list(tx.state.incidents.values()):
            current = tx.incident(incident.id)
            if any(a.awaiting_feedback and a.feedback_point == point_id and
                   a.status is ActionStatus.SENT for a in current.actions):
                tx.put(self._confirm_actions(tx, current, point_id, value, point_state))

    def _confirm_actions(self, tx: Tx, incident: Incident, point_id: str, value: object,
                         point_state: PointState) -> Incident:
        actions = []
        for action in incident.actions:
            updated = action
            if action.awaiting_feedback and action.status is ActionStatus.SENT \
                    and action.feedback_point == point_id:
                feedback = self.site.actuators[action.actuator_id].commands[action.command] \
                    .feedback
                if feedback is not None and feedback.met(value, point_state):
                    detail = f"{point_id} reports {value}"
                    updated = replace(action, status=ActionStatus.DONE, updated_at=tx.now,
                                      detail=detail)
                    tx.event(incident, EventKind.ACTION_DONE, action=action.action,
                             action_id=action.id, actuator=action.actuator_id, detail=detail,
                             seconds=round(tx.now - action.requested_at, 3))
            actions.append(updated)
        return replace(incident, actions=tuple(actions))


def _where_zh(loc: Location) -> str:
    zone = ""
    if loc.zone:
        # a numbered zone is a fire-alarm zone (防区); a named one (kitchen, elevator-1) is
        # said as it is
        zone = f"{loc.zone}防区" if loc.zone.isdigit() else f" {loc.zone} "
    return "".join(filter(None, [
        f"{loc.building}号楼" if loc.building else "", f"{loc.floor}层" if loc.floor else "",
        zone, f"{loc.unit}室" if loc.unit else ""])).strip()


def _ref(signal: Signal) -> DeviceRef:
    return DeviceRef(signal.point_id, signal.device, signal.location, signal.state.value,
                     signal.at, signal.at, signal.kind.value, condition=signal.condition)


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
    if signal.chattering:
        data["chattering"] = signal.chattering
    if signal.condition:
        said = condition_name(signal.condition)
        data.update(condition=signal.condition, condition_zh=said.zh, condition_en=said.en)
    return data
