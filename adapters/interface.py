"""What the daemon asks of an adapter: one source of inputs and, where it can, one way out for
effects. MQTT (``adapters.mqtt``), each Modbus connection (``adapters.modbus``) and the
in-process fake (``adapters.fake``) implement it; the daemon builds adapters from the config
through its registry (``gateway.daemon.registry``), which also names how the items of each
kind of adapter become readings.

An adapter hands every input to the ``deliver`` callable it was built with, in the order it
came, as the adapter's own value (an MQTT message, a block of registers read). The daemon
decides on it, commits it, and only then calls ``ack`` with what was committed: MQTT sends its
PUBACKs then, a panel receiver its protocol's ACK frame. What an adapter must keep with the
commit to tell a redelivery apart after a crash (MQTT: its packet ids in flight) it gives as a
``Ledger`` for the batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.domain.effects import Effect

# the daemon's entry for inputs: (the adapter, its item)
Deliver = Callable[["Adapter", Any], None]


class SendError(Exception):
    """An effect the far end refused or could not be reached for (the outbox says why)."""


@dataclass(frozen=True, slots=True)
class Ledger:
    """Bookkeeping kept with the batch that commits an adapter's items."""

    add: Sequence[int] = ()
    remove: Sequence[int] = ()

    def __bool__(self) -> bool:
        return bool(self.add or self.remove)


@dataclass(frozen=True, slots=True)
class AdapterHealth:
    """One adapter's state for ``/healthz``, STATUS and the gateway's own points."""

    connected: bool
    # items delivered and not yet acknowledged to the sender, and since when the oldest
    unacknowledged: int = 0
    oldest_unacknowledged: float | None = None
    # the adapter's own test message, unanswered since (a peer that stopped delivering)
    probe_waiting_since: float | None = None
    units_offline: tuple[int, ...] = ()  # devices behind the link that do not answer
    sending: int = 0  # effects handed over and not yet answered
    detail: dict[str, Any] = field(default_factory=dict)


class Adapter(Protocol):
    @property
    def name(self) -> str:
        """Unique among the site's adapters: ``mqtt``, a Modbus connection's id."""

    @property
    def kind(self) -> str:
        """How the daemon reads its items (``mqtt``, ``modbus``): a key of the registry."""

    async def run(self) -> None:
        """Connect, take inputs and keep at it (reconnecting) until cancelled."""

    async def wait_ready(self) -> None:
        """Return once the adapter takes inputs (MQTT: its subscriptions granted)."""

    def ack(self, items: Sequence[Any]) -> None:
        """These items of this adapter are committed: acknowledge them to their sender."""

    def ledger(self, items: Sequence[Any]) -> Ledger:
        """What to keep with the batch that commits ``items`` (called just before)."""

    def health(self) -> AdapterHealth: ...

    def accepts(self, effect: Effect) -> bool:
        """Whether ``send`` takes this effect."""

    async def send(self, effect: Effect) -> Awaitable[str]:
        """Hand an effect over, in the order of the calls (waiting for the link if need be),
        and return what resolves once the far end answers: a line of detail, or
        ``SendError``."""
