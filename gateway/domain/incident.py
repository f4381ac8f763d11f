"""Incident values and their JSON form (the store keeps a snapshot of each incident)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.domain.model import (
    ActionStatus,
    BranchStatus,
    IncidentStatus,
    Location,
    PromptStatus,
    Severity,
    StepStatus,
    Verdict,
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
    kind: str = ""
    chattering: int = 0  # alarm activations within the window, when it chatters
    condition: str = ""  # a trouble condition of the point (its cause), "" for its main channel


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
    prompt: str = ""  # the prompt whose answer (or timeout) requested it
    by: str = ""  # who commanded it by hand (empty: the playbook's auto-action)
    reason: str = ""  # why, when commanded by hand

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
    due_at: float | None = None
    timed_out: bool = False  # its timeout passed (escalated or waiting); it may still be answered
    confirmed_by: str = ""  # the second operator, where the prompt needs one
    confirmed_at: float | None = None

    @property
    def waiting(self) -> bool:
        return self.status in (PromptStatus.OPEN, PromptStatus.AWAITING_SECOND)


@dataclass(frozen=True, slots=True)
class BranchState:
    id: str
    stage: str
    role: str
    status: BranchStatus
    raised_at: float
    due_at: float | None = None
    overdue: bool = False
    option: str = ""
    decided_by: str = ""
    decided_at: float | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class RecordEntry:
    id: str
    value: str
    by: str
    at: float


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A follow-up visit or call (回访) that falls due after the incident is closed."""

    id: str
    role: str
    text_zh: str
    text_en: str
    due_at: float
    status: str = "pending"  # pending | done
    done_at: float | None = None
    done_by: str = ""
    note: str = ""


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
    extra: dict[str, Any] = field(default_factory=dict)
    branches: tuple[BranchState, ...] = ()
    records: tuple[RecordEntry, ...] = ()
    commander: str = ""  # a person once assigned; until then the playbook's commander role
    commander_role: str = ""
    verdict: Verdict | None = None
    resolved_at: float | None = None
    resolved_by: str = ""
    review: dict[str, str] = field(default_factory=dict)  # handling / analysis / improvement
    follow_ups: tuple[FollowUp, ...] = ()
    opened_by: str = ""  # an operator's name when opened by hand; empty when a signal did
    reopened: int = 0
    entered: tuple[str, ...] = ()  # the stages entered, in order (``stage`` is the last)
    config: str = ""  # the config version (hash) the incident opened under
    # a new alarm (a device, a place) announced since the last acknowledgement, and when: the
    # incident is open (unacknowledged) again until an operator acknowledges it
    announced_at: float | None = None
    # every place where a device went into alarm, in the order they came (kept as it grows:
    # a storm of hundreds of devices must not rescan them all per signal)
    alarm_places: tuple[Location, ...] = ()

    def device(self, point_id: str, device: str, condition: str = "") -> DeviceRef | None:
        for ref in self.devices:
            if ref.point_id == point_id and ref.device == device and ref.condition == condition:
                return ref
        return None

    def step(self, step_id: str) -> StepState | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def prompt(self, prompt_id: str) -> PromptState | None:
        return next((p for p in self.prompts if p.id == prompt_id), None)

    def branch(self, branch_id: str) -> BranchState | None:
        return next((b for b in self.branches if b.id == branch_id), None)

    def record(self, record_id: str) -> RecordEntry | None:
        return next((r for r in self.records if r.id == record_id), None)

    def places(self) -> tuple[Location, ...]:
        """Every place where a device went into alarm, in the order they came; the
        incident's own place when none has (opened by hand)."""
        return self.alarm_places or (self.location,)

    @property
    def live(self) -> bool:
        """Open or acknowledged: its deadlines run."""
        return self.status in (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED)

    @property
    def returned_to_normal(self) -> bool:
        """Every device is back to normal (ISA-18.2: an unacknowledged one stays shown as
        "returned to normal, unacknowledged")."""
        return bool(self.devices) and all(d.state == "normal" for d in self.devices)

    def overdue(self) -> list[float]:
        """When each piece of work past its deadline fell due (steps, prompts, decisions), while
        the incident is live: the most urgent thing on the page."""
        if not self.live:
            return []
        dues = [s.due_at for s in self.steps
                if s.status is StepStatus.OVERDUE and s.due_at is not None]
        dues += [p.due_at for p in self.prompts if p.waiting and p.timed_out and p.due_at]
        dues += [b.due_at for b in self.branches
                 if b.status is BranchStatus.OPEN and b.overdue and b.due_at is not None]
        return sorted(dues)

    def next_deadline(self) -> float | None:
        # timed actions run to their feedback even after resolve: a recall is still a write
        dues = [a.feedback_due for a in self.actions
                if a.awaiting_feedback and a.feedback_due is not None]
        if self.live:
            dues += [s.due_at for s in self.steps
                     if s.status is StepStatus.PENDING and s.due_at is not None]
            dues += [p.due_at for p in self.prompts
                     if p.waiting and not p.timed_out and p.due_at is not None]
            dues += [b.due_at for b in self.branches
                     if b.status is BranchStatus.OPEN and not b.overdue and b.due_at is not None]
        return min(dues) if dues else None


