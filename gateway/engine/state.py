"""The engine's state and what one decision produces: incidents by key and point, held
triggers, the outcome of an input, and how the runtime folds it in. Shared by the engine and
the operator workflow."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from gateway.domain.effects import MqttPublish, Outgoing, Purpose
from gateway.domain.events import EventKind
from gateway.domain.incident import ActionState, Incident
from gateway.domain.model import Event, IncidentStatus, Location, PointState, Signal, Text
from gateway.domain.roster import Override, Roster
from gateway.playbook.definition import Playbook

if TYPE_CHECKING:
    from gateway.engine.machine import Engine


# A timer that fires this much after its due time is marked late (e.g. it fell due while the
# gateway was down); below it, it is just the scheduler's jitter.
LATE_AFTER = 2.0


@dataclass(frozen=True, slots=True)
class OperatorCommand:
    verb: str
    incident_id: str
    actor: str
    args: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PendingOpen:
    """A trigger held for its duration: the signals in its state so far (the first started
    the hold) and when it opens. It is dropped only when all of them are back."""

    playbook: str
    signals: tuple[Signal, ...]
    due_at: float

    @property
    def signal(self) -> Signal:
        return self.signals[0]

    def points(self) -> set[str]:
        return {s.point_id for s in self.signals}


@dataclass(slots=True)
class Outcome:
    incidents: dict[str, Incident] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    effects: list[Outgoing] = field(default_factory=list)
    attached: list[str] = field(default_factory=list)
    opened: int = 0
    point_values: dict[str, tuple[object, PointState]] = field(default_factory=dict)
    # trigger keys held for their duration (None: no longer held)
    pending: dict[str, PendingOpen | None] = field(default_factory=dict)
    # actuators commanded by hand for no incident, by action id (None: no longer kept)
    site_actions: dict[str, ActionState | None] = field(default_factory=dict)
    result: str = ""  # what an operator command did, in a line


@dataclass(slots=True)
class EngineState:
    incidents: dict[str, Incident] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    by_point: dict[str, set[str]] = field(default_factory=dict)
    next_number: int = 1
    # the last value and state of every point that reported, for action feedback
    point_values: dict[str, tuple[object, PointState]] = field(default_factory=dict)
    pending: dict[str, PendingOpen] = field(default_factory=dict)
    # actuators commanded by hand for no incident (the site's): each in flight, and the last
    # of each actuator, so that its page says how it ended
    site_actions: dict[str, ActionState] = field(default_factory=dict)
    # the roster's swaps given at the console or the command line (the config's are in it)
    swaps: list[Override] = field(default_factory=list)

    def roster(self, configured: Roster) -> Roster:
        """The site's roster with the swaps given since."""
        if not self.swaps:
            return configured
        return replace(configured, overrides=(*configured.overrides, *self.swaps))

    @classmethod
    def restore(cls, open_incidents: Iterable[Incident], next_number: int) -> EngineState:
        state = cls(next_number=next_number)
        for incident in open_incidents:
            _index(state, incident)
        return state


def _index(state: EngineState, incident: Incident) -> None:
    # devices are only ever appended to an incident: index the new ones (a storm attaches
    # thousands, one per signal)
    before = state.incidents.get(incident.id)
    known = len(before.devices) if before is not None else 0
    state.incidents[incident.id] = incident
    state.by_key[incident.key] = incident.id
    for ref in incident.devices[known:]:
        state.by_point.setdefault(ref.point_id, set()).add(incident.id)


def apply(state: EngineState, outcome: Outcome) -> None:
    for incident in outcome.incidents.values():
        if incident.status is IncidentStatus.CLOSED:
            if state.incidents.pop(incident.id, None) is None:
                continue
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
    for key, pending in outcome.pending.items():
        if pending is None:
            state.pending.pop(key, None)
        else:
            state.pending[key] = pending
    for action_id, action in outcome.site_actions.items():
        if action is None:
            state.site_actions.pop(action_id, None)
        else:
            state.site_actions[action_id] = action


