"""Contact ID reports an MQTT bridge publishes (the bare 16 digits, or a JSON field with
them), fanned out from their topic to the zones' points.

The report's account and zone pick the point (``mqtt: {decoder: contact_id, account, zone}``);
zone 000, a zone no one mapped and an event code not in the table go to the panel's own point
(no ``zone``), the zone named as the device, so no report is ever dropped. An alarm code sets
the point in alarm (restore: normal); troubles, supervisory signals and bypasses raise and
clear a condition; tests set it in test; opening and closing are kept on record. A report with
a bad checksum or length, or of an account no point names, is a dead letter with that reason."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from adapters.mqtt_values import InboundMessage
from gateway.config.site import PointConfig
from gateway.daemon.decisions import Decisions
from gateway.domain.model import PointState
from gateway.errors import DecodeError
from gateway.points.conditioning import condition
from gateway.points.contact_id import ContactId, Meaning, meaning, parse
from gateway.points.decode import Reading
from gateway.store.values import WriteSet

Bad = Callable[[Decisions, WriteSet, InboundMessage, str, str], None]


def take_contact_id(d: Decisions, points: Sequence[PointConfig], message: InboundMessage,
                    ws: WriteSet, now: float, bad: Bad) -> None:
    try:
        report = parse(_text(points[0], message.payload))
    except DecodeError as exc:
        bad(d, ws, message, exc.reason, exc.detail)
        return
    mine = [p for p in points if p.mqtt is not None
            and p.mqtt.account in (None, report.account)]
    if not mine:
        accounts = sorted({p.mqtt.account or "" for p in points if p.mqtt is not None})
        bad(d, ws, message, "unknown_account", f"account {report.account}: the points of this "
            f"topic are accounts {', '.join(accounts)}")
        return
    route(d, mine, lambda p: p.mqtt.zone if p.mqtt is not None else None, report,
          Source(message.topic, message.received_at, message.payload, message.retained), ws, now)


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    at: float
    payload: bytes
    replayed: bool = False


def route(d: Decisions, points: Sequence[PointConfig],
          zone_of: Callable[[PointConfig], int | None], report: ContactId, source: Source,
          ws: WriteSet, now: float, codes: Mapping[int, tuple[str, str]] | None = None) -> None:
    """A panel's report to its zone's point among ``points`` (one panel account's), or to the
    panel's own point (no zone): zone 000, a zone no one mapped, an unknown code. ``codes``:
    what the account's codes mean where it differs from the default table."""
    point = next((p for p in points if zone_of(p) == report.zone and report.zone != 0), None)
    what = meaning(report.code)
    if codes and report.code in codes:
        category, raised = codes[report.code]
        what = Meaning(category, raised, what.en if what.category != "unknown"
                       else f"event {report.code:03d}")
    device = ""
    if point is None or what.category == "unknown":
        point = next(p for p in points if zone_of(p) is None)
        device = f"zone {report.zone:03d}" if report.zone else ""
    previous = d.points.get(point.id)
    reading = _reading(report, what, device,
                       previous.source_state(device) if previous else None)
    status, signals = condition(point, previous, reading, source.at, source=source.name,
                                replayed=source.replayed)
    d.set_point(point.id, status, ws)
    for sig in signals:
        if sig.changed or previous is None:
            d.signal(d.in_drill(sig), ws, now, source.payload)


def _text(point: PointConfig, payload: bytes) -> str:
    """The 16 digits: the payload itself, or the binding's ``field`` of a JSON object."""
    try:
        text = payload.decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError("bad_encoding", "a Contact ID report is ASCII digits") from None
    field = point.mqtt.field if point.mqtt is not None else None
    if field is None:
        return text
    try:
        doc = json.loads(text)
    except ValueError:
        raise DecodeError("bad_json", f"field {field!r} needs a JSON object") from None
    value = doc.get(field) if isinstance(doc, dict) else None
    if not isinstance(value, str):
        raise DecodeError("missing_field", f"no text field {field!r} in the payload")
    return value


def _reading(report: ContactId, what: Meaning, device: str,
             before: PointState | None) -> Reading:
    value = f"{report.code:03d} {what.en}"
    steady = before if before not in (None, PointState.OFFLINE) else PointState.NORMAL
    if what.category == "alarm":
        state = PointState.NORMAL if report.restore else PointState.ALARM
        return Reading(state, value, device=device)
    if what.category == "test":
        return Reading(PointState.NORMAL if report.restore else PointState.TEST, value,
                       device=device)
    if what.condition:  # trouble, supervisory, bypass, unknown
        return Reading(steady, value, device=device,
                       conditions=((what.condition, not report.restore),))
    return Reading(steady, value, device=device)  # opening and closing: on record
