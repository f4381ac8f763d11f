"""The site config's schema: what the YAML may say, checked field by field (pydantic)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from gateway.config.modbus import (
    FeedbackModel,
    ModbusBindingModel,
    ModbusConnectionModel,
    ModbusWriteModel,
    ValueMapModel,
)
from gateway.config.panel_schema import (
    AccountBindingModel,
    PanelBindingModel,
    PanelModel,
    ReceiversModel,
)
from gateway.config.roster import PersonModel, RosterModel
from gateway.config.rules_schema import InputModel, RuleModel
from gateway.config.schema import BiText, Duration, LocationModel, Strict
from gateway.domain import site_time
from gateway.domain.model import ActuatorKind, PointKind

DEFAULT_EMBEDDED_PORT = 18831


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
    # who sees /healthz's details and /metrics: anyone (open), this machine only (loopback),
    # or whoever brings health_token as a bearer token (token; this machine too). Others get
    # /healthz's status alone.
    health_details: Literal["open", "loopback", "token"] = "open"
    health_token: str | None = Field(default=None, min_length=16)


class OutputsModel(Strict):
    mqtt_prefix: str = "alarm-gateway"


class SiteModel(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    name: BiText
    address: BiText
    crossroads: BiText | None = None
    callback_phone: str = ""
    timezone: str = site_time.DEFAULT  # every time shown, typed or printed is in it

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        site_time.zone_of(value)  # a clear error for a name that is not a zone
        return value


class ContactModel(Strict):
    id: str
    name: BiText
    phone: str


class MqttBindingModel(ValueMapModel):
    topic: str
    decoder: Literal["json", "plain", "zigbee2mqtt", "contact_id"] = "json"
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
    # contact_id: the panel's account (none: any) and the zone this point is; the point of a
    # topic without a zone is the panel's own (zone 000, zones no one mapped, unknown codes)
    account: str | None = Field(default=None, pattern=r"^[0-9A-Fa-f]{3,16}$")
    zone: int | None = Field(default=None, ge=0, le=999)

    @model_validator(mode="after")
    def _decoder_needs(self) -> MqttBindingModel:
        if (self.account is not None or self.zone is not None) and self.decoder != "contact_id":
            raise ValueError("'account' and 'zone' are for the contact_id decoder")
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


class PointModel(Strict):
    id: str
    kind: PointKind
    name: BiText | None = None
    location: LocationModel = Field(default_factory=LocationModel)
    heartbeat: Duration | None = None
    mqtt: MqttBindingModel | None = None
    modbus: ModbusBindingModel | None = None
    panel: PanelBindingModel | None = None  # a component of a panel behind a receiver
    dc09: AccountBindingModel | None = None  # a zone of a panel account (SIA DC-09)
    # the source of its messages (a bridge, a panel); default: the Modbus connection, the
    # Zigbee2MQTT base topic, or the first two levels of the topic
    group: str | None = None
    # a state decided over several readings of the device (gateway.config.point_rules)
    inputs: dict[str, InputModel] = Field(default_factory=dict)
    when: list[RuleModel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_binding(self) -> PointModel:
        if sum(b is not None for b in (self.mqtt, self.modbus, self.panel, self.dc09)) != 1:
            raise ValueError("a point is bound to one of 'mqtt', 'modbus', 'panel' or 'dc09' "
                             "(exactly one)")
        return self


class CommandModel(Strict):
    name: BiText | None = None  # needed unless the command is one of COMMAND_NAMES
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
    # the names of the zones that are not numbered (pump_room; elevator-{n} for a number)
    zones: dict[str, BiText] = Field(default_factory=dict)
    contacts: list[ContactModel] = Field(default_factory=list)
    people: list[PersonModel] = Field(default_factory=list)  # who may be on duty
    roster: RosterModel = Field(default_factory=RosterModel)  # who is, when
    modbus: list[ModbusConnectionModel] = Field(default_factory=list)
    receivers: ReceiversModel = Field(default_factory=ReceiversModel)
    panels: list[PanelModel] = Field(default_factory=list)
    points: list[dict[str, Any]]
    actuators: list[ActuatorModel] = Field(default_factory=list)
