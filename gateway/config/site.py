"""The site config: YAML validated with pydantic, compiled into frozen values.

Relative paths in the file (store, playbooks) are resolved against the config file's folder, so
the daemon behaves the same whatever its working directory is. The broker and the store path can
be overridden from the command line or from ``ALARM_GATEWAY_BROKER`` / ``ALARM_GATEWAY_STORE``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator

from gateway.config.modbus import (
    Feedback,
    FeedbackModel,
    ModbusBinding,
    ModbusBindingModel,
    ModbusConnection,
    ModbusConnectionModel,
    ModbusWriteModel,
    Threshold,
    ValueMapModel,
    compile_binding,
    compile_connection,
)
from gateway.config.schema import BiText, Duration, Strict, schema_problems, unknown_name
from gateway.config.yamlfile import LineIndex, format_path, load_yaml
from gateway.domain.effects import ModbusWrite
from gateway.domain.model import ActuatorKind, Location, PointKind, PointState, Text
from gateway.errors import ConfigReferenceError, ConfigSchemaError, Problem

ENV_BROKER = "ALARM_GATEWAY_BROKER"
ENV_STORE = "ALARM_GATEWAY_STORE"
ENV_CONSOLE = "ALARM_GATEWAY_CONSOLE"
DEFAULT_EMBEDDED_PORT = 18831


# ----------------------------------------------------------------------------- schema


class TlsModel(Strict):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False


class BrokerModel(Strict):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    client_id: str = "alarm-gateway"
    username: str | None = None
    password: str | None = None
    tls: TlsModel | None = None
    keepalive: Duration = 30.0
    subscriptions: list[str] | None = None
    max_payload_bytes: int = Field(64 * 1024, ge=64)
    # the broker's own Mosquitto config, where the gateway can read it: its queue settings
    # are checked at start-up (a broker on this machine is found in /etc/mosquitto)
    config_file: str | None = None


class EmbeddedBrokerModel(Strict):
    port: int = Field(DEFAULT_EMBEDDED_PORT, ge=1, le=65535)
    config: str = "mosquitto.conf"


class SupervisionModel(Strict):
    """The gateway watching itself: a silent gateway in a monitoring center is an emergency."""

    broker_down_after: Duration = Field(60.0, gt=0)
    # store writes failing this long (a full disk, a lock held elsewhere, I/O errors)
    store_down_after: Duration = Field(15.0, gt=0)
    # an alarm received and not yet stored and acknowledged for this long, or this many
    unacknowledged_after: Duration = Field(30.0, gt=0)
    max_unacknowledged: int = Field(10_000, ge=1)
    # nothing delivered by the broker, not even the gateway's own probe, for this long
    deaf_after: Duration = Field(30.0, ge=15)
    # no input at all from an adapter for this long (mqtt, or a Modbus connection id)
    silent_after: dict[str, Duration] = Field(default_factory=dict)


class RetentionModel(Strict):
    """How long raw data is kept; incidents and their timelines are kept for good."""

    signals: Duration = Field(90 * 86400.0, gt=0)
    dead_letters: Duration = Field(30 * 86400.0, gt=0)
    commands: Duration = Field(90 * 86400.0, gt=0)
    outbox: Duration = Field(30 * 86400.0, gt=0)


class StoreModel(Strict):
    path: str = "alarm-gateway.sqlite3"
    # "normal" survives a killed process (WAL); "full" also survives power loss, at the cost
    # of an fsync per committed batch.
    synchronous: Literal["normal", "full"] = "full"
    retention: RetentionModel = Field(default_factory=RetentionModel)


class ConsoleTlsModel(Strict):
    cert_file: str
    key_file: str


class ConsoleModel(Strict):
    """The operator console and its API, served by the daemon."""

    enabled: bool = True
    host: str = "127.0.0.1"  # a LAN address (or 0.0.0.0) is a deliberate choice: give tls
    port: int = Field(8080, ge=0, le=65535)
    tls: ConsoleTlsModel | None = None
    session_length: Duration = Field(12 * 3600.0, gt=0)  # a shift
    idle_timeout: Duration = Field(2 * 3600.0, gt=0)


class OutputsModel(Strict):
    mqtt_prefix: str = "alarm-gateway"


class SiteModel(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    name: BiText
    address: BiText
    crossroads: BiText | None = None
    callback_phone: str = ""


class ContactModel(Strict):
    id: str
    name: BiText
    phone: str


class MqttBindingModel(ValueMapModel):
    topic: str
    decoder: Literal["json", "plain", "zigbee2mqtt"] = "json"
    field: str | None = None
    device_field: str | None = None
    drill_field: str | None = None
    property: str | None = None
    value_property: str | None = None
    trouble_properties: list[str] = Field(default_factory=lambda: ["battery_low", "tamper"])
    # where the payload carries the device's own time (ISO 8601, or epoch seconds or ms) or a
    # sequence number: a message older than the point's last accepted one is kept as stale
    # and never overrides newer state. Zigbee2MQTT's ``last_seen`` by default.
    time_field: str | None = None
    sequence_field: str | None = None
    # the device's availability topic (payload online/offline, plain or {"state": ...});
    # default for zigbee2mqtt: TOPIC/availability; false: none
    availability: str | bool | None = None
    # the bridge whose state topic says the devices behind it are reachable; default for
    # zigbee2mqtt: BASE/bridge/state (BASE: the topic's first level); false: none
    bridge: str | bool | None = None

    @model_validator(mode="after")
    def _decoder_needs(self) -> MqttBindingModel:
        if self.decoder == "zigbee2mqtt" and not self.property:
            raise ValueError("the zigbee2mqtt decoder needs 'property' (e.g. smoke, water_leak)")
        if self.decoder in {"json", "plain"} and not (self.values or self.thresholds):
            raise ValueError("say how values map to states: give 'values' and/or 'thresholds'")
        if self.decoder == "plain" and (self.field or self.device_field):
            raise ValueError("the plain decoder has no fields; use the json decoder")
        if "+" in self.topic or "#" in self.topic:
            raise ValueError("a point binds one exact topic (wildcards go in broker.subscriptions)")
        if self.time_field and self.sequence_field:
            raise ValueError("give 'time_field' or 'sequence_field', not both")
        for name in ("availability", "bridge"):
            value = getattr(self, name)
            if value is True:
                raise ValueError(f"'{name}' is a topic, or false for none")
            if isinstance(value, str) and ("+" in value or "#" in value or not value):
                raise ValueError(f"'{name}' is one exact topic")
        return self


class LocationModel(Strict):
    site: str | None = None
    building: str = ""
    floor: str = ""
    zone: str = ""
    unit: str = ""

    @field_validator("building", "floor", "zone", "unit", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class PointModel(Strict):
    id: str
    kind: PointKind
    name: BiText | None = None
    location: LocationModel = Field(default_factory=LocationModel)
    heartbeat: Duration | None = None
    mqtt: MqttBindingModel | None = None
    modbus: ModbusBindingModel | None = None
    # the source of its messages (a bridge, a panel); default: the Modbus connection, the
    # Zigbee2MQTT base topic, or the first two levels of the topic
    group: str | None = None

    @model_validator(mode="after")
    def _one_binding(self) -> PointModel:
        if (self.mqtt is None) == (self.modbus is None):
            raise ValueError("a point is bound either to 'mqtt' or to 'modbus' (exactly one)")
        return self


class CommandModel(Strict):
    topic: str | None = None
    payload: str | dict[str, Any] = ""
    qos: Literal[0, 1, 2] = 1
    retain: bool = False
    modbus: ModbusWriteModel | None = None
    feedback: FeedbackModel | None = None

    @model_validator(mode="after")
    def _one_way(self) -> CommandModel:
        if (self.topic is None) == (self.modbus is None):
            raise ValueError("a command is either an MQTT publish ('topic') or a Modbus "
                             "write ('modbus'), exactly one")
        return self


class ActuatorModel(Strict):
    id: str
    kind: ActuatorKind
    name: BiText | None = None
    location: LocationModel = Field(default_factory=LocationModel)
    commands: dict[str, CommandModel]


class SiteConfigModel(Strict):
    site: SiteModel
    broker: BrokerModel | None = None
    embedded_broker: EmbeddedBrokerModel = Field(default_factory=EmbeddedBrokerModel)
    store: StoreModel = Field(default_factory=StoreModel)
    playbooks: str = "playbooks"
    outputs: OutputsModel = Field(default_factory=OutputsModel)
    console: ConsoleModel = Field(default_factory=ConsoleModel)
    supervision: SupervisionModel = Field(default_factory=SupervisionModel)
    roles: dict[str, BiText]
    contacts: list[ContactModel] = Field(default_factory=list)
    modbus: list[ModbusConnectionModel] = Field(default_factory=list)
    points: list[dict[str, Any]]
    actuators: list[ActuatorModel] = Field(default_factory=list)


class ForEachModel(Strict):
    """``for_each`` on a point: expand one entry into many, ``{name}`` in texts is substituted."""

    values: dict[str, list[str]]

    @classmethod
    def parse(cls, raw: Any) -> dict[str, list[str]]:
        if not isinstance(raw, dict) or not raw:
            raise ValueError("for_each maps a name to a list or a range like '1..18'")
        out: dict[str, list[str]] = {}
        for name, spec in raw.items():
            if not re.fullmatch(r"[A-Za-z_]\w*", str(name)):
                raise ValueError(f"for_each name {name!r} must be an identifier")
            out[str(name)] = _expand_values(spec)
        return out


def _expand_values(spec: Any) -> list[str]:
    if isinstance(spec, list) and spec:
        return [str(v) for v in spec]
    if isinstance(spec, int):
        return [str(spec)]
    if isinstance(spec, str):
        match = re.fullmatch(r"\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*", spec)
        if match:
            first, last = match.group(1), match.group(2)
            width = len(first) if first.startswith("0") and len(first) > 1 else 0
            lo, hi = int(first), int(last)
            if hi < lo:
                raise ValueError(f"range {spec!r} runs backwards")
            return [str(n).zfill(width) for n in range(lo, hi + 1)]
        return [spec]
    raise ValueError(f"{spec!r} is neither a list nor a range like '1..18'")


# ----------------------------------------------------------------------------- compiled values


@dataclass(frozen=True, slots=True)
class MqttBinding:
    topic: str
    decoder: str
    field: str | None
    device_field: str | None
    drill_field: str | None
    property: str | None
    value_property: str | None
    trouble_properties: tuple[str, ...]
    values: Mapping[str, PointState]
    thresholds: tuple[Threshold, ...]
    deadband: float
    time_field: str | None = None
    sequence_field: str | None = None
    availability: str | None = None  # the device's availability topic
    bridge: str | None = None  # the bridge's state topic


@dataclass(frozen=True, slots=True)
class PointConfig:
    id: str
    kind: PointKind
    name: Text
    location: Location
    heartbeat: float | None
    mqtt: MqttBinding | None
    modbus: ModbusBinding | None = None
    # what the point's messages come through (a bridge, a panel, a Modbus connection): faults
    # and silence of many points of one source are one incident
    group: str = ""

    @property
    def device_key(self) -> str:
        """The physical device the point is read from: a Modbus unit, an MQTT device (its
        topic). Troubles of a device already in an alarm incident join that incident."""
        if self.modbus is not None:
            return f"modbus:{self.modbus.connection}/{self.modbus.unit}"
        return f"mqtt:{self.mqtt.topic}" if self.mqtt is not None else self.id

    @property
    def thresholds(self) -> tuple[tuple[Threshold, ...], float]:
        """The numeric set points and dead-band, whichever binding the point has."""
        binding = self.mqtt or self.modbus
        assert binding is not None
        return binding.thresholds, binding.deadband

    @property
    def source(self) -> str:
        if self.mqtt is not None:
            return self.mqtt.topic
        assert self.modbus is not None
        m = self.modbus
        return f"modbus:{m.connection}/{m.unit}/{m.table}/{m.address}"


@dataclass(frozen=True, slots=True)
class Command:
    topic: str
    payload: str
    qos: int
    retain: bool
    modbus: ModbusWrite | None = None
    feedback: Feedback | None = None


@dataclass(frozen=True, slots=True)
class ActuatorConfig:
    id: str
    kind: ActuatorKind
    name: Text
    location: Location
    commands: Mapping[str, Command]


@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    name: Text
    phone: str


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsModel | None = None
    keepalive: float = 30.0
    subscriptions: tuple[str, ...] = ()
    max_payload_bytes: int = 64 * 1024
    embedded: bool = False
    config_file: Path | None = None

    def describe(self) -> str:
        """Where it connects, never with the secret."""
        user = f"{self.username}@" if self.username else ""
        scheme = "mqtts" if self.tls else "mqtt"
        return f"{scheme}://{user}{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    cert_file: Path | None = None
    key_file: Path | None = None
    session_seconds: float = 12 * 3600.0
    idle_seconds: float = 2 * 3600.0

    @property
    def url(self) -> str:
        scheme = "https" if self.cert_file else "http"
        return f"{scheme}://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds the gateway judges its own health by (``supervision:``, see
    gateway.daemon.health)."""

    broker_down_after: float = 60.0
    # store writes failing for this long (a full disk, a lock held elsewhere, I/O errors)
    store_down_after: float = 15.0
    # an alarm received and neither stored nor acknowledged for this long
    unacknowledged_after: float = 30.0
    # this many messages received and not yet acknowledged
    max_unacknowledged: int = 10_000
    # the broker did not hand back the gateway's own probe message within this
    probe_after: float = 30.0  # supervision.deaf_after
    # no input at all from an adapter for this long (mqtt, or a Modbus connection id)
    silent_after: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SiteConfig:
    file: Path
    site_id: str
    site_name: Text
    address: Text
    crossroads: Text | None
    callback_phone: str
    broker: BrokerConfig
    embedded_broker_config: Path | None
    store_path: Path
    store_synchronous: str
    playbook_dir: Path
    mqtt_prefix: str
    roles: Mapping[str, Text]
    contacts: Mapping[str, Contact]
    points: Mapping[str, PointConfig]
    actuators: Mapping[str, ActuatorConfig]
    modbus: Mapping[str, ModbusConnection] = field(default_factory=dict)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    health_limits: Limits = field(default_factory=Limits)
    retention: Mapping[str, float] = field(default_factory=dict)

    @property
    def buildings(self) -> set[str]:
        """The buildings the site's points and actuators are in."""
        places = [p.location for p in self.points.values()]
        places += [a.location for a in self.actuators.values()]
        return {place.building for place in places if place.building}

    def points_by_topic(self, of: str = "topic") -> dict[str, tuple[PointConfig, ...]]:
        """The MQTT points by the topic of their readings (``of="topic"``), of their
        availability (``"availability"``) or of their bridge's state (``"bridge"``)."""
        table: dict[str, list[PointConfig]] = {}
        for point in self.points.values():
            topic = getattr(point.mqtt, of) if point.mqtt is not None else None
            if topic:
                table.setdefault(topic, []).append(point)
        return {topic: tuple(points) for topic, points in table.items()}


