"""Actuators commanded by hand: an elevator recalled or its recall reset, a valve closed, by
someone who says why (``actuate``).

Named for an incident, the command is one of the incident's actions as a playbook's auto-action
is: on its timeline, its feedback awaited until its timeout, its failure escalated where the
playbook escalates that command. For no incident it is a command of the site, kept in the
state's ``site_actions`` and followed the same way (``gateway.engine.actions``), its events facts
of the site. A drill's (a drill incident's, or a command given in the drill window as a drill)
is queued withheld: on record, never written. Pure, like the rest of the engine.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from gateway.config.schema import unknown_name
from gateway.config.site import ActuatorConfig
from gateway.domain.incident import ActionState, Incident
from gateway.domain.model import ActionStatus, IncidentStatus
from gateway.engine.actions import hand_name
from gateway.engine.state import EngineState, OperatorCommand, Outcome, Tx
from gateway.errors import CommandError, Refusal
from gateway.playbook.definition import Playbook

if TYPE_CHECKING:
    from gateway.engine.machine import Engine

BY_HAND = "by_hand"  # the action of an incident, or of the site, commanded by hand


class ByHand:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.site = engine.site

    def command(self, state: EngineState, cmd: OperatorCommand, now: float, *, number: int,
                drill: bool = False, stored: Incident | None = None) -> Outcome:
        """``number``: the command's own (its row in the store's queue), which names the
        action; ``stored``: the store's snapshot of the incident named, when the engine no
        longer holds it (closed)."""
        if not cmd.actor.strip():
            raise CommandError("say who you are (--by NAME)", code="who")
        actuator = self._actuator(cmd.args.get("actuator", "").strip())
        command_id = cmd.args.get("command", "").strip()
        command = actuator.commands.get(command_id)
        if command is None:
            raise CommandError(f"{actuator.id} has no command {command_id!r} (it has: "
                               f"{', '.join(sorted(actuator.commands))})",
                               code="no_actuator_command", actuator=actuator.id,
                               value=command_id)
        reason = cmd.args.get("reason", "").strip()
        if not reason:
            raise CommandError("say why (--reason TEXT): it goes on record",
                               code="actuate_reason")
        incident_id = (cmd.incident_id or cmd.args.get("incident", "")).strip()
        incident = self._incident(state, incident_id, stored) if incident_id else None
        tx = Tx(self.engine, state, now)
        withhold = drill or (incident is not None and incident.drill)
        action = f"{BY_HAND}-{number}"
        order = self.engine.actions.order
        if incident is None:
            for old in tx.site_actions():
                if old.actuator_id == actuator.id and _finished(old):
                    tx.out.site_actions[old.id] = None  # the new one is its last now
            made = order(tx, None, actuator, command_id, action_id=f"{action}:{actuator.id}",
                         action=action, name=hand_name(command.name), withhold=withhold,
                         by=cmd.actor, reason=reason)
            tx.out.site_actions[made.id] = made
        else:
            escalate_to = _escalation(self.engine.playbooks.get(incident.type), actuator,
                                      command_id)
            made = order(tx, incident, actuator, command_id,
                         action_id=f"{action}:{actuator.id}", action=action,
                         name=hand_name(command.name), withhold=withhold,
                         escalate_to=escalate_to, by=cmd.actor, reason=reason)
            tx.put(replace(incident, actions=(*incident.actions, made)))
        tx.out.result = _said(made, withhold, incident)
        return tx.out

    def _actuator(self, actuator_id: str) -> ActuatorConfig:
        actuator = self.site.actuators.get(actuator_id)
        if actuator is None:
            raise CommandError(unknown_name("actuator", actuator_id, self.site.actuators),
                               Refusal.NOT_FOUND, code="no_actuator", value=actuator_id)
        return actuator

    @staticmethod
    def _incident(state: EngineState, incident_id: str, stored: Incident | None) -> Incident:
        incident = state.incidents.get(incident_id)
        if incident is None and stored is not None and stored.id == incident_id:
            incident = stored
        if incident is None:
            raise CommandError(f"no incident {incident_id}", Refusal.NOT_FOUND,
                               code="no_incident", incident=incident_id)
        if incident.status is IncidentStatus.CLOSED:
            raise CommandError(f"{incident.id} is closed (by {incident.closed_by}); reopen it "
                               "first, or give the command for no incident", code="closed",
                               actor=incident.closed_by or "")
        return incident


def _finished(action: ActionState) -> bool:
    return action.status in (ActionStatus.DONE, ActionStatus.FAILED, ActionStatus.WITHHELD) \
        or (action.status is ActionStatus.SENT and not action.feedback_point)


def _escalation(playbook: Playbook | None, actuator: ActuatorConfig, command: str) -> str:
    """Whom the incident's playbook tells when this command fails as its own action."""
    if playbook is None:
        return ""
    for stage in playbook.stages:
        for action in (*stage.actions, *(a for p in stage.prompts for a in p.actions)):
            serves = actuator.id in action.actuators or action.actuator_kind is actuator.kind
            if action.command == command and serves and action.escalate_to:
                return action.escalate_to
    return ""


def _said(action: ActionState, withhold: bool, incident: Incident | None) -> str:
    what = f"{action.command} to {action.actuator_id} by hand" + (
        f" for {incident.id}" if incident is not None else "")
    if withhold:
        return f"{what}: a drill's, withheld (nothing is written)"
    if action.feedback_point and action.feedback_due is not None:
        return (f"{what}: queued; done when {action.feedback_point} confirms it, failed "
                f"after {action.feedback_due - action.requested_at:.0f}s without")
    return f"{what}: queued; done when sent (no feedback point)"
