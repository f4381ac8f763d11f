"""What a receiver of panel messages keeps to acknowledge only after the commit and to store
each message once: the identities of the messages committed (kept with each commit, so a
retransmission after a restart is recognised), those being committed with where to answer,
and when each sender was last heard."""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, Protocol, TypeVar

from adapters.interface import Ledger

KEEP_COMMITTED = 8192  # identities kept to recognise retransmissions (per receiver)
R = TypeVar("R")  # where an answer goes (a connection, a UDP peer)
P = TypeVar("P")  # what a cutter cuts: messages, and reasons for bytes


def identity(*parts: bytes) -> int:
    """A message's identity, as a number the store keeps (62 bits)."""
    digest = hashlib.blake2b(b"\0".join(parts), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 2


class Receipts(Generic[R]):
    def __init__(self, stored: Iterable[int] = (), keep: int = KEEP_COMMITTED) -> None:
        self._keep = keep
        self._committed: OrderedDict[int, None] = OrderedDict.fromkeys(stored)
        self._kept: OrderedDict[int, None] = OrderedDict.fromkeys(self._committed)
        self._pending: dict[int, tuple[R, float]] = {}

    def arrived(self, key: int, reply: R, at: float) -> str:
        """``committed`` (answer it now), ``pending`` (its first copy is being committed:
        answered then, here), or ``new`` (hand it over)."""
        if key in self._committed:
            return "committed"
        first = self._pending.get(key)
        self._pending[key] = (reply, first[1] if first else at)
        return "pending" if first else "new"

    def committed(self, key: int) -> R | None:
        """The commit of ``key`` is done: where to send its answer (None: nowhere now)."""
        self._committed[key] = None
        while len(self._committed) > self._keep:
            self._committed.popitem(last=False)
        pending = self._pending.pop(key, None)
        return pending[0] if pending else None

    def ledger(self, keys: Sequence[int]) -> Ledger:
        for key in keys:
            self._kept[key] = None
        remove = []
        while len(self._kept) > self._keep:
            remove.append(self._kept.popitem(last=False)[0])
        return Ledger(list(keys), remove)

    @property
    def waiting(self) -> int:
        return len(self._pending)

    @property
    def oldest(self) -> float | None:
        return min((at for _, at in self._pending.values()), default=None)


class Silence(Generic[R]):
    """When each sender was last heard; who has gone silent past the limit, and who is back."""

    def __init__(self, expected: Iterable[R], limit: float, now: float) -> None:
        self.limit = limit
        self._heard: dict[R, float] = dict.fromkeys(expected, now)
        self.silent: set[R] = set()

    def heard(self, sender: R, at: float) -> bool:
        """True when the sender was silent until now."""
        self._heard[sender] = at
        if sender in self.silent:
            self.silent.discard(sender)
            return True
        return False

    def newly_silent(self, now: float, limit: float | None = None) -> list[tuple[R, float]]:
        out = []
        for sender, at in self._heard.items():
            if sender not in self.silent and now - at > (limit or self.limit):
                self.silent.add(sender)
                out.append((sender, now - at))
        return out


QUIET = 2.0  # a message begun and nothing more for this long: it is not coming whole
READ_SIZE = 4096


class Cutter(Protocol[P]):
    """Cuts a byte stream into messages (and reasons for bytes that are none)."""

    @property
    def buffered(self) -> int: ...

    def feed(self, data: bytes) -> list[P]: ...

    def give_up(self) -> list[P]: ...


async def read_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      cutter: Cutter[P], take: Callable[[Sequence[P]], None],
                      idle_timeout: float) -> bool:
    """A connection's bytes through ``cutter`` to ``take``, until the peer closes it or sends
    nothing for ``idle_timeout`` (then True); a message begun and left incomplete for
    ``QUIET`` is given up on, so a slow or half-open peer holds nothing but its own
    connection."""
    while True:
        wait = QUIET if cutter.buffered else idle_timeout
        try:
            data = await asyncio.wait_for(reader.read(READ_SIZE), wait)
        except TimeoutError:
            if not cutter.buffered:
                return True
            take(cutter.give_up())
            continue
        if not data:
            return False
        take(cutter.feed(data))
        await writer.drain()
