"""Time in the engine: the next thing due, triggers held for their duration, deadlines of
steps, branches and prompts, actions whose confirmation did not come; escalations and
notifications of the people on duty."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from gateway.domain import site_time
from gateway.domain.effects import Notify, Outgoing, Purpose
from gateway.domain.events import Escalation, EventKind
from gateway.domain.incident import ActionState, Incident
from gateway.domain.model import ActionStatus, BranchStatus, PromptStatus, StepStatus
from gateway.domain.roster import Duty
from gateway.engine.state import LATE_AFTER, EngineState, Tx
from gateway.playbook.definition import Playbook

if TYPE_CHECKING:
    from gateway.engine.machine import Engine


def _whom(duty: Duty | None) -> dict[str, str]:
    return {} if duty is None else {"person": duty.person, "deputy": duty.deputy}


class Timers:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.site = engine.site

    def next_due(self, state: EngineState) -> float | None:
        dues = [d for i in state.incidents.values() if (d := i.next_deadline()) is not None]
        dues += [p.due_at for p in state.pending.values()]
        dues += [a.feedback_due for a in state.site_actions.values()
                 if a.awaiting_feedback and a.feedback_due is not None]
        return min(dues) if dues else None

    def held_and_due(self, tx: Tx, now: float) -> None:
        """Triggers held for their duration that are due open; deadlines fall due."""
        state = tx.state
        engine = self.engine
        for key, held in sorted(state.pending.items()):
            if held.due_at > now:
                continue
            tx.out.pending[key] = None
            playbook = self.engine.playbooks.get(held.playbook)
            if playbook is not None and key not in state.by_key:
                incident_id = engine.open_held(tx, playbook, key, held.signal,
                                         held_for=round(now - held.signal.at, 3))
                for later in held.signals[1:]:
                    engine.attach(tx, playbook, tx.incident(incident_id), later)
        for incident in list(state.incidents.values()):
            due = incident.next_deadline()
            if due is None or due > now:
                continue
            self._tick_incident(tx, incident, now)
        for action in tx.site_actions():
            failed = self._unconfirmed(tx, None, action, now)
            if failed is not action:
                tx.out.site_actions[action.id] = failed

    def _tick_incident(self, tx: Tx, incident: Incident, now: float) -> None:
        playbook = self.engine.playbooks.get(incident.type)
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
        actions = [self._unconfirmed(tx, incident, action, now) for action in incident.actions]
        incident = replace(incident, steps=tuple(steps), actions=tuple(actions))
        if live and playbook is not None:
            incident = self._tick_prompts(tx, playbook, incident, now)
            incident = self._tick_branches(tx, playbook, incident, now)
        tx.put(incident)

    def _unconfirmed(self, tx: Tx, incident: Incident | None, action: ActionState,
                     now: float) -> ActionState:
        """An action whose confirmation did not come in time failed (and is escalated where
        its incident's playbook says)."""
        if not action.awaiting_feedback or action.feedback_due is None \
                or action.feedback_due > now:
            return action
        detail = (f"no confirmation from {action.feedback_point} within "
                  f"{action.feedback_due - action.requested_at:.0f}s")
        tx.action_event(incident, EventKind.ACTION_FAILED, action=action.action,
                        action_id=action.id, actuator=action.actuator_id, detail=detail,
                        late=now - action.feedback_due > LATE_AFTER,
                        **self.engine.actions.said(action))
        if action.escalate_to and incident is not None:
            self.escalate(tx, incident, action.escalate_to, Escalation.ACTION_FAILED,
                          action=action.id)
        return replace(action, status=ActionStatus.FAILED, updated_at=now, detail=detail)

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
                    actions.extend(self.engine.actions.request(tx, incident, action,
                                                               prompt=prompt.id))
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
        duty = self._on_duty(tx, to)
        tx.event(incident, EventKind.ESCALATED, to=to, to_zh=role.zh if role else to,
                 to_en=role.en if role else to, reason=reason, withheld=incident.drill,
                 **_whom(duty), **what)
        self._publish_notify(tx, incident, to, reason, what, duty)

    def notify(self, tx: Tx, incident: Incident, to: str, reason: Escalation,
               **what: str) -> None:
        role = self.site.roles.get(to)
        duty = self._on_duty(tx, to)
        tx.event(incident, EventKind.NOTIFIED, to=to, to_zh=role.zh if role else to,
                 to_en=role.en if role else to, reason=reason, withheld=incident.drill,
                 **_whom(duty), **what)
        self._publish_notify(tx, incident, to, reason, what, duty)

    def _on_duty(self, tx: Tx, role: str) -> Duty | None:
        """Who holds the role now, by the site's roster and its swaps (None: no roster names
        it)."""
        return tx.state.roster(self.site.roster).on_duty(role, site_time.local(tx.now))

    def _publish_notify(self, tx: Tx, incident: Incident, to: str, reason: str,
                        what: Mapping[str, str], duty: Duty | None) -> None:
        # a drill's notifications are recorded and withheld like its actuator writes; the
        # person on duty for the role (and the deputy) ride along for whoever reaches them
        tx.out.effects.append(Outgoing(Notify(to, json.dumps({
            "incident_id": incident.id, "type": incident.type,
            "location": incident.location.label(), "reason": reason, **what,
            "drill": incident.drill, **self._people(duty),
        }, ensure_ascii=False, separators=(",", ":"))), Purpose.NOTIFY, incident.id,
            withhold=incident.drill))

    def _people(self, duty: Duty | None) -> dict[str, object]:
        if duty is None:
            return {}
        people = self.site.people

        def card(pid: str) -> dict[str, object] | None:
            p = people.get(pid)
            return None if p is None else {
                "id": p.id, "name_zh": p.name.zh, "name_en": p.name.en, "phone": p.phone,
                "channels": [{"kind": c.kind, "address": c.address} for c in p.channels]}
        return {"on_duty": card(duty.person), "deputy": card(duty.deputy) if duty.deputy
                else None}
