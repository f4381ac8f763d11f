"""Actions of playbooks: each target's command queued (withheld in a drill), what the
dispatcher did with it, and the devices' feedback that makes it done. An actuator commanded by
hand (``by_hand``) goes the same way, as an incident's action or, for no incident, the site's."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gateway.config.site import ActuatorConfig
from gateway.domain.effects import Effect, MqttPublish, Outgoing, Purpose, target
from gateway.domain.events import Escalation, EventKind
from gateway.domain.incident import ActionState, Incident
from gateway.domain.model import ActionStatus, PointState, Text
from gateway.engine.state import EngineState, Outcome, Tx, location_key
from gateway.playbook.definition import ActionDef

if TYPE_CHECKING:
    from gateway.engine.machine import Engine


def hand_name(command: Text) -> Text:
    """What an action commanded by hand is called: its command's name, said to be by hand."""
    return Text(f"手动{command.zh}", f"{command.en} (by hand)")


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
        return [self.order(tx, incident, actuator, action.command,
                           action_id=f"{action.id}:{actuator.id}", action=action.id,
                           name=action.name, withhold=incident.drill,
                           escalate_to=action.escalate_to or "", prompt=prompt)
                for actuator in targets]

    def order(self, tx: Tx, incident: Incident | None, actuator: ActuatorConfig, command_id: str,
              *, action_id: str, action: str, name: Text, withhold: bool, escalate_to: str = "",
              prompt: str = "", by: str = "", reason: str = "") -> ActionState:
        """One command to one actuator queued (withheld: on record, never sent), for an
        incident or, commanded by hand for none, for the site; its state to follow."""
        now = tx.now
        command = actuator.commands[command_id]
        feedback = command.feedback
        effect: Effect
        if command.modbus is not None:
            effect = command.modbus
        else:
            effect = MqttPublish(command.topic, command.payload, command.qos, command.retain)
        hand: dict[str, Any] = {"by_hand": True, "reason": reason} if by else {}
        tx.action_event(incident, EventKind.ACTION_REQUESTED, actor=by, action=action,
                        action_id=action_id, actuator=actuator.id,
                        actuator_zh=actuator.name.zh, actuator_en=actuator.name.en,
                        command=command_id, topic=target(effect), name_zh=name.zh,
                        name_en=name.en, withheld=withhold,
                        feedback=feedback.point if feedback else "", prompt=prompt, **hand)
        tx.out.effects.append(Outgoing(effect, Purpose.COMMAND,
                                       incident.id if incident is not None else "", action_id,
                                       withhold=withhold))
        return ActionState(
            action_id, action, actuator.id, command_id, ActionStatus.PENDING, now, now,
            feedback_point=feedback.point if feedback else "",
            feedback_due=now + feedback.timeout if feedback else None,
            escalate_to=escalate_to, prompt=prompt, by=by, reason=reason)

    def said(self, action: ActionState) -> dict[str, Any]:
        """What each event of an action commanded by hand carries besides a playbook
        action's: that it was, by whom, and its name (a site's event is read on its own)."""
        if not action.by:
            return {}
        actuator = self.site.actuators.get(action.actuator_id)
        command = actuator.commands.get(action.command) if actuator is not None else None
        name = hand_name(command.name if command is not None
                         else Text(action.command, action.command))
        return {"by_hand": True, "by": action.by, "command": action.command,
                "name_zh": name.zh, "name_en": name.en}

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
        if not incident_id:  # commanded by hand for no incident: the site's
            site_action = tx.site_action(action_id)
            if site_action is not None:
                updated = self._result(tx, None, site_action, status, detail)
                if updated is not site_action:
                    tx.out.site_actions[action_id] = updated
            return tx.out
        incident = state.incidents.get(incident_id)
        if incident is None:
            return tx.out
        action = next((a for a in incident.actions if a.id == action_id), None)
        if action is None:
            return tx.out
        updated = self._result(tx, incident, action, status, detail)
        if updated is not action:
            tx.put(replace(incident, actions=tuple(updated if a.id == action_id else a
                                                   for a in incident.actions)))
        return tx.out

    def _result(self, tx: Tx, incident: Incident | None, action: ActionState,
                status: ActionStatus, detail: str) -> ActionState:
        if action.status is status or action.status in (ActionStatus.DONE, ActionStatus.FAILED):
            return action
        if status is ActionStatus.WITHHELD:
            # a drill: nothing was written, so no confirmation will come
            action = replace(action, feedback_due=None)
        updated = replace(action, status=status, updated_at=tx.now, detail=detail)
        tx.action_event(incident, EventKind.of_action(status.value), action=action.action,
                        action_id=action.id, actuator=action.actuator_id, detail=detail,
                        **self.said(action))
        if status is ActionStatus.FAILED and action.escalate_to and incident is not None:
            self.engine.timers.escalate(tx, incident, action.escalate_to,
                                        Escalation.ACTION_FAILED, action=action.id)
        known = tx.state.point_values.get(updated.feedback_point)
        if status is ActionStatus.SENT and known is not None:
            # the device may already be where the command sends it (a car parked at the
            # ground floor with its doors open): its last report counts
            updated = self._confirmed(tx, incident, updated, updated.feedback_point, *known)
        return updated

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
            if any(_awaits(a, point_id) for a in current.actions):
                tx.put(replace(current, actions=tuple(
                    self._confirmed(tx, current, a, point_id, value, point_state)
                    for a in current.actions)))
        for action in tx.site_actions():
            updated = self._confirmed(tx, None, action, point_id, value, point_state)
            if updated is not action:
                tx.out.site_actions[action.id] = updated

    def _confirmed(self, tx: Tx, incident: Incident | None, action: ActionState,
                   point_id: str, value: object, point_state: PointState) -> ActionState:
        """The action done when the point's report is the feedback its command waits for."""
        if not _awaits(action, point_id):
            return action
        actuator = self.site.actuators.get(action.actuator_id)
        command = actuator.commands.get(action.command) if actuator is not None else None
        feedback = command.feedback if command is not None else None
        if feedback is None or not feedback.met(value, point_state):
            return action
        detail = f"{point_id} reports {value}"
        tx.action_event(incident, EventKind.ACTION_DONE, action=action.action,
                        action_id=action.id, actuator=action.actuator_id, detail=detail,
                        seconds=round(tx.now - action.requested_at, 3), **self.said(action))
        return replace(action, status=ActionStatus.DONE, updated_at=tx.now, detail=detail)


def _awaits(action: ActionState, point_id: str) -> bool:
    return action.awaiting_feedback and action.status is ActionStatus.SENT \
        and action.feedback_point == point_id
