"""Scenario replay: a timeline of device events, replayed against the gateway and checked.

    alarm-gateway simulate scenario simulators/scenarios/fire-confirmed.yaml -c config/site.yaml
        [--speed 10] [--drill] [--no-devices] [--store PATH] [--broker host:port]

A scenario file (YAML)::

    name: fire-confirmed
    description: {zh: 感烟探测器报警后手报确认, en: A detector, then the call point confirms}
    drill: false                 # --drill on the command line also sets it
    steps:
      - {at: 0s, point: B1-F12-Z3, state: alarm, device: SD-01}   # publish what the device would
      - {at: 20s, point: B1-F12-MCP3, state: alarm}
      - {at: 25s, gas: G-B1-02, ramp_to: 60, over: 30s}          # drive a simulated gas detector
      - {at: 30s, elevator: ELV-B2-L1, behaviour: stuck}          # stuck | ignore_recall | normal
      - {at: 31s, storm: {building: 1, zones: 200, over: 10s}}   # a panel reporting a burst
      - {at: 40s, topic: demo/fire/b1/f1/z1, payload: '{"state": "fire"}'}   # raw, as is
    expect:
      within: 60s                # wall-clock wait after the last step (not scaled by --speed)
      incidents: [{type: fire, stage: confirmed, count: 1}]
      actions: [{actuator: ELV-B1-L1, status: done}]
      prompts: [call_119, start_pa]
      points: [{point: G-B1-02, state: alarm}]
      signals: [{point: W-PUMP-01, state: alarm}]
      no_writes: true

Steps run at ``at / speed`` from the start; ramps and storms last ``over / speed`` and run
alongside the steps after them. A ``point`` step publishes on the point's topic the payload its
device would send (``simulators.devices.encode``; ``device`` is the detector address behind a
zone, ``value`` a measured value). A ``storm`` sends ``zones`` zone alarms per building, going
through the building's detector zones floor by floor and, past the last one, starting again with
the next detector address (SD-01, SD-02, ...). A raw step (``topic`` + ``payload`` text, or
``payload_hex``) is published as is.

Expectations are read from the gateway's store (read-only) and count only what happened since
the replay started: incidents opened since then (signals that join an incident still open from
before are not counted: close old incidents first), their actions and prompts, the signals
stored since then, and the points' current states (a state other than normal must have been
reported since the start). ``count`` is exact (``count: 0``: none); without it, at least one.
``no_writes``: the gateway sent no actuator command (none left its outbox unwithheld) and no
simulated device received a write. The report waits until every message the replay published
is in the store and the expectations hold (or ``within`` runs out), checks again after
``settle`` (default 1 s) so that "none" and "exactly" are not judged too early, and prints one
line per expectation. Exit code 0: all met; 1: some not met; 2: the scenario file is wrong.

A drill scenario (``drill: true`` or ``--drill``) asks the running gateway to start a drill
(``drill_start`` through its command queue) before the first step, and to stop it after the
check, also on an error or Ctrl-C: its scope is every point the scenario makes report, so the
gateway marks their signals drill and withholds the actuator writes of the incidents they open,
while a real alarm elsewhere stays real. Points with a ``drill_field`` also get the drill flag in
their payload.

The site's simulated devices (Modbus gas controller, elevator interface and valves, MQTT
elevators) run in this process during the replay unless ``--no-devices`` says that
``simulate serve`` already runs them; gas and elevator steps need them in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import getpass
import math
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from gateway.config.schema import BiText, Duration, Strict, schema_problems, unknown_name
from gateway.config.site import ActuatorConfig, BrokerConfig, PointConfig, SiteConfig
from gateway.config.yamlfile import LineIndex, format_path, load_yaml
from gateway.domain.model import ActionStatus, IncidentStatus, PointKind, PointState, PromptStatus
from gateway.errors import CommandError, ConfigError, GatewayError, Problem
from gateway.playbook.definition import Playbook, load_playbooks
from gateway.store import DaemonLock, open_records
from gateway.store.commands import COMMAND_TIMEOUT, await_command
from gateway.store.records import Records
from gateway.store.values import Mark
from simulators.devices import EncodeError, encode

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_BAD_SCENARIO = 2
DEFAULT_WITHIN = 30.0
DEFAULT_SETTLE = 1.0
FLUSH_TIMEOUT = 30.0
POLL = 0.2
BEHAVIOURS = ("stuck", "ignore_recall", "normal")
DETECTOR_KINDS = (PointKind.SMOKE_DETECTOR, PointKind.HEAT_DETECTOR, PointKind.FLAME_DETECTOR)


class ScenarioError(ConfigError):
    """The scenario file is unusable; each problem names the file, line, step and field."""

    exit_code = EXIT_BAD_SCENARIO


class ReplayError(GatewayError):
    """The scenario cannot be played as asked (e.g. device steps with --no-devices)."""

    exit_code = EXIT_BAD_SCENARIO


# ----------------------------------------------------------------------------- file format


def _as_text(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


Name = Annotated[str, BeforeValidator(_as_text)]


class _Exact(BaseModel):
    """Like ``Strict`` but keeps whitespace: a raw payload is published byte for byte."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PointStepModel(Strict):
    at: Duration
    point: Name
    state: PointState
    device: Name = ""
    value: float | None = None
    retain: bool = False


