"""Simulated devices that speak the site's own payload formats.

A simulated reading is encoded from the point's mapping in the site config (the inverse of the
gateway's decoder), so a tester publishes exactly what the real device would, on its topic.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config.site import MqttBinding, PointConfig
from gateway.domain.model import PointState

# What a real device sends for each state when the mapping offers several spellings.
_PREFERRED = {PointState.ALARM: ("fire", "alarm", "emergency", "true"),
              PointState.NORMAL: ("normal", "restore", "release", "clear", "false")}


class EncodeError(ValueError):
    pass


def mqtt_of(point: PointConfig) -> MqttBinding:
    """The point's MQTT binding (EncodeError for a point read over Modbus)."""
    if point.mqtt is None:
        raise EncodeError(f"{point.id} is not read over MQTT: simulate its device on a "
                          "Modbus server, or its panel with simulate panel / dc09, instead")
    return point.mqtt


def _mqtt(point: PointConfig) -> MqttBinding:
    if point.mqtt is None:
        raise EncodeError(f"point {point.id} is not read over MQTT: drive its device "
                          "simulator (Modbus, a panel over IP) instead of publishing")
    return point.mqtt


def _raw_for(point: PointConfig, state: PointState) -> str:
    candidates = [raw for raw, mapped in _mqtt(point).values.items() if mapped is state]
    if not candidates:
        raise EncodeError(f"point {point.id} has no value that maps to {state.value!r} "
                          f"(mapping: {dict(_mqtt(point).values)})")
    for preferred in _PREFERRED.get(state, ()):
        if preferred in candidates:
            return preferred
    return candidates[0]


def encode(point: PointConfig, state: PointState, *, device: str = "", drill: bool = False,
           value: float | None = None, extra: dict[str, Any] | None = None) -> bytes:
    """The payload the point's device would publish for ``state``."""
    b = _mqtt(point)
    if b.decoder == "plain":
        if value is not None and not b.values:
            return str(value).encode()
        return _raw_for(point, state).encode()
    doc: dict[str, Any] = {}
    if b.decoder == "zigbee2mqtt":
        if b.property is None:
            raise EncodeError(f"{point.id}: a zigbee2mqtt binding names its property")
        if b.values:
            doc[b.property] = _raw_for(point, state)
        elif state in (PointState.ALARM, PointState.NORMAL, PointState.TROUBLE, PointState.TEST):
            doc[b.property] = state is PointState.ALARM
        else:
            raise EncodeError(f"a Zigbee2MQTT {b.property} sensor cannot report {state.value}")
        if state is PointState.TROUBLE:
            doc[b.trouble_properties[0] if b.trouble_properties else "tamper"] = True
        if state is PointState.TEST:
            doc["test"] = True
        if b.value_property and value is not None:
            doc[b.value_property] = value
        doc.setdefault("battery", 97)
        doc.setdefault("linkquality", 120)
    else:
        raw: Any = value if value is not None and b.thresholds and not b.values \
            else _raw_for(point, state)
        if b.field:
            _put(doc, b.field, raw)
        else:
            return json.dumps(raw).encode()
        if b.device_field and device:
            _put(doc, b.device_field, device)
        if b.drill_field and drill:
            _put(doc, b.drill_field, True)
        doc["seq"] = uuid.uuid4().hex[:12]
    if extra:
        doc.update(extra)
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def _put(doc: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = doc
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


@dataclass
class Publisher:
    """A small blocking QoS 1 publisher for CLI use and test fixtures."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None

    def __post_init__(self) -> None:
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                   client_id=f"simulator-{uuid.uuid4().hex[:8]}")
        if self.username:
            self._client.username_pw_set(self.username, self.password)
        self._client.connect(self.host, self.port, keepalive=30)
        self._client.loop_start()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False,
                timeout: float = 10.0) -> None:
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise TimeoutError(f"broker did not acknowledge the publish to {topic}")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
