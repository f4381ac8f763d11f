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

A broker that is unreachable, or reachable but refusing us (credentials, a TLS certificate
either side does not trust, TLS files the gateway cannot read), is reported once per reason
(``broker_unreachable``, ``broker_refused``, ``broker_tls_unusable``) and retried forever with
backoff; TLS is never downgraded to get through."""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import replace
from typing import Any

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from adapters.interface import AdapterHealth, Deliver, Ledger, SendError
from adapters.mqtt_acks import Acks
from adapters.mqtt_inflight import Arrival, Inflight
from adapters.mqtt_loop import LoopPump
from adapters.mqtt_probe import Probe
from adapters.mqtt_reports import LinkReports
from adapters.mqtt_tls import TlsSetupError, tls_context, wants_tls
from adapters.mqtt_values import InboundMessage, MqttError, MqttSettings
from gateway.domain.effects import Effect, MqttPublish, Notify

log = structlog.get_logger("adapters.mqtt")


class MqttAdapter:
    """The site's broker as an adapter (``adapters.interface.Adapter``): its items are
    ``InboundMessage``; it sends MQTT publishes and, with ``notify_prefix``, notifications."""

    name = "mqtt"
    kind = "mqtt"

    def __init__(self, settings: MqttSettings, deliver: Deliver,
                 *, stored_inflight: Iterable[int] = ()) -> None:
        """``stored_inflight``: packet ids an earlier run committed without knowing whether its
        PUBACK reached the broker (kept in the store; see ``Inflight.changes_for_store``)."""
        self.settings = settings
        self._deliver = deliver
        self.received = Inflight(stored_inflight)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._subscribe_mid: int | None = None
        self._pending_topics: dict[int, list[str]] = {}  # later subscriptions by packet id
        self._lost: asyncio.Future[str] | None = None
        self._inflight: dict[int, asyncio.Future[None]] = {}
        self.connects = 0
        self.session_present = False
        self._reports = LinkReports(settings)
        # paho's last error or warning: why a TLS session died before CONNACK, which paho
        # otherwise only passes to its log (it reports the disconnect as "Unspecified error")
        self._last_error: str | None = None
        self._tls_ready = False  # the TLS context is made at the first attempt (see _session)
        self._client = self._make_client()
        self._pump = LoopPump(self._client, lambda: self._event_loop, self._every_second)
        self._acks = Acks(self._client, self.received, settings.client_id, lambda: self.connected)
        self._probe = Probe(lambda: self.settings,
                            lambda topic, payload: self.publish(topic, payload, qos=1))

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
        client.on_unsubscribe = self._on_unsubscribe
        client.on_log = self._on_log
        client.max_inflight_messages_set(200)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(1, 30)
        if s.username:
            client.username_pw_set(s.username, s.password)
        client.connect_async(s.host, s.port, keepalive=s.keepalive)
        return client

    @property
    def _event_loop(self) -> asyncio.AbstractEventLoop:
        """The loop ``run`` runs on (paho's callbacks and publishes only come while it runs)."""
        if self._loop is None:
            raise RuntimeError("the MQTT adapter is used before it runs")
        return self._loop

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def probe_waiting_since(self) -> float | None:
        """When the probe now in flight was sent (None: none is)."""
        return self._probe.waiting_since

    @property
    def inflight(self) -> int:
        """Publishes the broker has not acknowledged yet."""
        return len(self._inflight)

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def wait_subscribed(self) -> None:
        """Connected and every subscription granted: from here on, nothing is missed."""
        await self._subscribed.wait()

    async def wait_ready(self) -> None:
        await self.wait_subscribed()

    def health(self) -> AdapterHealth:
        return AdapterHealth(
            connected=self.connected, unacknowledged=self.unacknowledged(),
            oldest_unacknowledged=self.oldest_unacknowledged(),
            probe_waiting_since=self.probe_waiting_since, sending=self.inflight)

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Connect and stay connected, forever; returns only when cancelled."""
        self._loop = asyncio.get_running_loop()
        self._acks.start(self._loop)
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
        s = self.settings
        was_connected_before = self.connects
        self._reports.new_try()
        self._last_error = None
        if wants_tls(self.settings) and not self._tls_ready:
            try:
                self._client.tls_set_context(tls_context(self.settings))
                self._tls_ready = True
            except TlsSetupError as exc:
                self._reports.tls_unusable(exc)
                return "refused"
        try:
            # Probe reachability without blocking the loop; paho's own connect is blocking.
            _, writer = await asyncio.wait_for(asyncio.open_connection(s.host, s.port),
                                               s.connect_timeout)
            writer.close()
            self._lost = self._event_loop.create_future()
            rc = self._client.reconnect()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise OSError(f"connect failed: {mqtt.error_string(rc)}")
        except ssl.SSLError as exc:
            self._client._sock_close()  # noqa: SLF001 - drop a half-open socket before retrying
            self._reports.tls_handshake_failed(exc)
            return "refused"
        except (OSError, TimeoutError, ValueError) as exc:
            self._reports.unreachable(exc)
            self._client._sock_close()  # noqa: SLF001 - drop a half-open socket before retrying
            return "unreachable"
        reason = await self._lost
        if self.connects > was_connected_before:
            return "connected-then-lost"
        if not self._reports.refused_this_try:
            self._reports.closed_before_connack(self._last_error or reason)
        return "refused"

    def _teardown(self) -> None:
        self._pump.stop()
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

    def ack(self, items: Sequence[InboundMessage]) -> None:
        """The store has committed these messages: send their PUBACKs, now if connected, else
        when the broker sends them again after the reconnect. A message of a session the broker
        has since dropped is not acknowledged: its packet id may name another message by now."""
        for message in items:
            if message.qos == 0 or not self.received.committed(message.mid, message.token):
                continue
            if self.connected:
                self._acks.puback(message.mid)

    def unacknowledged(self) -> int:
        return self.received.unacknowledged()

    def oldest_unacknowledged(self) -> float | None:
        return self.received.oldest_unacknowledged()

    def ledger(self, items: Sequence[InboundMessage]) -> Ledger:
        """The packet ids to keep in flight with the batch that commits ``items`` (and those
        no longer to keep): see ``Inflight.changes_for_store``."""
        add, remove = self.received.changes_for_store(
            (m.mid, m.token) for m in items if m.qos > 0)
        return Ledger(add, remove)

    def accepts(self, effect: Effect) -> bool:
        return isinstance(effect, MqttPublish) or (
            isinstance(effect, Notify) and self.settings.notify_prefix is not None)

    async def send(self, effect: Effect) -> Awaitable[str]:
        """Publish (once connected); what is returned resolves once the broker has
        acknowledged it."""
        if isinstance(effect, MqttPublish):
            topic, payload, qos, retain = effect.topic, effect.payload, effect.qos, effect.retain
        elif isinstance(effect, Notify) and self.settings.notify_prefix is not None:
            topic, payload, qos, retain = (f"{self.settings.notify_prefix}/{effect.role}",
                                           effect.payload, 1, False)
        else:
            raise SendError(f"the broker does not carry {type(effect).__name__}")
        if not self.connected:
            await self.wait_connected()
        published = self.publish(topic, payload, qos, retain)
        answer: asyncio.Future[str] = published.get_loop().create_future()

        def answered(future: asyncio.Future[None]) -> None:
            if answer.done():
                return
            if future.cancelled():
                answer.cancel()  # the session ended: sent again at the next start
            elif (error := future.exception()) is not None:
                answer.set_exception(SendError(str(error)))
            else:
                answer.set_result("broker acknowledged")

        published.add_done_callback(answered)
        return answer

    def publish(self, topic: str, payload: str | bytes, qos: int = 1,
                retain: bool = False) -> asyncio.Future[None]:
        """Publish; the future resolves when the broker has acknowledged (QoS 1/2)."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        future: asyncio.Future[None] = self._event_loop.create_future()
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
            self._reports.refused(str(reason_code), check=self._reports.check_account())
            return
        self.connects += 1
        self.session_present = bool(flags.session_present)
        self.received.connected(session_present=self.session_present)
        self._reports.connected()
        topics = list(self.settings.subscriptions)
        if self._probe.topic is not None:
            topics.append(self._probe.topic)  # last: see _on_subscribe
        if topics:
            _, self._subscribe_mid = client.subscribe([(topic, 1) for topic in topics])
        else:
            self._subscribed.set()
        self._connected.set()
        # answered after every redelivery of the kept session: what is not redelivered by
        # then had been acknowledged
        self._acks.barrier_soon()
        log.info("broker_connected", broker=f"{self.settings.host}:{self.settings.port}",
                 session_present=self.session_present, subscriptions=len(
                     self.settings.subscriptions), reconnect=self.connects > 1)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any) -> None:
        was = self.connected
        self._connected.clear()
        self._subscribed.clear()
        self._acks.disconnected()
        self._probe.lost()
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
        token = 0
        if message.qos > 0:
            arrival, token = self.received.arrive(message.mid, dup=bool(message.dup),
                                                  at=time.time())
            if arrival is Arrival.REDELIVERED_COMMITTED:
                self._acks.puback(message.mid)  # stored already; its PUBACK was lost
                return
            if arrival is Arrival.REDELIVERED_PENDING:
                return  # the first copy is being committed and is acknowledged then
        if self._probe.topic is not None and topic == self._probe.topic:
            # the gateway's own probe came back: nothing to store
            self._probe.came_back()
            if message.qos > 0 and self.received.committed(message.mid, token):
                self._acks.puback(message.mid)
            return
        self._deliver(self, InboundMessage(
            topic=topic, payload=bytes(message.payload), qos=message.qos, mid=message.mid,
            retained=bool(message.retain), duplicate=bool(message.dup),
            received_at=time.time(), bad_topic=bad_topic, token=token))

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason_code: Any,
                    properties: Any) -> None:
        future = self._inflight.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)

    def update_subscriptions(self, topics: list[str]) -> None:
        """Follow a reloaded config: subscribe to new topics and drop the ones gone (the
        session is persistent, so the broker keeps the rest)."""
        old = list(self.settings.subscriptions)
        added = [t for t in topics if t not in old]
        removed = [t for t in old if t not in topics]
        self.settings = replace(self.settings, subscriptions=tuple(topics))
        if not self.connected:
            return  # the next connection subscribes to the new list
        if added:
            _, mid = self._client.subscribe([(topic, 1) for topic in added])
            if mid is not None:
                self._pending_topics[mid] = added
        if removed:
            self._client.unsubscribe(removed)
        if added or removed:
            log.info("subscriptions_updated", added=len(added), removed=len(removed))

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reason_codes: list[Any], properties: Any) -> None:
        topics = self._pending_topics.pop(mid, None) or list(self.settings.subscriptions)
        refused = [topics[i] for i, rc in enumerate(reason_codes)
                   if rc.is_failure and i < len(topics)]
        if refused:
            log.error("subscription_refused", topics=refused)
        if (mid == self._subscribe_mid and self._probe.topic is not None
            and len(reason_codes) > len(self.settings.subscriptions)
            and reason_codes[len(self.settings.subscriptions)].is_failure):
            self._probe.refused()
        if mid == self._subscribe_mid:
            self._subscribed.set()

    def _on_unsubscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                        reason_codes: Any, properties: Any) -> None:
        self._acks.unsubscribed(mid)

    def _on_log(self, client: mqtt.Client, userdata: Any, level: int, buf: str) -> None:
        # paho's messages name packets and flags, never the password; only errors are kept
        if level in (mqtt.MQTT_LOG_ERR, mqtt.MQTT_LOG_WARNING):
            self._last_error = buf

    def _every_second(self) -> None:
        self._probe.due(self._subscribed.is_set())
