"""The GB/T 26875.3 listener: transmission devices connect over TCP and send their frames; the
gateway answers each with confirm only once what it carried is committed to the store.

- A frame of data (send data, response) is handed to the daemon; its confirm (command 3, the
  same serial number, the addresses swapped) is written when the daemon acknowledges it after
  the commit (``ack``). A gateway killed in between never confirmed it: the device sends it
  again, and it is stored then.
- A retransmission (the same device, serial number and content) of a frame already committed
  is confirmed at once and not handed over again; of one still being committed, it waits for
  that commit's confirm. What identifies the frames committed is kept with each commit
  (``ledger``), so this holds across a restart.
- A frame that fails its checks is answered with deny (command 6) where its header can be read,
  and handed over as ``BadFrame`` (a dead letter naming the peer and the reason).
- A heartbeat (send data without data) is confirmed at once: there is nothing to store.
- Each device is supervised: no frame within ``idle_timeout`` → ``DeviceLink`` offline, and
  online again with its next frame. A connection limit, an idle timeout per connection and a
  bound on a frame left incomplete keep one slow or half-open peer from holding the rest."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field

import structlog

from adapters.gbt26875.frame import Command, Frame, FrameReader, Rejected, Stamp
from adapters.interface import AdapterHealth, Deliver, Ledger, SendError
from adapters.receipts import Receipts, Silence, identity, read_stream
from gateway.domain.effects import Effect

log = structlog.get_logger("adapters.gbt26875")



@dataclass(frozen=True, slots=True)
class ReceiverSettings:
    id: str
    host: str
    port: int
    center_address: int
    idle_timeout: float
    max_connections: int
    devices: tuple[int, ...] = ()  # the devices the site expects: supervised from the start


@dataclass(frozen=True, slots=True)
class ReceivedFrame:
    receiver: str
    peer: str
    frame: Frame
    received_at: float
    key: int  # the frame's identity: device, serial number, content


@dataclass(frozen=True, slots=True)
class BadFrame:
    receiver: str
    peer: str
    reason: str
    raw: bytes
    received_at: float
    device: int | None = None


@dataclass(frozen=True, slots=True)
class DeviceLink:
    receiver: str
    device: int
    online: bool
    at: float
    silent_for: float = 0.0


Item = ReceivedFrame | BadFrame | DeviceLink


def frame_key(frame: Frame) -> int:
    """A frame's identity for retransmissions: device, serial number, command, content."""
    return identity(frame.source.to_bytes(6, "little"), frame.serial.to_bytes(2, "little"),
                    bytes((frame.command,)), frame.adu)


@dataclass(eq=False)
class _Peer:
    writer: asyncio.StreamWriter
    name: str
    reader: FrameReader = field(default_factory=FrameReader)
    device: int | None = None

    @property
    def open(self) -> bool:
        return not self.writer.is_closing()

    def send(self, frame: Frame) -> None:
        if self.open:
            self.writer.write(frame.encode())