class GasStepModel(Strict):
    at: Duration
    gas: Name
    ramp_to: float = Field(ge=0, le=100, description="%LEL")
    over: Duration = 0.0


class ElevatorStepModel(Strict):
    at: Duration
    elevator: Name
    behaviour: Literal["stuck", "ignore_recall", "normal"]


class StormModel(Strict):
    building: Name | list[Name]
    zones: int = Field(ge=1, le=100_000)
    over: Duration = 0.0
    state: PointState = PointState.ALARM


class StormStepModel(Strict):
    at: Duration
    storm: StormModel


class RawStepModel(_Exact):
    at: Duration
    topic: str = Field(min_length=1)
    payload: str | None = None
    payload_hex: str | None = None
    retain: bool = False

    @model_validator(mode="after")
    def _one_payload(self) -> RawStepModel:
        if self.payload is not None and self.payload_hex is not None:
            raise ValueError("give 'payload' (text) or 'payload_hex', not both")
        if self.payload_hex is not None:
            try:
                bytes.fromhex(self.payload_hex)
            except ValueError:
                raise ValueError("payload_hex is not hexadecimal bytes") from None
        if "+" in self.topic or "#" in self.topic:
            raise ValueError("a raw step publishes on one exact topic (no wildcards)")
        return self


StepModel = PointStepModel | GasStepModel | ElevatorStepModel | StormStepModel | RawStepModel
STEP_KINDS: dict[str, type[BaseModel]] = {
    "point": PointStepModel, "gas": GasStepModel, "elevator": ElevatorStepModel,
    "storm": StormStepModel, "topic": RawStepModel,
}


def _prompt_entry(value: Any) -> Any:
    return {"prompt": value} if isinstance(value, str) else value


class IncidentExpect(Strict):
    type: str
    stage: str | None = None
    status: IncidentStatus | None = None
    building: Name | None = None
    drill: bool | None = None
    count: int | None = Field(None, ge=0)

    def describe(self) -> str:
        parts = [f"incident {self.type}"]
        parts += [f"{k} {v}" for k, v in (("stage", self.stage), ("status", self.status),
                                           ("building", self.building)) if v is not None]
        if self.drill is not None:
            parts.append("drill" if self.drill else "not a drill")
        return ", ".join(parts)


class ActionExpect(Strict):
    actuator: Name | None = None
    action: str | None = None
    command: str | None = None
    status: ActionStatus | None = None
    count: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _what(self) -> ActionExpect:
        if self.actuator is None and self.action is None:
            raise ValueError("say which action: 'actuator' (an id) and/or 'action' "
                             "(the playbook's action id, e.g. elevator_recall)")
        return self

    def describe(self) -> str:
        parts = ["action" + (f" {self.action}" if self.action else "")
                 + (f" on {self.actuator}" if self.actuator else "")]
        parts += [f"{k} {v}" for k, v in (("command", self.command), ("status", self.status))
                  if v is not None]
        return ", ".join(parts)


class PromptExpect(Strict):
    prompt: str
    status: PromptStatus | None = None
    count: int | None = Field(None, ge=0)

    def describe(self) -> str:
        return f"prompt {self.prompt}" + (f", status {self.status}" if self.status else "")


