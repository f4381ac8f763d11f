"""The site config's models compiled into values: point templates expanded, references
resolved (each one that does not is a problem naming its place in the file), the broker and
the console with their overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway.config.broker_url import parse_broker_url, redact_broker_url
from gateway.config.for_each import ForEachError, combinations, substitute
from gateway.config.modbus import (
    Feedback,
    ModbusConnection,
    Threshold,
    compile_binding,
    compile_connection,
)
from gateway.config.panels import (
    account_binding,
    binding_of,
    check_contact_id,
    check_dc09,
    compile_dc09,
    compile_panels,
    compile_receivers,
    panel_points,
)
from gateway.config.point_rules import with_rules
from gateway.config.roster import compile_people, compile_roster
from gateway.config.schema import LocationModel, schema_problems, unknown_name
from gateway.config.site_checks import check_site
from gateway.config.site_schema import (
    BrokerModel,
    CommandModel,
    ConsoleModel,
    MqttBindingModel,
    PointModel,
    SiteConfigModel,
    SupervisionModel,
    TlsModel,
)
from gateway.config.site_values import (
    COMMAND_NAMES,
    ENV_BROKER,
    ENV_CONSOLE,
    ActuatorConfig,
    BrokerConfig,
    Command,
    ConsoleConfig,
    Contact,
    Dc09Receiver,
    Limits,
    MqttBinding,
    Panel,
    PointConfig,
    SiteConfig,
)
from gateway.config.yamlfile import LineIndex, format_path
from gateway.domain.effects import ModbusWrite
from gateway.domain.model import Location, Text
from gateway.domain.zones import Zones
from gateway.errors import ConfigReferenceError, ConfigSchemaError, Problem


def limits_of(model: SupervisionModel) -> Limits:
    return Limits(broker_down_after=model.broker_down_after,
                  store_down_after=model.store_down_after,
                  unacknowledged_after=model.unacknowledged_after,
                  max_unacknowledged=model.max_unacknowledged, probe_after=model.deaf_after,
                  silent_after=dict(model.silent_after))


def console_config(model: ConsoleModel, base: Path, override: str | None,
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
        session_seconds=model.session_length, idle_seconds=model.idle_timeout,
        health_details=model.health_details, health_token=model.health_token)


def expand_points(raw_points: list[dict[str, Any]], path: Path, lines: LineIndex,
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
            combos = [{}] if spec is None else combinations(spec)
        except ForEachError as exc:
            loc = ("points", index, "for_each", *exc.at)
            problems.append(Problem(str(path), format_path(loc), str(exc), lines.line(loc)))
            continue
        for variables in combos:
            try:
                point = PointModel.model_validate(substitute(entry, variables))
            except ForEachError as exc:
                loc = ("points", index, *exc.at)
                problems.append(Problem(str(path), format_path(loc), str(exc), lines.line(loc)))
                break
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


def _location(model: LocationModel, site_id: str) -> Location:
    return Location(site=model.site or site_id, building=model.building, floor=model.floor,
                    zone=model.zone, unit=model.unit)


class _Problems:
    """The reference problems of one config file, each at its place in the file."""

    def __init__(self, path: Path, lines: LineIndex) -> None:
        self.path = path
        self.lines = lines
        self.found: list[Problem] = []

    def __call__(self, loc: tuple[str | int, ...], message: str, *,
                 in_file: bool = True) -> None:
        self.found.append(Problem(str(self.path), format_path(loc), message,
                                  self.lines.line(loc) if in_file else None))


def compile_site(model: SiteConfigModel, points: list[tuple[int, PointModel]], path: Path,
                 lines: LineIndex, broker_override: str | None,
                 store_override: str | None) -> SiteConfig:
    base = path.parent
    problem = _Problems(path, lines)
    connections = _connections(model, problem)
    receivers = compile_receivers(model.receivers, problem)
    dc09 = compile_dc09(model.receivers.dc09, receivers, problem)
    panels = compile_panels(model.panels, receivers, model.site.id, problem)
    compiled_points = _points(model, points, connections, (panels, dc09), problem)
    for extra in panel_points(model.panels, panels, base, problem):
        if extra.id in compiled_points:
            problem(("panels",), f"point id {extra.id!r} is a panel's own and a point's")
        compiled_points[extra.id] = extra
    check_contact_id(compiled_points, problem)
    check_dc09(compiled_points, problem)
    actuators = _actuators(model, connections, compiled_points, problem)
    zones = _zones(model, points, compiled_points, problem)
    people = compile_people(model.people, problem)
    roster = compile_roster(model.roster, people, model.roles, problem)
    contacts: dict[str, Contact] = {}
    for index, c in enumerate(model.contacts):
        if c.id in contacts:
            problem(("contacts", index, "id"), f"duplicate contact id {c.id!r}")
        contacts[c.id] = Contact(c.id, c.name.to_text(), c.phone)
    broker = _broker(model, broker_override, compiled_points, problem, base)
    check_site(model, points, compiled_points, problem)
    if problem.found:
        raise ConfigReferenceError(problem.found)
    store_path = Path(store_override) if store_override else (base / model.store.path).resolve()
    embedded_conf = None
    if broker.embedded:
        embedded_conf = (base / model.embedded_broker.config).resolve()
    return SiteConfig(
        file=path, site_id=model.site.id, site_name=model.site.name.to_text(),
        address=model.site.address.to_text(),
        crossroads=model.site.crossroads.to_text() if model.site.crossroads else None,
        callback_phone=model.site.callback_phone, timezone=model.site.timezone, broker=broker,
        embedded_broker_config=embedded_conf, store_path=store_path,
        store_synchronous=model.store.synchronous, playbook_dir=(base / model.playbooks).resolve(),
        mqtt_prefix=model.outputs.mqtt_prefix.rstrip("/"),
        roles={k: v.to_text() for k, v in model.roles.items()}, contacts=contacts, zones=zones,
        people=people, roster=roster,
        points=compiled_points, actuators=actuators, modbus=connections, receivers=receivers,
        panels=panels, dc09_receivers=dc09)


def _zones(model: SiteConfigModel, points: list[tuple[int, PointModel]],
           compiled: dict[str, PointConfig], problem: _Problems) -> Zones:
    """Every zone a point or an actuator is in reads in words: numbered, or named."""
    zones = Zones({k: v.to_text() for k, v in model.zones.items()})
    index = {p.id: i for i, p in points}
    places = [(("points", index[p.id], "location", "zone") if p.id in index else ("panels",),
               p.location.zone) for p in compiled.values()]
    places += [(("actuators", i, "location", "zone"), a.location.zone)
               for i, a in enumerate(model.actuators)]
    told: set[str] = set()
    for at, zone in places:
        if zones.unnamed(zone) and zone not in told:
            told.add(zone)
            problem(at, f"zone {zone!r} has no name: name it under 'zones:' in both languages "
                    f"({zone}: {{zh: ..., en: ...}}; a key may hold {{n}} for a number), or "
                    "number it (a fire-alarm zone)")
    return zones


def _connections(model: SiteConfigModel, problem: _Problems) -> dict[str, ModbusConnection]:
    connections: dict[str, ModbusConnection] = {}
    for index, conn_model in enumerate(model.modbus):
        if conn_model.id in connections:
            problem(("modbus", index, "id"),
                    f"duplicate Modbus connection id {conn_model.id!r}")
        connections[conn_model.id] = compile_connection(conn_model)
    return connections


def _points(model: SiteConfigModel, points: list[tuple[int, PointModel]],
            connections: dict[str, ModbusConnection],
            receivers: tuple[dict[str, Panel], dict[str, Dc09Receiver]],
            problem: _Problems) -> dict[str, PointConfig]:
    panels, dc09 = receivers
    compiled: dict[str, PointConfig] = {}
    for index, p in points:
        if p.id in compiled:
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
        mqtt, modbus = with_rules(p.inputs, p.when, _mqtt_binding(p.mqtt) if p.mqtt else None,
                                  modbus, ("points", index), problem)
        compiled[p.id] = PointConfig(
            id=p.id, kind=p.kind, name=(p.name.to_text() if p.name else Text(p.id, p.id)),
            location=_location(p.location, model.site.id), heartbeat=p.heartbeat,
            mqtt=mqtt, modbus=modbus,
            panel=binding_of(p.panel, panels, ("points", index, "panel"), problem)
            if p.panel else None,
            dc09=account_binding(p.dc09, dc09, ("points", index, "dc09"), problem)
            if p.dc09 else None, group=p.group or _group(p))
    return compiled


def _actuators(model: SiteConfigModel, connections: dict[str, ModbusConnection],
               points: dict[str, PointConfig],
               problem: _Problems) -> dict[str, ActuatorConfig]:
    actuators: dict[str, ActuatorConfig] = {}
    for index, a in enumerate(model.actuators):
        if a.id in actuators:
            problem(("actuators", index, "id"), f"duplicate actuator id {a.id!r}")
            continue
        commands = {name: _command(name, cmd, ("actuators", index, "commands", name),
                                   connections, points, problem)
                    for name, cmd in a.commands.items()}
        actuators[a.id] = ActuatorConfig(
            id=a.id, kind=a.kind, name=(a.name.to_text() if a.name else Text(a.id, a.id)),
            location=_location(a.location, model.site.id), commands=commands)
    return actuators


def _command(command_id: str, cmd: CommandModel, at: tuple[str | int, ...],
             connections: dict[str, ModbusConnection], points: dict[str, PointConfig],
             problem: _Problems) -> Command:
    name = cmd.name.to_text() if cmd.name else COMMAND_NAMES.get(command_id)
    if name is None:
        problem(at, f"command {command_id!r} has no name: give it name: {{zh: ..., en: ...}} "
                f"(commands named without one: {', '.join(sorted(COMMAND_NAMES))})")
    write = None
    if cmd.modbus is not None:
        m = cmd.modbus
        write = ModbusWrite(m.connection, m.unit, m.table, m.address, m.value)
        if m.connection not in connections:
            problem((*at, "modbus", "connection"),
                    unknown_name("Modbus connection", m.connection, connections))
    feedback = None
    if cmd.feedback is not None:
        f = cmd.feedback
        feedback = Feedback(f.point, f.value, f.state, f.timeout)
        if f.point not in points:
            problem((*at, "feedback", "point"), f"unknown point {f.point!r}")
    return Command(topic=cmd.topic or "", payload=_payload_text(cmd.payload), qos=cmd.qos,
                   retain=cmd.retain, modbus=write, feedback=feedback,
                   name=name or Text(command_id, command_id))


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
        sequence_field=b.sequence_field, availability=availability, bridge=bridge,
        account=b.account.upper() if b.account else None, zone=b.zone)


def _group(point: PointModel) -> str:
    if point.modbus is not None:
        return f"modbus:{point.modbus.connection}"
    if point.panel is not None:
        return point.panel.id
    if point.dc09 is not None:
        return f"dc09:{point.dc09.receiver}/{point.dc09.account.upper()}"
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
