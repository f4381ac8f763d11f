"""What the MQTT adapter is set up with, and what it delivers: plain values."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class MqttSettings:
    host: str
    port: int
    client_id: str
    subscriptions: tuple[str, ...]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls: bool = False
    tls_insecure: bool = False
    keepalive: int = 30
    backoff_min: float = 0.2
    backoff_max: float = 30.0
    connect_timeout: float = 5.0
    # the gateway's own message, published and subscribed to, to tell a broker that has
    # stopped delivering (``probe_waiting_since``); None: no probe
    probe_topic: str | None = None
    probe_every: float = 10.0
    # notifications (``Notify`` effects) are published on ``<notify_prefix>/<role>``; None:
    # this adapter does not carry them
    notify_prefix: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    topic: str
    payload: bytes
    qos: int
    mid: int
    retained: bool
    duplicate: bool
    received_at: float
    bad_topic: bool = False
    token: int = 0  # which message of the session ``mid`` names (see adapters.mqtt_inflight)


class MqttError(Exception):
    """A publish the broker or the library refused."""