class PointExpect(Strict):
    point: Name
    state: PointState

    def describe(self) -> str:
        return f"point {self.point} {self.state}"


class SignalExpect(Strict):
    point: Name  # a point id or a pattern such as B1-F*-Z*
    state: PointState | None = None
    drill: bool | None = None
    count: int | None = Field(None, ge=0)

    def describe(self) -> str:
        text = f"signals of {self.point}"
        if self.state is not None:
            text += f" {self.state}"
        if self.drill is not None:
            text += ", drill" if self.drill else ", not drill"
        return text


class ExpectModel(Strict):
    within: Duration = DEFAULT_WITHIN
    settle: Duration = DEFAULT_SETTLE
    incidents: list[IncidentExpect] = Field(default_factory=list)
    actions: list[ActionExpect] = Field(default_factory=list)
    prompts: list[Annotated[PromptExpect, BeforeValidator(_prompt_entry)]] = Field(
        default_factory=list)
    points: list[PointExpect] = Field(default_factory=list)
    signals: list[SignalExpect] = Field(default_factory=list)
    no_writes: bool = False

    @property
    def empty(self) -> bool:
        return not (self.incidents or self.actions or self.prompts or self.points
                    or self.signals or self.no_writes)


class ScenarioModel(Strict):
    name: Name
    description: BiText | None = None
    drill: bool = False
    steps: list[Any] = Field(min_length=1)
    expect: Any = None  # validated on its own, so that its problems and the steps' all show


# ----------------------------------------------------------------------------- compiled steps


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


# ----------------------------------------------------------------------------- loading


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


def _compile_step(index: int, raw: Any, site: SiteConfig, drill: bool, path: Path,
                  lines: LineIndex, problems: list[Problem],
                  problem: Callable[[tuple[str | int, ...], str], None]) -> Step | None:
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
        point = site.points.get(m.point)
        if point is None:
            problem((*loc, "point"), unknown_name("point", m.point, site.points))
            return None
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
    if isinstance(m, GasStepModel):
        point = site.points.get(m.gas)
        if point is None:
            problem((*loc, "gas"), unknown_name("point", m.gas, site.points))
            return None
        if point.modbus is None or not point.modbus.thresholds:
            problem((*loc, "gas"), f"point {m.gas} is not the concentration register of a "
                    "Modbus gas detector (a Modbus point with thresholds)")
            return None
        return GasStep(index, m.at, point, m.ramp_to, m.over)
    if isinstance(m, ElevatorStepModel):
        actuator = site.actuators.get(m.elevator)
        elevators = {a.id: a for a in site.actuators.values() if a.kind.value == "elevator"}
        if actuator is None or actuator.kind.value != "elevator":
            problem((*loc, "elevator"), unknown_name("elevator actuator", m.elevator, elevators))
            return None
        return ElevatorStep(index, m.at, actuator, m.behaviour)
    if isinstance(m, StormStepModel):
        buildings = m.storm.building if isinstance(m.storm.building, list) else [
            m.storm.building]
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
    assert isinstance(m, RawStepModel)
    payload = (bytes.fromhex(m.payload_hex) if m.payload_hex is not None
               else (m.payload or "").encode())
    return RawStep(index, m.at, m.topic, payload, m.retain)


