"""A lean MQTT 3.1.1 client over a plain socket, for load generation and timing.

paho-mqtt costs ~70 µs of CPU per message (three ``recv`` calls per packet, an object and a
log call per message); at thousands of messages a second a generator built on it becomes the
bottleneck it is meant to measure. This client encodes a packet with a few byte operations,
reads whatever the socket has in one ``recv``, cuts whole packets out of a buffer (a packet may
span reads) and sends all the PUBACKs one read needs in a single write.

Only what the benchmark needs: CONNECT (clean session), PUBLISH QoS 0/1, PUBACK, SUBSCRIBE,
PINGREQ and DISCONNECT. No QoS 2, no reconnect, no automatic keep-alive (the keep-alive is 60 s
by default; call ``ping`` on a connection that may stay silent longer than that).

One reader thread per connection parses what arrives, counts PUBACKs and hands each PUBLISH to
``on_message(topic, payload, received)`` where ``received`` is the ``time.perf_counter()`` taken
right after the ``recv`` that completed it. Writes are serialised by a lock, so the reader's
PUBACKs and the caller's publishes can share the socket.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable

CONNECT = 0x10
CONNACK = 0x20
PUBLISH = 0x30
PUBACK = 0x40
SUBSCRIBE = 0x82  # type 8 with the reserved flags 0b0010
SUBACK = 0x90
PINGREQ = 0xC0
PINGRESP = 0xD0
DISCONNECT = 0xE0

OnMessage = Callable[[str, bytes, float], None]


class MqttError(Exception):
    """The broker refused something, or sent what MQTT 3.1.1 does not allow."""


# ----------------------------------------------------------------------------- encoding


def encode_length(n: int) -> bytes:
    """The remaining-length field: 7 bits a byte, least significant first."""
    if not 0 <= n <= 268_435_455:
        raise ValueError(f"remaining length {n} out of range")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _utf8(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id: str, keepalive: int = 60) -> bytes:
    # protocol name "MQTT", level 4 (3.1.1), flags: clean session
    body = _utf8("MQTT") + struct.pack("!BBH", 4, 0x02, keepalive) + _utf8(client_id)
    return bytes([CONNECT]) + encode_length(len(body)) + body


def publish_packet(topic: str | bytes, payload: bytes, qos: int = 0, packet_id: int = 0,
                   retain: bool = False) -> bytes:
    if qos not in (0, 1):
        raise ValueError("QoS 0 or 1 only")
    if qos and not 0 < packet_id < 65536:
        raise ValueError("a QoS 1 publish needs a packet id in 1..65535")
    variable = _utf8(topic) + (struct.pack("!H", packet_id) if qos else b"")
    header = PUBLISH | (qos << 1) | (1 if retain else 0)
    return bytes([header]) + encode_length(len(variable) + len(payload)) + variable + payload


def puback_packet(packet_id: int) -> bytes:
    return struct.pack("!BBH", PUBACK, 2, packet_id)


def subscribe_packet(packet_id: int, topics: Iterable[str], qos: int = 1) -> bytes:
    body = struct.pack("!H", packet_id) + b"".join(_utf8(t) + bytes([qos]) for t in topics)
    return bytes([SUBSCRIBE]) + encode_length(len(body)) + body


# ----------------------------------------------------------------------------- decoding


class PacketBuffer:
    """Bytes in, whole packets out; a partial packet waits in the buffer for the next read."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buf
        buf += data
        packets: list[tuple[int, bytes]] = []
        pos, size = 0, len(buf)
        while size - pos >= 2:
            length, shift, i, have_length = 0, 0, pos + 1, False
            while i < size:
                byte = buf[i]
                i += 1
                length |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    have_length = True
                    break
                shift += 7
                if shift > 21:
                    raise MqttError("remaining length longer than 4 bytes")
            if not have_length or i + length > size:
                break  # the length or the body is not all here yet
            packets.append((buf[pos], bytes(buf[i:i + length])))
            pos = i + length
        if pos:
            del buf[:pos]
        return packets


def parse_publish(header: int, body: bytes) -> tuple[str, bytes, int, int]:
    """topic, payload, qos, packet id (0 for QoS 0)."""
    qos = (header >> 1) & 0x03
    (topic_len,) = struct.unpack_from("!H", body)
    pos = 2 + topic_len
    topic = body[2:pos].decode()
    packet_id = 0
    if qos:
        (packet_id,) = struct.unpack_from("!H", body, pos)
        pos += 2
    return topic, body[pos:], qos, packet_id


# ----------------------------------------------------------------------------- the client


