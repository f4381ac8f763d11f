"""What an incident report holds: plain values, built by ``report.build_report`` and written
out by ``report_render``; how a timed item turned out."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain.model import (
    Text,
)
from gateway.present.report_timeline import TimelineEntry

# The playbooks set no deadline for acknowledging: the report times it against this target
# (and says so), so that a drill scores the monitoring center's own reaction too.
ACK_TARGET = 60.0


# The device table lists at most this many devices (a storm can bring hundreds).
DEVICE_LIST_MAX = 30


# outcomes of a timed item
ON_TIME = "on_time"
LATE = "late"
MISSED = "missed"  # its deadline passed and it was never done
PENDING = "pending"  # not done, not due yet (the incident is still live)
NOT_DUE = "not_due"  # not done; the incident was resolved or closed before it fell due
UNTIMED = "untimed"
SCORED = (ON_TIME, LATE, MISSED)


# The gaps box lists this many things at most; the detail after the summary has them all.
GAPS_LISTED = 14


@dataclass(frozen=True, slots=True)
class Header:
    incident_id: str
    playbook_id: str
    playbook_name: Text
    location: str  # the label: demo-B1-F12-Z3
    place: Text  # every place in alarm: 1号楼12层3防区、1号楼12层4防区
    severity: str
    status: str
    verdict: str | None
    stage: Text
    commander: str
    commander_role: Text
    opened_at: float
    opened_by: str  # the operator who opened it by hand
    opened_by_device: Text  # or the device that opened it, by its name with its id
    acknowledged_at: float | None
    acknowledged_by: str
    resolved_at: float | None
    resolved_by: str
    closed_at: float | None
    closed_by: str
    drill: bool
    reopened: int
    device_count: int
    signal_count: int
    playbook_loaded: bool
    site_name: Text  # the project (项目) whose report this is
    site_address: Text
    places: tuple[Text, ...]

    @property
    def live(self) -> bool:
        return self.status in ("open", "acknowledged")


@dataclass(frozen=True, slots=True)
class ResponseItem:
    """One thing with (or without) a deadline: acknowledging, a step, a branch, a prompt."""

    kind: str  # ack | step | branch | prompt
    item_id: str
    label: Text
    role: Text
    start_at: float
    due_at: float | None
    done_at: float | None
    done_by: str
    outcome: str
    late_by: float | None = None
    detail: Text | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.done_at is None else self.done_at - self.start_at

    @property
    def scored(self) -> bool:
        return self.outcome in SCORED


@dataclass(frozen=True, slots=True)
class ArrivalItem:
    at: float
    role: str
    role_name: Text
    who: str
    seconds: float | None  # after the incident opened
    due_at: float | None
    on_time: bool
    late_by: float | None
    recorded_by: str


@dataclass(frozen=True, slots=True)
class ActionItem:
    action: str
    name: Text
    actuator: str
    actuator_name: Text
    command: str
    status: str  # pending | sent | done | withheld | failed | skipped
    requested_at: float
    sent_at: float | None = None
    done_at: float | None = None
    failed_at: float | None = None
    withheld_at: float | None = None
    detail: str = ""
    feedback_point: str = ""
    feedback_seconds: float | None = None
    prompt: str = ""
    feedback_name: Text | None = None  # the feedback point by its name, its id beside
    detail_text: Text | None = None  # the detail in words


@dataclass(frozen=True, slots=True)
class PromptItem:
    prompt_id: str
    text: Text
    status: str
    raised_at: float
    due_at: float | None
    policy: str
    timed_out: bool
    answer: str
    answered_by: str
    answered_at: float | None
    confirmed_by: str
    first_at: float | None  # the first of two operators said yes


@dataclass(frozen=True, slots=True)
class CallItem:
    prompt_id: str
    contact: str
    name: Text
    phone: str
    facts: tuple[tuple[str, Text], ...]
    answer: str
    caller: str
    at: float | None


@dataclass(frozen=True, slots=True)
class RecordItem:
    record_id: str
    label: Text
    value: str
    by: str
    at: float | None  # None: required and missing


@dataclass(frozen=True, slots=True)
class ReviewItem:
    part: str
    guide: Text | None
    text: str


@dataclass(frozen=True, slots=True)
class FollowUpItem:
    task_id: str
    role: Text
    text: Text
    due_at: float
    status: str
    done_at: float | None
    done_by: str
    note: str


@dataclass(frozen=True, slots=True)
class DeviceItem:
    name: Text  # 1号楼12层3防区（B1-F12-Z3/SD-01）
    kind: Text
    location: Text
    state: str
    first_at: float
    last_at: float


@dataclass(frozen=True, slots=True)
class DrillScore:
    met: int
    total: int
    items: tuple[ResponseItem, ...]
    excluded: int  # timed items not scored: not due yet, or the incident ended first

    @property
    def percent(self) -> float | None:
        return round(100.0 * self.met / self.total, 1) if self.total else None


@dataclass(frozen=True, slots=True)
class GapItem:
    """One thing the gaps box flags: work left undone, a deadline missed, a reason given."""

    kind: str  # open_steps | undecided | unanswered_prompts | unconfirmed_actions | late |
    #            missing_records | follow_ups | reason
    what: Text
    state: Text
    alert: bool = True


@dataclass(frozen=True, slots=True)
class SignOff:
    """A line the report is signed on: the role, and the name when the report knows it."""

    role: Text
    name: str = ""


@dataclass(frozen=True, slots=True)
class IncidentReport:
    header: Header
    timeline: tuple[TimelineEntry, ...]
    responses: tuple[ResponseItem, ...]
    arrivals: tuple[ArrivalItem, ...]
    actions: tuple[ActionItem, ...]
    prompts: tuple[PromptItem, ...]
    calls: tuple[CallItem, ...]
    records: tuple[RecordItem, ...]
    review: tuple[ReviewItem, ...]
    follow_ups: tuple[FollowUpItem, ...]
    devices: tuple[DeviceItem, ...]
    device_states: tuple[tuple[str, int], ...]
    drill_score: DrillScore | None
    generated_at: float
    event_count: int
    summary: Text
    gaps: tuple[GapItem, ...]
    sign_off: tuple[SignOff, ...]