# ----------------------------------------------------------------------------- loading


def load_config(path: Path | str, *, broker: str | None = None, store: str | None = None,
                console: str | None = None,
                environ: Mapping[str, str] | None = None) -> SiteConfig:
    """Read, validate and compile a site config. Overrides win over the environment."""
    path = Path(path)
    env = os.environ if environ is None else environ
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigSchemaError([Problem(str(path), "",
                                         "the config must be a mapping of sections")])
    try:
        model = SiteConfigModel.model_validate(data)
    except ValidationError as exc:
        raise schema_problems(exc, path, lines) from None
    points = _expand_points(model.points, path, lines, model.site.id)
    site = _compile(model, points, path, lines, broker or env.get(ENV_BROKER),
                    store or env.get(ENV_STORE))
    unknown = sorted(set(model.supervision.silent_after) - {"mqtt", *site.modbus})
    if unknown:
        raise ConfigReferenceError([Problem(
            str(path), "supervision.silent_after", unknown_name(
                "adapter", unknown[0], ["mqtt", *site.modbus]),
            lines.line(("supervision", "silent_after", unknown[0])))])
    return replace(site, console=_console(model.console, path.parent,
                                          console or env.get(ENV_CONSOLE), path),
                   health_limits=_limits(model.supervision),
                   retention=model.store.retention.model_dump())


