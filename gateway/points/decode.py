"""Payload decoders: small pure functions from bytes to a reading.

A decoder never guesses: a payload it cannot read raises ``DecodeError`` with a stable reason
(``bad_json``, ``missing_field``, ``wrong_type``, ``unmapped_value``, ``bad_encoding``,
``bad_text``) and a detail that names the field, so the technician can fix the device or the
mapping. Hostile shapes are bad input like any other: JSON nested deeper than ``MAX_DEPTH``,
numbers too long to convert, a value or device name with an unpaired surrogate (a valid JSON
escape that no store or UTF-8 text can hold).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from gateway.config.modbus import Threshold
from gateway.config.site import MqttBinding
from gateway.domain import site_time
from gateway.domain.conditions import condition_of_property
from gateway.domain.model import PointState, value_key
from gateway.errors import DecodeError


@dataclass(frozen=True, slots=True)
class Reading:
    state: PointState | None
    value: float | str | bool | None
    device: str = ""
    drill: bool = False
    # the trouble conditions this reading reports, each raised or cleared (see conditions.py)
    conditions: tuple[tuple[str, bool], ...] = ()
    # the device's own time (epoch seconds) or sequence number, where the payload has one
    order: float | None = None
    # why, when a condition over several readings decided the state (``when:``)
    reason: str = ""


# Values that say a detector is warming up (not measuring yet), when the binding maps nothing
WARMUP_WORDS = frozenset({"preparation", "preheat", "preheating", "warming_up", "warmup"})


def decode(binding: MqttBinding, payload: bytes) -> Reading | None:
    """A payload as a reading; None when it carries no reading (``water_leak: null``)."""
    if binding.decoder == "plain":
        return _decode_plain(binding, payload)
    doc = _parse_json(payload)
    if binding.decoder == "zigbee2mqtt":
        reading = _decode_zigbee(binding, doc)
        where = f"property '{binding.property}'"
    else:
        reading = _decode_json(binding, doc)
        where = "the payload"
    if reading is None:
        return None
    order = _order(binding, doc)
    if order is not None:
        reading = replace(reading, order=order)
    return _checked(reading, where)


def _ruled(binding: MqttBinding, doc: Any, value: Any) -> tuple[PointState, str] | None:
    """The state the point's conditions give over the payload's fields (and why); None when
    it has none or none holds (the binding's own mapping decides then)."""
    if binding.rules is None:
        return None
    values = {"value": value if not isinstance(value, dict | list) else None}
    values.update({name: _field(doc, p) if _has(doc, p) else None for name, p in binding.inputs})
    rule = binding.rules.decide(values)
    return None if rule is None else (rule.state, f"when {rule.text}")


def _order(binding: MqttBinding, doc: Any) -> float | None:
    """The device's time or sequence number, if the binding names one and the payload has it
    (without it, arrival order holds)."""
    path = binding.time_field or binding.sequence_field
    if not path or not _has(doc, path):
        return None
    raw = _field(doc, path)
    if binding.sequence_field:
        number = _number(raw)
        if number is None:
            raise DecodeError("wrong_type", f"field '{path}' must be a sequence number")
        return number
    return _device_time(raw, path)


def _device_time(raw: Any, path: str) -> float:
    """ISO 8601 (Zigbee2MQTT's ISO_8601 and ISO_8601_local: without an offset, the site's
    clock), or epoch seconds or ms."""
    number = _number(raw)
    if number is None and isinstance(raw, str):
        try:
            at = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
            return (at if at.tzinfo else at.replace(tzinfo=site_time.zone())).timestamp()
        except ValueError:
            pass
    if number is None:
        raise DecodeError("wrong_type", f"field '{path}' = {_shown(raw)} is not a time "
                          "(ISO 8601, or epoch seconds or milliseconds)")
    return number / 1000.0 if number > 1e11 else number


def _text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("bad_encoding",
                          f"payload is not UTF-8 ({exc.reason} at byte {exc.start})") from None


MAX_DEPTH = 32  # nesting of a JSON payload; real devices send two or three levels


def _parse_json(payload: bytes) -> Any:
    text = _text(payload)
    if _nesting(text) > MAX_DEPTH:
        raise DecodeError("bad_json", f"nested deeper than {MAX_DEPTH} levels")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DecodeError("bad_json",
                          f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # an integer beyond Python's digit limit for conversion
        raise DecodeError("bad_json", f"a number is too long: {str(exc).split(':')[0]}",
                          ) from None
    except RecursionError:
        raise DecodeError("bad_json", f"nested deeper than {MAX_DEPTH} levels") from None
    return doc


def _nesting(text: str) -> int:
    """How deep arrays and objects nest, found without parsing (the parser's own limit is a
    RecursionError a thousand levels down, after the work)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return 0
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _checked(reading: Reading, where: str) -> Reading:
    """The text a reading carries on (its value, its device) must be text: an unpaired
    surrogate (``"\\ud800"``) is valid JSON but cannot be stored or shown. Fields the binding
    does not read are left alone (the payload itself is kept as bytes)."""
    for name, text in (("value", reading.value), ("device", reading.device)):
        if isinstance(text, str):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise DecodeError("bad_text", f"the {name} in {where} holds an unpaired "
                                  f"surrogate escape "
                                  f"({text.encode('utf-8', 'backslashreplace')[:60]!r})",
                                  ) from None
    return reading


def _shown(value: Any, limit: int = 60) -> str:
    """A value as a detail names it: its repr, cut short when a payload makes it long."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _field(doc: Any, path: str) -> Any:
    node = doc
    for part in path.split("."):
        if not isinstance(node, dict):
            raise DecodeError("wrong_type",
                              f"expected an object holding '{part}' in field '{path}'")
        if part not in node:
            raise DecodeError("missing_field", f"field '{path}' is missing")
        node = node[part]
    return node


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:  # 400 digits: no reading any device sends
            return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _map_value(binding: MqttBinding, raw: Any, where: str) -> Reading:
    if isinstance(raw, dict | list) or raw is None:
        raise DecodeError("wrong_type", f"{where} is {type(raw).__name__}, expected a value")
    state = binding.values.get(value_key(raw))
    if state is not None:
        return Reading(state, raw)
    number = _number(raw)
    if number is not None and binding.thresholds:
        # the state comes from thresholds with hysteresis, which needs the previous state
        return Reading(None, number)
    if isinstance(raw, str) and value_key(raw) in WARMUP_WORDS:
        return Reading(PointState.WARMUP, raw)
    raise DecodeError("unmapped_value", f"{where} = {_shown(raw)} has no state mapping")


def _decode_plain(binding: MqttBinding, payload: bytes) -> Reading:
    text = _text(payload).strip()
    ruled = _ruled(binding, {}, text)
    if ruled is not None:
        return Reading(ruled[0], text, reason=ruled[1])
    return _map_value(binding, text, "payload")


def _decode_json(binding: MqttBinding, doc: Any) -> Reading | None:
    if binding.field:
        raw = _field(doc, binding.field)
        where = f"field '{binding.field}'"
    else:
        raw, where = doc, "payload"
    if raw is None:
        return None  # the device sent no reading for it
    ruled = _ruled(binding, doc, raw)
    reading = _map_value(binding, raw, where) if ruled is None else \
        Reading(ruled[0], raw if not isinstance(raw, dict | list) else None, reason=ruled[1])
    device = ""
    if binding.device_field:
        dev = _field(doc, binding.device_field) if _has(doc, binding.device_field) else ""
        if not isinstance(dev, str | int):
            raise DecodeError("wrong_type", f"field '{binding.device_field}' must be text")
        device = str(dev)
    drill = False
    if binding.drill_field and _has(doc, binding.drill_field):
        flag = _field(doc, binding.drill_field)
        if not isinstance(flag, bool):
            raise DecodeError("wrong_type", f"field '{binding.drill_field}' must be true/false")
        drill = flag
    return Reading(reading.state, reading.value, device, drill, reason=reading.reason)


def _has(doc: Any, path: str) -> bool:
    node = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _decode_zigbee(binding: MqttBinding, doc: Any) -> Reading | None:
    if not isinstance(doc, dict):
        raise DecodeError("wrong_type", "a Zigbee2MQTT payload is a JSON object")
    prop = binding.property or ""
    if prop not in doc:
        raise DecodeError("missing_field", f"property '{prop}' is missing")
    raw = doc[prop]
    if raw is None:
        return None  # Zigbee2MQTT's "no value yet" (e.g. right after pairing)
    value: float | str | bool | None = raw if isinstance(raw, bool | str) else _number(raw)
    state: PointState | None
    ruled = _ruled(binding, doc, raw)
    if ruled is not None:
        state = ruled[0]
    elif binding.values:
        state = binding.values.get(value_key(raw))
        if state is None and isinstance(raw, str) and value_key(raw) in WARMUP_WORDS:
            state = PointState.WARMUP
        if state is None:
            raise DecodeError("unmapped_value",
                              f"property '{prop}' = {_shown(raw)} has no state mapping")
    elif isinstance(raw, bool):
        state = PointState.ALARM if raw else PointState.NORMAL
    elif isinstance(raw, str) and value_key(raw) in WARMUP_WORDS:
        state = PointState.WARMUP
    else:
        raise DecodeError("wrong_type", f"property '{prop}' = {_shown(raw)}, expected true/false")
    if binding.value_property and binding.value_property in doc:
        number = _number(doc[binding.value_property])
        if number is None:
            raise DecodeError("wrong_type", f"property '{binding.value_property}' must be a number")
        value = number
    if doc.get("test") is True:  # a self-test is a test, whatever the conditions say
        state = PointState.TEST
    elif doc.get("preheat") is True and state is not PointState.ALARM:
        state = PointState.WARMUP  # a gas detector warming up measures nothing yet
    # troubles are conditions of their own beside the alarm (a leak's restore shows while
    # its battery stays low); a property a payload leaves out says nothing either way
    conditions = tuple((condition_of_property(p), doc[p]) for p in binding.trouble_properties
                       if isinstance(doc.get(p), bool))
    return Reading(state, value, conditions=conditions,
                   reason=ruled[1] if ruled is not None and state is ruled[0] else "")


def threshold_state(thresholds: tuple[Threshold, ...], deadband: float, value: float,
                    previous: PointState | None) -> PointState:
    """The state a value is in, with a dead-band on the way down.

    Thresholds are sorted ascending. A level at or below the previous level is kept while the
    value stays above its set point minus the dead-band, so a reading hovering at 25 %LEL does
    not chatter between prealarm and normal.
    """
    prev_index = -1
    for i, t in enumerate(thresholds):
        if t.state is previous:
            prev_index = i
    state = PointState.NORMAL
    for i, t in enumerate(thresholds):
        limit = t.at_least - (deadband if i <= prev_index else 0.0)
        if value >= limit:
            state = t.state
    return state


# ----------------------------------------------------------------------------- Modbus

# ----------------------------------------------------------------------------- availability


def availability(payload: bytes) -> bool:
    """An availability or bridge-state message: ``online``/``offline``, plain or as
    ``{"state": ...}`` (Zigbee2MQTT, before and after 1.30). True when online."""
    text = _text(payload).strip()
    found: Any = text
    if text.startswith("{"):
        doc = _parse_json(payload)
        found = doc.get("state") if isinstance(doc, dict) else None
        if not isinstance(found, str):
            raise DecodeError("bad_availability", "expected {\"state\": \"online\"|\"offline\"}")
    word = str(found).strip().lower()
    if word not in ("online", "offline"):
        raise DecodeError("bad_availability", f"{_shown(word)} is not online or offline")
    return word == "online"
