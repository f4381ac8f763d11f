"""A scenario file's format: its steps and its expectations, checked field by field
(pydantic); a bad file names the step and field at fault.

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
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from gateway.config.schema import BiText, Duration, Strict
from gateway.domain.model import ActionStatus, IncidentStatus, PointState, PromptStatus
from gateway.errors import ConfigError, GatewayError

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_BAD_SCENARIO = 2
DEFAULT_WITHIN = 30.0
DEFAULT_SETTLE = 1.0
BEHAVIOURS = ("stuck", "ignore_recall", "normal")


class ScenarioError(ConfigError):
    """The scenario file is unusable; each problem names the file, line, step and field."""

    exit_code = EXIT_BAD_SCENARIO


class ReplayError(GatewayError):
    """The scenario cannot be played as asked (e.g. device steps with --no-devices)."""

    exit_code = EXIT_BAD_SCENARIO


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
