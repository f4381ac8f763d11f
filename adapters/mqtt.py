"""MQTT adapter: paho-mqtt 2.x driven by the asyncio event loop.

Why paho directly and not aiomqtt: an alarm may be acknowledged to the broker only after it is
committed to the store. paho 2.x supports that (``manual_ack=True`` + ``Client.ack``); aiomqtt 2.x
does not expose it (upstream PR 346 is still open), and acknowledging on receipt would lose every
alarm in flight when the process dies.

The client runs on the event loop (socket reader/writer callbacks, as aiomqtt does it), so there
is no network thread and no locking: the library's callbacks only put values on queues or resolve
futures. The session is persistent (clean_session=False, fixed client id) with QoS 1
subscriptions, so alarms published while the gateway is down are queued by the broker and
delivered when it is back. TCP_NODELAY is set on the socket: paho does not, and with Nagle's
algorithm on both ends an isolated alarm waits ~40 ms for a delayed ACK.
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

log = structlog.get_logger("adapters.mqtt")


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


class MqttError(Exception):
    """A publish the broker or the library refused."""


class MqttAdapter:
    def __init__(self, settings: MqttSettings,
                 on_message: Callable[[InboundMessage], None]) -> None:
        self.settings = settings
        self._on_message_cb = on_message
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._subscribe_mid: int | None = None
        self._lost: asyncio.Future[str] | None = None
        self._inflight: dict[int, asyncio.Future[None]] = {}
        self._misc_task: asyncio.Task[None] | None = None
        self.connects = 0
        self.session_present = False
        self._client = self._make_client()

    # ------------------------------------------------------------------ setup

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=s.client_id,
                             clean_session=False, protocol=mqtt.MQTTv311, manual_ack=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write
        client.max_inflight_messages_set(200)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(1, 30)
        if s.username:
            client.username_pw_set(s.username, s.password)
        if s.tls or s.ca_file or s.cert_file:
            client.tls_set(ca_certs=s.ca_file, certfile=s.cert_file, keyfile=s.key_file,
                           cert_reqs=ssl.CERT_REQUIRED)
            client.tls_insecure_set(s.tls_insecure)
        client.connect_async(s.host, s.port, keepalive=s.keepalive)
        return client

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def wait_subscribed(self) -> None:
        """Connected and every subscription granted: from here on, nothing is missed."""
        await self._subscribed.wait()

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Connect and stay connected, forever; returns only when cancelled."""
        self._loop = asyncio.get_running_loop()
        failures = 0
        try:
            while True:
                reason = await self._session()
                if reason == "connected-then-lost":
                    failures = 0
                failures += 1
                delay = min(self.settings.backoff_max,
                            self.settings.backoff_min * 2 ** min(failures - 1, 16))
                delay *= random.uniform(0.5, 1.0)
                await asyncio.sleep(delay)
        finally:
            self._teardown()

    async def _session(self) -> str:
        """One connection attempt and, if it works, its whole life."""
        assert self._loop is not None
        s = self.settings
        was_connected_before = self.connects
        try:
            # Probe reachability without blocking the loop; paho's own connect is blocking.
            _, writer = await asyncio.wait_for(asyncio.open_connection(s.host, s.port),
                                               s.connect_timeout)
            writer.close()
            self._lost = self._loop.create_future()
            rc = self._client.reconnect()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise OSError(f"connect failed: {mqtt.error_string(rc)}")
        except (OSError, TimeoutError, ssl.SSLError, ValueError) as exc:
            self._report_unreachable(exc)
            self._client._sock_close()  # noqa: SLF001 - drop a half-open socket before retrying
            return "unreachable"
        reason = await self._lost
        return "connected-then-lost" if self.connects > was_connected_before else reason

    def _report_unreachable(self, exc: BaseException) -> None:
        if not getattr(self, "_said_unreachable", False):
            log.warning("broker_unreachable", broker=f"{self.settings.host}:{self.settings.port}",
                        error=str(exc) or type(exc).__name__,
                        retry="forever, with jittered backoff up to "
                              f"{self.settings.backoff_max:.0f}s")
            self._said_unreachable = True

    def _teardown(self) -> None:
        if self._misc_task is not None:
            self._misc_task.cancel()
        if self.connected:
            self._client.disconnect()
        self._client._sock_close()  # noqa: SLF001 - paho has no public close without DISCONNECT
        for future in self._inflight.values():
            if not future.done():
                future.cancel()
        self._inflight.clear()
        self._connected.clear()
        self._subscribed.clear()

    # ------------------------------------------------------------------ operations

    def ack(self, mid: int, qos: int = 1) -> None:
        """Send the PUBACK for a message the store has committed."""
        if qos > 0 and self.connected:
            self._client.ack(mid, qos)

    def publish(self, topic: str, payload: str | bytes, qos: int = 1,
                retain: bool = False) -> asyncio.Future[None]:
        """Publish; the future resolves when the broker has acknowledged (QoS 1/2)."""
        assert self._loop is not None
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        future: asyncio.Future[None] = self._loop.create_future()
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            future.set_exception(MqttError(f"publish to {topic} failed: "
                                           f"{mqtt.error_string(info.rc)}"))
        elif qos == 0:
            future.set_result(None)
        else:
            self._inflight[info.mid] = future
        return future

    # ------------------------------------------------------------------ paho callbacks

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                    properties: Any) -> None:
        if reason_code.is_failure:
            log.error("broker_refused", broker=f"{self.settings.host}:{self.settings.port}",
                      reason=str(reason_code))
            return
        self.connects += 1
        self.session_present = bool(flags.session_present)
        self._said_unreachable = False
        if self.settings.subscriptions:
            _, self._subscribe_mid = client.subscribe(
                [(topic, 1) for topic in self.settings.subscriptions])
        else:
            self._subscribed.set()
        self._connected.set()
        log.info("broker_connected", broker=f"{self.settings.host}:{self.settings.port}",
                 session_present=self.session_present, subscriptions=len(
                     self.settings.subscriptions), reconnect=self.connects > 1)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any) -> None:
        was = self.connected
        self._connected.clear()
        self._subscribed.clear()
        if was:
            log.warning("broker_disconnected", broker=f"{self.settings.host}:{self.settings.port}",
                        reason=str(reason_code), retry="forever, with jittered backoff")
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(str(reason_code))

    def _on_message(self, client: mqtt.Client, userdata: Any,
                    message: mqtt.MQTTMessage) -> None:
        bad_topic = False
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = message._topic.decode("utf-8", "replace")  # noqa: SLF001 - raw bytes
            bad_topic = True
        self._on_message_cb(InboundMessage(
            topic=topic, payload=bytes(message.payload), qos=message.qos, mid=message.mid,
            retained=bool(message.retain), duplicate=bool(message.dup),
            received_at=time.time(), bad_topic=bad_topic))

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason_code: Any,
                    properties: Any) -> None:
        future = self._inflight.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reason_codes: list[Any], properties: Any) -> None:
        refused = [self.settings.subscriptions[i] for i, rc in enumerate(reason_codes)
                   if rc.is_failure and i < len(self.settings.subscriptions)]
        if refused:
            log.error("subscription_refused", topics=refused)
        if mid == self._subscribe_mid:
            self._subscribed.set()

    # ------------------------------------------------------------------ socket plumbing

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        raw = sock if isinstance(sock, socket.socket) else getattr(sock, "_socket", None)
        if isinstance(raw, socket.socket) and raw.family in (socket.AF_INET, socket.AF_INET6):
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._loop.add_reader(sock, self._readable, sock)
        if self._misc_task is None or self._misc_task.done():
            self._misc_task = self._loop.create_task(self._misc(), name="mqtt-keepalive")

    def _readable(self, sock: Any) -> None:
        self._client.loop_read()
        # TLS may hold decrypted records that the socket no longer signals as readable
        while isinstance(sock, ssl.SSLSocket) and sock.pending() and self._client.socket():
            self._client.loop_read()

    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)

    def _on_socket_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._loop.add_writer(sock, client.loop_write)

    def _on_socket_unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._loop.remove_writer(sock)

    async def _misc(self) -> None:
        while self._client.socket() is not None:
            self._client.loop_misc()
            await asyncio.sleep(1.0)