def _limits(model: SupervisionModel) -> Limits:
    return Limits(broker_down_after=model.broker_down_after,
                  store_down_after=model.store_down_after,
                  unacknowledged_after=model.unacknowledged_after,
                  max_unacknowledged=model.max_unacknowledged, probe_after=model.deaf_after,
                  silent_after=dict(model.silent_after))


def _console(model: ConsoleModel, base: Path, override: str | None,
             path: Path) -> ConsoleConfig:
    host, port = model.host, model.port
    enabled = model.enabled
    if override:
        if override.strip().lower() == "off":
            enabled = False
        else:
            host_part, _, port_part = override.rpartition(":")
            try:
                port = int(port_part)
            except ValueError:
                raise ConfigSchemaError([Problem(
                    str(path), "console", f"console override {override!r} is not HOST:PORT "
                    f"or off ({ENV_CONSOLE} / --console)")]) from None
            host = host_part or host
    tls = model.tls
    return ConsoleConfig(
        enabled=enabled, host=host, port=port,
        cert_file=(base / tls.cert_file).resolve() if tls else None,
        key_file=(base / tls.key_file).resolve() if tls else None,
        session_seconds=model.session_length, idle_seconds=model.idle_timeout)


def _expand_points(raw_points: list[dict[str, Any]], path: Path, lines: LineIndex,
                   site_id: str) -> list[tuple[int, PointModel]]:
    out: list[tuple[int, PointModel]] = []
    problems: list[Problem] = []
    for index, raw in enumerate(raw_points):
        if not isinstance(raw, dict):
            loc = ("points", index)
            problems.append(Problem(str(path), format_path(loc), "a point is a mapping",
                                    lines.line(loc)))
            continue
        entry = dict(raw)
        spec = entry.pop("for_each", None)
        try:
            combos = [{}] if spec is None else list(_combinations(ForEachModel.parse(spec)))
        except ValueError as exc:
            loc = ("points", index, "for_each")
            problems.append(Problem(str(path), format_path(loc), str(exc), lines.line(loc)))
            continue
        for variables in combos:
            expanded = _substitute(entry, variables)
            try:
                point = PointModel.model_validate(expanded)
            except ValidationError as exc:
                problems.extend(schema_problems(exc, path, lines, ("points", index)).problems)
                break
            if point.location.site is None:
                point = point.model_copy(update={
                    "location": point.location.model_copy(update={"site": site_id})})
            out.append((index, point))
    if problems:
        raise ConfigSchemaError(problems)
    return out


