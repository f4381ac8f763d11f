"""paho-mqtt driven by the asyncio event loop (as aiomqtt does it): the client's socket is
watched by the loop, which reads and writes it when it can; paho's housekeeping (keepalive
PINGs, retries) runs once a second. No network thread, so paho's callbacks run on the loop."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt


class LoopPump:
    def __init__(self, client: mqtt.Client, loop: Callable[[], asyncio.AbstractEventLoop],
                 every_second: Callable[[], None]) -> None:
        """``loop``: the running loop (asked when the first socket opens); ``every_second``:
        what else to do with paho's housekeeping (the adapter's probe)."""
        self._client = client
        self._loop = loop
        self._every_second = every_second
        self._task: asyncio.Task[None] | None = None
        client.on_socket_open = self._opened
        client.on_socket_close = self._closed
        client.on_socket_register_write = self._wants_write
        client.on_socket_unregister_write = self._written

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _opened(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        raw = sock if isinstance(sock, socket.socket) else getattr(sock, "_socket", None)
        if isinstance(raw, socket.socket) and raw.family in (socket.AF_INET, socket.AF_INET6):
            # paho does not set it; with Nagle's algorithm on both ends an isolated alarm
            # waits ~40 ms for a delayed ACK
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._loop().add_reader(sock, self._readable, sock)
        if self._task is None or self._task.done():
            self._task = self._loop().create_task(self._housekeeping(), name="mqtt-keepalive")

    def _readable(self, sock: Any) -> None:
        self._client.loop_read()
        # TLS may hold decrypted records that the socket no longer signals as readable
        while isinstance(sock, ssl.SSLSocket) and sock.pending() and self._client.socket():
            self._client.loop_read()

    def _closed(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._loop().remove_reader(sock)
        self._loop().remove_writer(sock)

    def _wants_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._loop().add_writer(sock, client.loop_write)

    def _written(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._loop().remove_writer(sock)

    async def _housekeeping(self) -> None:
        while self._client.socket() is not None:
            self._client.loop_misc()
            self._every_second()
            await asyncio.sleep(1.0)
