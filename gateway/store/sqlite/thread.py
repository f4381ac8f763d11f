"""The daemon's SQLite store: every call on one thread of its own, batched into
transactions (a savepoint a job), the caller told only after COMMIT; ordered writes."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gateway.errors import StoreError
from gateway.store.records import Records
from gateway.store.sqlite.records import SqliteRecords
from gateway.store.sqlite.schema import connect, quick_check
from gateway.store.values import StoreBehind

T = TypeVar("T")


CHECKPOINT_EVERY = 200  # committed batches between idle-time WAL checkpoints


@dataclass(slots=True)
class _Job:
    fn: Callable[[Records], Any]
    future: asyncio.Future[Any]
    seq: int | None = None  # a write of the ordered series (see Store.submit)


# What SQLite says about what a job tried to write, not about the store (those are
# OperationalError: locked, full, I/O, read-only; DatabaseError: damaged): a job failing with
# one of these fails alone and the store stays writable.
_CONTENT_ERRORS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError,
                   sqlite3.DataError, sqlite3.NotSupportedError)


class Store:
    """Runs every SQLite call on one thread; the event loop awaits the results."""

    def __init__(self, path: Path, *, synchronous: str = "full", max_batch: int = 256,
                 allow_damaged: bool = False) -> None:
        self.path = path
        self.synchronous = synchronous
        self.max_batch = max_batch
        self.allow_damaged = allow_damaged
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._open_error: BaseException | None = None
        self._since_checkpoint = 0
        self._next_seq: int | None = None  # the ordered write that must commit next
        # writes failing: since when (wall clock), and why; cleared by the next write that
        # commits (a transaction of reads alone proves nothing)
        self.failing_since: float | None = None
        self.last_error = ""
        self.last_write_at: float | None = None
        self.damage: str | None = None  # what quick_check found at open, when allowed to run
        # set by open(): the schema version the store had and the migrations that ran, if any
        self.migrated_from: int | None = None
        self.migrations: tuple[int, ...] = ()

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="store", daemon=True)
        self._thread.start()
        await asyncio.to_thread(self._ready.wait)
        if self._open_error is not None:
            raise self._open_error

    @property
    def running(self) -> bool:
        """The store thread runs (it may be failing to write: see ``writable``)."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def writable(self) -> bool:
        """The store thread runs and the last write it tried committed."""
        return self.running and self.failing_since is None

    async def close(self) -> None:
        if self._thread is None:
            return
        self._jobs.put(None)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    async def call(self, fn: Callable[[Records], T]) -> T:
        return await self.submit(fn)

    def submit(self, fn: Callable[[Records], T], *,
               seq: int | None = None) -> asyncio.Future[T]:
        """Queue a job; jobs run, and commit, in the order they were submitted.

        ``seq`` numbers a series of writes that must commit in that order and without gaps
        (the pipeline's batches): after one fails, the later ones already queued are refused
        (``StoreBehind``) until it is submitted again and commits, so a retried batch never
        lands after the batches decided after it."""
        if self._loop is None:
            raise StoreError("the store is not open")
        future: asyncio.Future[T] = self._loop.create_future()
        self._jobs.put(_Job(fn, future, seq))
        return future

    def _run(self) -> None:
        try:
            conn = connect(self.path, synchronous=self.synchronous)
        except BaseException as exc:  # noqa: BLE001 - handed to open() and raised there
            self._open_error = exc
            self._ready.set()
            return
        self.migrated_from, self.migrations = conn.migrated_from, conn.migrations
        try:
            self.damage = quick_check(conn)
        except sqlite3.Error as exc:
            self.damage = str(exc)
        if self.damage is not None and not self.allow_damaged:
            conn.close()
            self._open_error = StoreError(
                f"the store {self.path} is damaged (quick_check: {self.damage}). Restore the "
                "latest backup (alarm-gateway restore FILE), or start with "
                "--allow-damaged-store to run on it as it is until then")
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    break
                batch: list[_Job] = [job]
                stop = False
                while len(batch) < self.max_batch:
                    try:
                        nxt = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        stop = True
                        break
                    batch.append(nxt)
                self._run_batch(conn, batch)
                if stop:
                    break
                self._checkpoint_when_idle(conn)
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            conn.close()

    def _checkpoint_when_idle(self, conn: sqlite3.Connection) -> None:
        # SQLite's automatic checkpoint runs inside whichever commit crosses 1,000 WAL pages,
        # adding its fsyncs to that alarm's latency; here it runs when no job is waiting, or
        # after ten times as many batches without a pause (a long storm must not grow the WAL
        # without end: on a nearly full disk that is what fills it).
        self._since_checkpoint += 1
        if self._since_checkpoint >= CHECKPOINT_EVERY and (
                self._jobs.empty() or self._since_checkpoint >= 10 * CHECKPOINT_EVERY):
            self._since_checkpoint = 0
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        results: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        records = SqliteRecords(conn)
        changes = conn.total_changes
        failed: sqlite3.Error | None = None
        next_seq = self._next_seq
        try:
            conn.execute("BEGIN IMMEDIATE")
            for index, job in enumerate(batch):
                if job.seq is not None and next_seq is not None and job.seq != next_seq:
                    results.append((job.future, None, StoreBehind(
                        f"write {job.seq} waits for write {next_seq} to commit")))
                    continue
                conn.execute(f"SAVEPOINT job{index}")
                try:
                    value = job.fn(records)
                except Exception as exc:  # noqa: BLE001 - raised in the caller via its future
                    conn.execute(f"ROLLBACK TO job{index}")
                    error: Exception = exc
                    if isinstance(exc, sqlite3.Error) and not isinstance(exc, _CONTENT_ERRORS):
                        failed = exc
                        error = StoreError(f"store job failed: {exc}")
                        error.__cause__ = exc
                    if job.seq is not None:
                        next_seq = job.seq
                    results.append((job.future, None, error))
                else:
                    if job.seq is not None:
                        next_seq = job.seq + 1
                    results.append((job.future, value, None))
                conn.execute(f"RELEASE job{index}")
            conn.execute("COMMIT")
            self._next_seq = next_seq
        except sqlite3.Error as exc:
            failed = exc
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            error = StoreError(f"store write failed: {exc}")
            results = [(job.future, None, error) for job in batch]
            if self._next_seq is None:
                # nothing of the series committed yet: it starts at this transaction's first
                self._next_seq = next((j.seq for j in batch if j.seq is not None), None)
        if failed is not None:
            if self.failing_since is None:
                self.failing_since = time.time()
            self.last_error = str(failed)
        elif conn.total_changes != changes:
            self.failing_since = None
            self.last_write_at = time.time()
        if self._loop is None:
            raise RuntimeError("the store thread runs without the event loop that opened it")
        self._loop.call_soon_threadsafe(_resolve, results)


def _resolve(results: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, value, error in results:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