def _combinations(values: dict[str, list[str]]) -> Iterator[dict[str, str]]:
    names = list(values)

    def rec(i: int, acc: dict[str, str]) -> Iterator[dict[str, str]]:
        if i == len(names):
            yield dict(acc)
            return
        for v in values[names[i]]:
            acc[names[i]] = v
            yield from rec(i + 1, acc)

    return rec(0, {})


_VAR = re.compile(r"\{(\w+)\}")


def _substitute(value: Any, variables: dict[str, str]) -> Any:
    if not variables:
        return value
    if isinstance(value, str):
        return _VAR.sub(lambda m: variables.get(m.group(1), m.group(0)), value)
    if isinstance(value, dict):
        return {k: _substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, variables) for v in value]
    return value


def _location(model: LocationModel, site_id: str) -> Location:
    return Location(site=model.site or site_id, building=model.building, floor=model.floor,
                    zone=model.zone, unit=model.unit)


def _compile(model: SiteConfigModel, points: list[tuple[int, PointModel]], path: Path,
             lines: LineIndex, broker_override: str | None,
             store_override: str | None) -> SiteConfig:
    base = path.parent
    problems: list[Problem] = []

    def problem(loc: tuple[str | int, ...], message: str, *, in_file: bool = True) -> None:
        problems.append(Problem(str(path), format_path(loc), message,
                                lines.line(loc) if in_file else None))

    connections: dict[str, ModbusConnection] = {}
    for index, conn_model in enumerate(model.modbus):
        if conn_model.id in connections:
            problem(("modbus", index, "id"),
                    f"duplicate Modbus connection id {conn_model.id!r}")
        connections[conn_model.id] = compile_connection(conn_model)

    compiled_points: dict[str, PointConfig] = {}
    for index, p in points:
        if p.id in compiled_points:
            problem(("points", index, "id"), f"duplicate point id {p.id!r}")
            continue
        modbus = None
        if p.modbus is not None:
            modbus = compile_binding(p.modbus)
            connection = connections.get(modbus.connection)
            if connection is None:
                problem(("points", index, "modbus", "connection"),
                        unknown_name("Modbus connection", modbus.connection, connections))
            elif modbus.poll not in connection.poll:
                problem(("points", index, "modbus", "poll"),
                        f"connection {connection.id!r} has no poll group {modbus.poll!r} "
                        f"(it has: {', '.join(sorted(connection.poll))})")
        compiled_points[p.id] = PointConfig(
            id=p.id, kind=p.kind, name=(p.name.to_text() if p.name else Text(p.id, p.id)),
            location=_location(p.location, model.site.id), heartbeat=p.heartbeat,
            mqtt=_mqtt_binding(p.mqtt) if p.mqtt else None, modbus=modbus,
            group=p.group or _group(p))

    actuators: dict[str, ActuatorConfig] = {}
    for index, a in enumerate(model.actuators):
        if a.id in actuators:
            problem(("actuators", index, "id"), f"duplicate actuator id {a.id!r}")
            continue
        commands = {}
        for name, cmd in a.commands.items():
            write = None
            if cmd.modbus is not None:
                m = cmd.modbus
                write = ModbusWrite(m.connection, m.unit, m.table, m.address, m.value)
                if m.connection not in connections:
                    problem(("actuators", index, "commands", name, "modbus", "connection"),
                            unknown_name("Modbus connection", m.connection, connections))
            feedback = None
            if cmd.feedback is not None:
                f = cmd.feedback
                feedback = Feedback(f.point, f.value, f.state, f.timeout)
                if f.point not in compiled_points:
                    problem(("actuators", index, "commands", name, "feedback", "point"),
                            f"unknown point {f.point!r}")
            commands[name] = Command(topic=cmd.topic or "", payload=_payload_text(cmd.payload),
                                     qos=cmd.qos, retain=cmd.retain, modbus=write,
                                     feedback=feedback)
        actuators[a.id] = ActuatorConfig(
            id=a.id, kind=a.kind, name=(a.name.to_text() if a.name else Text(a.id, a.id)),
            location=_location(a.location, model.site.id), commands=commands)

    contacts: dict[str, Contact] = {}
    for index, c in enumerate(model.contacts):
        if c.id in contacts:
            problem(("contacts", index, "id"), f"duplicate contact id {c.id!r}")
        contacts[c.id] = Contact(c.id, c.name.to_text(), c.phone)

    broker = _broker(model, broker_override, compiled_points, problem, base)
    if problems:
        raise ConfigReferenceError(problems)

    store_path = Path(store_override) if store_override else (base / model.store.path).resolve()
    embedded_conf = None
    if broker.embedded:
        embedded_conf = (base / model.embedded_broker.config).resolve()
    return SiteConfig(
        file=path, site_id=model.site.id, site_name=model.site.name.to_text(),
        address=model.site.address.to_text(),
        crossroads=model.site.crossroads.to_text() if model.site.crossroads else None,
        callback_phone=model.site.callback_phone, broker=broker,
        embedded_broker_config=embedded_conf, store_path=store_path,
        store_synchronous=model.store.synchronous, playbook_dir=(base / model.playbooks).resolve(),
        mqtt_prefix=model.outputs.mqtt_prefix.rstrip("/"),
        roles={k: v.to_text() for k, v in model.roles.items()}, contacts=contacts,
        points=compiled_points, actuators=actuators, modbus=connections)


