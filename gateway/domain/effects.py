"""What a decision sends out, once its batch is committed: an MQTT publish, a Modbus write, a
notification of the people on duty in a role. The outbox keeps each one as an ``Outgoing``
with what it is for; the dispatcher hands it to the adapter that accepts it.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MqttPublish:
    topic: str
    payload: str
    qos: int = 1
    retain: bool = False


@dataclass(frozen=True, slots=True)
class ModbusWrite:
    """A coil or holding register of a unit on one of the site's Modbus connections."""

    connection: str
    unit: int
    table: str  # "coil" or "holding"
    address: int
    value: bool | int


@dataclass(frozen=True, slots=True)
class Notify:
    """The people on duty in ``role`` are told (``payload``: JSON text). How they are reached
    is the notification channels' business: today the site's broker, on
    ``<prefix>/notify/<role>``."""

    role: str
    payload: str


Effect = MqttPublish | ModbusWrite | Notify


class Purpose(enum.StrEnum):
    COMMAND = "command"  # an actuator's command of an action (recall, close a valve)
    EVENT = "event"  # an incident's new events, for other systems to follow
    NOTIFY = "notify"  # people reached (notified, escalated)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An effect of the outbox: what it is for, whose it is, and whether a drill withholds it
    (kept on record, never sent)."""

    effect: Effect
    purpose: Purpose = Purpose.EVENT
    incident_id: str = ""
    action_id: str = ""
    withhold: bool = False

    @property
    def target(self) -> str:
        """Where it goes, in one word: the topic, ``modbus://CONNECTION/UNIT/TABLE/ADDRESS``,
        or ``notify://ROLE`` (the outbox's record and the logs)."""
        return target(self.effect)


MODBUS_TARGET = "modbus://"
NOTIFY_TARGET = "notify://"


def target(effect: Effect) -> str:
    if isinstance(effect, ModbusWrite):
        return (f"{MODBUS_TARGET}{effect.connection}/{effect.unit}/{effect.table}/"
                f"{effect.address}")
    if isinstance(effect, Notify):
        return f"{NOTIFY_TARGET}{effect.role}"
    return effect.topic


def payload_text(effect: Effect) -> str:
    """The effect's content as text (a Modbus write's value as JSON)."""
    if isinstance(effect, ModbusWrite):
        return json.dumps(effect.value)
    return effect.payload


def from_record(target_text: str, payload: str, qos: int = 1, retain: bool = False) -> Effect:
    """The effect ``target`` and ``payload_text`` recorded (ValueError when it is not one)."""
    if target_text.startswith(MODBUS_TARGET):
        connection, unit, table, address = target_text.removeprefix(MODBUS_TARGET).split("/")
        value = json.loads(payload)
        if not isinstance(value, bool | int):
            raise ValueError(f"{target_text}: the value {payload!r} is not a bit or a number")
        return ModbusWrite(connection, int(unit), table, int(address), value)
    if target_text.startswith(NOTIFY_TARGET):
        return Notify(target_text.removeprefix(NOTIFY_TARGET), payload)
    return MqttPublish(target_text, payload, qos, retain)
