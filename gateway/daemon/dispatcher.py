"""The outbox's effects to the adapters that send them, in order: an MQTT publish to the
broker, a Modbus write to its connection, a notification to the channel that carries it.
A drill's effects are withheld (on record, never sent). What the far end answers is the
outbox row's status (sent, failed) and, for an action's command, told to the engine."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from functools import partial

import structlog

from adapters.interface import Adapter, SendError
from gateway.domain.effects import Effect
from gateway.store.values import OutboxItem

log = structlog.get_logger("gateway")

Result = Callable[[OutboxItem, str, str], None]


class Dispatcher:
    def __init__(self, adapters: Mapping[str, Adapter], outq: asyncio.Queue[OutboxItem],
                 result: Result) -> None:
        self.adapters = adapters
        self.outq = outq
        self.result = result
        self.waiting: set[asyncio.Future[str]] = set()  # sent, not yet answered

    async def run(self) -> None:
        while True:
            await self.dispatch(await self.outq.get())

    def route(self, effect: Effect) -> Adapter | None:
        return next((a for a in self.adapters.values() if a.accepts(effect)), None)

    async def dispatch(self, item: OutboxItem) -> None:
        out = item.outgoing
        if out.withhold:
            self.result(item, "withheld", "drill: real write withheld")
            return
        adapter = self.route(out.effect)
        if adapter is None:
            self._failed(item, "", f"no adapter of this site sends {out.target}")
            return
        try:
            answer: Awaitable[str] = await adapter.send(out.effect)
        except SendError as exc:
            self._failed(item, adapter.name, str(exc))
            return
        future = asyncio.ensure_future(answer)
        self.waiting.add(future)
        future.add_done_callback(partial(self._answered, item, adapter.name))

    def _answered(self, item: OutboxItem, adapter: str, future: asyncio.Future[str]) -> None:
        self.waiting.discard(future)
        if future.cancelled():
            return  # shutting down: the row stays pending and is sent at the next start
        error = future.exception()
        if error is None:
            self.result(item, "sent", future.result())
        else:
            self._failed(item, adapter, str(error))

    def _failed(self, item: OutboxItem, adapter: str, why: str) -> None:
        out = item.outgoing
        if out.action_id:  # an actuator's command: the operator must hear of it
            log.error("send_failed", target=out.target, adapter=adapter, error=why,
                      incident=out.incident_id, action=out.action_id)
        self.result(item, "failed", why)