def _mqtt_binding(b: MqttBindingModel) -> MqttBinding:
    zigbee = b.decoder == "zigbee2mqtt"
    base = b.topic.split("/", 1)[0]
    availability = b.availability if isinstance(b.availability, str) else (
        f"{b.topic}/availability" if zigbee and b.availability is None else None)
    bridge = b.bridge if isinstance(b.bridge, str) else (
        f"{base}/bridge/state" if zigbee and b.bridge is None else None)
    return MqttBinding(
        topic=b.topic, decoder=b.decoder, field=b.field, device_field=b.device_field,
        drill_field=b.drill_field, property=b.property, value_property=b.value_property,
        trouble_properties=tuple(b.trouble_properties), values=dict(b.values),
        thresholds=tuple(sorted((Threshold(t.at_least, t.state) for t in b.thresholds),
                                key=lambda t: t.at_least)),
        deadband=b.deadband,
        time_field=b.time_field or ("last_seen" if zigbee and not b.sequence_field else None),
        sequence_field=b.sequence_field, availability=availability, bridge=bridge)


def _group(point: PointModel) -> str:
    if point.modbus is not None:
        return f"modbus:{point.modbus.connection}"
    if point.mqtt is None:
        return point.id
    levels = point.mqtt.topic.split("/")
    if point.mqtt.decoder == "zigbee2mqtt":
        return f"mqtt:{levels[0]}"
    return "mqtt:" + "/".join(levels[:2])


