"""Incident values and their JSON form (the store keeps a snapshot of each incident)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.model import (
    ActionStatus,
    IncidentStatus,
    Location,
    PromptStatus,
    Severity,
    StepStatus,
)


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """An alarm-initiating device seen in this incident (a point, or a device behind it)."""

    point_id: str
    device: str
    location: Location
    state: str
    first_at: float
    last_at: float


@dataclass(frozen=True, slots=True)
class StepState:
    id: str
    stage: str
    role: str
    status: StepStatus
    started_at: float
    due_at: float | None = None
    done_at: float | None = None
    done_by: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class ActionState:
    id: str
    action: str
    actuator_id: str
    command: str
    status: ActionStatus
    requested_at: float
    updated_at: float
    detail: str = ""
    # closed loop: the action is done only when this point confirms it, failed at the due time
    feedback_point: str = ""
    feedback_due: float | None = None
    escalate_to: str = ""

    @property
    def awaiting_feedback(self) -> bool:
        return bool(self.feedback_point) and self.status in (ActionStatus.PENDING,
                                                             ActionStatus.SENT)


@dataclass(frozen=True, slots=True)
class PromptState:
    id: str
    stage: str
    status: PromptStatus
    raised_at: float
    answer: str = ""
    answered_by: str = ""
    answered_at: float | None = None


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    type: str
    key: str
    severity: Severity
    status: IncidentStatus
    stage: str
    location: Location
    opened_at: float
    updated_at: float
    drill: bool = False
    devices: tuple[DeviceRef, ...] = ()
    steps: tuple[StepState, ...] = ()
    actions: tuple[ActionState, ...] = ()
    prompts: tuple[PromptState, ...] = ()
    signal_count: int = 0
    acknowledged_at: float | None = None
    acknowledged_by: str = ""
    closed_at: float | None = None
    closed_by: str = ""
    report: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def device(self, point_id: str, device: str) -> DeviceRef | None:
        for ref in self.devices:
            if ref.point_id == point_id and ref.device == device:
                return ref
        return None

    def step(self, step_id: str) -> StepState | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def prompt(self, prompt_id: str) -> PromptState | None:
        return next((p for p in self.prompts if p.id == prompt_id), None)

    def next_deadline(self) -> float | None:
        dues = [s.due_at for s in self.steps
                if s.status is StepStatus.PENDING and s.due_at is not None]
        dues += [a.feedback_due for a in self.actions
                 if a.awaiting_feedback and a.feedback_due is not None]
        return min(dues) if dues else None


def _loc(location: Location) -> dict[str, str]:
    return {"site": location.site, "building": location.building, "floor": location.floor,
            "zone": location.zone, "unit": location.unit}


def to_json(incident: Incident) -> dict[str, Any]:
    # Written out by hand: dataclasses.asdict deep-copies recursively and was the largest
    # cost of a storm batch (an incident with a hundred devices is rewritten per batch).
    i = incident
    return {
        "id": i.id, "type": i.type, "key": i.key, "severity": i.severity.value,
        "status": i.status.value, "stage": i.stage, "location": _loc(i.location),
        "opened_at": i.opened_at, "updated_at": i.updated_at, "drill": i.drill,
        "devices": [{"point_id": d.point_id, "device": d.device, "location": _loc(d.location),
                     "state": d.state, "first_at": d.first_at, "last_at": d.last_at}
                    for d in i.devices],
        "steps": [{"id": s.id, "stage": s.stage, "role": s.role, "status": s.status.value,
                   "started_at": s.started_at, "due_at": s.due_at, "done_at": s.done_at,
                   "done_by": s.done_by, "note": s.note} for s in i.steps],
        "actions": [{"id": a.id, "action": a.action, "actuator_id": a.actuator_id,
                     "command": a.command, "status": a.status.value,
                     "requested_at": a.requested_at, "updated_at": a.updated_at,
                     "detail": a.detail, "feedback_point": a.feedback_point,
                     "feedback_due": a.feedback_due, "escalate_to": a.escalate_to}
                    for a in i.actions],
        "prompts": [{"id": p.id, "stage": p.stage, "status": p.status.value,
                     "raised_at": p.raised_at, "answer": p.answer,
                     "answered_by": p.answered_by, "answered_at": p.answered_at}
                    for p in i.prompts],
        "signal_count": i.signal_count, "acknowledged_at": i.acknowledged_at,
        "acknowledged_by": i.acknowledged_by, "closed_at": i.closed_at,
        "closed_by": i.closed_by, "report": i.report, "extra": dict(i.extra),
    }


def from_json(data: dict[str, Any]) -> Incident:
    def loc(d: dict[str, Any]) -> Location:
        return Location(**d)

    return Incident(
        id=data["id"], type=data["type"], key=data["key"], severity=Severity(data["severity"]),
        status=IncidentStatus(data["status"]), stage=data["stage"],
        location=loc(data["location"]), opened_at=data["opened_at"],
        updated_at=data["updated_at"], drill=data["drill"],
        devices=tuple(DeviceRef(**{**d, "location": loc(d["location"])}) for d in data["devices"]),
        steps=tuple(StepState(**{**s, "status": StepStatus(s["status"])}) for s in data["steps"]),
        actions=tuple(ActionState(**{**a, "status": ActionStatus(a["status"])})
                      for a in data["actions"]),
        prompts=tuple(PromptState(**{**p, "status": PromptStatus(p["status"])})
                      for p in data["prompts"]),
        signal_count=data["signal_count"], acknowledged_at=data["acknowledged_at"],
        acknowledged_by=data["acknowledged_by"], closed_at=data["closed_at"],
        closed_by=data["closed_by"], report=data["report"], extra=data.get("extra", {}))
