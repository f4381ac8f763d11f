"""A playbook file's schema: what its YAML may say, checked field by field (pydantic)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from gateway.config.schema import BiText, Duration, Strict
from gateway.domain.model import ActuatorKind, PointKind, PointState, Severity, Verdict

Level = Literal["site", "building", "floor", "zone", "unit", "point"]


# how a trigger groups signals into one incident: a place, or "source" (what the points'
# messages come through: a bridge, a panel, a Modbus connection)
Correlation = Literal["site", "building", "floor", "zone", "unit", "point", "source"]


LEVELS: tuple[str, ...] = ("site", "building", "floor", "zone", "unit", "point")


Category = Literal["safety", "equipment", "environment", "customer_service", "other"]


OnTimeout = Literal["act", "escalate", "wait"]


RecordType = Literal["text", "time", "number", "yes_no"]


Fact = Literal["project", "address", "crossroads", "where", "what", "callback", "caller"]


ALL_FACTS: tuple[str, ...] = ("project", "address", "crossroads", "where", "what", "callback",
                              "caller")


class ScopeModel(Strict):
    """Where a trigger applies; a part left out matches anything."""

    building: list[str] | None = None
    floor: list[str] | None = None
    zone: list[str] | None = None


class JoinModel(Strict):
    point_kinds: list[PointKind] = Field(min_length=1)
    states: list[PointState] = Field(min_length=1)


class TriggerModel(Strict):
    point_kinds: list[PointKind] | None = None
    points: list[str] | None = None
    where: ScopeModel | None = None
    states: list[PointState] = Field(min_length=1)
    correlate_by: Correlation = "zone"
    # the state must hold this long before the incident opens (a mains blip is not an outage)
    duration: Duration | None = None
    # points that join an open incident of this playbook but never open one: a generator
    # failing its weekly test run is not a mains outage (it is a device fault)
    joins: JoinModel | None = None


class StepModel(Strict):
    id: str
    role: str
    text: BiText
    deadline: Duration | None = None
    escalate_to: str | None = None
    # done by recording this role's arrival on scene (``arrive``), which times it
    arrival: bool = False

    @model_validator(mode="after")
    def _escalation_needs_deadline(self) -> StepModel:
        if self.escalate_to and self.deadline is None:
            raise ValueError("escalate_to needs a deadline to escalate at")
        return self


class ActionModel(Strict):
    id: str
    name: BiText
    actuator_kind: ActuatorKind | None = None
    actuators: list[str] | None = None
    scope: Level = "building"
    command: str
    escalate_to: str | None = None

    @model_validator(mode="after")
    def _targets(self) -> ActionModel:
        if (self.actuator_kind is None) == (self.actuators is None):
            raise ValueError("name the targets either by actuator_kind (with scope) or as a "
                             "list of actuators, not both")
        return self


class PromptModel(Strict):
    id: str
    text: BiText
    call: str | None = None
    facts: list[Fact] | None = None
    timeout: Duration | None = None
    on_timeout: OnTimeout | None = None
    escalate_to: str | None = None
    actions: list[ActionModel] = Field(default_factory=list)
    second_confirmation: bool = False


class OptionModel(Strict):
    id: str
    label: BiText
    goto: str | None = None
    verdict: Verdict | None = None
    # which of the operator's verification commands picks this option
    verification: Literal["confirmed", "rejected"] | None = None


class BranchModel(Strict):
    id: str
    question: BiText
    role: str
    deadline: Duration | None = None
    escalate_to: str | None = None
    options: list[OptionModel] = Field(min_length=2)


class EnterModel(Strict):
    independent_devices: int | None = Field(None, ge=2)
    within: Level = "zone"
    state: PointState | None = None  # a device of the incident reaching this state
    point_kinds: list[PointKind] | None = None  # ... of these kinds (default: any)
    operator: bool = False  # entered by the operator's ``confirm``


class RecordModel(Strict):
    id: str
    label: BiText
    type: RecordType = "text"
    required: bool = True


class ReviewModel(Strict):
    """What the close-out review asks for, per part (处理 / 分析 / 改善)."""

    handling: BiText
    analysis: BiText
    improvement: BiText


class FollowUpModel(Strict):
    id: str
    role: str
    text: BiText
    due: Duration


class StageModel(Strict):
    id: str
    name: BiText
    enter: EnterModel | None = None
    verdict: Verdict | None = None
    notify: list[str] = Field(default_factory=list)
    statement: BiText | None = None
    steps: list[StepModel] = Field(default_factory=list)
    actions: list[ActionModel] = Field(default_factory=list)
    prompts: list[PromptModel] = Field(default_factory=list)
    branch: BranchModel | None = None
    records: list[RecordModel] = Field(default_factory=list)


class PlaybookModel(Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    name: BiText
    category: Category
    severity: Severity
    commander: str = "duty_supervisor"
    manual: bool = True  # may be opened by hand (a phone call, the elevator intercom)
    trigger: TriggerModel | None = None
    statement: BiText
    stages: list[StageModel] = Field(min_length=1)
    records: list[RecordModel] = Field(default_factory=list)
    review: ReviewModel
    follow_up: list[FollowUpModel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _opens_somehow(self) -> PlaybookModel:
        if self.trigger is None and not self.manual:
            raise ValueError("a playbook without a trigger must be manual: nothing could "
                             "ever open it")
        if self.stages[0].enter is not None:
            raise ValueError(f"the first stage ({self.stages[0].id!r}) is where an incident "
                             "opens; it takes no 'enter'")
        return self