def _payload_text(payload: str | dict[str, Any]) -> str:
    if isinstance(payload, str):
        return payload
    import json

    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _broker(model: SiteConfigModel, override: str | None, points: dict[str, PointConfig],
            problem: Any, base: Path) -> BrokerConfig:
    # every topic a point listens on: its readings, its availability, its bridge's state
    bound_topics = sorted({t for p in points.values() if p.mqtt is not None
                           for t in (p.mqtt.topic, p.mqtt.availability, p.mqtt.bridge) if t})
    if model.broker is None:
        b = BrokerModel(port=model.embedded_broker.port, client_id=f"alarm-gateway-{model.site.id}")
        embedded = True
    else:
        b = model.broker
        embedded = False
    host, port, username, password = b.host, b.port, b.username, b.password
    tls = _resolve_tls(b.tls, base)
    if override:
        try:
            host, port, user_o, pass_o = parse_broker_url(override)
        except ValueError as exc:
            problem(("broker",), f"broker override {redact_broker_url(override)!r} (command "
                    f"line or {ENV_BROKER}): {exc}", in_file=False)
            user_o, pass_o = None, None
        username = user_o or username
        password = pass_o or password
        if tls is None and override.strip().lower().startswith("mqtts://"):
            # mqtts:// means TLS even without a tls: section (the system's CAs), never a
            # password sent in clear. (mqtt:// does not turn off a configured tls: section.)
            tls = TlsModel()
        embedded = False
    subscriptions = tuple(b.subscriptions) if b.subscriptions else tuple(bound_topics)
    return BrokerConfig(host=host, port=port, client_id=b.client_id, username=username,
                        password=password, tls=tls, keepalive=b.keepalive,
                        subscriptions=subscriptions, max_payload_bytes=b.max_payload_bytes,
                        embedded=embedded,
                        config_file=(base / b.config_file).resolve() if b.config_file else None)


