"""Playbooks: the site's emergency procedures as YAML, validated and compiled.

A playbook has a trigger (which points in which states open it, held how long, and how signals
are grouped into one incident) and stages. The incident starts in the first stage. A later
stage is entered automatically when its ``enter`` condition holds (e.g. two independent devices
in one zone, GB 50116 4.1.6), when an operator confirms, or when an operator picks the branch
option that leads to it (fire: false alarm / minor / confirmed). Stages add to the incident:
entering one starts its steps (each with a role and an optional deadline that escalates when
missed), sends its auto-actions, raises its prompts (yes/no questions with a timeout policy,
possibly acting on an actuator), opens its branch and adds the records it requires to close.

``check_playbook`` finds what the schema cannot: unknown roles, contacts, points and actuators,
stages no path reaches, prompts without a timeout policy and branch options that lead nowhere."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.domain.model import ActuatorKind, PointKind, PointState, Severity, Text, Verdict
from gateway.playbook.schema import (
    ALL_FACTS,
    ActionModel,
    PlaybookModel,
    RecordModel,
    StageModel,
)


@dataclass(frozen=True, slots=True)
class StepDef:
    id: str
    role: str
    text: Text
    deadline: float | None
    escalate_to: str | None
    arrival: bool = False


@dataclass(frozen=True, slots=True)
class ActionDef:
    id: str
    name: Text
    actuator_kind: ActuatorKind | None
    scope: str
    command: str
    escalate_to: str | None = None
    actuators: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PromptDef:
    id: str
    text: Text
    call: str | None
    timeout: float | None = None
    on_timeout: str | None = None
    escalate_to: str | None = None
    actions: tuple[ActionDef, ...] = ()
    second_confirmation: bool = False
    facts: tuple[str, ...] = ALL_FACTS


@dataclass(frozen=True, slots=True)
class OptionDef:
    id: str
    label: Text
    goto: str | None
    verdict: Verdict | None
    verification: str | None


@dataclass(frozen=True, slots=True)
class BranchDef:
    id: str
    question: Text
    role: str
    deadline: float | None
    escalate_to: str | None
    options: tuple[OptionDef, ...]

    def option(self, option_id: str) -> OptionDef | None:
        return next((o for o in self.options if o.id == option_id), None)


@dataclass(frozen=True, slots=True)
class EnterDef:
    independent_devices: int | None
    within: str
    operator: bool
    state: PointState | None = None
    point_kinds: frozenset[PointKind] | None = None


@dataclass(frozen=True, slots=True)
class RecordDef:
    id: str
    label: Text
    type: str
    required: bool


@dataclass(frozen=True, slots=True)
class FollowUpDef:
    id: str
    role: str
    text: Text
    due: float


@dataclass(frozen=True, slots=True)
class ReviewDef:
    handling: Text
    analysis: Text
    improvement: Text


@dataclass(frozen=True, slots=True)
class StageDef:
    id: str
    name: Text
    enter: EnterDef | None
    steps: tuple[StepDef, ...]
    actions: tuple[ActionDef, ...]
    prompts: tuple[PromptDef, ...]
    branch: BranchDef | None = None
    records: tuple[RecordDef, ...] = ()
    verdict: Verdict | None = None
    notify: tuple[str, ...] = ()
    statement: Text | None = None


@dataclass(frozen=True, slots=True)
class Trigger:
    point_kinds: frozenset[PointKind] | None
    states: frozenset[PointState]
    correlate_by: str
    points: frozenset[str] | None = None
    where: tuple[tuple[str, frozenset[str]], ...] = ()
    duration: float | None = None
    join_kinds: frozenset[PointKind] = frozenset()
    join_states: frozenset[PointState] = frozenset()

    def joins(self, kind: PointKind, state: PointState) -> bool:
        return kind in self.join_kinds and state in self.join_states

    def matches(self, kind: PointKind, state: PointState, point_id: str = "",
                place: dict[str, str] | None = None) -> bool:
        if state not in self.states:
            return False
        if self.point_kinds is not None and kind not in self.point_kinds:
            return False
        if self.points is not None and point_id not in self.points:
            return False
        return all(place is not None and place.get(part, "") in allowed
                   for part, allowed in self.where)


@dataclass(frozen=True, slots=True)
class Playbook:
    id: str
    name: Text
    severity: Severity
    trigger: Trigger | None
    stages: tuple[StageDef, ...]
    file: str
    category: str = "other"
    commander: str = "duty_supervisor"
    manual: bool = True
    statement: Text | None = None
    records: tuple[RecordDef, ...] = ()
    review: ReviewDef | None = None
    follow_up: tuple[FollowUpDef, ...] = ()

    def stage(self, stage_id: str) -> StageDef:
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise KeyError(stage_id)

    def stage_index(self, stage_id: str) -> int:
        return next(i for i, s in enumerate(self.stages) if s.id == stage_id)

    def step(self, stage_id: str, step_id: str) -> StepDef | None:
        return next((s for s in self.stage(stage_id).steps if s.id == step_id), None)

    def prompt(self, stage_id: str, prompt_id: str) -> PromptDef | None:
        return next((p for p in self.stage(stage_id).prompts if p.id == prompt_id), None)

    @property
    def all_records(self) -> tuple[RecordDef, ...]:
        """Every record field of the playbook, its own and its stages'."""
        return (*self.records, *(r for s in self.stages for r in s.records))

    def record(self, record_id: str) -> RecordDef | None:
        return next((r for r in self.all_records if r.id == record_id), None)

    @property
    def is_fault(self) -> bool:
        """Opened by troubles and silence only (device_fault): never an alarm incident."""
        return self.trigger is not None and self.trigger.states <= {PointState.TROUBLE,
                                                                     PointState.OFFLINE}


