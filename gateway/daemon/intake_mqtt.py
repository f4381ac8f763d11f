"""MQTT messages into readings: the topic names the points (or a device's availability, or
its bridge's state), the point's binding decodes the payload, conditioning makes signals."""

from __future__ import annotations

from dataclasses import replace

import structlog

from adapters.interface import Adapter
from adapters.mqtt_values import InboundMessage
from gateway.config.site import MqttBinding, PointConfig, SiteConfig
from gateway.daemon.decisions import Decisions
from gateway.daemon.intake_contact_id import take_contact_id
from gateway.errors import DecodeError
from gateway.points.conditioning import back_online, condition, rejected, went_offline
from gateway.points.decode import availability, decode
from gateway.store.values import DEAD_LETTER_KEEP, DeadLetter, SignalRecord, WriteSet

log = structlog.get_logger("gateway")


class MqttIntake:
    def __init__(self, site: SiteConfig) -> None:
        self.max_payload = site.broker.max_payload_bytes
        self.topics = site.points_by_topic()
        self.availability = site.points_by_topic("availability")
        self.bridges = site.points_by_topic("bridge")

    def source(self, item: InboundMessage) -> str:
        return item.topic

    def heard(self, item: InboundMessage) -> bool:
        return True

    def keep(self, item: InboundMessage, reason: str, detail: str) -> DeadLetter:
        return letter(item, reason, detail)

    def take(self, d: Decisions, adapter: Adapter, item: InboundMessage, ws: WriteSet,
             now: float) -> None:
        message = item
        if len(message.payload) > self.max_payload:
            _bad(d, ws, message, "oversized",
                 f"{len(message.payload)} bytes, limit {self.max_payload}")
            return
        if message.bad_topic:
            _bad(d, ws, message, "bad_topic", "topic is not valid UTF-8")
            return
        if not message.payload:
            # how MQTT deletes a retained message (and what a device that read nothing may
            # send): no reading, not bad input
            d.counters["empty_payloads"] += 1
            if d.first_report(message.topic, "empty_payload"):
                log.info("empty_payload", topic=message.topic,
                         note="a retained message deleted, or nothing to read: no reading")
            return
        if message.topic in self.availability or message.topic in self.bridges:
            self._availability(d, message, ws, now)
            return
        points = self.topics.get(message.topic)
        if points is None:
            _bad(d, ws, message, "unknown_topic", "no point is bound to this topic")
            return
        if points[0].mqtt is not None and points[0].mqtt.decoder == "contact_id":
            take_contact_id(d, points, message, ws, now, _bad)
            return
        for point in points:
            if point.mqtt is not None:  # the topic table holds MQTT-bound points only
                self._reading(d, point, point.mqtt, message, ws, now)

    def _reading(self, d: Decisions, point: PointConfig, binding: MqttBinding,
                 message: InboundMessage, ws: WriteSet, now: float) -> None:
        previous = d.points.get(point.id)
        try:
            reading = decode(binding, message.payload)
        except DecodeError as exc:
            _bad(d, ws, message, exc.reason, f"point {point.id}: {exc.detail}")
            status, bad = rejected(point, previous, message.received_at, message.topic,
                                   exc.reason)
            d.set_point(point.id, status, ws)
            if bad is not None:
                d.signal(d.in_drill(bad), ws, now, message.payload)
            return
        if reading is None:
            d.counters["no_reading"] += 1  # heard, with nothing to say (``null``)
            if previous is not None:
                d.set_point(point.id, replace(previous, last_seen=message.received_at), ws)
            return
        status, signals = condition(point, previous, reading, message.received_at,
                                    source=message.topic, replayed=message.retained)
        d.set_point(point.id, status, ws)
        if signals[0].stale:
            d.counters["stale_messages"] += 1
            if d.first_report(point.id, "stale"):
                log.warning("stale_message", point=point.id, topic=message.topic,
                            note="sent before what the point already knows (by the device's "
                                 "time): kept on record, not obeyed")
            ws.signals.append(SignalRecord(signals[0], message.payload, ()))
            return
        for sig in signals:
            if message.retained and not sig.changed:
                # a retained message replayed at (re)subscription restates what is known:
                # current state, not a new event
                d.counters["retained_unchanged"] += 1
                continue
            d.signal(d.in_drill(sig), ws, now, message.payload)

    def _availability(self, d: Decisions, message: InboundMessage, ws: WriteSet,
                      now: float) -> None:
        """A device's availability, or its bridge's state: online or offline."""
        try:
            online = availability(message.payload)
        except DecodeError as exc:
            _bad(d, ws, message, exc.reason, exc.detail)
            return
        bridge = message.topic in self.bridges
        points = self.bridges.get(message.topic) or self.availability.get(message.topic, ())
        what = f"bridge {message.topic}" if bridge else "device reports offline"
        changed = []
        for point in points:
            previous = d.points.get(point.id)
            if online:
                status, sig = back_online(point, previous, message.received_at, message.topic,
                                          reasons=(what,))
            else:
                status, sig = went_offline(point, previous, message.received_at,
                                           f"{what} offline" if bridge else what, message.topic)
            d.set_point(point.id, status, ws)
            if sig is not None:
                changed.append(point.id)
                d.signal(d.in_drill(sig), ws, now, message.payload)
        if changed and (bridge or not online):
            (log.info if online else log.warning)(
                "bridge_state" if bridge else "device_availability", topic=message.topic,
                state="online" if online else "offline", points=len(changed),
                first=changed[:10])


def letter(message: InboundMessage, reason: str, detail: str) -> DeadLetter:
    """A message as a dead letter."""
    return DeadLetter(at=message.received_at, source="mqtt", topic=message.topic, reason=reason,
                      detail=detail, payload=message.payload[:DEAD_LETTER_KEEP],
                      size=len(message.payload))


def _bad(d: Decisions, ws: WriteSet, message: InboundMessage, reason: str,
         detail: str) -> None:
    d.dead_letter(ws, "mqtt", message.topic, reason, detail, message.payload,
                  message.received_at)
