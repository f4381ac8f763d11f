"""PUBACKs after the commit, and the barrier that tells when the broker has them.

A PUBACK is sent once the store has committed the message. Whether it reached the broker
cannot be seen (MQTT 3.1.1 does not answer a PUBACK), so after acknowledging the adapter
sends an UNSUBSCRIBE of a topic it never subscribed to: the broker handles packets of a
connection in order, so its UNSUBACK means every PUBACK sent before has been taken. The ids
acknowledged up to that mark are then no longer kept in the store (``Inflight``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from adapters.mqtt_inflight import Inflight


class Acks:
    def __init__(self, client: mqtt.Client, received: Inflight, client_id: str,
                 connected: Callable[[], bool]) -> None:
        self._client = client
        self._received = received
        self._connected = connected
        self._loop: asyncio.AbstractEventLoop | None = None
        # never subscribed: the UNSUBACK is the broker's answer and nothing else
        self._topic = f"alarm-gateway/ack-barrier/{client_id}"
        self._barrier: tuple[int, int] | None = None  # (UNSUBSCRIBE packet id, PUBACK mark)
        self._due = False

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def puback(self, mid: int) -> None:
        if self._client.ack(mid, 1) == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._received.acked(mid)
            self.barrier_soon()

    def barrier_soon(self) -> None:
        """One barrier per turn of the event loop at most, and one outstanding at a time."""
        if not self._due and self._loop is not None:
            self._due = True
            self._loop.call_soon(self._send_barrier)

    def _send_barrier(self) -> None:
        self._due = False
        if self._barrier is not None or not self._connected():
            return
        mark = self._received.barrier_mark()
        rc, mid = self._client.unsubscribe(self._topic)
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS and mid is not None:
            self._barrier = (mid, mark)

    def unsubscribed(self, mid: int) -> None:
        """An UNSUBACK came: if it answers the barrier, the PUBACKs before it are taken."""
        if self._barrier is None or mid != self._barrier[0]:
            return
        self._received.barrier_answered(self._barrier[1])
        self._barrier = None
        if self._received.acks_unconfirmed():
            self.barrier_soon()

    def disconnected(self) -> None:
        """The connection is gone, and the barrier with it (sent again after the reconnect)."""
        self._barrier = None
