"""Committing the pipeline's batches: in order, retried until stored, never dropped in silence.

A batch's messages are acknowledged to the broker only after its commit, so while the store
cannot be written (a full disk, a write lock held elsewhere, an I/O error) the broker keeps the
alarms and the gateway retries, saying so once per outage and once when it is over. Batches
commit in the order they were decided (``Store.submit(seq=...)``): a retried batch never lands
after a later one, so per point and per incident the record keeps its order.

A batch that the store refuses for its content rather than for the store's state (text that
is not valid Unicode, a value SQLite cannot hold: a defect that got past the decoders) is
written again with its text made storable; should even that fail, its inputs are kept as dead
letters so that they are acknowledged and never block what comes after them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import structlog

from gateway.daemon.inputs import Delivery
from gateway.errors import StoreError
from gateway.store import DaemonStore
from gateway.store.records import Records
from gateway.store.values import DeadLetter, OutboxItem, StoreBehind, WriteSet

# the inputs of a batch the store will not take, as dead letters ("unstorable", this detail)
KeepInputs = Callable[[Sequence[Delivery], str], list[DeadLetter]]

log = structlog.get_logger("gateway.commits")

RETRY_FIRST = 0.1
RETRY_MAX = 5.0


@dataclass(slots=True)
class Commit:
    seq: int
    future: asyncio.Future[list[OutboxItem]]
    ws: WriteSet
    now: float
    inputs: list[Delivery]  # the adapters' items it commits, acknowledged after it
    submitted: float = field(default_factory=time.monotonic)


class Committer:
    def __init__(self, store: DaemonStore, counters: Counter[str], keep: KeepInputs) -> None:
        """``keep``: the inputs of a batch the store will not take, as dead letters."""
        self.store = store
        self.counters = counters
        self.keep = keep
        self.failing_since: float | None = None
        self._retries = 0
        self._last_success = 0.0  # monotonic
        # the batch the acknowledger waits for: since when (wall clock), None when none
        self.waiting_since: float | None = None

    async def stored(self, commit: Commit) -> list[OutboxItem]:
        """Wait until ``commit`` is stored (retrying as long as it takes) and return its
        outbox rows."""
        delay = RETRY_FIRST
        attempt = 0  # how far down the content fallbacks this batch went
        future, submitted = commit.future, commit.submitted
        self.waiting_since = time.time() - (time.monotonic() - submitted)
        while True:
            try:
                items = await future
            except StoreBehind:
                pass  # an earlier batch was retried: this one goes again right after it
            except StoreError as exc:
                if submitted < self._last_success:
                    pass  # failed with the batches before it, which have got through since
                else:
                    self._failed(exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX)
            except Exception as exc:  # noqa: BLE001 - the content, not the store: see below
                attempt += 1
                commit.ws = self._fallback(commit, exc, attempt)
            else:
                self._last_success = time.monotonic()
                self.waiting_since = None
                self._recovered()
                return items
            submitted = time.monotonic()
            future = self.store.submit(partial(write, ws=commit.ws, now=commit.now),
                                       seq=commit.seq)

    def _failed(self, exc: StoreError) -> None:
        self.counters["store_write_failures"] += 1
        self._retries += 1
        if self.failing_since is None:
            self.failing_since = time.time()
            log.error("store_write_failed", error=str(exc), retry_every=f"{RETRY_FIRST}s "
                      f"doubling up to {RETRY_MAX}s",
                      note="nothing is acknowledged meanwhile: the broker keeps the alarms")

    def _recovered(self) -> None:
        if self.failing_since is None:
            return
        log.warning("store_write_recovered", failed_for=round(time.time() - self.failing_since, 1),
                    retries=self._retries)
        self.failing_since = None
        self._retries = 0

    def _fallback(self, commit: Commit, exc: Exception, attempt: int) -> WriteSet:
        self.counters["store_batches_unstorable"] += 1
        if attempt == 1:
            log.error("store_batch_sanitized", error=repr(exc), size=len(commit.inputs),
                      note="written again with its text made storable")
            sanitized: WriteSet = storable(commit.ws)
            return sanitized
        if attempt == 2:
            log.error("store_batch_unstorable", error=repr(exc), size=len(commit.inputs),
                      note="its inputs are kept as dead letters and acknowledged")
            detail = storable_text(f"the batch could not be stored: {exc!r}")
            return inputs_only(commit.ws, self.keep(commit.inputs, detail))
        # even the dead letters failed: acknowledge rather than block everything behind
        self.counters["inputs_lost_unstorable"] += len(commit.inputs)
        log.critical("store_batch_dropped", error=repr(exc), size=len(commit.inputs))
        return WriteSet(ledgers=commit.ws.ledgers)


def write(records: Records, *, ws: WriteSet, now: float) -> list[OutboxItem]:
    return records.write_batch(ws, now)


def inputs_only(ws: WriteSet, letters: Sequence[DeadLetter]) -> WriteSet:
    """What is kept of a batch the store will not take: its inputs as dead letters, the
    answers to its commands, and the bookkeeping that must not be lost."""
    return WriteSet(
        dead_letters=[dataclasses.replace(d, topic=storable_text(d.topic)) for d in letters],
        command_results=[dataclasses.replace(a, text=storable_text(a.text))
                         for a in ws.command_results],
        outbox_done=ws.outbox_done, ledgers=ws.ledgers, next_number=ws.next_number)


def storable_text(text: str) -> str:
    """``text`` with anything UTF-8 cannot hold (unpaired surrogates) written as escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


_INT64 = 2**63


def storable(value: Any) -> Any:
    """A copy of ``value`` (a write set, or anything in one) that SQLite can hold: text made
    valid UTF-8, integers beyond 64 bits as text. Dataclasses are copied field by field."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, bool | float | bytes | enum.Enum) or value is None:
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else str(value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(storable(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: storable(getattr(value, f.name))
                   for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    return value