class GbtReceiverAdapter:
    """One GB/T 26875.3 listener as an adapter (``adapters.interface.Adapter``)."""

    kind = "gbt26875"

    def __init__(self, settings: ReceiverSettings, deliver: Deliver,
                 *, stored: Iterable[int] = ()) -> None:
        self.settings = settings
        self._deliver = deliver
        self._ready = asyncio.Event()
        self._peers: set[_Peer] = set()
        self._receipts: Receipts[_Peer] = Receipts(stored)
        self._silence: Silence[int] = Silence(settings.devices, settings.idle_timeout,
                                              time.time())
        self.refused_connections = 0

    @property
    def name(self) -> str:
        return self.settings.id

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        s = self.settings
        server = await asyncio.start_server(self._serve, s.host, s.port)
        log.info("receiver_listening", receiver=s.id, protocol="GB/T 26875.3",
                 address=f"{s.host}:{s.port}", center=s.center_address)
        self._ready.set()
        try:
            async with server:
                while True:
                    await asyncio.sleep(1.0)
                    self._supervise(time.time())
        finally:
            self._ready.clear()
            for peer in list(self._peers):
                peer.writer.close()

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = writer.get_extra_info("peername")
        peer = _Peer(writer, f"{address[0]}:{address[1]}" if address else "?")
        if len(self._peers) >= self.settings.max_connections:
            self.refused_connections += 1
            log.warning("receiver_connection_refused", receiver=self.name, peer=peer.name,
                        limit=self.settings.max_connections)
            writer.close()
            return
        self._peers.add(peer)
        try:
            idle = self.settings.idle_timeout
            if await read_stream(reader, writer, peer.reader,
                                 lambda items: self._items(peer, items), idle):
                log.info("receiver_connection_idle", receiver=self.name, peer=peer.name,
                         idle_for=idle)
        except (ConnectionError, OSError):
            pass  # the peer went: what it sent and was not confirmed, it sends again
        except Exception:  # a defect ends this connection, never the listener
            log.exception("receiver_connection_failed", receiver=self.name, peer=peer.name)
        finally:
            self._peers.discard(peer)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


    # ------------------------------------------------------------------ frames

    def _items(self, peer: _Peer, items: Sequence[Frame | Rejected]) -> None:
        now = time.time()
        for item in items:
            if isinstance(item, Rejected):
                self._rejected(peer, item, now)
            else:
                self._frame(peer, item, now)

    def _rejected(self, peer: _Peer, item: Rejected, now: float) -> None:
        if item.header is not None:
            peer.send(item.header.answer(Command.DENY, Stamp.local(now)))
        self._deliver(self, BadFrame(self.name, peer.name, item.reason, item.raw, now,
                                     item.header.source if item.header else None))

    def _frame(self, peer: _Peer, frame: Frame, now: float) -> None:
        if frame.destination != self.settings.center_address:
            peer.send(frame.answer(Command.DENY, Stamp.local(now)))
            self._deliver(self, BadFrame(
                self.name, peer.name, f"addressed to center {frame.destination}; this center is "
                f"{self.settings.center_address} (receivers.gbt26875 center_address)",
                frame.encode(), now, frame.source))
            return
        self._heard(peer, frame.source, now)
        if frame.command in (Command.CONFIRM, Command.DENY):
            return  # answers to the center's own requests: it sends none yet
        if frame.command not in (Command.SEND, Command.RESPONSE):
            peer.send(frame.answer(Command.DENY, Stamp.local(now)))
            self._deliver(self, BadFrame(
                self.name, peer.name, f"command {frame.command}: the center takes send data (2) "
                "and responses (5)", frame.encode(), now, frame.source))
            return
        if not frame.adu:  # a heartbeat
            peer.send(frame.answer(Command.CONFIRM, Stamp.local(now)))
            return
        key = frame_key(frame)
        arrival = self._receipts.arrived(key, peer, now)
        if arrival == "committed":
            peer.send(frame.answer(Command.CONFIRM, Stamp.local(now)))  # its confirm was lost
        elif arrival == "new":
            self._deliver(self, ReceivedFrame(self.name, peer.name, frame, now, key))

    def _heard(self, peer: _Peer, device: int, now: float) -> None:
        peer.device = device
        if self._silence.heard(device, now):
            self._deliver(self, DeviceLink(self.name, device, True, now))

    def _supervise(self, now: float) -> None:
        for device, silent_for in self._silence.newly_silent(now):
            self._deliver(self, DeviceLink(self.name, device, False, now, silent_for))

    # ------------------------------------------------------------------ after the commit

    def ack(self, items: Sequence[Item]) -> None:
        now = time.time()
        for item in items:
            if isinstance(item, ReceivedFrame):
                peer = self._receipts.committed(item.key)
                if peer is not None:
                    peer.send(item.frame.answer(Command.CONFIRM, Stamp.local(now)))

    def ledger(self, items: Sequence[Item]) -> Ledger:
        return self._receipts.ledger([i.key for i in items if isinstance(i, ReceivedFrame)])

    def health(self) -> AdapterHealth:
        return AdapterHealth(
            connected=self._ready.is_set(), unacknowledged=self._receipts.waiting,
            oldest_unacknowledged=self._receipts.oldest,
            detail={"connections": len(self._peers),
                    "devices_offline": sorted(self._silence.silent),
                    "refused_connections": self.refused_connections})

    def accepts(self, effect: Effect) -> bool:
        return False

    async def send(self, effect: Effect) -> Awaitable[str]:
        raise SendError("a GB/T 26875.3 listener sends nothing to the devices yet")