def _resolve_tls(tls: TlsModel | None, base: Path) -> TlsModel | None:
    """Relative certificate and key paths are relative to the config file, like the store's."""
    if tls is None:
        return None

    def at(name: str | None) -> str | None:
        return str((base / name).resolve()) if name else None

    return tls.model_copy(update={"ca_file": at(tls.ca_file), "cert_file": at(tls.cert_file),
                                  "key_file": at(tls.key_file)})


_BROKER_URL_FORM = "use host:port or mqtt[s]://[user:password@]host:port"


def redact_broker_url(text: str) -> str:
    """The override as it may be shown: everything before the host's ``@`` hidden."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return f"{scheme}{sep}{rest}"


def parse_broker_url(text: str) -> tuple[str, int, str | None, str | None]:
    """``host:port`` or ``mqtt[s]://user:pass@host:port`` → parts.

    The messages never quote what was parsed: with an unencoded ``/``, ``?`` or ``#`` in the
    password, "the port" or "the host" would be a piece of the password.
    """
    if "://" not in text:
        text = "mqtt://" + text
    parts = urlsplit(text.strip())
    scheme = parts.scheme.lower()
    if scheme not in {"mqtt", "mqtts", "tcp"}:
        raise ValueError(_BROKER_URL_FORM)
    if parts.path not in {"", "/"} or parts.query or parts.fragment or "#" in text \
            or "?" in text:
        raise ValueError(f"{_BROKER_URL_FORM}, nothing after the port (percent-encode @ : / ? "
                         "# in the user name and password: %40 %3A %2F %3F %23)")
    if not parts.hostname:
        raise ValueError("no host given")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("bad port: give a number from 1 to 65535") from None
    if port is None:
        port = 8883 if scheme == "mqtts" else 1883
    elif not 1 <= port <= 65535:
        raise ValueError("bad port: give a number from 1 to 65535")
    return (parts.hostname, port, unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None)