def _schema(exc: ValidationError, path: Path, lines: LineIndex,
            prefix: tuple[str | int, ...]) -> list[Problem]:
    return [Problem(p.file, p.path, p.message.replace(
        "see the config reference in the README", "the format is in simulators/scenario.py"),
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


# ----------------------------------------------------------------------------- devices


class Devices(Protocol):
    """The site's simulated devices, as the runner drives them."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def ramp_gas(self, point: PointConfig, to: float, over: float) -> None: ...

    def set_elevator(self, actuator: ActuatorConfig, behaviour: str) -> None: ...

    def writes(self) -> list[str]:
        """Actuator writes the simulated devices received, one line each."""
        ...


class SiteDevices:
    """The site's Modbus device servers and MQTT elevators, run in this process."""

    def __init__(self, site: SiteConfig) -> None:
        self.site = site
        self.servers: dict[str, Any] = {}
        self.elevators: dict[str, Any] = {}
        self._started: list[Any] = []

    async def start(self) -> None:
        from simulators import modbus_devices

        self.servers = dict(modbus_devices.build_site_simulators(self.site))
        self.elevators = _mqtt_elevators(self.site)
        try:
            for device in (*self.servers.values(), *self.elevators.values()):
                await device.start()
                self._started.append(device)
        except OSError as exc:
            await self.stop()
            raise OSError(f"{exc} (if 'simulate serve' runs the devices, add --no-devices)") \
                from None
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        while self._started:
            device = self._started.pop()
            with contextlib.suppress(Exception):
                await device.stop()

    def _server(self, connection: str) -> Any:
        server = self.servers.get(connection)
        if server is None:
            raise ReplayError(f"no simulated Modbus devices on connection {connection!r}")
        return server

    def ramp_gas(self, point: PointConfig, to: float, over: float) -> None:
        assert point.modbus is not None
        self._server(point.modbus.connection).gas_detector(point.modbus.unit).ramp(to, over)

    def set_elevator(self, actuator: ActuatorConfig, behaviour: str) -> None:
        mqtt_elevator = self.elevators.get(actuator.id)
        if mqtt_elevator is not None:
            mqtt_elevator.set_behaviour(behaviour)
            return
        write = next((c.modbus for c in actuator.commands.values() if c.modbus is not None),
                     None)
        if write is None:
            raise ReplayError(f"no simulated elevator for {actuator.id}")
        self._server(write.connection).elevator(write.unit).set_behaviour(behaviour)

    def writes(self) -> list[str]:
        out = [f"{name} {w.describe()}" for name, server in self.servers.items()
               for w in server.writes]
        out += [f"{name} {w}" for name, elevator in self.elevators.items()
                for w in elevator.writes]
        return out


def _mqtt_elevators(site: SiteConfig) -> dict[str, Any]:
    from simulators import mqtt_devices

    return dict(mqtt_devices.build_site_elevators(site))


# ----------------------------------------------------------------------------- MQTT out


def mqtt_client(broker: BrokerConfig, role: str) -> mqtt.Client:
    """A connected paho client (network loop on its own thread) for the site's broker."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2,
                         client_id=f"{role}-{uuid.uuid4().hex[:8]}")
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls is not None:
        client.tls_set(ca_certs=broker.tls.ca_file, certfile=broker.tls.cert_file,
                       keyfile=broker.tls.key_file)
        client.tls_insecure_set(broker.tls.insecure)
    connected = threading.Event()
    refused: list[str] = []

    def on_connect(client: mqtt.Client, userdata: object, flags: object, reason: Any,
                   properties: object) -> None:
        if reason.is_failure:
            refused.append(str(reason))
        connected.set()

    client.on_connect = on_connect
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    if not connected.wait(10) or refused:
        with contextlib.suppress(Exception):
            client.disconnect()
        client.loop_stop()
        why = refused[0] if refused else "no answer within 10 s"
        raise OSError(f"cannot connect to the broker at {broker.describe()}: {why}")
    return client


class MqttOut:
    """QoS 1 publishes that do not wait one by one; ``flush`` waits for every PUBACK."""

    def __init__(self, broker: BrokerConfig) -> None:
        self.broker = broker
        self.client = mqtt_client(broker, "scenario")
        self.pending: list[tuple[str, mqtt.MQTTMessageInfo]] = []

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise OSError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        self.pending.append((topic, info))

    async def flush(self) -> None:
        await asyncio.to_thread(self.wait_published)

    def wait_published(self) -> None:
        deadline = time.monotonic() + FLUSH_TIMEOUT
        for topic, info in self.pending:
            info.wait_for_publish(max(0.01, deadline - time.monotonic()))
            if not info.is_published():
                raise TimeoutError(f"the broker did not acknowledge the publish to {topic} "
                                   f"within {FLUSH_TIMEOUT:.0f}s")
        self.pending.clear()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# ----------------------------------------------------------------------------- expectations


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    text: str


def _count_ok(found: int, count: int | None) -> tuple[bool, str]:
    if count is None:
        return found >= 1, f"{found} (expected at least 1)"
    return found == count, f"{found} (expected {'none' if count == 0 else f'exactly {count}'})"


def _ids(items: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def evaluate(records: Records, expect: ExpectModel, since: Mark,
             device_writes: list[str] | None) -> list[Check]:
    """One line per expectation, judged on what the store holds now."""
    checks: list[Check] = []
    recent = records.incidents_touched_since(since.at)
    incidents = sorted((i for i in recent if i.opened_at >= since.at), key=lambda i: i.id)
    # signals of this replay that joined an incident still open from before it
    joined = sorted((i for i in recent if i.opened_at < since.at
                     and i.status is not IncidentStatus.CLOSED), key=lambda i: i.id)
    for e in expect.incidents:
        same_type = [i for i in incidents if i.type == e.type]
        found = [i for i in same_type
                 if (e.stage is None or i.stage == e.stage)
                 and (e.status is None or i.status is e.status)
                 and (e.building is None or i.location.building == e.building)
                 and (e.drill is None or i.drill is e.drill)]
        ok, counted = _count_ok(len(found), e.count)
        text = f"{e.describe()}: {counted}"
        if found:
            text += f": {_ids([i.id for i in found])}"
        if not ok and same_type:
            text += "; " + e.type + " incidents since the start: " + _ids(
                [f"{i.id} {i.stage} B{i.location.building}{' drill' if i.drill else ''}"
                 for i in same_type])
        older = [f"{i.id} B{i.location.building}" for i in joined if i.type == e.type]
        if not ok and older:
            text += (f"; {e.type} incidents opened before the replay took its signals: "
                     f"{_ids(older)} (close them first)")
        checks.append(Check(ok, text))
    actions = [(i, a) for i in incidents for a in i.actions]
    for a in expect.actions:
        candidates = [(i, x) for i, x in actions
                      if (a.actuator is None or x.actuator_id == a.actuator)
                      and (a.action is None or x.action == a.action)
                      and (a.command is None or x.command == a.command)]
        found_actions = [(i, x) for i, x in candidates
                         if a.status is None or x.status is a.status]
        ok, counted = _count_ok(len(found_actions), a.count)
        text = f"{a.describe()}: {counted}"
        if candidates and (not ok or a.status is None):
            text += "; seen: " + _ids([f"{i.id} {x.actuator_id} {x.command} {x.status}"
                                       + (f" ({x.detail})" if x.detail else "")
                                       for i, x in candidates])
        checks.append(Check(ok, text))
    prompts = [(i, p) for i in incidents for p in i.prompts]
    for p in expect.prompts:
        found_prompts = [i.id for i, x in prompts if x.id == p.prompt
                         and (p.status is None or x.status is p.status)]
        ok, counted = _count_ok(len(found_prompts), p.count)
        text = f"{p.describe()} raised: {counted}"
        if found_prompts:
            text += f": {_ids(found_prompts)}"
        checks.append(Check(ok, text))
    for pt in expect.points:
        row = records.point_row(pt.point)
        if row is None:
            checks.append(Check(False, f"{pt.describe()}: the gateway has no state for it yet"))
        elif row[1] < since.at and pt.state is not PointState.NORMAL:
            # the store writes a point when it changes: an old alarm is not this replay's
            checks.append(Check(False, f"{pt.describe()}: not reported since the replay "
                                f"started (last state {row[0]})"))
        else:
            checks.append(Check(row[0] == pt.state.value,
                                f"{pt.describe()}: {row[0]}"))
    rows = records.signals_after(since) if expect.signals else []
    for s in expect.signals:
        of_point = [r for r in rows if fnmatch.fnmatchcase(r[0], s.point)]
        found_signals = [r for r in of_point
                         if (s.state is None or r[1] == s.state.value)
                         and (s.drill is None or r[2] is s.drill)]
        ok, counted = _count_ok(len(found_signals), s.count)
        text = f"{s.describe()}: {counted}"
        if of_point and not ok:
            states: dict[str, int] = {}
            for _, st, dr in of_point:
                key = st + (" drill" if dr else "")
                states[key] = states.get(key, 0) + 1
            text += "; stored: " + ", ".join(f"{k} ×{n}" for k, n in sorted(states.items()))
        checks.append(Check(ok, text))
    if expect.no_writes:
        writes = [f"{topic} ({status})" for topic, status in records.commands_after(since)]
        if device_writes:
            writes += device_writes
        if device_writes is None:
            scope = "gateway commands (devices not run here)"
        else:
            scope = "gateway commands or simulated device writes"
        checks.append(Check(not writes, f"no actuator writes: {len(writes)} {scope}"
                            + (f": {_ids(writes)}" if writes else "")))
    return checks


# ----------------------------------------------------------------------------- the gateway


def _actor(scenario: Scenario) -> str:
    user = os.environ.get("ALARM_GATEWAY_OPERATOR") or getpass.getuser()
    return f"{user} (scenario {scenario.name})"


def gateway_command(store_path: Path, verb: str, actor: str, args: dict[str, str],
                    timeout: float = COMMAND_TIMEOUT) -> str:
    """Queue a site-level command for the running daemon and wait for its result."""
    DaemonLock(store_path).require_daemon()
    with open_records(store_path, readonly=True) as records:
        try:
            return await_command(records, verb, "", actor, args, timeout)
        except CommandError as exc:
            raise CommandError(f"the gateway refused {verb}: {exc}") from None


# ----------------------------------------------------------------------------- the runner


@dataclass
class Options:
    speed: float = 1.0
    drill: bool = False
    devices: bool = True
    store_path: Path | None = None
    out: Callable[[str], None] = field(default=lambda line: print(line, flush=True))


@dataclass
class Outcome:
    passed: bool
    checks: list[Check] = field(default_factory=list)
    published: int = 0
    stored: int = 0
    since: Mark | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_PASS if self.passed else EXIT_FAIL


def _clock(offset: float) -> str:
    return f"+{offset:7.2f}s"


class Runner:
    """Replays one scenario: devices up, drill on, steps on time, expectations, drill off."""

    def __init__(self, scenario: Scenario, site: SiteConfig, options: Options,
                 devices: Devices | None = None) -> None:
        self.scenario = scenario
        self.site = site
        self.options = options
        self.drill = scenario.drill or options.drill
        self.store_path = options.store_path or site.store_path
        self.devices = devices
        if devices is None and options.devices:
            self.devices = SiteDevices(site)
        self.mqtt: MqttOut | None = None
        self.bound_topics = set(site.points_by_topic())
        self.bound_published = 0
        self.t0 = 0.0
        self.tasks: list[asyncio.Task[None]] = []

    def say(self, text: str) -> None:
        self.options.out(text)

    async def run(self) -> Outcome:
        sc, expect = self.scenario, self.scenario.expect
        if self.devices is None and sc.needs_devices:
            steps = ", ".join(f"steps[{s.index}]" for s in sc.steps
                              if isinstance(s, GasStep | ElevatorStep))
            raise ReplayError(f"{steps} drive simulated devices, which run in this process: "
                               "drop --no-devices (or stop 'simulate serve' and let the "
                               "replay run them)")
        checking = not expect.empty
        if checking or self.drill:
            DaemonLock(self.store_path).require_daemon()
        self.say(f"scenario {sc.name} ({sc.file}): {len(sc.steps)} steps over "
                 f"{sc.length / self.options.speed:.1f}s at speed {self.options.speed:g}"
                 + (", drill" if self.drill else ""))
        drill_started = False
        try:
            if self.devices is not None:
                devices_started = time.time()
                await self.devices.start()
                if checking or self.drill:
                    await self._wait_for_polls(devices_started)
            self.mqtt = await asyncio.to_thread(MqttOut, self.site.broker)
            if self.drill:
                minutes = math.ceil((sc.length / self.options.speed + expect.within
                                     + expect.settle + 60) / 60)
                drill_started = True  # stop it at the end even if the start times out
                result = await asyncio.to_thread(
                    gateway_command, self.store_path, "drill_start", _actor(sc),
                    {"minutes": str(minutes), "points": ",".join(self.driven_points())})
                self.say(f"drill started for at most {minutes} min: {result}")
            since = await asyncio.to_thread(self._mark) if checking else Mark(time.time())
            await self._play()
            await self.mqtt.flush()
            self.say(f"{_clock(time.monotonic() - self.t0)}  all steps done; "
                     f"{self.bound_published} messages to bound topics")
            if not checking:
                return Outcome(True, [], self.bound_published, 0, since)
            return await self._check(since)
        finally:
            for task in self.tasks:
                task.cancel()
            if drill_started:
                self._stop_drill()
            if self.mqtt is not None:
                self.mqtt.close()
            if self.devices is not None:
                await self.devices.stop()

    def driven_points(self) -> list[str]:
        """Every point the scenario makes report: the drill window's scope, so that a real
        alarm elsewhere during the replay stays real."""
        ids: set[str] = {p.id for p in self.driven_modbus_points()}
        by_topic = self.site.points_by_topic()
        for step in self.scenario.steps:
            if isinstance(step, PointStep | GasStep):
                ids.add(step.point.id)
            elif isinstance(step, StormStep):
                ids.update(p.id for _, zone in step.detectors for p in zone)
            elif isinstance(step, ElevatorStep):
                ids.update(p for p in self.site.points if p.startswith(f"{step.actuator.id}-"))
            elif isinstance(step, RawStep):
                ids.update(p.id for p in by_topic.get(step.topic, ()))
        return sorted(ids)

    def driven_modbus_points(self) -> list[PointConfig]:
        """The Modbus points of the units that gas and elevator steps drive."""
        units: set[tuple[str, int]] = set()
        for step in self.scenario.steps:
            if isinstance(step, GasStep) and step.point.modbus is not None:
                units.add((step.point.modbus.connection, step.point.modbus.unit))
            elif isinstance(step, ElevatorStep):
                units.update((c.modbus.connection, c.modbus.unit)
                             for c in step.actuator.commands.values() if c.modbus is not None)
        return [p for p in self.site.points.values()
                if p.modbus is not None and (p.modbus.connection, p.modbus.unit) in units]

    async def _wait_for_polls(self, devices_started: float) -> None:
        """Let the gateway find the devices just started before driving them.

        Its Modbus link backs off while a device is missing; a ramp played before it is back
        would be missed. Ready when each driven point's stored state changed (from offline,
        or first seen) after the devices started; after the longest back-off, go on anyway.
        """
        points = self.driven_modbus_points()
        if not points:
            return
        connections = [self.site.modbus[c] for c in {p.modbus.connection for p in points
                                                     if p.modbus is not None}]
        limit = max(c.backoff_max + 2 * max(c.poll.values()) + c.timeout + 2
                    for c in connections)
        ids = sorted(p.id for p in points)
        self.say(f"waiting for the gateway to read the simulated devices ({_ids(ids)})")
        started = time.monotonic()
        with open_records(self.store_path, readonly=True) as records:
            while time.monotonic() - started < limit:
                if records.points_heard_since(ids, devices_started) == len(ids):
                    self.say(f"the gateway reads them ({time.monotonic() - started:.1f}s)")
                    return
                await asyncio.sleep(POLL)
        print(f"warning: after {limit:.0f}s the gateway has not reported reading "
              f"{_ids(ids)} since the devices started; going on", file=sys.stderr)

    def _stop_drill(self) -> None:
        try:
            result = gateway_command(self.store_path, "drill_stop", _actor(self.scenario), {})
        except GatewayError as exc:
            print(f"warning: could not stop the drill ({exc}); it ends by itself",
                  file=sys.stderr)
        else:
            self.say(f"drill stopped: {result}")

    async def _play(self) -> None:
        loop = asyncio.get_running_loop()
        self.t0 = time.monotonic()
        start = loop.time()
        for step in self.scenario.steps:
            delay = start + step.at / self.options.speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._do(step)
        if self.tasks:
            await asyncio.gather(*self.tasks)
            self.tasks.clear()
        rest = start + self.scenario.length / self.options.speed - loop.time()
        if rest > 0:  # a ramp still running
            await asyncio.sleep(rest)

    def _publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        assert self.mqtt is not None
        self.mqtt.publish(topic, payload, retain=retain)
        if topic in self.bound_topics:
            self.bound_published += 1

    def _do(self, step: Step) -> None:
        now = _clock(time.monotonic() - self.t0)
        speed = self.options.speed
        if isinstance(step, PointStep):
            assert step.point.mqtt is not None
            payload = encode(step.point, step.state, device=step.device, drill=self.drill,
                             value=step.value)
            self._publish(step.point.mqtt.topic, payload, step.retain)
            self.say(f"{now}  {step.point.id} {step.state}"
                     + (f" ({step.device})" if step.device else "")
                     + f"  {step.point.mqtt.topic} {payload.decode(errors='replace')}")
        elif isinstance(step, RawStep):
            self._publish(step.topic, step.payload, step.retain)
            self.say(f"{now}  raw  {step.topic} {step.payload[:120]!r}")
        elif isinstance(step, GasStep):
            assert self.devices is not None
            self.devices.ramp_gas(step.point, step.ramp_to, step.over / speed)
            self.say(f"{now}  {step.point.id} ramps to {step.ramp_to:g} %LEL over "
                     f"{step.over / speed:.1f}s")
        elif isinstance(step, ElevatorStep):
            assert self.devices is not None
            self.devices.set_elevator(step.actuator, step.behaviour)
            self.say(f"{now}  {step.actuator.id} behaves: {step.behaviour}")
        else:
            self.tasks.append(asyncio.get_running_loop().create_task(self._storm(step)))
            self.say(f"{now}  storm: {step.zones} zones per building in "
                     f"{', '.join(b for b, _ in step.detectors)} over {step.over / speed:.1f}s")

    async def _storm(self, step: StormStep) -> None:
        messages = list(storm_messages(step, self.drill))
        span = step.over / self.options.speed
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n, (topic, payload) in enumerate(messages):
            delay = start + span * n / len(messages) - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._publish(topic, payload)

    def _mark(self) -> Mark:
        with open_records(self.store_path, readonly=True) as records:
            return records.mark(time.time())

    async def _check(self, since: Mark) -> Outcome:
        expect = self.scenario.expect
        with open_records(self.store_path, readonly=True) as records:
            device_writes = self.devices.writes if self.devices is not None else None
            deadline = time.monotonic() + expect.within
            while True:
                stored = records.stored_since(since)
                checks = evaluate(records, expect, since,
                                  device_writes() if device_writes else None)
                if stored >= self.bound_published and all(c.ok for c in checks):
                    await asyncio.sleep(expect.settle)
                    stored = records.stored_since(since)
                    checks = evaluate(records, expect, since,
                                      device_writes() if device_writes else None)
                    if all(c.ok for c in checks):
                        break
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(POLL)
        passed = all(c.ok for c in checks)
        waited = time.monotonic() - self.t0
        self.say(f"{_clock(waited)}  expectations:")
        for c in checks:
            self.say(f"  {'PASS' if c.ok else 'FAIL'}  {c.text}")
        if stored < self.bound_published:
            self.say(f"  note  the gateway stored {stored} signals/dead letters for the "
                     f"{self.bound_published} messages published to its topics")
        failed = sum(not c.ok for c in checks)
        self.say(f"result: {'PASS' if passed else 'FAIL'}"
                 + (f" ({failed} of {len(checks)} expectations not met)" if failed else
                    f" ({len(checks)} expectations met)"))
        return Outcome(passed, checks, self.bound_published, stored, since)


def storm_messages(step: StormStep, drill: bool) -> Iterator[tuple[str, bytes]]:
    """A panel's burst: each building's zones in turn, the next detector address per round."""
    for n in range(step.zones):
        for _, zone_points in step.detectors:
            point = zone_points[n % len(zone_points)]
            assert point.mqtt is not None
            device = f"SD-{n // len(zone_points) + 1:02d}"
            yield point.mqtt.topic, encode(point, step.state, device=device, drill=drill)


def replay(scenario: Scenario, site: SiteConfig, options: Options,
           devices: Devices | None = None) -> Outcome:
    return asyncio.run(Runner(scenario, site, options, devices).run())


# ----------------------------------------------------------------------------- CLI


def run_cli(*, file: str, site: SiteConfig, speed: float, drill: bool, devices: bool,
            store_path: str | None) -> int:
    """``simulate scenario``: exit 0 pass, 1 fail, 2 bad scenario, else the gateway's codes."""
    if not speed > 0 or not math.isfinite(speed):
        print("error: --speed must be a number above 0", file=sys.stderr)
        return EXIT_BAD_SCENARIO
    try:
        playbooks: dict[str, Playbook] | None = load_playbooks(site.playbook_dir, site)
    except ConfigError:
        playbooks = None  # `alarm-gateway check` reports those; expectations go unchecked
    scenario = load_scenario(file, site, playbooks)
    options = Options(speed=speed, drill=drill, devices=devices,
                      store_path=Path(store_path) if store_path else None)
    try:
        return replay(scenario, site, options).exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (OSError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except ImportError as exc:
        print(f"error: the device simulators are not available ({exc}); "
              "use --no-devices with 'simulate serve' running", file=sys.stderr)
        return 3