def location_key(location: Location, level: str, point_id: str = "",
                 group: str = "") -> tuple[str, ...]:
    parts = [location.site]
    if level == "source":
        # what the point's messages come through (a bridge, a panel, a Modbus connection):
        # the faults of many of its points together are one incident
        return (location.site, group)
    if level in {"building", "floor", "zone", "unit", "point"}:
        parts.append(location.building)
    if level in {"floor", "zone", "unit", "point"}:
        parts.append(location.floor)
    if level in {"zone", "point"}:
        parts.append(location.zone)
    if level == "unit":
        parts.append(location.unit)
    if level == "point":
        parts.append(point_id)
    return tuple(parts)


def correlation_key(playbook: Playbook, location: Location, point_id: str = "",
                    drill: bool = False, group: str = "") -> str:
    level = playbook.trigger.correlate_by if playbook.trigger else "unit"
    parts = location_key(location, level, point_id, group)
    return "/".join((playbook.id, *parts)) + ("#drill" if drill else "")


def place(location: Location) -> dict[str, str]:
    return {"building": location.building, "floor": location.floor, "zone": location.zone}


class Tx:
    """Collects one decision's changes; reads fall through to the untouched state."""

    def __init__(self, engine: Engine, state: EngineState, now: float) -> None:
        self.engine = engine
        self.state = state
        self.now = now
        self.out = Outcome()

    def get(self, incident_id: str) -> Incident | None:
        return self.out.incidents.get(incident_id) or self.state.incidents.get(incident_id)

    def incident(self, incident_id: str) -> Incident:
        """An incident the state indexes (by key or point): it must be there."""
        found = self.get(incident_id)
        if found is None:
            raise LookupError(f"incident {incident_id} is indexed but not held")
        return found

    def put(self, incident: Incident) -> Incident:
        incident = replace(incident, updated_at=self.now)
        self.out.incidents[incident.id] = incident
        return incident

    def event(self, incident: Incident, kind: EventKind, /, *, actor: str = "", point_id: str = "",
              **data: Any) -> None:
        self.out.events.append(Event(kind=kind, at=self.now, incident_id=incident.id,
                                     point_id=point_id, actor=actor, data=data))

    def action_event(self, incident: Incident | None, kind: EventKind, /, *, actor: str = "",
                     **data: Any) -> None:
        """An event of an action: on its incident's timeline, or a fact of the site when it
        belongs to none (an actuator commanded by hand for no incident)."""
        if incident is not None:
            self.event(incident, kind, actor=actor, **data)
        else:
            self.out.events.append(Event(kind=kind, at=self.now, actor=actor, data=data))

    def site_actions(self) -> list[ActionState]:
        """The site's actions as this decision leaves them."""
        merged: dict[str, ActionState | None] = {**self.state.site_actions,
                                                 **self.out.site_actions}
        return [a for a in merged.values() if a is not None]

    def site_action(self, action_id: str) -> ActionState | None:
        if action_id in self.out.site_actions:
            return self.out.site_actions[action_id]
        return self.state.site_actions.get(action_id)


def event_messages(prefix: str, events: list[Event],
                   incidents: Mapping[str, Incident]) -> list[Outgoing]:
    """One MQTT message per incident carrying its new events in order.

    Built per committed batch rather than per event: an incident opening is four events, a
    storm attaches hundreds of devices to one incident, and each publish costs a PUBACK, an
    outbox row and its delivery mark.
    """
    by_incident: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        if not e.incident_id:
            continue  # a site-level fact (a point shelved): on record, not an incident's
        by_incident.setdefault(e.incident_id, []).append({
            "kind": e.kind, "at": e.at, "actor": e.actor, "point_id": e.point_id,
            "data": e.data})
    out = []
    for incident_id, items in by_incident.items():
        incident = incidents[incident_id]
        out.append(Outgoing(MqttPublish(
            f"{prefix}/incidents/{incident_id}/events",
            json.dumps({
                "incident_id": incident_id, "type": incident.type, "stage": incident.stage,
                "status": incident.status.value, "severity": incident.severity.value,
                "drill": incident.drill, "location": incident.location.label(),
                "events": items,
            }, ensure_ascii=False, separators=(",", ":"))),
            Purpose.EVENT, incident_id))
    return out


def statement(playbook: Playbook, incident: Incident) -> Text | None:
    """The agreed public statement (统一回复口径) for where the incident stands."""
    for stage_id in reversed(incident.entered):
        try:
            text = playbook.stage(stage_id).statement
        except KeyError:
            continue
        if text is not None:
            return text
    return playbook.statement


