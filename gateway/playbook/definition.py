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
stages no path reaches, prompts without a timeout policy and branch options that lead nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from gateway.config.schema import BiText, Duration, Strict, schema_problems, unknown_name
from gateway.config.site import SiteConfig
from gateway.config.yamlfile import LineIndex, format_path, load_yaml
from gateway.domain.model import ActuatorKind, PointKind, PointState, Severity, Text, Verdict
from gateway.errors import ConfigError, ConfigReferenceError, ConfigSchemaError, Problem

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

# ----------------------------------------------------------------------------- schema


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


# ----------------------------------------------------------------------------- compiled


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
        problems.extend(check_playbook(playbook, lines, site))
        playbooks[playbook.id] = playbook
    if not playbooks and not problems:
        problems.append(Problem(str(directory), "", "no playbooks (*.yaml) found"))
    if problems:
        raise worst(problems)
    return playbooks


# ----------------------------------------------------------------------------- checks


class _Checker:
    def __init__(self, playbook: Playbook, lines: LineIndex, site: SiteConfig) -> None:
        self.playbook = playbook
        self.lines = lines
        self.site = site
        self.problems: list[Problem] = []

    def problem(self, loc: tuple[str | int, ...], message: str) -> None:
        self.problems.append(Problem(self.playbook.file, format_path(loc), message,
                                     self.lines.line(loc)))

    def role(self, loc: tuple[str | int, ...], role: str | None) -> None:
        if role and role not in self.site.roles:
            self.problem(loc, unknown_name("role", role, self.site.roles))

    def action(self, loc: tuple[str | int, ...], action: ActionDef) -> None:
        self.role((*loc, "escalate_to"), action.escalate_to)
        if action.actuators:
            targets = []
            for index, actuator_id in enumerate(action.actuators):
                actuator = self.site.actuators.get(actuator_id)
                if actuator is None:
                    self.problem((*loc, "actuators", index),
                                 unknown_name("actuator", actuator_id, self.site.actuators))
                else:
                    targets.append(actuator)
        else:
            assert action.actuator_kind is not None
            targets = [a for a in self.site.actuators.values()
                       if a.kind is action.actuator_kind]
            if not targets:
                self.problem((*loc, "actuator_kind"), f"no actuator of kind "
                             f"{action.actuator_kind.value!r} in {self.site.file}")
        for actuator in targets:
            if action.command not in actuator.commands:
                self.problem((*loc, "command"),
                             f"actuator {actuator.id} has no command {action.command!r} "
                             f"(it has: {', '.join(sorted(actuator.commands))})")


def check_playbook(playbook: Playbook, lines: LineIndex, site: SiteConfig) -> list[Problem]:
    """What the schema cannot see: names that must exist in the site config, stages that can
    never be entered, prompts without a timeout policy, branch options leading nowhere."""
    c = _Checker(playbook, lines, site)
    c.role(("commander",), playbook.commander)
    trigger = playbook.trigger
    if trigger is not None and trigger.points is not None:
        for index, point_id in enumerate(sorted(trigger.points)):
            if point_id not in site.points:
                c.problem(("trigger", "points", index),
                          unknown_name("point", point_id, site.points))
    for fi, follow in enumerate(playbook.follow_up):
        c.role(("follow_up", fi, "role"), follow.role)
    _check_ids(c)
    stage_ids = {s.id for s in playbook.stages}
    reached_by_branch: set[str] = set()
    for si, stage in enumerate(playbook.stages):
        for role_index, role in enumerate(stage.notify):
            c.role(("stages", si, "notify", role_index), role)
        for ti, step in enumerate(stage.steps):
            c.role(("stages", si, "steps", ti, "role"), step.role)
            c.role(("stages", si, "steps", ti, "escalate_to"), step.escalate_to)
        for ai, action in enumerate(stage.actions):
            c.action(("stages", si, "actions", ai), action)
        for pi, prompt in enumerate(stage.prompts):
            _check_prompt(c, ("stages", si, "prompts", pi), prompt)
        branch = stage.branch
        if branch is not None:
            loc: tuple[str | int, ...] = ("stages", si, "branch")
            c.role((*loc, "role"), branch.role)
            c.role((*loc, "escalate_to"), branch.escalate_to)
            if branch.escalate_to and branch.deadline is None:
                c.problem((*loc, "escalate_to"), "escalate_to needs a deadline to escalate at")
            for oi, option in enumerate(branch.options):
                oloc = (*loc, "options", oi)
                if option.goto is None and option.verdict is None:
                    c.problem(oloc, f"branch option {option.id!r} has no outcome: give it "
                              "'goto' (the stage it leads to) or 'verdict' (what the incident "
                              "was)")
                elif option.goto is not None:
                    if option.goto not in stage_ids:
                        c.problem((*oloc, "goto"), unknown_name("stage", option.goto, stage_ids))
                    elif playbook.stage_index(option.goto) <= si:
                        c.problem((*oloc, "goto"), f"option {option.id!r} goes back to stage "
                                  f"{option.goto!r}; a branch only leads forward")
                    else:
                        reached_by_branch.add(option.goto)
                        target = playbook.stage(option.goto)
                        if not (target.steps or target.actions or target.prompts
                                or target.branch or target.records or target.verdict):
                            c.problem((*oloc, "goto"), f"option {option.id!r} leads to stage "
                                      f"{option.goto!r}, which does nothing: give it steps, "
                                      "actions, prompts, records or a verdict")
            verifications = [o.verification for o in branch.options if o.verification]
            if len(verifications) != len(set(verifications)):
                c.problem((*loc, "options"), "two options answer the same verification")
    for si, stage in enumerate(playbook.stages[1:], start=1):
        enter = stage.enter
        automatic = enter is not None and (enter.operator or enter.state is not None
                                           or enter.independent_devices is not None)
        if automatic and trigger is None and enter is not None and not enter.operator:
            c.problem(("stages", si, "enter"), f"stage {stage.id!r} waits for devices, but the "
                      "playbook has no trigger, so no device ever joins its incidents")
        elif not automatic and stage.id not in reached_by_branch:
            c.problem(("stages", si, "id"), f"stage {stage.id!r} can never be entered (and so "
                      "its steps never run): give it 'enter' or point a branch option at it")
    return c.problems


