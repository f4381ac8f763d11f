"""Actions of playbooks: each target's command queued (withheld in a drill), what the
dispatcher did with it, and the devices' feedback that makes it done."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from gateway.config.site import ActuatorConfig
from gateway.domain.effects import Effect, MqttPublish, Outgoing, Purpose, target
from gateway.domain.events import Escalation, EventKind
from gateway.domain.incident import ActionState, Incident
from gateway.domain.model import ActionStatus, PointState
from gateway.engine.state import EngineState, Outcome, Tx, location_key
from gateway.playbook.definition import ActionDef

if TYPE_CHECKING:
    from gateway.engine.machine import Engine


class Actions:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.site = engine.site
        # config-derived only (actuators never change under a running engine), so memoising
        # keeps decisions pure
        self._targets_cache: dict[tuple[str, str, tuple[str, ...]], list[ActuatorConfig]] = {}
        self._actuator_index: dict[tuple[str, str],
                                   dict[tuple[str, ...], list[ActuatorConfig]]] = {}
        self._feedback_points = {c.feedback.point for a in self.site.actuators.values()
                                 for c in a.commands.values() if c.feedback is not None}

    def request(self, tx: Tx, incident: Incident, action: ActionDef,
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

    def result(self, state: EngineState, incident_id: str, action_id: str,
               status: ActionStatus, detail: str, now: float) -> Outcome:
        """What the dispatcher did with an action's command: sent, withheld or failed."""
        tx = Tx(self.engine, state, now)
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
            self.engine.timers.escalate(tx, incident, action.escalate_to, Escalation.ACTION_FAILED,
                          action=action.id)
        known = state.point_values.get(updated.feedback_point)
        if status is ActionStatus.SENT and known is not None:
            # the device may already be where the command sends it (a car parked at the
            # ground floor with its doors open): its last report counts
            incident = self._confirm_actions(tx, incident, updated.feedback_point, *known)
        tx.put(incident)
        return tx.out

    def value(self, state: EngineState, point_id: str, value: object,
              point_state: PointState, now: float) -> Outcome:
        """A point's value moved without a state change: it may confirm an action."""
        tx = Tx(self.engine, state, now)
        tx.out.point_values[point_id] = (value, point_state)
        self.feedback(tx, point_id, value, point_state)
        return tx.out

    def feedback(self, tx: Tx, point_id: str, value: object, point_state: PointState) -> None:
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
