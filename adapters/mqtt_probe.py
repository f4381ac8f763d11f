"""The probe: a message the gateway publishes to itself on ``probe_topic`` at a set interval.
A broker that keeps the connection up but stops delivering (a full in-flight window, a bridge
gone astray) is seen when the probe does not come back (``waiting_since``, read by /healthz
and the self-supervision). A broker whose ACL refuses the probe's subscription is said once,
and the probe is given up on."""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from adapters.mqtt_values import MqttSettings

log = structlog.get_logger("adapters.mqtt")

Publish = Callable[[str, str], object]


class Probe:
    def __init__(self, settings: Callable[[], MqttSettings], publish: Publish) -> None:
        self._settings = settings
        self._publish = publish
        self.waiting_since: float | None = None  # the probe in flight, sent then
        self._last = 0.0
        self._refused = False

    @property
    def topic(self) -> str | None:
        """The probe's topic while it is used; None without one, or once refused."""
        return None if self._refused else self._settings().probe_topic

    def due(self, subscribed: bool) -> None:
        """Called every second: send the next probe when its time has come."""
        topic, now = self.topic, time.time()
        if (topic is None or not subscribed or self.waiting_since is not None
                or now - self._last < self._settings().probe_every):
            return
        self._last = now
        self.waiting_since = now
        self._publish(topic, f"{now:.3f}")

    def came_back(self) -> None:
        self.waiting_since = None

    def lost(self) -> None:
        """The connection dropped: the probe in flight went with it."""
        self.waiting_since = None

    def refused(self) -> None:
        self._refused = True
        log.error("probe_refused", topic=self._settings().probe_topic,
                  note="the broker's ACL must let the gateway publish and subscribe to it; "
                  "without it a broker that stops delivering is not noticed")