def _check_ids(c: _Checker) -> None:
    playbook = c.playbook
    seen_stages: set[str] = set()
    seen: dict[str, set[str]] = {"steps": set(), "actions": set(), "prompts": set(),
                                 "records": {r.id for r in playbook.records}, "branch": set()}
    for si, stage in enumerate(playbook.stages):
        if stage.id in seen_stages:
            c.problem(("stages", si, "id"), f"duplicate stage id {stage.id!r}")
        seen_stages.add(stage.id)
        sections: list[tuple[str, tuple[str, ...]]] = [
            ("steps", tuple(s.id for s in stage.steps)),
            ("actions", tuple(a.id for a in stage.actions)),
            ("prompts", tuple(p.id for p in stage.prompts)),
            ("records", tuple(r.id for r in stage.records))]
        for section, ids in sections:
            for ii, item_id in enumerate(ids):
                if item_id in seen[section]:
                    c.problem(("stages", si, section, ii, "id"),
                              f"duplicate {section.rstrip('s')} id {item_id!r} in this playbook")
                seen[section].add(item_id)
        if stage.branch is not None:
            if stage.branch.id in seen["branch"]:
                c.problem(("stages", si, "branch", "id"),
                          f"duplicate branch id {stage.branch.id!r}")
            seen["branch"].add(stage.branch.id)
            option_ids = [o.id for o in stage.branch.options]
            if len(option_ids) != len(set(option_ids)):
                c.problem(("stages", si, "branch", "options"), "duplicate option ids")


def _check_prompt(c: _Checker, loc: tuple[str | int, ...], prompt: PromptDef) -> None:
    if prompt.call and prompt.call not in c.site.contacts:
        c.problem((*loc, "call"), unknown_name("contact", prompt.call, c.site.contacts))
    if prompt.timeout is None or prompt.on_timeout is None:
        c.problem(loc, f"prompt {prompt.id!r} has no timeout policy: give it 'timeout' and "
                  "'on_timeout' (act, escalate or wait)")
    if prompt.on_timeout == "act" and not prompt.actions:
        c.problem((*loc, "on_timeout"), f"prompt {prompt.id!r} acts on timeout but has no "
                  "actions to take")
    if prompt.on_timeout == "escalate" and not prompt.escalate_to:
        c.problem((*loc, "on_timeout"), f"prompt {prompt.id!r} escalates on timeout: say to "
                  "whom (escalate_to)")
    c.role((*loc, "escalate_to"), prompt.escalate_to)
    if prompt.second_confirmation and not prompt.actions:
        c.problem((*loc, "second_confirmation"), "a second confirmation guards actions; this "
                  "prompt has none")
    if prompt.second_confirmation and prompt.on_timeout == "act":
        c.problem((*loc, "on_timeout"), f"prompt {prompt.id!r} needs a second operator's "
                  "confirmation, so it cannot act on its own at timeout: escalate or wait")
    for ai, action in enumerate(prompt.actions):
        c.action((*loc, "actions", ai), action)
