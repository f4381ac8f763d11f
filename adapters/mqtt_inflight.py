"""What the broker has handed the gateway and not yet seen acknowledged (MQTT 3.1.1, QoS 1).

The gateway acknowledges a message only after its store has committed it. A message whose
PUBACK never reached the broker (the gateway killed between commit and PUBACK, a connection
dropped with the PUBACK unsent or unread) is sent again after the reconnect, with the DUP flag
and the same packet id. It must be acknowledged again, never stored twice, and never left
unacknowledged: the broker sends a client only so many unacknowledged messages at once
(``max_inflight_messages``), so unanswered redeliveries would leave the gateway deaf.

Redeliveries are told apart by what the protocol guarantees, never by content (a real alarm may
repeat a payload byte for byte):

- A packet id is in flight from the broker's PUBLISH until the broker has our PUBACK; only then
  may it name another message, whose first delivery has DUP=0. So a DUP=0 message is always a
  new one, and a DUP=1 message whose id this session still holds in flight is a redelivery.
- Whether a PUBACK reached the broker is known once the broker has answered a packet sent after
  it: a TCP connection keeps order and the broker handles a client's packets in order. The
  gateway sends such a *barrier* (an UNSUBSCRIBE of a topic it never subscribes to, answered by
  UNSUBACK) after its acknowledgements, and forgets the ids the answer covers.
- After a reconnect with the session kept, the broker first resends what it has in flight, so
  the answer to a barrier sent after CONNACK comes after every redelivery: an id not claimed by
  then had been acknowledged.
- A session the broker did not keep (``session_present`` 0) voids every id: nothing of the old
  session is acknowledged on the new one, where the same ids name other messages.

Ids committed but not yet known to be acknowledged are also kept in the store
(``changes_for_store``), so that a gateway killed between its commit and its PUBACK recognises
the redeliveries after it restarts.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable
from dataclasses import dataclass


class Phase(enum.Enum):
    RECEIVED = "received"  # handed to the gateway, not committed yet
    COMMITTED = "committed"  # committed; the PUBACK is owed (not connected when it was due)
    ACKED = "acked"  # PUBACK sent; not yet known to have reached the broker
    STORED = "stored"  # committed by an earlier run; whether its PUBACK went out is unknown


class Arrival(enum.Enum):
    NEW = "new"  # hand it to the gateway
    REDELIVERED_PENDING = "redelivered_pending"  # its first copy is being committed
    REDELIVERED_COMMITTED = "redelivered_committed"  # committed already: acknowledge it now


@dataclass(slots=True)
class _Entry:
    token: int
    phase: Phase
    received_at: float
    ack_seq: int = 0  # order of the PUBACK among all sent, for the barrier
    connection: int = 0  # the connection the PUBACK went out on


class Inflight:
    """The packet ids of one persistent session that are in flight, by phase. Pure state: the
    adapter sends the PUBACKs and barriers it is told to and reports what comes back."""

    def __init__(self, stored: Iterable[int] = ()) -> None:
        self._entries: dict[int, _Entry] = {mid: _Entry(0, Phase.STORED, 0.0) for mid in stored}
        self._tokens = itertools.count(1)
        self._ack_seq = 0
        self._connection = 0
        self._forgotten: list[int] = []  # ids no longer in flight, to delete from the store
        self.redelivered = 0  # redeliveries recognised (each acknowledged, none processed)

    # ------------------------------------------------------------------ the session

    def connected(self, *, session_present: bool) -> None:
        self._connection += 1
        if not session_present:
            # the broker starts afresh: its ids now name other messages
            self._forgotten.extend(self._entries)
            self._entries.clear()

    def arrive(self, mid: int, *, dup: bool, at: float) -> tuple[Arrival, int]:
        """A QoS 1 PUBLISH came in: what it is, and the token its acknowledgement must show."""
        entry = self._entries.get(mid)
        if dup and entry is not None:
            self.redelivered += 1
            if entry.phase is Phase.RECEIVED:
                return Arrival.REDELIVERED_PENDING, entry.token
            return Arrival.REDELIVERED_COMMITTED, entry.token
        token = next(self._tokens)
        self._entries[mid] = _Entry(token, Phase.RECEIVED, at)
        return Arrival.NEW, token

    def holds(self, mid: int, token: int) -> bool:
        """The message is still the one this id names in this session."""
        entry = self._entries.get(mid)
        return entry is not None and entry.token == token

    # ------------------------------------------------------------------ acknowledging

    def committed(self, mid: int, token: int) -> bool:
        """Its commit is done: True if the PUBACK may be sent now (the caller then calls
        ``acked``); False if the message no longer belongs to this session."""
        entry = self._entries.get(mid)
        if entry is None or entry.token != token:
            return False
        entry.phase = Phase.COMMITTED
        return True

    def acked(self, mid: int) -> None:
        entry = self._entries.get(mid)
        if entry is None:
            return
        self._ack_seq += 1
        entry.phase = Phase.ACKED
        entry.ack_seq = self._ack_seq
        entry.connection = self._connection

    def barrier_mark(self) -> int:
        """A barrier goes out now: it will cover every PUBACK sent so far."""
        return self._ack_seq

    def barrier_answered(self, mark: int) -> None:
        """The broker answered a barrier sent after PUBACK number ``mark`` on this connection:
        every PUBACK up to it arrived, and every redelivery of this connection came before."""
        done = [mid for mid, e in self._entries.items()
                if (e.phase is Phase.ACKED and (e.ack_seq <= mark
                                                or e.connection < self._connection))
                or e.phase is Phase.STORED]
        for mid in done:
            del self._entries[mid]
        self._forgotten.extend(done)

    def acks_unconfirmed(self) -> bool:
        return any(e.phase is Phase.ACKED for e in self._entries.values())

    # ------------------------------------------------------------------ the store's copy

    def changes_for_store(self, committing: Iterable[tuple[int, int]],
                          ) -> tuple[list[int], list[int]]:
        """For a batch being committed, given its messages' (id, token): the ids to add to the
        store's copy (the batch's messages still of this session) and the ids to delete
        (forgotten since the last call). The store deletes first, then adds."""
        add = [mid for mid, token in committing if self.holds(mid, token)]
        forgotten, self._forgotten = self._forgotten, []
        return add, forgotten

    @property
    def has_forgotten(self) -> bool:
        return bool(self._forgotten)

    # ------------------------------------------------------------------ health

    def unacknowledged(self) -> int:
        """Messages received and not yet acknowledged (in the pipeline, or owed a PUBACK)."""
        return sum(1 for e in self._entries.values()
                   if e.phase in (Phase.RECEIVED, Phase.COMMITTED))

    def oldest_unacknowledged(self) -> float | None:
        """When the oldest of them arrived, if any."""
        return min((e.received_at for e in self._entries.values()
                    if e.phase in (Phase.RECEIVED, Phase.COMMITTED)), default=None)

    def __len__(self) -> int:
        return len(self._entries)