class Client:
    """One MQTT connection with a reader thread; ``connect`` before use, ``close`` after."""

    def __init__(self, host: str, port: int, client_id: str, *, keepalive: int = 60,
                 on_message: OnMessage | None = None) -> None:
        self.host = host
        self.port = port
        self.client_id = client_id
        self.keepalive = keepalive
        self.on_message = on_message
        self.acked = 0  # PUBACKs received for our QoS 1 publishes
        self.received = 0  # PUBLISH packets received
        self._sock: socket.socket | None = None
        self._buffer = PacketBuffer()
        self._send_lock = threading.Lock()
        self._state = threading.Condition()
        self._subacks: dict[int, bytes] = {}
        self._next_id = 0
        self._reader: threading.Thread | None = None
        self.closed = threading.Event()

    # ------------------------------------------------------------------ lifecycle

    def connect(self, timeout: float = 5.0) -> Client:
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        sock.sendall(connect_packet(self.client_id, self.keepalive))
        packets: list[tuple[int, bytes]] = []
        while not packets:
            data = sock.recv(4096)
            if not data:
                raise MqttError("the broker closed the connection before CONNACK")
            packets = self._buffer.feed(data)
        header, body = packets[0]
        if header & 0xF0 != CONNACK or len(body) != 2:
            raise MqttError(f"expected CONNACK, got packet type {header >> 4}")
        if body[1] != 0:
            raise MqttError(f"connection refused, return code {body[1]}")
        sock.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, args=(packets[1:],),
                                        name=f"mqtt-{self.client_id}", daemon=True)
        self._reader.start()
        return self

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            with self._send_lock:
                sock.sendall(bytes([DISCONNECT, 0]))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        if self._reader is not None:
            self._reader.join(timeout=5)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ operations

    def next_packet_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    def send(self, data: bytes) -> float:
        """Write encoded packets; returns ``perf_counter()`` when the socket has taken them."""
        sock = self._sock
        if sock is None:
            raise MqttError("not connected")
        with self._send_lock:
            sock.sendall(data)
        return time.perf_counter()

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> float:
        """Publish; returns the ``perf_counter()`` at which the packet was written."""
        packet_id = self.next_packet_id() if qos else 0
        return self.send(publish_packet(topic, payload, qos, packet_id, retain))

    def subscribe(self, topics: list[str], qos: int = 1, timeout: float = 5.0) -> None:
        packet_id = self.next_packet_id()
        self.send(subscribe_packet(packet_id, topics, qos))
        with self._state:
            if not self._state.wait_for(lambda: packet_id in self._subacks or self.closed.is_set(),
                                        timeout):
                raise MqttError(f"no SUBACK within {timeout:.0f}s")
            codes = self._subacks.pop(packet_id, b"")
        refused = [t for t, code in zip(topics, codes, strict=False) if code == 0x80]
        if len(codes) != len(topics) or refused:
            raise MqttError(f"subscription refused: {refused or topics}")

    def ping(self) -> None:
        self.send(bytes([PINGREQ, 0]))

    def wait_acked(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` PUBACKs have come back in total."""
        with self._state:
            return self._state.wait_for(lambda: self.acked >= count or self.closed.is_set(),
                                        timeout) and self.acked >= count

    # ------------------------------------------------------------------ reading

    def _read_loop(self, early: list[tuple[int, bytes]]) -> None:
        try:
            if early:
                self._dispatch(early, time.perf_counter())
            while (sock := self._sock) is not None:
                data = sock.recv(1 << 18)
                received = time.perf_counter()
                if not data:
                    break
                self._dispatch(self._buffer.feed(data), received)
        except OSError:
            pass
        finally:
            self.closed.set()
            with self._state:
                self._state.notify_all()

    def _dispatch(self, packets: list[tuple[int, bytes]], received: float) -> None:
        acks: list[bytes] = []
        acked = 0
        for header, body in packets:
            kind = header & 0xF0
            if kind == PUBLISH:
                topic, payload, qos, packet_id = parse_publish(header, body)
                self.received += 1
                if qos == 1:
                    acks.append(puback_packet(packet_id))
                if self.on_message is not None:
                    self.on_message(topic, payload, received)
            elif kind == PUBACK:
                acked += 1
            elif kind == SUBACK:
                (packet_id,) = struct.unpack_from("!H", body)
                with self._state:
                    self._subacks[packet_id] = body[2:]
                    self._state.notify_all()
            elif kind != PINGRESP:
                raise MqttError(f"unexpected packet type {kind >> 4}")
        if acks:
            self.send(b"".join(acks))
        if acked:
            with self._state:
                self.acked += acked
                self._state.notify_all()
