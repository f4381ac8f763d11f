"""The site config compiled: frozen values the gateway runs on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config.modbus import (
    Feedback,
    ModbusBinding,
    ModbusConnection,
    Threshold,
)
from gateway.config.site_schema import TlsModel
from gateway.domain.effects import ModbusWrite
from gateway.domain.model import ActuatorKind, Location, PointKind, PointState, Text
from gateway.domain.roster import Person, Roster
from gateway.domain.rules import Rules
from gateway.domain.zones import Zones

ENV_BROKER = "ALARM_GATEWAY_BROKER"
ENV_STORE = "ALARM_GATEWAY_STORE"
ENV_CONSOLE = "ALARM_GATEWAY_CONSOLE"


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
    account: str | None = None  # contact_id: the panel's account (None: any)
    zone: int | None = None  # contact_id: the zone (None: the panel's own point)
    # conditions over several fields of the payload (gateway.config.point_rules)
    inputs: tuple[tuple[str, str], ...] = ()
    rules: Rules | None = None


@dataclass(frozen=True, slots=True)
class PanelBinding:
    """A point read from a fire panel behind a receiver (``gateway.config.panels``): one of
    its components (``zone``-``point``), the panel's own status, or a catch-all for components
    no one mapped."""

    panel: str
    receiver: str
    device: int  # the transmission device's address
    system_type: int
    system: int
    role: str  # component | panel | unmapped | unmapped_gas
    zone: int | None = None
    point: int | None = None
    thresholds: tuple[Threshold, ...] = ()
    deadband: float = 0.0


@dataclass(frozen=True, slots=True)
class GbtReceiver:
    id: str
    host: str
    port: int
    center_address: int
    idle_timeout: float
    max_connections: int


@dataclass(frozen=True, slots=True)
class Panel:
    id: str
    receiver: str
    device: int
    system_type: int
    system: int
    name: Text
    location: Location


@dataclass(frozen=True, slots=True)
class Dc09Receiver:
    id: str
    host: str
    port: int
    tcp: bool
    udp: bool
    window: tuple[float, float]
    idle_timeout: float
    max_connections: int
    keys: Mapping[str, bytes | None]  # account → its AES key (None: in clear)
    link_test: Mapping[str, float]
    # account → event code → (category, condition), where it differs from the default table
    codes: Mapping[str, Mapping[int, tuple[str, str]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AccountBinding:
    """A point of a panel account behind a DC-09 receiver: its zone, or (None) its own."""

    receiver: str
    account: str
    zone: int | None = None
    thresholds: tuple[Threshold, ...] = ()
    deadband: float = 0.0


@dataclass(frozen=True, slots=True)
class PointConfig:
    id: str
    kind: PointKind
    name: Text
    location: Location
    heartbeat: float | None
    mqtt: MqttBinding | None
    modbus: ModbusBinding | None = None
    panel: PanelBinding | None = None
    dc09: AccountBinding | None = None
    # what the point's messages come through (a bridge, a panel, a Modbus connection): faults
    # and silence of many points of one source are one incident
    group: str = ""

    @property
    def device_key(self) -> str:
        """The physical device the point is read from: a Modbus unit, an MQTT device (its
        topic). Troubles of a device already in an alarm incident join that incident."""
        if self.modbus is not None:
            return f"modbus:{self.modbus.connection}/{self.modbus.unit}"
        if self.panel is not None:
            return f"panel:{self.panel.panel}"
        if self.dc09 is not None:
            return f"dc09:{self.dc09.receiver}/{self.dc09.account}"
        return f"mqtt:{self.mqtt.topic}" if self.mqtt is not None else self.id

    @property
    def binding(self) -> MqttBinding | ModbusBinding | PanelBinding | AccountBinding:
        """How the point is read (the config gives each point one binding)."""
        binding = self.mqtt or self.modbus or self.panel or self.dc09
        if binding is None:
            raise LookupError(f"point {self.id} has no binding")
        return binding

    @property
    def thresholds(self) -> tuple[tuple[Threshold, ...], float]:
        """The numeric set points and dead-band, whichever binding the point has."""
        binding = self.binding
        return binding.thresholds, binding.deadband

    @property
    def source(self) -> str:
        binding = self.binding
        if isinstance(binding, MqttBinding):
            return binding.topic
        if isinstance(binding, AccountBinding):
            return f"dc09:{binding.receiver}/{binding.account}/{binding.zone or 'panel'}"
        if isinstance(binding, PanelBinding):
            where = f"{binding.zone}-{binding.point:03d}" if binding.point is not None else \
                binding.role
            return f"panel:{binding.panel}/{where}"
        return f"modbus:{binding.connection}/{binding.unit}/{binding.table}/{binding.address}"


@dataclass(frozen=True, slots=True)
class Command:
    topic: str
    payload: str
    qos: int
    retain: bool
    modbus: ModbusWrite | None = None
    feedback: Feedback | None = None
    name: Text = field(default_factory=lambda: Text("", ""))


# the names of the commands most actuators take; any other command is named in the config
COMMAND_NAMES = {
    "recall": Text("迫降", "recall"), "out_of_service": Text("停止服务", "out of service"),
    "restore": Text("恢复运行", "back in service"), "close": Text("关闭", "close"),
    "open": Text("打开", "open"), "power_off": Text("断电", "power off"),
    "power_on": Text("通电", "power on"), "reset": Text("复位", "reset"),
    "start": Text("启动", "start"), "stop": Text("停止", "stop"),
}


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
    health_details: str = "open"  # open | loopback | token
    health_token: str | None = None

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
    timezone: str
    broker: BrokerConfig
    embedded_broker_config: Path | None
    store_path: Path
    store_synchronous: str
    playbook_dir: Path
    mqtt_prefix: str
    roles: Mapping[str, Text]
    contacts: Mapping[str, Contact]
    zones: Zones
    points: Mapping[str, PointConfig]
    actuators: Mapping[str, ActuatorConfig]
    modbus: Mapping[str, ModbusConnection] = field(default_factory=dict)
    receivers: Mapping[str, GbtReceiver] = field(default_factory=dict)  # config.panels
    panels: Mapping[str, Panel] = field(default_factory=dict)
    dc09_receivers: Mapping[str, Dc09Receiver] = field(default_factory=dict)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    health_limits: Limits = field(default_factory=Limits)
    retention: Mapping[str, float] = field(default_factory=dict)
    people: Mapping[str, Person] = field(default_factory=dict)
    roster: Roster = field(default_factory=Roster)

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
