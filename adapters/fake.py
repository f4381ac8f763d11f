"""An adapter made of handlers, for running the daemon in-process (as httpx's MockTransport
stands in for the network): a test puts items in as the real adapter of that kind would
deliver them, and decides what becomes of each effect sent.

    broker = FakeAdapter("mqtt", deliver, on_send=lambda effect: "broker acknowledged")
    broker.put(InboundMessage(...))      # into the daemon, like a message off the wire
    broker.acked                         # what the daemon acknowledged after its commits
    broker.sent                          # every effect handed over, in order
    broker.connected = False             # the link down, as health reports it
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from adapters.interface import AdapterHealth, Deliver, Ledger, SendError
from gateway.domain.effects import Effect

# what becomes of an effect: a line of detail (sent), or raise SendError (refused)
OnSend = Callable[[Effect], str]


class FakeAdapter:
    def __init__(self, name: str, deliver: Deliver, *, kind: str | None = None,
                 on_send: OnSend | None = None,
                 accepts: Callable[[Effect], bool] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        """``kind``: how the daemon reads its items (default: ``name``); ``on_send``: how it
        answers effects (None: it sends nothing); ``accepts``: which effects it takes (default:
        all, when it has ``on_send``)."""
        self._name = name
        self._kind = kind or name
        self.deliver = deliver
        self.on_send = on_send
        self._accepts = accepts
        self.clock = clock
        self.connected = True
        self.units_offline: tuple[int, ...] = ()
        self.acked: list[Any] = []
        self.sent: list[Effect] = []
        self.pending: dict[int, tuple[Any, float]] = {}  # id(item) -> (item, delivered at)
        self.ledger_ids: list[int] = []  # what ``ledger`` reports (and then forgets)

    @property
    def name(self) -> str:
        return self._name

    @property
    def kind(self) -> str:
        return self._kind

    def put(self, item: Any) -> None:
        """An item off the (imagined) wire, into the daemon."""
        at = self.clock() if self.clock is not None else 0.0
        self.pending[id(item)] = (item, at)
        self.deliver(self, item)

    async def run(self) -> None:
        await asyncio.Event().wait()  # nothing to connect to: runs until cancelled

    async def wait_ready(self) -> None:
        return

    def ack(self, items: Sequence[Any]) -> None:
        for item in items:
            self.pending.pop(id(item), None)
            self.acked.append(item)

    def ledger(self, items: Sequence[Any]) -> Ledger:
        ids, self.ledger_ids = self.ledger_ids, []
        return Ledger(add=ids)

    def health(self) -> AdapterHealth:
        oldest = min((at for _, at in self.pending.values()), default=None)
        return AdapterHealth(connected=self.connected, unacknowledged=len(self.pending),
                             oldest_unacknowledged=oldest, units_offline=self.units_offline)

    def accepts(self, effect: Effect) -> bool:
        if self._accepts is not None:
            return self._accepts(effect)
        return self.on_send is not None

    async def send(self, effect: Effect) -> Awaitable[str]:
        self.sent.append(effect)
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        if self.on_send is None:
            raise SendError(f"{self._name} sends nothing")
        try:
            answer.set_result(self.on_send(effect))
        except SendError as exc:
            answer.set_exception(exc)
        return answer
