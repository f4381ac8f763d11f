"""The SIA DC-09 receiver: alarm panels send their messages over TCP or UDP; each is answered
ACK only once its event is committed to the store.

- A message with an event (SIA-DCS, ADM-CID) is handed to the daemon and ACKed after the
  commit (``ack``). A retransmission (account, sequence number, content) of one committed is
  ACKed at once and not handed over again; the identities are kept with each commit, so this
  holds across a restart.
- A link test (NULL) is ACKed at once: there is nothing to store.
- A message outside the timestamp window gets NAK (with the receiver's time, so the panel can
  correct its clock), one well formed that cannot be processed (an unknown account, a wrong
  key) DUH, one whose CRC or length is wrong no answer (the panel sends it again); all are
  handed over as ``BadMessage`` (a dead letter naming the peer and the reason).
- Each account with a ``link_test`` interval is supervised: nothing from it within that time
  → ``AccountLink`` offline, and online again with its next message."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

import structlog

from adapters.dc09.message import Dc09Error, Message, Splitter, answer, parse
from adapters.interface import AdapterHealth, Deliver, Ledger, SendError
from adapters.receipts import Receipts, Silence, identity, read_stream
from gateway.domain.effects import Effect

log = structlog.get_logger("adapters.dc09")



@dataclass(frozen=True, slots=True)
class Dc09Settings:
    id: str
    host: str
    port: int
    accounts: Mapping[str, bytes | None]  # account → its AES key (None: in clear)
    tcp: bool = True
    udp: bool = True
    window: tuple[float, float] = (40.0, 20.0)  # a timestamp's past and future bounds, s
    link_test: Mapping[str, float] = field(default_factory=dict)  # account → interval, s
    idle_timeout: float = 300.0  # a TCP connection that sends nothing for this long is closed
    max_connections: int = 256


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    receiver: str
    peer: str
    message: Message
    raw: bytes
    received_at: float
    key: int


@dataclass(frozen=True, slots=True)
class BadMessage:
    receiver: str
    peer: str
    reason: str
    detail: str
    raw: bytes
    received_at: float
    account: str | None = None


@dataclass(frozen=True, slots=True)
class AccountLink:
    receiver: str
    account: str
    online: bool
    at: float
    silent_for: float = 0.0


Item = ReceivedMessage | BadMessage | AccountLink


class _Reply:
    """Where answers to one peer go: its TCP connection, or its UDP address."""

    def __init__(self, name: str, writer: asyncio.StreamWriter | None = None,
                 transport: asyncio.DatagramTransport | None = None,
                 address: tuple[str, int] | None = None) -> None:
        self.name, self.writer, self.transport, self.address = name, writer, transport, address

    def send(self, data: bytes) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(data)
        elif self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, self.address)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, receiver: Dc09ReceiverAdapter) -> None:
        self.receiver = receiver
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # the selector's datagram transport, which asyncio does not declare a DatagramTransport
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = _Reply(f"udp:{addr[0]}:{addr[1]}", transport=self.transport, address=addr)
        try:
            self.receiver.take(reply, data)
        except Exception:  # a defect costs this datagram (the panel resends), never the receiver
            log.exception("dc09_datagram_failed", receiver=self.receiver.name, peer=reply.name)


class Dc09ReceiverAdapter:
    """One SIA DC-09 receiver as an adapter (``adapters.interface.Adapter``)."""

    kind = "dc09"

    def __init__(self, settings: Dc09Settings, deliver: Deliver, *,
                 stored: Sequence[int] = ()) -> None:
        self.settings = settings
        self._deliver = deliver
        self._ready = asyncio.Event()
        self._receipts: Receipts[_Reply] = Receipts(stored)
        started = time.time()
        # each supervised account on its own clock (its link test interval)
        self._silence: dict[str, Silence[str]] = {
            account: Silence([account], every, started)
            for account, every in settings.link_test.items() if every > 0}
        self._connections = 0
        self.refused_connections = 0

    @property
    def name(self) -> str:
        return self.settings.id

    async def run(self) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()
        server = udp = None
        if s.tcp:
            server = await asyncio.start_server(self._serve, s.host, s.port)
        if s.udp:
            udp, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self),
                                                        local_addr=(s.host, s.port))
        log.info("receiver_listening", receiver=s.id, protocol="SIA DC-09",
                 address=f"{s.host}:{s.port}", tcp=s.tcp, udp=s.udp,
                 accounts=sorted(s.accounts))
        self._ready.set()
        try:
            while True:
                await asyncio.sleep(1.0)
                self._supervise(time.time())
        finally:
            self._ready.clear()
            if server is not None:
                server.close()
            if udp is not None:
                udp.close()

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = writer.get_extra_info("peername")
        reply = _Reply(f"tcp:{address[0]}:{address[1]}" if address else "tcp:?", writer=writer)
        if self._connections >= self.settings.max_connections:
            self.refused_connections += 1
            writer.close()
            return
        self._connections += 1
        try:
            await read_stream(reader, writer, Splitter(),
                              lambda pieces: self._pieces(reply, pieces),
                              self.settings.idle_timeout)
        except (ConnectionError, OSError):
            pass  # the panel went: what was not ACKed, it sends again
        except Exception:  # a defect ends this connection, never the receiver
            log.exception("dc09_connection_failed", receiver=self.name, peer=reply.name)
        finally:
            self._connections -= 1
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    def _pieces(self, reply: _Reply, pieces: Sequence[bytes | Dc09Error]) -> None:
        for piece in pieces:
            if isinstance(piece, Dc09Error):
                self._deliver(self, BadMessage(self.name, reply.name, piece.reason,
                                               piece.detail, b"", time.time()))
            else:
                self.take(reply, piece)

    def take(self, reply: _Reply, raw: bytes) -> None:
        """One whole message from a peer."""
        now = time.time()
        s = self.settings
        try:
            message = parse(raw, dict(s.accounts), datetime.fromtimestamp(now, UTC), s.window)
        except Dc09Error as exc:
            header = exc.header
            if exc.answer is not None:
                key = s.accounts.get(header.account) if header is not None else None
                reply.send(answer(exc.answer, header, datetime.fromtimestamp(now, UTC), key))
            self._deliver(self, BadMessage(self.name, reply.name, exc.reason, exc.detail, raw,
                                           now, header.account if header else None))
            return
        self._heard(message.account, now)
        key = s.accounts.get(message.account)
        if message.header.id == "NULL":  # a link test: nothing to store
            reply.send(answer("ACK", message.header, datetime.fromtimestamp(now, UTC), key))
            return
        ident = identity(message.account.encode(), message.header.seq.encode(),
                         message.header.id.encode(), message.data.encode("latin-1"))
        arrival = self._receipts.arrived(ident, reply, now)
        if arrival == "committed":  # its ACK was lost
            reply.send(answer("ACK", message.header, datetime.fromtimestamp(now, UTC), key))
        elif arrival == "new":
            self._deliver(self, ReceivedMessage(self.name, reply.name, message, raw, now, ident))

    def _heard(self, account: str, now: float) -> None:
        silence = self._silence.get(account)
        if silence is not None and silence.heard(account, now):
            self._deliver(self, AccountLink(self.name, account, True, now))

    def _supervise(self, now: float) -> None:
        for silence in self._silence.values():
            for account, silent_for in silence.newly_silent(now):
                self._deliver(self, AccountLink(self.name, account, False, now, silent_for))

    def ack(self, items: Sequence[Item]) -> None:
        now = datetime.now(UTC)
        for item in items:
            if isinstance(item, ReceivedMessage):
                reply = self._receipts.committed(item.key)
                if reply is not None:
                    reply.send(answer("ACK", item.message.header, now,
                                      self.settings.accounts.get(item.message.account)))

    def ledger(self, items: Sequence[Item]) -> Ledger:
        return self._receipts.ledger([i.key for i in items if isinstance(i, ReceivedMessage)])

    def health(self) -> AdapterHealth:
        silent = sorted({a for s in self._silence.values() for a in s.silent})
        return AdapterHealth(
            connected=self._ready.is_set(), unacknowledged=self._receipts.waiting,
            oldest_unacknowledged=self._receipts.oldest,
            detail={"connections": self._connections, "accounts_silent": silent,
                    "refused_connections": self.refused_connections})

    def accepts(self, effect: Effect) -> bool:
        return False

    async def send(self, effect: Effect) -> Awaitable[str]:
        raise SendError("a DC-09 receiver sends nothing to the panels")
