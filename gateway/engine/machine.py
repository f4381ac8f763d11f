"""The incident engine: a pure state machine.

``Engine.on_*(state, input, now) -> Outcome`` reads the state and never changes it, does no I/O
and reads no clock; ``apply(state, outcome)`` folds the outcome in. The runtime persists each
outcome (events, incident snapshots, outbox effects) in one transaction before anything leaves
the process, so a crash at any point replays cleanly. The operator commands are in
``gateway.workflow``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from gateway.config.site import SiteConfig
from gateway.domain.conditions import name as condition_name
from gateway.domain.events import REOPENED_BY_ALARM, EventKind, StageReason
from gateway.domain.incident import (
    DeviceRef,
    Incident,
)
from gateway.domain.model import (
    ActionStatus,
    IncidentStatus,
    Location,
    PointState,
    Signal,
)
from gateway.engine.actions import Actions
from gateway.engine.by_hand import ByHand
from gateway.engine.stages import Stages
from gateway.engine.state import (
    EngineState,
    OperatorCommand,
    Outcome,
    PendingOpen,
    Tx,
    correlation_key,
    place,
)
from gateway.engine.timers import Timers
from gateway.engine.workflow import Workflow
from gateway.playbook.definition import Playbook, StageDef, Trigger


class Engine:
    def __init__(self, site: SiteConfig, playbooks: Mapping[str, Playbook]) -> None:
        self.site = site
        self.playbooks = dict(playbooks)
        self.prefix = site.mqtt_prefix
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
        self.actions = Actions(self)
        self.timers = Timers(self)
        self.stages = Stages(self)
        self.by_hand = ByHand(self)

    # ------------------------------------------------------------------ signals

    def on_signal(self, state: EngineState, signal: Signal, now: float) -> Outcome:
        tx = Tx(self, state, now)
        tx.out.point_values[signal.point_id] = (signal.value, signal.state)
        self.actions.feedback(tx, signal.point_id, signal.value, signal.state)
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
            return [incident_id] if self.attach(tx, playbook, incident, signal) else []
        if joins:
            # a point that joins an open incident but never opens one (the generator failing
            # to start during a mains outage), or the hold of one
            if self._held(tx, key) is not None:
                self._hold(tx, playbook, key, signal, None)
            return []
        if trigger.duration:
            self._hold(tx, playbook, key, signal, tx.now + trigger.duration)
        elif signal.changed:
            return [self.open_held(tx, playbook, key, signal)]
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

    def open_held(self, tx: Tx, playbook: Playbook, key: str, signal: Signal, *,
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
        incident = self.stages.advance(tx, playbook, incident)
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

    def attach(self, tx: Tx, playbook: Playbook, incident: Incident, signal: Signal) -> bool:
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
            # announced now, even while still unacknowledged: a console that muted the
            # incident sounds again for the new device
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
                self.stages.refresh_calls(tx, playbook, incident)
        else:
            tx.event(incident, EventKind.SIGNAL, point_id=signal.point_id, **data)
            if chattering and fresh:
                incident = self._chattering(tx, incident, signal)
        incident = self.stages.advance(tx, playbook, incident)
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

    def enter_stage(self, tx: Tx, playbook: Playbook, incident: Incident, stage: StageDef,
                    *, reason: StageReason, actor: str = "", **extra: Any) -> Incident:
        """Enter ``stage`` for ``reason`` (its particulars in ``extra``, on the event)."""
        return self.stages.enter(tx, playbook, incident, stage, reason=reason, actor=actor,
                                 **extra)

    def on_command(self, state: EngineState, command: OperatorCommand, now: float,
                   stored: Incident | None = None) -> Outcome:
        """An operator's command; ``stored`` is the incident as the store has it, for the
        commands that work on closed incidents (reopen, follow-up done)."""
        return self.workflow.handle(state, command, now, stored)

    def on_actuate(self, state: EngineState, command: OperatorCommand, now: float, *,
                   number: int, drill: bool = False, stored: Incident | None = None) -> Outcome:
        """An actuator commanded by hand (``gateway.engine.by_hand``); ``number`` names it."""
        return self.by_hand.command(state, command, now, number=number, drill=drill,
                                    stored=stored)

    # ------------------------------------------------------------------ time and feedback

    def next_due(self, state: EngineState) -> float | None:
        return self.timers.next_due(state)

    def on_tick(self, state: EngineState, now: float) -> Outcome:
        tx = Tx(self, state, now)
        self.timers.held_and_due(tx, now)
        return tx.out

    def on_action_result(self, state: EngineState, incident_id: str, action_id: str,
                         status: ActionStatus, detail: str, now: float) -> Outcome:
        """What the dispatcher did with an action's command: sent, withheld or failed."""
        return self.actions.result(state, incident_id, action_id, status, detail, now)

    def on_value(self, state: EngineState, point_id: str, value: object,
                 point_state: PointState, now: float) -> Outcome:
        """A point's value moved without a state change: it may confirm an action."""
        return self.actions.value(state, point_id, value, point_state, now)


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
