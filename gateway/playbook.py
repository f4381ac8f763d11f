"""Playbooks: the site's emergency procedures as YAML, validated and compiled.

A playbook has a trigger (which point kinds in which states open it, and how signals are grouped
into one incident), then stages. The incident starts in the first stage; a later stage is
entered when its ``enter`` condition holds (e.g. two independent devices in one zone, per
GB 50116 4.1.6) or when an operator confirms. Entering a stage starts its steps (each with a role
and an optional deadline that escalates when missed), sends its auto-actions and raises its
prompts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from gateway.config import SiteConfig
from gateway.errors import ConfigError, ConfigReferenceError, ConfigSchemaError, Problem
from gateway.model import ActuatorKind, PointKind, PointState, Severity, Text
from gateway.schema_common import BiText, Duration, Strict, schema_problems, unknown_name
from gateway.yamlfile import LineIndex, format_path, load_yaml

Level = Literal["site", "building", "floor", "zone", "point"]
LEVELS: tuple[str, ...] = ("site", "building", "floor", "zone", "point")

# ----------------------------------------------------------------------------- schema


class TriggerModel(Strict):
    point_kinds: list[PointKind] | None = None
    states: list[PointState] = Field(min_length=1)
    correlate_by: Level = "zone"


class StepModel(Strict):
    id: str
    role: str
    text: BiText
    deadline: Duration | None = None
    escalate_to: str | None = None

    @model_validator(mode="after")
    def _escalation_needs_deadline(self) -> StepModel:
        if self.escalate_to and self.deadline is None:
            raise ValueError("escalate_to needs a deadline to escalate at")
        return self


class ActionModel(Strict):
    id: str
    name: BiText
    actuator_kind: ActuatorKind
    scope: Level = "building"
    command: str
    escalate_to: str | None = None


class PromptModel(Strict):
    id: str
    text: BiText
    call: str | None = None


class EnterModel(Strict):
    independent_devices: int | None = Field(None, ge=2)
    within: Level = "zone"
    state: PointState | None = None  # any device of the incident reaching this state
    operator: bool = True


class StageModel(Strict):
    id: str
    name: BiText
    enter: EnterModel | None = None
    steps: list[StepModel] = Field(default_factory=list)
    actions: list[ActionModel] = Field(default_factory=list)
    prompts: list[PromptModel] = Field(default_factory=list)


class PlaybookModel(Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    name: BiText
    severity: Severity
    trigger: TriggerModel
    stages: list[StageModel] = Field(min_length=1)

    @field_validator("stages")
    @classmethod
    def _stage_rules(cls, stages: list[StageModel]) -> list[StageModel]:
        if stages and stages[0].enter is not None:
            raise ValueError(f"the first stage ({stages[0].id!r}) is where an incident opens; "
                             "it takes no 'enter'")
        for stage in stages[1:]:
            if stage.enter is None:
                raise ValueError(f"stage {stage.id!r} can never be entered: give it 'enter'")
        return stages


# ----------------------------------------------------------------------------- compiled


@dataclass(frozen=True, slots=True)
class StepDef:
    id: str
    role: str
    text: Text
    deadline: float | None
    escalate_to: str | None


@dataclass(frozen=True, slots=True)
class ActionDef:
    id: str
    name: Text
    actuator_kind: ActuatorKind
    scope: str
    command: str
    escalate_to: str | None = None


@dataclass(frozen=True, slots=True)
class PromptDef:
    id: str
    text: Text
    call: str | None


@dataclass(frozen=True, slots=True)
class EnterDef:
    independent_devices: int | None
    within: str
    operator: bool
    state: PointState | None = None


@dataclass(frozen=True, slots=True)
class StageDef:
    id: str
    name: Text
    enter: EnterDef | None
    steps: tuple[StepDef, ...]
    actions: tuple[ActionDef, ...]
    prompts: tuple[PromptDef, ...]


@dataclass(frozen=True, slots=True)
class Trigger:
    point_kinds: frozenset[PointKind] | None
    states: frozenset[PointState]
    correlate_by: str

    def matches(self, kind: PointKind, state: PointState) -> bool:
        return state in self.states and (self.point_kinds is None or kind in self.point_kinds)


@dataclass(frozen=True, slots=True)
class Playbook:
    id: str
    name: Text
    severity: Severity
    trigger: Trigger
    stages: tuple[StageDef, ...]
    file: str

    def stage(self, stage_id: str) -> StageDef:
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise KeyError(stage_id)

    def stage_index(self, stage_id: str) -> int:
        return next(i for i, s in enumerate(self.stages) if s.id == stage_id)


def _compile(model: PlaybookModel, file: Path) -> Playbook:
    return Playbook(
        id=model.id, name=model.name.to_text(), severity=model.severity,
        trigger=Trigger(
            point_kinds=frozenset(model.trigger.point_kinds) if model.trigger.point_kinds else None,
            states=frozenset(model.trigger.states), correlate_by=model.trigger.correlate_by),
        stages=tuple(
            StageDef(
                id=s.id, name=s.name.to_text(),
                enter=EnterDef(s.enter.independent_devices, s.enter.within, s.enter.operator,
                               s.enter.state) if s.enter else None,
                steps=tuple(StepDef(st.id, st.role, st.text.to_text(), st.deadline, st.escalate_to)
                            for st in s.steps),
                actions=tuple(ActionDef(a.id, a.name.to_text(), a.actuator_kind, a.scope,
                                        a.command, a.escalate_to) for a in s.actions),
                prompts=tuple(PromptDef(p.id, p.text.to_text(), p.call) for p in s.prompts))
            for s in model.stages),
        file=str(file))


# ----------------------------------------------------------------------------- loading


def load_playbook(path: Path) -> tuple[Playbook, LineIndex]:
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigSchemaError([Problem(str(path), "", "a playbook must be a mapping")])
    try:
        model = PlaybookModel.model_validate(data)
    except ValidationError as exc:
        raise schema_problems(exc, path, lines) from None
    return _compile(model, path), lines


def load_playbooks(directory: Path, site: SiteConfig) -> dict[str, Playbook]:
    """Every ``*.yaml`` in the folder, checked against the site config; all problems at once."""
    if not directory.is_dir():
        raise ConfigReferenceError([Problem(str(site.file), "playbooks",
                                            f"playbook folder {directory} does not exist")])
    problems: list[Problem] = []
    worst: type[ConfigError] = ConfigReferenceError
    playbooks: dict[str, Playbook] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            playbook, lines = load_playbook(path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            if exc.exit_code < worst.exit_code:
                worst = type(exc)
            continue
        if playbook.id in playbooks:
            problems.append(Problem(str(path), "id", f"playbook id {playbook.id!r} is also used "
                                    f"by {playbooks[playbook.id].file}", lines.line(("id",))))
            continue
        problems.extend(check_references(playbook, lines, site))
        playbooks[playbook.id] = playbook
    if not playbooks and not problems:
        problems.append(Problem(str(directory), "", "no playbooks (*.yaml) found"))
    if problems:
        raise worst(problems)
    return playbooks


def check_references(playbook: Playbook, lines: LineIndex, site: SiteConfig) -> list[Problem]:
    """What the schema cannot see: roles, contacts, actuators and commands that must exist."""
    problems: list[Problem] = []

    def problem(loc: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(playbook.file, format_path(loc), message, lines.line(loc)))

    seen_ids: set[str] = set()
    # steps, actions and prompts are looked up by id across the whole incident
    seen_items: dict[str, set[str]] = {"steps": set(), "actions": set(), "prompts": set()}
    for si, stage in enumerate(playbook.stages):
        if stage.id in seen_ids:
            problem(("stages", si, "id"), f"duplicate stage id {stage.id!r}")
        seen_ids.add(stage.id)
        sections: tuple[tuple[str, tuple[str, ...]], ...] = (
            ("steps", tuple(s.id for s in stage.steps)),
            ("actions", tuple(a.id for a in stage.actions)),
            ("prompts", tuple(p.id for p in stage.prompts)))
        for section, ids in sections:
            for ii, item_id in enumerate(ids):
                if item_id in seen_items[section]:
                    problem(("stages", si, section, ii, "id"),
                            f"duplicate {section[:-1]} id {item_id!r} in this playbook")
                seen_items[section].add(item_id)
        for ti, step in enumerate(stage.steps):
            if step.role not in site.roles:
                problem(("stages", si, "steps", ti, "role"),
                        unknown_name("role", step.role, site.roles))
            if step.escalate_to and step.escalate_to not in site.roles:
                problem(("stages", si, "steps", ti, "escalate_to"),
                        unknown_name("role", step.escalate_to, site.roles))
        for ai, action in enumerate(stage.actions):
            targets = [a for a in site.actuators.values() if a.kind is action.actuator_kind]
            if not targets:
                problem(("stages", si, "actions", ai, "actuator_kind"),
                        f"no actuator of kind {action.actuator_kind.value!r} in {site.file}")
            if action.escalate_to and action.escalate_to not in site.roles:
                problem(("stages", si, "actions", ai, "escalate_to"),
                        unknown_name("role", action.escalate_to, site.roles))
            for actuator in targets:
                if action.command not in actuator.commands:
                    problem(("stages", si, "actions", ai, "command"),
                            f"actuator {actuator.id} has no command {action.command!r} "
                            f"(it has: {', '.join(sorted(actuator.commands))})")
        for pi, prompt in enumerate(stage.prompts):
            if prompt.call and prompt.call not in site.contacts:
                problem(("stages", si, "prompts", pi, "call"),
                        unknown_name("contact", prompt.call, site.contacts))
    return problems