def _loc(location: Location) -> dict[str, str]:
    return {"site": location.site, "building": location.building, "floor": location.floor,
            "zone": location.zone, "unit": location.unit}


def _device(d: DeviceRef) -> dict[str, Any]:
    out = {"point_id": d.point_id, "device": d.device, "location": _loc(d.location),
           "state": d.state, "first_at": d.first_at, "last_at": d.last_at, "kind": d.kind}
    # rare, so written only when set: a storm's incident holds thousands of devices
    if d.chattering:
        out["chattering"] = d.chattering
    if d.condition:
        out["condition"] = d.condition
    return out


def action_json(a: ActionState) -> dict[str, Any]:
    return {"id": a.id, "action": a.action, "actuator_id": a.actuator_id, "command": a.command,
            "status": a.status.value, "requested_at": a.requested_at, "updated_at": a.updated_at,
            "detail": a.detail, "feedback_point": a.feedback_point,
            "feedback_due": a.feedback_due, "escalate_to": a.escalate_to, "prompt": a.prompt,
            "by": a.by, "reason": a.reason}


def action_of(data: dict[str, Any]) -> ActionState:
    return ActionState(**{**data, "status": ActionStatus(data["status"])})


def to_json(incident: Incident) -> dict[str, Any]:
    # Written out by hand: dataclasses.asdict deep-copies recursively and was the largest
    # cost of a storm batch (an incident with a hundred devices is rewritten per batch).
    i = incident
    return {
        "id": i.id, "type": i.type, "key": i.key, "severity": i.severity.value,
        "status": i.status.value, "stage": i.stage, "location": _loc(i.location),
        "opened_at": i.opened_at, "updated_at": i.updated_at, "drill": i.drill,
        "devices": [_device(d) for d in i.devices],
        "steps": [{"id": s.id, "stage": s.stage, "role": s.role, "status": s.status.value,
                   "started_at": s.started_at, "due_at": s.due_at, "done_at": s.done_at,
                   "done_by": s.done_by, "note": s.note} for s in i.steps],
        "actions": [action_json(a) for a in i.actions],
        "prompts": [{"id": p.id, "stage": p.stage, "status": p.status.value,
                     "raised_at": p.raised_at, "answer": p.answer,
                     "answered_by": p.answered_by, "answered_at": p.answered_at,
                     "due_at": p.due_at, "timed_out": p.timed_out,
                     "confirmed_by": p.confirmed_by, "confirmed_at": p.confirmed_at}
                    for p in i.prompts],
        "branches": [{"id": b.id, "stage": b.stage, "role": b.role, "status": b.status.value,
                      "raised_at": b.raised_at, "due_at": b.due_at, "overdue": b.overdue,
                      "option": b.option, "decided_by": b.decided_by,
                      "decided_at": b.decided_at, "note": b.note} for b in i.branches],
        "records": [{"id": r.id, "value": r.value, "by": r.by, "at": r.at} for r in i.records],
        "follow_ups": [{"id": f.id, "role": f.role, "text_zh": f.text_zh, "text_en": f.text_en,
                        "due_at": f.due_at, "status": f.status, "done_at": f.done_at,
                        "done_by": f.done_by, "note": f.note} for f in i.follow_ups],
        "signal_count": i.signal_count, "acknowledged_at": i.acknowledged_at,
        "acknowledged_by": i.acknowledged_by, "closed_at": i.closed_at,
        "closed_by": i.closed_by, "extra": dict(i.extra), "entered": list(i.entered),
        "config": i.config,
        "commander": i.commander, "commander_role": i.commander_role,
        "verdict": i.verdict.value if i.verdict else None, "resolved_at": i.resolved_at,
        "resolved_by": i.resolved_by, "review": dict(i.review), "opened_by": i.opened_by,
        "reopened": i.reopened, "announced_at": i.announced_at,
        "alarm_places": [_loc(p) for p in i.alarm_places],
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
        actions=tuple(action_of(a) for a in data["actions"]),
        prompts=tuple(PromptState(**{**p, "status": PromptStatus(p["status"])})
                      for p in data["prompts"]),
        branches=tuple(BranchState(**{**b, "status": BranchStatus(b["status"])})
                       for b in data.get("branches", ())),
        records=tuple(RecordEntry(**r) for r in data.get("records", ())),
        follow_ups=tuple(FollowUp(**f) for f in data.get("follow_ups", ())),
        signal_count=data["signal_count"], acknowledged_at=data["acknowledged_at"],
        acknowledged_by=data["acknowledged_by"], closed_at=data["closed_at"],
        closed_by=data["closed_by"], extra=data.get("extra", {}),
        entered=tuple(data.get("entered") or (data["stage"],)), config=data.get("config", ""),
        commander=data.get("commander", ""), commander_role=data.get("commander_role", ""),
        verdict=Verdict(data["verdict"]) if data.get("verdict") else None,
        resolved_at=data.get("resolved_at"), resolved_by=data.get("resolved_by", ""),
        review=data.get("review", {}), opened_by=data.get("opened_by", ""),
        reopened=data.get("reopened", 0), announced_at=data.get("announced_at"),
        alarm_places=tuple(loc(p) for p in data.get("alarm_places", ())))
