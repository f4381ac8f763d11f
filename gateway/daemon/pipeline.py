"""The pipeline: inputs taken in batches, decided, committed in order, and only then
acknowledged to their adapters and their effects handed to the dispatcher.

One task decides (``run``) and hands each batch's commit to the store without waiting for it;
another (``acknowledge``) waits for the commits in order, acknowledges their inputs and
releases their effects. A crash anywhere before a commit leaves its inputs unacknowledged, so
the sender delivers them again; a crash after it leaves pending outbox rows, sent at the next
start. ``step`` does one batch start to end, for the in-process tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from adapters.interface import Adapter
from gateway.daemon.commits import Commit, Committer
from gateway.daemon.decisions import Decisions
from gateway.daemon.inputs import ActionResult, Delivery, Input, Tick
from gateway.domain.commands import Answer
from gateway.domain.effects import Purpose
from gateway.domain.model import ActionStatus
from gateway.engine.state import event_messages
from gateway.store import DaemonStore
from gateway.store.values import OutboxItem, WriteSet

log = structlog.get_logger("gateway")

MAX_BATCH = 512
MAX_PENDING_COMMITS = 256  # batches decided and waiting for their commit, at most


class Pipeline:
    def __init__(self, d: Decisions, store: DaemonStore, adapters: Mapping[str, Adapter], *,
                 clock: Callable[[], float]) -> None:
        """``adapters``: the daemon's, by name (a live mapping: a reload may change it)."""
        self.d = d
        self.store = store
        self.adapters = adapters
        self.clock = clock
        self.inputs: asyncio.Queue[Input] = asyncio.Queue()
        self.outq: asyncio.Queue[OutboxItem] = asyncio.Queue()
        # delivered outbox rows, written with the next batch (or the next tick)
        self.outbox_done: list[tuple[int, str, str, float]] = []
        # committed-in-order hand-over from the deciding task to the acknowledging one
        self.commits: asyncio.Queue[Commit] = asyncio.Queue(maxsize=MAX_PENDING_COMMITS)
        self.committer = Committer(store, d.counters,
                                   lambda inputs, detail: d.letters(inputs, "unstorable", detail))
        self.busy = 0  # batches taken from the inputs and not yet committed and acknowledged
        self.draining = False  # stopping: adapters' items are left to their senders
        self.last_commit_at = 0.0
        self.last_rx: dict[str, float] = {}  # the last input of each adapter, by name
        self._write_seq = 0  # numbers the writes, which commit in this order
        # told of every committed batch (the console's live stream)
        self.listeners: list[Callable[[WriteSet], None]] = []
        # commands given in this process, answered once their batch is committed
        self.command_waiters: dict[int, asyncio.Future[Answer]] = {}

    # ------------------------------------------------------------------ in

    def deliver(self, adapter: Adapter, item: Any) -> None:
        """An adapter's entry (``adapters.interface.Deliver``)."""
        intake = self.d.intakes.get(adapter.kind)
        if intake is not None and intake.heard(item):
            self.last_rx[adapter.name] = self.clock()
        if self.draining:
            # stopping: not taken, so not acknowledged; the sender keeps it for the next start
            self.d.counters[f"{adapter.name}_left_for_next_start"] += 1
            return
        self.inputs.put_nowait(Delivery(adapter, item))

    def put(self, item: Input) -> None:
        self.inputs.put_nowait(item)

    # ------------------------------------------------------------------ deciding

    async def run(self) -> None:
        while True:
            batch = [await self.inputs.get()]
            self._fill(batch)
            await self._decide(batch)

    def _fill(self, batch: list[Input]) -> None:
        while len(batch) < MAX_BATCH and not self.inputs.empty():
            batch.append(self.inputs.get_nowait())

    async def _decide(self, batch: list[Input]) -> bool:
        self.busy += 1
        try:
            if await self._process(batch):
                return True
            self.busy -= 1  # nothing to commit
        except Exception as exc:
            # The pipeline must outlive a defect. Nothing of this batch was acknowledged;
            # its inputs are kept as dead letters so that they are, rather than stay in
            # flight at their sender and block what comes after them.
            self.d.counters["internal_errors"] += 1
            log.exception("batch_failed", size=len(batch), error=repr(exc))
            await self._keep_failed_batch(batch, exc)
            return True
        return False

    async def _process(self, batch: list[Input]) -> bool:
        """Decide a batch and hand its commit to the store without waiting for it."""
        now = self.clock()
        ws = WriteSet()
        inputs = [item for item in batch if isinstance(item, Delivery)]
        number_before = self.d.state.next_number
        for item in batch:
            try:
                self.d.handle(item, ws, now)
            except Exception as exc:  # noqa: BLE001 - one bad input must not stop the others
                self.d.internal_error(item, ws, exc)
        if self.d.state.next_number != number_before:
            ws.next_number = self.d.state.next_number
        tick = isinstance(batch[-1], Tick)
        if self.outbox_done and (bool(ws) or tick):
            # delivery marks ride along with real work, or go at the next tick (within 1 s):
            # never an fsync of their own per message
            ws.outbox_done, self.outbox_done = self.outbox_done, []
        if inputs or bool(ws) or tick:
            self._ledgers(ws, inputs)
        if not ws and not inputs:
            return False
        await self._submit(ws, now, inputs)
        return True

    def _ledgers(self, ws: WriteSet, inputs: list[Delivery]) -> None:
        by_adapter: dict[str, list[Any]] = {}
        for delivery in inputs:
            by_adapter.setdefault(delivery.adapter.name, []).append(delivery.item)
        for name, adapter in self.adapters.items():
            ledger = adapter.ledger(by_adapter.get(name, []))
            if ledger:
                ws.ledgers[name] = (list(ledger.add), list(ledger.remove))

    async def _keep_failed_batch(self, batch: list[Input], exc: Exception) -> None:
        ws = WriteSet()
        for item in batch:
            self.d.keep_failed(item, ws, exc)
        inputs = [item for item in batch if isinstance(item, Delivery)]
        self._ledgers(ws, inputs)
        await self._submit(ws, self.clock(), inputs)

    async def _submit(self, ws: WriteSet, now: float, inputs: list[Delivery]) -> None:
        ws.outbox.extend(event_messages(self.d.engine.prefix, ws.events, ws.incidents))
        self._write_seq += 1
        future = self.store.submit(lambda r: r.write_batch(ws, now), seq=self._write_seq)
        await self.commits.put(Commit(self._write_seq, future, ws, now, inputs))

    # ------------------------------------------------------------------ committed

    async def acknowledge(self) -> None:
        while True:
            commit = await self.commits.get()
            try:
                await self._settle(commit)
            finally:
                self.busy -= 1

    async def _settle(self, commit: Commit) -> None:
        items = await self.committer.stored(commit)
        self.last_commit_at = self.clock()
        by_adapter: dict[str, list[Any]] = {}
        for delivery in commit.inputs:
            by_adapter.setdefault(delivery.adapter.name, []).append(delivery.item)
        for delivery in commit.inputs:
            items_of = by_adapter.pop(delivery.adapter.name, None)
            if items_of is not None:
                delivery.adapter.ack(items_of)
        for outbox_item in items:
            self.outq.put_nowait(outbox_item)
        for answer in commit.ws.command_results:
            waiter = self.command_waiters.pop(answer.row_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(answer)
        for listener in self.listeners:
            try:
                listener(commit.ws)
            except Exception:
                # a listener's defect (the console) must not stop the gateway
                log.exception("listener_failed")

    async def step(self) -> bool:
        """Decide, commit and acknowledge what is queued now, as one batch (in-process tests
        run the daemon this way, without its tasks); False when nothing was queued."""
        if self.inputs.empty():
            return False
        batch = [self.inputs.get_nowait()]
        self._fill(batch)
        if await self._decide(batch):
            try:
                await self._settle(self.commits.get_nowait())
            finally:
                self.busy -= 1
        return True

    # ------------------------------------------------------------------ out

    def outbox_result(self, item: OutboxItem, status: str, detail: str) -> None:
        """What became of an effect of the outbox: on record with the next batch, and told
        to the engine when it is an action's command."""
        self.d.counters[f"outbox_{status}"] += 1
        self.outbox_done.append((item.id, status, detail, self.clock()))
        out = item.outgoing
        if out.purpose is Purpose.COMMAND and out.action_id:
            self.inputs.put_nowait(ActionResult(out.incident_id, out.action_id,
                                                ActionStatus(status), detail))

    def answer_later(self, row_id: int) -> asyncio.Future[Answer]:
        """A command's answer, heard once the batch deciding it is committed."""
        waiter: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.command_waiters[row_id] = waiter
        return waiter