def _action(a: ActionModel) -> ActionDef:
    return ActionDef(a.id, a.name.to_text(), a.actuator_kind, a.scope, a.command, a.escalate_to,
                     tuple(a.actuators or ()))


def _records(records: list[RecordModel]) -> tuple[RecordDef, ...]:
    return tuple(RecordDef(r.id, r.label.to_text(), r.type, r.required) for r in records)


def _stage(s: StageModel) -> StageDef:
    enter = None
    if s.enter is not None:
        e = s.enter
        enter = EnterDef(e.independent_devices, e.within, e.operator, e.state,
                         frozenset(e.point_kinds) if e.point_kinds else None)
    branch = None
    if s.branch is not None:
        b = s.branch
        branch = BranchDef(b.id, b.question.to_text(), b.role, b.deadline, b.escalate_to,
                           tuple(OptionDef(o.id, o.label.to_text(), o.goto, o.verdict,
                                           o.verification) for o in b.options))
    return StageDef(
        id=s.id, name=s.name.to_text(), enter=enter,
        steps=tuple(StepDef(st.id, st.role, st.text.to_text(), st.deadline, st.escalate_to,
                            st.arrival) for st in s.steps),
        actions=tuple(_action(a) for a in s.actions),
        prompts=tuple(PromptDef(p.id, p.text.to_text(), p.call, p.timeout, p.on_timeout,
                                p.escalate_to, tuple(_action(a) for a in p.actions),
                                p.second_confirmation,
                                tuple(p.facts) if p.facts is not None else ALL_FACTS)
                      for p in s.prompts),
        branch=branch, records=_records(s.records), verdict=s.verdict, notify=tuple(s.notify),
        statement=s.statement.to_text() if s.statement else None)


def _compile(model: PlaybookModel, file: Path) -> Playbook:
    trigger = None
    if model.trigger is not None:
        t = model.trigger
        where: list[tuple[str, frozenset[str]]] = []
        if t.where is not None:
            for part in ("building", "floor", "zone"):
                allowed = getattr(t.where, part)
                if allowed is not None:
                    where.append((part, frozenset(allowed)))
        trigger = Trigger(
            point_kinds=frozenset(t.point_kinds) if t.point_kinds else None,
            states=frozenset(t.states), correlate_by=t.correlate_by,
            points=frozenset(t.points) if t.points is not None else None,
            where=tuple(where), duration=t.duration,
            join_kinds=frozenset(t.joins.point_kinds) if t.joins else frozenset(),
            join_states=frozenset(t.joins.states) if t.joins else frozenset())
    r = model.review
    return Playbook(
        id=model.id, name=model.name.to_text(), severity=model.severity, trigger=trigger,
        stages=tuple(_stage(s) for s in model.stages), file=str(file),
        category=model.category, commander=model.commander, manual=model.manual,
        statement=model.statement.to_text(), records=_records(model.records),
        review=ReviewDef(r.handling.to_text(), r.analysis.to_text(), r.improvement.to_text()),
        follow_up=tuple(FollowUpDef(f.id, f.role, f.text.to_text(), f.due)
                        for f in model.follow_up))
