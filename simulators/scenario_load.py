"""A scenario file read against the site: its steps compiled (the points, elevators and
buildings they name must exist and encode), its expectations checked against the site."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import (
    ValidationError,
)

from gateway.config.schema import schema_problems, unknown_name
from gateway.config.site import ActuatorConfig, PointConfig, SiteConfig
from gateway.config.yamlfile import LineIndex, format_path, load_yaml
from gateway.domain.model import PointKind, PointState
from gateway.errors import ConfigError, Problem
from gateway.playbook.definition import Playbook
from simulators.devices import EncodeError, encode, mqtt_of
from simulators.panel_send import STATES as PANEL_STATES
from simulators.panel_send import over_ip
from simulators.scenario_model import (
    STEP_KINDS,
    ElevatorStepModel,
    ExpectModel,
    GasStepModel,
    PointStepModel,
    RawStepModel,
    ScenarioError,
    ScenarioModel,
    StormStepModel,
)

DETECTOR_KINDS = (PointKind.SMOKE_DETECTOR, PointKind.HEAT_DETECTOR, PointKind.FLAME_DETECTOR)


@dataclass(frozen=True, slots=True)
class PointStep:
    index: int
    at: float
    point: PointConfig
    state: PointState
    device: str
    value: float | None
    retain: bool


@dataclass(frozen=True, slots=True)
class GasStep:
    index: int
    at: float
    point: PointConfig
    ramp_to: float
    over: float


@dataclass(frozen=True, slots=True)
class ElevatorStep:
    index: int
    at: float
    actuator: ActuatorConfig
    behaviour: str


@dataclass(frozen=True, slots=True)
class StormStep:
    index: int
    at: float
    zones: int
    over: float
    state: PointState
    detectors: tuple[tuple[str, tuple[PointConfig, ...]], ...]  # (building, its zone points)


@dataclass(frozen=True, slots=True)
class RawStep:
    index: int
    at: float
    topic: str
    payload: bytes
    retain: bool


Step = PointStep | GasStep | ElevatorStep | StormStep | RawStep


@dataclass(frozen=True, slots=True)
class Scenario:
    file: Path
    name: str
    description: str
    drill: bool
    steps: tuple[Step, ...]
    expect: ExpectModel

    @property
    def length(self) -> float:
        """Scenario seconds until the last step (ramps and storms included) is over."""
        return max((s.at + (s.over if isinstance(s, GasStep | StormStep) else 0.0)
                    for s in self.steps), default=0.0)

    @property
    def needs_devices(self) -> bool:
        return any(isinstance(s, GasStep | ElevatorStep) for s in self.steps)


def load_scenario(path: Path | str, site: SiteConfig,
                  playbooks: dict[str, Playbook] | None = None) -> Scenario:
    """Read and validate a scenario against the site (and its playbooks, when given)."""
    path = Path(path)
    try:
        data, lines = load_yaml(path)
    except ConfigError as exc:
        raise ScenarioError(exc.problems) from None
    if not isinstance(data, dict):
        raise ScenarioError([Problem(str(path), "", "a scenario is a mapping with 'name', "
                                     "'steps' and optionally 'expect'")])
    try:
        model = ScenarioModel.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_schema(exc, path, lines, ())) from None
    problems: list[Problem] = []

    def problem(loc: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(str(path), format_path(loc), message, lines.line(loc)))

    steps: list[Step] = []
    for index, raw in enumerate(model.steps):
        step = _compile_step(index, raw, site, model.drill, path, lines, problems, problem)
        if step is not None:
            steps.append(step)
    expect = ExpectModel()
    if model.expect is not None:
        try:
            expect = ExpectModel.model_validate(model.expect)
        except ValidationError as exc:
            problems.extend(_schema(exc, path, lines, ("expect",)))
    _check_expectations(expect, site, playbooks, problem)
    if problems:
        raise ScenarioError(problems)
    description = ""
    if model.description is not None:
        description = model.description.en or model.description.zh
    return Scenario(file=path, name=model.name, description=description, drill=model.drill,
                    steps=tuple(sorted(steps, key=lambda s: s.at)), expect=expect)


ProblemAt = Callable[[tuple[str | int, ...], str], None]


def _compile_step(index: int, raw: Any, site: SiteConfig, drill: bool, path: Path,
                  lines: LineIndex, problems: list[Problem],
                  problem: ProblemAt) -> Step | None:
    loc: tuple[str | int, ...] = ("steps", index)
    if not isinstance(raw, dict):
        problem(loc, "a step is a mapping such as {at: 0s, point: B1-F12-Z3, state: alarm}")
        return None
    kinds = [k for k in STEP_KINDS if k in raw]
    if len(kinds) != 1:
        found = f" (this one has {', '.join(kinds)})" if kinds else ""
        problem(loc, "a step does one thing: give exactly one of point, gas, elevator, storm "
                f"or topic (a raw publish){found}")
        return None
    try:
        m = STEP_KINDS[kinds[0]].model_validate(raw)
    except ValidationError as exc:
        problems.extend(_schema(exc, path, lines, loc))
        return None
    if isinstance(m, PointStepModel):
        return _point_step(index, m, loc, site, drill, problem)
    if isinstance(m, GasStepModel):
        return _gas_step(index, m, loc, site, problem)
    if isinstance(m, ElevatorStepModel):
        return _elevator_step(index, m, loc, site, problem)
    if isinstance(m, StormStepModel):
        return _storm_step(index, m, loc, site, drill, problem)
    if isinstance(m, RawStepModel):
        payload = (bytes.fromhex(m.payload_hex) if m.payload_hex is not None
                   else (m.payload or "").encode())
        return RawStep(index, m.at, m.topic, payload, m.retain)
    problem(loc, f"a {type(m).__name__} is not a step this version plays")
    return None


def _point_step(index: int, m: PointStepModel, loc: tuple[str | int, ...], site: SiteConfig,
                drill: bool, problem: ProblemAt) -> Step | None:
    point = site.points.get(m.point)
    if point is None:
        problem((*loc, "point"), unknown_name("point", m.point, site.points))
        return None
    if over_ip(point):
        if m.state not in PANEL_STATES:
            problem((*loc, "state"), f"a panel over IP reports {', '.join(PANEL_STATES)}")
            return None
        if (point.panel is not None and point.panel.zone is None) or (
                point.dc09 is not None and point.dc09.zone is None):
            problem((*loc, "point"), f"{m.point} is a panel's own point: name one of its "
                    "components or zones")
            return None
        return PointStep(index, m.at, point, m.state, m.device, m.value, m.retain)
    if point.mqtt is None:
        problem((*loc, "point"), f"point {m.point} is read over Modbus: drive its device "
                "with a gas or elevator step instead")
        return None
    if m.device and not point.mqtt.device_field:
        problem((*loc, "device"), f"point {m.point} has no device field in its payload; "
                "drop 'device'")
        return None
    try:
        encode(point, m.state, device=m.device, drill=drill, value=m.value)
    except EncodeError as exc:
        problem((*loc, "state"), str(exc))
        return None
    return PointStep(index, m.at, point, m.state, m.device, m.value, m.retain)


def _gas_step(index: int, m: GasStepModel, loc: tuple[str | int, ...], site: SiteConfig,
              problem: ProblemAt) -> Step | None:
    point = site.points.get(m.gas)
    if point is None:
        problem((*loc, "gas"), unknown_name("point", m.gas, site.points))
        return None
    if point.modbus is None or not point.modbus.thresholds:
        problem((*loc, "gas"), f"point {m.gas} is not the concentration register of a "
                "Modbus gas detector (a Modbus point with thresholds)")
        return None
    return GasStep(index, m.at, point, m.ramp_to, m.over)


def _elevator_step(index: int, m: ElevatorStepModel, loc: tuple[str | int, ...],
                   site: SiteConfig, problem: ProblemAt) -> Step | None:
    actuator = site.actuators.get(m.elevator)
    elevators = {a.id: a for a in site.actuators.values() if a.kind.value == "elevator"}
    if actuator is None or actuator.kind.value != "elevator":
        problem((*loc, "elevator"), unknown_name("elevator actuator", m.elevator, elevators))
        return None
    return ElevatorStep(index, m.at, actuator, m.behaviour)


def _storm_step(index: int, m: StormStepModel, loc: tuple[str | int, ...], site: SiteConfig,
                drill: bool, problem: ProblemAt) -> Step | None:
    buildings = m.storm.building if isinstance(m.storm.building, list) else [m.storm.building]
    detectors = []
    for building in buildings:
        zone_points = sorted((p for p in site.points.values()
                              if p.kind in DETECTOR_KINDS and p.mqtt is not None
                              and p.location.building == building),
                             key=lambda p: (_natural(p.location.floor),
                                            _natural(p.location.zone), p.id))
        if not zone_points:
            problem((*loc, "storm", "building"), f"building {building!r} has no detector "
                    "zones bound to MQTT")
            return None
        try:
            encode(zone_points[0], m.storm.state, device="SD-01", drill=drill)
        except EncodeError as exc:
            problem((*loc, "storm", "state"), str(exc))
            return None
        detectors.append((building, tuple(zone_points)))
    return StormStep(index, m.at, m.storm.zones, m.storm.over, m.storm.state,
                     tuple(detectors))


def _schema(exc: ValidationError, path: Path, lines: LineIndex,
            prefix: tuple[str | int, ...]) -> list[Problem]:
    return [Problem(p.file, p.path, p.message.replace(
        "see the config reference in the README", "the format is in simulators/scenario_model.py"),
        p.line) for p in schema_problems(exc, path, lines, prefix).problems]


def _check_expectations(expect: ExpectModel, site: SiteConfig,
                        playbooks: dict[str, Playbook] | None,
                        problem: Callable[[tuple[str | int, ...], str], None]) -> None:
    for i, inc in enumerate(expect.incidents):
        if playbooks is None:
            break
        playbook = playbooks.get(inc.type)
        if playbook is None:
            problem(("expect", "incidents", i, "type"),
                    unknown_name("playbook", inc.type, playbooks))
        elif inc.stage is not None and inc.stage not in {s.id for s in playbook.stages}:
            problem(("expect", "incidents", i, "stage"),
                    f"playbook {inc.type} has no stage {inc.stage!r} (stages: "
                    f"{', '.join(s.id for s in playbook.stages)})")
    action_ids = {a.id for pb in (playbooks or {}).values() for s in pb.stages
                  for a in s.actions}
    for i, act in enumerate(expect.actions):
        if act.actuator is not None and act.actuator not in site.actuators:
            problem(("expect", "actions", i, "actuator"),
                    unknown_name("actuator", act.actuator, site.actuators))
        if playbooks is not None and act.action is not None and act.action not in action_ids:
            problem(("expect", "actions", i, "action"),
                    f"no playbook has an action {act.action!r} (actions: "
                    f"{', '.join(sorted(action_ids)) or 'none'})")
    prompt_ids = {p.id for pb in (playbooks or {}).values() for s in pb.stages
                  for p in s.prompts}
    for i, prompt in enumerate(expect.prompts):
        if playbooks is not None and prompt.prompt not in prompt_ids:
            problem(("expect", "prompts", i), f"no playbook raises a prompt {prompt.prompt!r} "
                    f"(prompts: {', '.join(sorted(prompt_ids)) or 'none'})")
    for i, pt in enumerate(expect.points):
        if pt.point not in site.points:
            problem(("expect", "points", i, "point"), unknown_name("point", pt.point, site.points))
    for i, sig in enumerate(expect.signals):
        if not any(fnmatch.fnmatchcase(pid, sig.point) for pid in site.points):
            problem(("expect", "signals", i, "point"),
                    f"{sig.point!r} names no point of the site (an id, or a pattern such as "
                    "B1-F*-Z*)")


def _natural(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (1 << 30, text)


def storm_messages(step: StormStep, drill: bool) -> Iterator[tuple[str, bytes]]:
    """A panel's burst: each building's zones in turn, the next detector address per round."""
    for n in range(step.zones):
        for _, zone_points in step.detectors:
            point = zone_points[n % len(zone_points)]
            device = f"SD-{n // len(zone_points) + 1:02d}"
            yield mqtt_of(point).topic, encode(point, step.state, device=device, drill=drill)
