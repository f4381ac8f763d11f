"""The store: SQLite in WAL mode, written from one thread of its own.

An append-only event log (``events``), the raw signals, the projections the CLI reads
(``incidents``, ``points``), the outbox of effects, the dead letters and the operator commands
queued by the CLI. The daemon hands the thread whole batches; every job of a batch runs in one
transaction (a savepoint each, so one failing job does not undo the others), and the caller is
told only after COMMIT returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gateway.domain.incident import Incident, from_json, to_json
from gateway.domain.model import Event, PointState, Signal
from gateway.engine.state import Publish
from gateway.errors import DaemonNotRunning, StoreError
from gateway.points.conditioning import PointStatus

T = TypeVar("T")

CHECKPOINT_EVERY = 200  # committed batches between idle-time WAL checkpoints
WAL_KEEP_BYTES = 64 * 1024 * 1024

# The schema, as an ordered list of migrations: (version, statements). A store records the last
# version applied in ``PRAGMA user_version``; ``migrate`` runs every later one, each in its own
# transaction together with the new ``user_version``. Append new versions; never edit old ones.
# Every statement says IF NOT EXISTS: stores written by the code before migrations existed ran
# the whole schema on every start, so a table may exist already at a lower version.
_V1_BASE = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, at REAL NOT NULL, kind TEXT NOT NULL, incident_id TEXT,
    point_id TEXT, actor TEXT, data TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS events_incident ON events (incident_id, seq)",
    """CREATE TABLE IF NOT EXISTS signals (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, point_id TEXT NOT NULL, device TEXT NOT NULL,
    state TEXT NOT NULL, value TEXT, changed INTEGER NOT NULL, replayed INTEGER NOT NULL,
    drill INTEGER NOT NULL, source TEXT NOT NULL, incidents TEXT NOT NULL, payload BLOB)""",
    "CREATE INDEX IF NOT EXISTS signals_point ON signals (point_id, id)",
    """CREATE TABLE IF NOT EXISTS signal_incidents (
    signal_id INTEGER NOT NULL, incident_id TEXT NOT NULL, PRIMARY KEY (incident_id, signal_id))""",
    """CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, status TEXT NOT NULL, stage TEXT NOT NULL,
    severity TEXT NOT NULL, drill INTEGER NOT NULL, location TEXT NOT NULL,
    opened_at REAL NOT NULL, updated_at REAL NOT NULL, closed_at REAL, snapshot TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS incidents_status ON incidents (status, opened_at)",
    """CREATE TABLE IF NOT EXISTS points (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, since REAL NOT NULL, last_seen REAL NOT NULL,
    value TEXT, sources TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY, created_at REAL NOT NULL, kind TEXT NOT NULL, incident_id TEXT,
    action_id TEXT, topic TEXT NOT NULL, payload TEXT NOT NULL, qos INTEGER NOT NULL,
    retain INTEGER NOT NULL, withhold INTEGER NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, done_at REAL, detail TEXT)""",
    "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (status) WHERE status = 'pending'",
    """CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, source TEXT NOT NULL, topic TEXT NOT NULL,
    reason TEXT NOT NULL, detail TEXT NOT NULL, size INTEGER NOT NULL, payload BLOB)""",
    """CREATE TABLE IF NOT EXISTS mqtt_rx (
    mid INTEGER PRIMARY KEY, topic TEXT NOT NULL, digest BLOB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS commands (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, verb TEXT NOT NULL, incident_id TEXT NOT NULL,
    actor TEXT NOT NULL, args TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
    result TEXT, done_at REAL)""",
)
_V2_USERS = (
    """CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, display TEXT NOT NULL, password TEXT NOT NULL, roles TEXT NOT NULL,
    created_at REAL NOT NULL, disabled INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS sessions (
    token_hash BLOB PRIMARY KEY, user TEXT NOT NULL, created_at REAL NOT NULL,
    expires_at REAL NOT NULL)""",
)
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (1, _V1_BASE),
    (2, (
        """CREATE TABLE IF NOT EXISTS follow_ups (
    incident_id TEXT NOT NULL, id TEXT NOT NULL, role TEXT NOT NULL, text_zh TEXT NOT NULL,
    text_en TEXT NOT NULL, due_at REAL NOT NULL, status TEXT NOT NULL, done_at REAL,
    done_by TEXT, note TEXT, drill INTEGER NOT NULL, PRIMARY KEY (incident_id, id))""",
        "CREATE INDEX IF NOT EXISTS follow_ups_due ON follow_ups (status, due_at)",
        *_V2_USERS,
    )),
    (3, (
        """CREATE TABLE IF NOT EXISTS config_versions (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, hash TEXT NOT NULL, actor TEXT NOT NULL,
    source TEXT NOT NULL, summary TEXT NOT NULL, files TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS config_versions_hash ON config_versions (hash)",
        # for ``prune``: which raw signals an incident refers to, and which are old
        "CREATE INDEX IF NOT EXISTS signal_incidents_signal ON signal_incidents (signal_id)",
        "CREATE INDEX IF NOT EXISTS signals_at ON signals (at)",
        # stores written between the follow-ups and the console commits are at version 2
        # without users and sessions (they were added without a new version number)
        *_V2_USERS,
    )),
    (4, (
        # Redeliveries are recognised by the protocol's in-flight state, not by content
        # (adapters/mqtt_inflight.py): the packet ids committed whose PUBACK is not yet known
        # to have reached the broker.
        "DROP TABLE IF EXISTS mqtt_rx",
        "CREATE TABLE IF NOT EXISTS mqtt_inflight (mid INTEGER PRIMARY KEY)",
        # heartbeats (readings that change nothing) are summed up on the point, not kept
        # one row each
        "ALTER TABLE points ADD COLUMN repeats INTEGER NOT NULL DEFAULT 0",
    )),
    (5, (
        # a point's trouble conditions beside its main channel, the device's own time per
        # device, its recent alarm activations, why it is offline (gateway/points.py)
        "ALTER TABLE points ADD COLUMN detail TEXT NOT NULL DEFAULT '{}'",
        # which condition a signal is about ("" its main channel), and messages kept as stale
        "ALTER TABLE signals ADD COLUMN condition TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE signals ADD COLUMN stale INTEGER NOT NULL DEFAULT 0",
    )),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


# ----------------------------------------------------------------------------- write sets


@dataclass(frozen=True, slots=True)
class SignalRecord:
    signal: Signal
    payload: bytes
    incidents: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    at: float
    source: str
    topic: str
    reason: str
    detail: str
    payload: bytes
    size: int


@dataclass(slots=True)
class WriteSet:
    """Everything one batch changes; written in one transaction."""

    signals: list[SignalRecord] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    incidents: dict[str, Incident] = field(default_factory=dict)
    points: dict[str, PointStatus] = field(default_factory=dict)
    outbox: list[Publish] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    # MQTT packet ids in flight (see adapters/mqtt_inflight.py): deleted first, then added
    inflight_add: list[int] = field(default_factory=list)
    inflight_del: list[int] = field(default_factory=list)
    # heartbeats per point since the last batch (readings that changed nothing)
    repeats: dict[str, int] = field(default_factory=dict)
    command_results: list[tuple[int, bool, str]] = field(default_factory=list)
    outbox_done: list[tuple[int, str, str, float]] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    next_number: int | None = None

    def __bool__(self) -> bool:
        return bool(self.signals or self.events or self.incidents or self.points or self.outbox
                    or self.dead_letters or self.inflight_add or self.inflight_del
                    or self.command_results or self.outbox_done or self.meta or self.repeats)


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    publish: Publish


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def write_batch(conn: sqlite3.Connection, *, ws: WriteSet, now: float) -> list[OutboxItem]:
    for rec in ws.signals:
        s = rec.signal
        cur = conn.execute(
            "INSERT INTO signals (at, point_id, device, state, value, changed, replayed, drill,"
            " source, incidents, payload, condition, stale) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (s.at, s.point_id, s.device, s.state.value,
             None if s.value is None else _dumps(s.value), s.changed, s.replayed, s.drill,
             s.source, ",".join(rec.incidents), rec.payload, s.condition, s.stale))
        if rec.incidents:
            conn.executemany("INSERT INTO signal_incidents VALUES (?, ?)",
                             [(cur.lastrowid, i) for i in rec.incidents])
    conn.executemany(
        "INSERT INTO events (at, kind, incident_id, point_id, actor, data) VALUES (?,?,?,?,?,?)",
        [(e.at, e.kind, e.incident_id, e.point_id, e.actor, _dumps(e.data)) for e in ws.events])
    conn.executemany(
        "INSERT OR REPLACE INTO incidents (id, type, status, stage, severity, drill, location,"
        " opened_at, updated_at, closed_at, snapshot) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [(i.id, i.type, i.status.value, i.stage, i.severity.value, i.drill, i.location.label(),
          i.opened_at, i.updated_at, i.closed_at, _dumps(to_json(i)))
         for i in ws.incidents.values()])
    conn.executemany(
        "INSERT OR REPLACE INTO follow_ups (incident_id, id, role, text_zh, text_en, due_at,"
        " status, done_at, done_by, note, drill) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [(i.id, f.id, f.role, f.text_zh, f.text_en, f.due_at, f.status, f.done_at, f.done_by,
          f.note, i.drill) for i in ws.incidents.values() for f in i.follow_ups])
    conn.executemany(
        "INSERT INTO points (id, state, since, last_seen, value, sources, detail)"
        " VALUES (?,?,?,?,?,?,?)"
        " ON CONFLICT (id) DO UPDATE SET state = excluded.state, since = excluded.since,"
        " last_seen = excluded.last_seen, value = excluded.value, sources = excluded.sources,"
        " detail = excluded.detail,"
        " repeats = CASE WHEN points.since = excluded.since THEN points.repeats ELSE 0 END",
        [(pid, p.state.value, p.since, p.last_seen, None if p.value is None else _dumps(p.value),
          _dumps(p.sources), _dumps(_detail(p))) for pid, p in ws.points.items()])
    conn.executemany("UPDATE points SET repeats = repeats + ? WHERE id = ?",
                     [(n, pid) for pid, n in ws.repeats.items()])
    items = []
    for pub in ws.outbox:
        cur = conn.execute(
            "INSERT INTO outbox (created_at, kind, incident_id, action_id, topic, payload, qos,"
            " retain, withhold, status) VALUES (?,?,?,?,?,?,?,?,?, 'pending')",
            (now, pub.kind, pub.incident_id, pub.action_id, pub.topic, pub.payload, pub.qos,
             pub.retain, pub.withhold))
        assert cur.lastrowid is not None
        items.append(OutboxItem(cur.lastrowid, pub))
    conn.executemany(
        "INSERT INTO dead_letters (at, source, topic, reason, detail, size, payload)"
        " VALUES (?,?,?,?,?,?,?)",
        [(d.at, d.source, d.topic, d.reason, d.detail, d.size, d.payload)
         for d in ws.dead_letters])
    conn.executemany("DELETE FROM mqtt_inflight WHERE mid = ?", [(m,) for m in ws.inflight_del])
    conn.executemany("INSERT OR REPLACE INTO mqtt_inflight (mid) VALUES (?)",
                     [(m,) for m in ws.inflight_add])
    conn.executemany("UPDATE commands SET status = ?, result = ?, done_at = ? WHERE id = ?",
                     [("done" if ok else "rejected", msg, now, cid)
                      for cid, ok, msg in ws.command_results])
    mark_outbox(conn, results=ws.outbox_done)
    conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(ws.meta.items()))
    if ws.next_number is not None:
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('next_number', ?)",
                     (str(ws.next_number),))
    return items


def _detail(p: PointStatus) -> dict[str, Any]:
    """What a point's row keeps beside its state: only what is set."""
    out: dict[str, Any] = {}
    if p.troubles:
        out["troubles"] = p.troubles
    if p.marks:
        out["marks"] = p.marks
    if p.activations:
        out["activations"] = p.activations
    if p.offline:
        out["offline"] = p.offline
    if p.rejected:
        out["rejected"] = p.rejected
    return out


def mark_outbox(conn: sqlite3.Connection, *, results: list[tuple[int, str, str, float]]) -> None:
    """The outcome of sent effects: (id, status, detail, when it happened). The marks ride
    along with a later batch; ``done_at`` is when the effect left, not when it was noted."""
    conn.executemany(
        "UPDATE outbox SET status = ?, detail = ?, done_at = ?, attempts = attempts + 1"
        " WHERE id = ?", [(status, detail, at, oid) for oid, status, detail, at in results])


# ----------------------------------------------------------------------------- reads


@dataclass(frozen=True, slots=True)
class StartupState:
    open_incidents: list[Incident]
    points: dict[str, PointStatus]
    pending_outbox: list[OutboxItem]
    next_number: int
    drill: str = ""  # the drill window (JSON), if one was started
    shelved: dict[str, dict[str, Any]] = field(default_factory=dict)
    mqtt_inflight: tuple[int, ...] = ()


def load_startup(conn: sqlite3.Connection) -> StartupState:
    incidents = [from_json(json.loads(row[0])) for row in conn.execute(
        "SELECT snapshot FROM incidents WHERE status != 'closed' ORDER BY opened_at")]
    points = {}
    for pid, state, since, last_seen, value, sources, detail in conn.execute(
            "SELECT id, state, since, last_seen, value, sources, detail FROM points"):
        more = json.loads(detail)
        points[pid] = PointStatus(
            PointState(state), since, last_seen, None if value is None else json.loads(value),
            tuple((d, PointState(s)) for d, s in json.loads(sources)),
            troubles=tuple((d, c) for d, c in more.get("troubles", ())),
            marks=tuple((d, m) for d, m in more.get("marks", ())),
            activations=tuple(more.get("activations", ())), offline=more.get("offline", ""),
            rejected=more.get("rejected", 0))
    pending = [OutboxItem(row[0], Publish(
        topic=row[1], payload=row[2], qos=row[3], retain=bool(row[4]), kind=row[5],
        incident_id=row[6] or "", action_id=row[7] or "", withhold=bool(row[8])))
        for row in conn.execute(
            "SELECT id, topic, payload, qos, retain, kind, incident_id, action_id, withhold"
            " FROM outbox WHERE status = 'pending' ORDER BY id")]
    row = conn.execute("SELECT value FROM meta WHERE key = 'next_number'").fetchone()
    drill = conn.execute("SELECT value FROM meta WHERE key = 'drill_window'").fetchone()
    shelved = conn.execute("SELECT value FROM meta WHERE key = 'shelved'").fetchone()
    inflight = tuple(mid for (mid,) in conn.execute("SELECT mid FROM mqtt_inflight"))
    return StartupState(incidents, points, pending, int(row[0]) if row else 1,
                        drill[0] if drill else "",
                        json.loads(shelved[0]) if shelved else {}, inflight)


def pending_commands(conn: sqlite3.Connection) -> list[tuple[int, str, str, str, dict[str, str]]]:
    return [(cid, verb, incident_id, actor, json.loads(args))
            for cid, verb, incident_id, actor, args in conn.execute(
                "SELECT id, verb, incident_id, actor, args FROM commands"
                " WHERE status = 'pending' ORDER BY id")]


class StoreConnection(sqlite3.Connection):
    """A connection from ``connect``; says which migrations opening it applied (to be logged)."""

    migrated_from: int | None = None  # the store's schema version before, if any migration ran
    migrations: tuple[int, ...] = ()  # the versions applied, in order


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Bring the store's schema up to ``SCHEMA_VERSION``: each missing migration in a transaction
    of its own (with its ``user_version``). Returns the versions applied, none if it was current;
    a store newer than this code is refused (StoreError) and left untouched."""
    if conn.in_transaction:
        raise StoreError("cannot migrate the store inside a transaction")
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise StoreError(f"the store has schema {version}, newer than this gateway's "
                         f"{SCHEMA_VERSION}: run the newer gateway, or restore a backup")
    applied = []
    for number, statements in MIGRATIONS:
        if number <= version:
            continue
        with transaction(conn):
            # another process (a CLI command opening the store) may have migrated meanwhile
            version = schema_version(conn)
            if number <= version:
                continue
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        applied.append(number)
    return applied


def connect(path: Path, *, synchronous: str = "full", readonly: bool = False) -> StoreConnection:
    """Open the store. Unless ``readonly``, create it if need be and apply the missing
    migrations (see ``StoreConnection.migrations``); refuse a store newer than this code."""
    if readonly and not path.exists():
        raise StoreError(f"no store at {path} (has the daemon ever run with this config?)")
    conn: StoreConnection | None = None
    try:
        if not readonly:
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10,
                               factory=StoreConnection)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {'FULL' if synchronous == 'full' else 'NORMAL'}")
        conn.execute("PRAGMA foreign_keys = ON")
        if not readonly:
            # checkpoints are run by the store thread between batches (Store._checkpoint_...)
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            # the WAL file shrinks back to this after a checkpoint has emptied it
            conn.execute(f"PRAGMA journal_size_limit = {WAL_KEEP_BYTES}")
            before = schema_version(conn)
            applied = migrate(conn)
            if applied:
                conn.migrated_from = before
                conn.migrations = tuple(applied)
    except (sqlite3.Error, StoreError) as exc:
        if conn is not None:
            conn.close()
        raise StoreError(f"cannot open store {path}: {exc}") from exc
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# ----------------------------------------------------------------------------- the thread


class DaemonLock:
    """One daemon per store: held by the daemon for its whole life, probed by the CLI."""

    def __init__(self, store_path: Path) -> None:
        self.path = store_path.with_name(store_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o640)
        except OSError as exc:
            raise StoreError(
                f"cannot open the store's lock file {self.path}: {exc.strerror or exc}; the "
                f"store's directory {self.path.parent} must be writable by the gateway's user"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(f"another gateway is already running on this store "
                             f"({self.path})") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def held_by_other(self) -> bool:
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def require_daemon(self) -> None:
        if not self.held_by_other():
            raise DaemonNotRunning(
                "the gateway daemon is not running on this store; start it "
                "(alarm-gateway run -c CONFIG) and try again")


@dataclass(slots=True)
class _Job:
    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    seq: int | None = None  # a write of the ordered series (see Store.submit)


# What SQLite says about what a job tried to write, not about the store (those are
# OperationalError: locked, full, I/O, read-only; DatabaseError: damaged): a job failing with
# one of these fails alone and the store stays writable.
_CONTENT_ERRORS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError,
                   sqlite3.DataError, sqlite3.NotSupportedError)


class StoreBehind(StoreError):
    """An ordered write refused because an earlier one of the series has not committed yet."""


def quick_check(conn: sqlite3.Connection, limit: int = 10) -> str | None:
    """None when ``PRAGMA quick_check`` finds nothing, else its first complaints."""
    rows = [str(r[0]) for r in conn.execute(f"PRAGMA quick_check({int(limit)})")]
    return None if rows == ["ok"] else "; ".join(rows)


def check_store_file(path: Path) -> str | None:
    """``quick_check`` on a connection of its own (blocking: run it off the event loop). A
    store that cannot even be read counts as damaged."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        return quick_check(conn)
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.close()


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

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self.submit(fn)

    def submit(self, fn: Callable[[sqlite3.Connection], T], *,
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
                    value = job.fn(conn)
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
        assert self._loop is not None
        self._loop.call_soon_threadsafe(_resolve, results)


def _resolve(results: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, value, error in results:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


# ----------------------------------------------------------------------------- CLI reads


def list_incidents(conn: sqlite3.Connection, *, include_closed: bool = False,
                   limit: int = 200) -> list[Incident]:
    where = "" if include_closed else "WHERE status != 'closed'"
    return [from_json(json.loads(row[0])) for row in conn.execute(
        f"SELECT snapshot FROM incidents {where} ORDER BY opened_at DESC LIMIT ?", (limit,))]


def get_incident(conn: sqlite3.Connection, incident_id: str) -> Incident | None:
    row = conn.execute("SELECT snapshot FROM incidents WHERE id = ?", (incident_id,)).fetchone()
    return from_json(json.loads(row[0])) if row else None


def incident_events(conn: sqlite3.Connection, incident_id: str) -> list[Event]:
    return [Event(kind=kind, at=at, incident_id=incident_id, point_id=point_id or "",
                  actor=actor or "", data=json.loads(data))
            for at, kind, point_id, actor, data in conn.execute(
                "SELECT at, kind, point_id, actor, data FROM events WHERE incident_id = ?"
                " ORDER BY seq", (incident_id,))]


@dataclass(frozen=True, slots=True)
class StoredSignal:
    id: int
    at: float
    point_id: str
    device: str
    state: str
    value: Any
    changed: bool
    replayed: bool
    source: str


def incident_signals(conn: sqlite3.Connection, incident_id: str) -> list[StoredSignal]:
    return [StoredSignal(sid, at, point_id, device, state,
                         None if value is None else json.loads(value), bool(changed),
                         bool(replayed), source)
            for sid, at, point_id, device, state, value, changed, replayed, source
            in conn.execute(
                "SELECT s.id, s.at, s.point_id, s.device, s.state, s.value, s.changed,"
                " s.replayed, s.source FROM signal_incidents si JOIN signals s"
                " ON s.id = si.signal_id WHERE si.incident_id = ? ORDER BY s.id",
                (incident_id,))]


@dataclass(frozen=True, slots=True)
class FollowUpTask:
    incident_id: str
    id: str
    role: str
    text_zh: str
    text_en: str
    due_at: float
    status: str
    done_at: float | None
    done_by: str
    note: str


def list_follow_ups(conn: sqlite3.Connection, *, include_done: bool = False,
                    limit: int = 200) -> list[FollowUpTask]:
    where = "" if include_done else "WHERE status = 'pending'"
    return [FollowUpTask(incident_id, task_id, role, text_zh, text_en, due_at, status, done_at,
                         done_by or "", note or "")
            for incident_id, task_id, role, text_zh, text_en, due_at, status, done_at, done_by,
            note in conn.execute(
        "SELECT incident_id, id, role, text_zh, text_en, due_at, status, done_at, done_by, note"
        f" FROM follow_ups {where} ORDER BY due_at LIMIT ?", (limit,))]


def list_dead_letters(conn: sqlite3.Connection, limit: int = 50) -> list[DeadLetter]:
    return [DeadLetter(at, source, topic, reason, detail, payload or b"", size)
            for at, source, topic, reason, detail, payload, size in conn.execute(
                "SELECT at, source, topic, reason, detail, payload, size FROM dead_letters"
                " ORDER BY id DESC LIMIT ?", (limit,))]


def submit_command(conn: sqlite3.Connection, verb: str, incident_id: str, actor: str,
                   args: dict[str, str], now: float) -> int:
    cur = conn.execute(
        "INSERT INTO commands (at, verb, incident_id, actor, args) VALUES (?,?,?,?,?)",
        (now, verb, incident_id, actor, _dumps(args)))
    assert cur.lastrowid is not None
    return cur.lastrowid


def command_result(conn: sqlite3.Connection, command_id: int) -> tuple[str, str | None]:
    status, result = conn.execute("SELECT status, result FROM commands WHERE id = ?",
                                  (command_id,)).fetchone()
    return status, result


# ----------------------------------------------------------------------------- config versions


@dataclass(frozen=True, slots=True)
class StoredConfigVersion:
    id: int
    at: float
    hash: str
    actor: str
    source: str
    summary: str
    files: str  # the text recorded (JSON)


def _missing_table(exc: sqlite3.OperationalError) -> bool:
    # a read-only connection to a store the daemon has not migrated yet
    return "no such table" in str(exc)


def record_config_version(conn: sqlite3.Connection, *, at: float, hash: str, actor: str,
                          source: str, summary: str, files: Any) -> int:
    """Append one configuration version; returns its id. ``files``: JSON text, kept as given,
    or any other value, written as JSON (e.g. the list of file names)."""
    text = files if isinstance(files, str) else _dumps(files)
    cur = conn.execute(
        "INSERT INTO config_versions (at, hash, actor, source, summary, files)"
        " VALUES (?,?,?,?,?,?)", (at, hash, actor, source, summary, text))
    assert cur.lastrowid is not None
    return cur.lastrowid


def latest_config_version(conn: sqlite3.Connection) -> tuple[int, str] | None:
    """(id, hash) of the configuration version recorded last, or None."""
    try:
        row = conn.execute(
            "SELECT id, hash FROM config_versions ORDER BY id DESC LIMIT 1").fetchone()
    except sqlite3.OperationalError as exc:
        if _missing_table(exc):
            return None
        raise
    return (int(row[0]), str(row[1])) if row else None


def list_config_versions(conn: sqlite3.Connection,
                         limit: int = 50) -> list[StoredConfigVersion]:
    """The configuration versions, newest first."""
    try:
        rows = conn.execute(
            "SELECT id, at, hash, actor, source, summary, files FROM config_versions"
            " ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    except sqlite3.OperationalError as exc:
        if _missing_table(exc):
            return []
        raise
    return [StoredConfigVersion(vid, at, digest, actor, source, summary, files)
            for vid, at, digest, actor, source, summary, files in rows]


# ----------------------------------------------------------------------------- backup, restore

BACKUP_STEP_PAGES = 1024  # pages copied per step of an online backup (4 MiB at 4 KiB pages)


@dataclass(frozen=True, slots=True)
class BackupInfo:
    dest: Path
    pages: int
    bytes: int
    schema_version: int
    incidents: int
    events: int
    signals: int
    seconds: float


@dataclass(frozen=True, slots=True)
class RestoreInfo:
    source: Path
    store: Path
    aside: Path | None  # where the store that was in place now is (with its -wal/-shm), if any
    schema_version: int  # the source's, before migrating
    migrations: tuple[int, ...]  # applied to the restored store
    incidents: int
    events: int
    signals: int
    seconds: float


_SIDE_FILES = ("-wal", "-shm", "-journal")


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def _unlink_db(path: Path) -> None:
    for p in (path, *(path.with_name(path.name + s) for s in _SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _fsync(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _integrity(conn: sqlite3.Connection) -> str | None:
    """None when ``PRAGMA integrity_check`` passes, else its first complaints."""
    rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(20)")]
    return None if rows == ["ok"] else "; ".join(rows)


def _counts(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """How many incidents, events and signals."""
    row = conn.execute("SELECT (SELECT count(*) FROM incidents), (SELECT count(*) FROM events),"
                       " (SELECT count(*) FROM signals)").fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def _copy_into(source: sqlite3.Connection, tmp: Path, mode: int,
               progress: Callable[[int, int], None] | None) -> sqlite3.Connection:
    """Copy ``source`` (a snapshot: the caller holds a read transaction) into a new file ``tmp``
    with permissions ``mode`` (the store holds password hashes: never wider than the store's),
    as a self-contained rollback-journal database; returns the open copy."""
    _unlink_db(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    copy = sqlite3.connect(tmp, isolation_level=None)
    try:
        def step(_status: int, remaining: int, total: int) -> None:
            if progress is not None:
                progress(total - remaining, total)

        source.backup(copy, pages=BACKUP_STEP_PAGES, progress=step)
        copy.execute("PRAGMA journal_mode = DELETE")  # one file, readable from read-only media
    except BaseException:
        copy.close()
        raise
    return copy


def backup(store_path: Path, dest: Path, *, progress: Callable[[int, int], None] | None = None,
           overwrite: bool = False) -> BackupInfo:
    """Copy the store to ``dest`` while the daemon keeps writing.

    The copy is a snapshot: one read transaction on a connection of its own is held for the
    whole copy (WAL mode: the writer is not blocked, and nothing it commits meanwhile gets in).
    It is written to a temporary file beside ``dest``, checked (``integrity_check``), synced and
    only then renamed into place; an existing ``dest`` is refused unless ``overwrite``.
    ``progress(pages_done, pages_total)`` is called after every step."""
    started = time.monotonic()
    if dest.resolve() == store_path.resolve():
        raise StoreError(f"cannot back up the store {store_path} onto itself")
    if dest.exists() and not overwrite:
        raise StoreError(f"{dest} exists already; choose another name (or overwrite it)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(dest)
    source = connect(store_path, readonly=True)
    try:
        source.execute("BEGIN")
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot starts
        copy = _copy_into(source, tmp, _file_mode(store_path), progress)
        source.execute("COMMIT")
        try:
            problem = _integrity(copy)
            if problem is not None:
                raise StoreError(f"the backup copy fails its integrity check: {problem}")
            pages = int(copy.execute("PRAGMA page_count").fetchone()[0])
            version = schema_version(copy)
            incidents, events, signals = _counts(copy)
        finally:
            copy.close()
        _fsync(tmp)
        if overwrite:
            os.replace(tmp, dest)
        else:
            try:
                os.link(tmp, dest)  # fails if dest appeared meanwhile: never overwritten
            except FileExistsError:
                raise StoreError(f"{dest} exists already; choose another name") from None
            tmp.unlink()
        _fsync(dest.parent, directory=True)
    except sqlite3.Error as exc:
        raise StoreError(f"backup of {store_path} failed: {exc}") from exc
    finally:
        source.close()
        _unlink_db(tmp)
    return BackupInfo(dest, pages, dest.stat().st_size, version, incidents, events, signals,
                      time.monotonic() - started)


def _file_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _same_owner(path: Path, like: os.stat_result) -> None:
    """Best effort: a restore run as root leaves files the daemon's user can still write."""
    if (path.stat().st_uid, path.stat().st_gid) != (like.st_uid, like.st_gid):
        with contextlib.suppress(PermissionError):
            os.chown(path, like.st_uid, like.st_gid)


def _aside_path(store_path: Path, now: float) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    aside = store_path.with_name(f"{store_path.name}.before-restore-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = store_path.with_name(f"{store_path.name}.before-restore-{stamp}-{n}")
    return aside


def restore(src: Path, store_path: Path, *, now: float) -> RestoreInfo:
    """Put the backup ``src`` in place of the store; only while no daemon runs on it.

    The source must open, pass ``integrity_check`` and have a schema this code knows. The store
    in place (with its -wal/-shm) is moved aside to ``<store>.before-restore-<YYYYmmdd-HHMMSS>``
    (kept: see ``RestoreInfo.aside``), the source copied in via a temporary file and a rename,
    then migrated. The daemon lock is held throughout, so no daemon starts meanwhile."""
    started = time.monotonic()
    lock = DaemonLock(store_path)
    if lock.held_by_other():
        raise StoreError(f"a gateway daemon is running on {store_path} (it holds {lock.path}); "
                         "stop it before restoring")
    if not src.is_file():
        raise StoreError(f"no backup file at {src}")
    if src.resolve() == store_path.resolve():
        raise StoreError(f"{src} is the store itself")
    store_path.parent.mkdir(parents=True, exist_ok=True)
    # the files put in place get the owner and mode of the store they replace (else of its
    # directory, and 0640), so that a restore run as root leaves a store the daemon can open
    owner = (store_path if store_path.exists() else store_path.parent).stat()
    mode = _file_mode(store_path) if store_path.exists() else 0o640
    new_lock = not lock.path.exists()
    try:
        lock.acquire()
    except StoreError:
        raise StoreError(f"a gateway daemon is running on {store_path} (it holds {lock.path}); "
                         "stop it before restoring") from None
    if new_lock:
        _same_owner(lock.path, owner)
    tmp = _temp_beside(store_path)
    try:
        try:
            source = sqlite3.connect(f"{src.resolve().as_uri()}?mode=ro", uri=True,
                                     isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the backup {src}: {exc}") from exc
        try:
            source.execute("BEGIN")
            problem = _integrity(source)
            if problem is not None:
                raise StoreError(f"the backup {src} fails its integrity check: {problem}")
            version = schema_version(source)
            tables = {r[0] for r in source.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if version < 1 or not {"incidents", "events", "signals"} <= tables:
                raise StoreError(f"{src} is not a gateway store")
            if version > SCHEMA_VERSION:
                raise StoreError(f"the backup {src} has schema {version}, newer than this "
                                 f"gateway's {SCHEMA_VERSION}")
            copy = _copy_into(source, tmp, mode, None)
            source.execute("COMMIT")
            copy.close()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the backup {src}: {exc}") from exc
        finally:
            source.close()
        _same_owner(tmp, owner)
        _fsync(tmp)
        aside = None
        if store_path.exists():
            aside = _aside_path(store_path, now)
            os.replace(store_path, aside)
        for suffix in _SIDE_FILES:
            side = store_path.with_name(store_path.name + suffix)
            if side.exists():
                if aside is None:  # side files without their store: keep them all the same
                    aside = _aside_path(store_path, now)
                os.replace(side, aside.with_name(aside.name + suffix))
        os.replace(tmp, store_path)
        _fsync(store_path.parent, directory=True)
        where = f" (the previous store is at {aside})" if aside else ""
        try:
            conn = connect(store_path)
        except StoreError as exc:
            raise StoreError(f"restored {src} but cannot open it: {exc}{where}") from exc
        try:
            incidents, events, signals = _counts(conn)
        finally:
            conn.close()
        for suffix in _SIDE_FILES:  # normally removed by the close; if not, the daemon's too
            side = store_path.with_name(store_path.name + suffix)
            with contextlib.suppress(FileNotFoundError):
                _same_owner(side, owner)
    finally:
        _unlink_db(tmp)
        lock.release()
    return RestoreInfo(src, store_path, aside, version, conn.migrations, incidents, events,
                       signals, time.monotonic() - started)


# ----------------------------------------------------------------------------- retention

DAY = 86_400.0
PRUNE_TABLES = ("signals", "dead_letters", "commands", "outbox")

# One statement per table, deleting at most ``batch`` rows older than the cutoff (``?1``).
# Raw signals go only when no incident refers to them (the timeline and the incidents stay
# whole); commands and outbox rows only once settled. mqtt_inflight needs no pruning: it holds
# only the packet ids in flight, at most the broker's in-flight window.
_PRUNE_SQL = {
    "signals": "DELETE FROM signals WHERE id IN (SELECT s.id FROM signals s WHERE s.at < ?1"
               " AND s.incidents = '' AND NOT EXISTS (SELECT 1 FROM signal_incidents si"
               " WHERE si.signal_id = s.id) ORDER BY s.at LIMIT ?2)",
    "dead_letters": "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters"
                    " WHERE at < ?1 ORDER BY id LIMIT ?2)",
    "commands": "DELETE FROM commands WHERE id IN (SELECT id FROM commands"
                " WHERE status IN ('done', 'rejected') AND coalesce(done_at, at) < ?1"
                " ORDER BY id LIMIT ?2)",
    "outbox": "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox"
              " WHERE status IN ('sent', 'withheld', 'failed')"
              " AND coalesce(done_at, created_at) < ?1 ORDER BY id LIMIT ?2)",
}


def prune(conn: sqlite3.Connection, *, now: float, signals_days: float | None,
          dead_letters_days: float | None, commands_days: float | None,
          outbox_days: float | None, batch: int = 5000,
          max_batches: int | None = None) -> dict[str, int]:
    """Delete raw data older than its retention (days; None keeps that table whole).

    Deletes in batches of at most ``batch`` rows per statement and table. On a connection
    outside a transaction each batch commits on its own, so the write lock is never held long,
    and ``max_batches=None`` goes on until nothing is left. Inside a transaction (a ``Store``
    job) the batches join the caller's transaction, and ``max_batches=None`` means one batch
    per table: call again while ``"more"`` is set. Returns the rows deleted per table (the
    keys of ``PRUNE_TABLES``) and ``"more"``: 1 when it stopped before the end."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    days = {"signals": signals_days, "dead_letters": dead_letters_days,
            "commands": commands_days, "outbox": outbox_days}
    for table, keep in days.items():
        if keep is not None and keep <= 0:
            raise ValueError(f"retention of {table} must be more than 0 days (None: keep all)")
    own = not conn.in_transaction
    if max_batches is None and not own:
        max_batches = 1
    result = dict.fromkeys(PRUNE_TABLES, 0)
    more = False
    for table in PRUNE_TABLES:
        keep = days[table]
        if keep is None:
            continue
        cutoff = now - keep * DAY
        done = 0
        while True:
            if own:
                with transaction(conn):
                    deleted = conn.execute(_PRUNE_SQL[table], (cutoff, batch)).rowcount
            else:
                deleted = conn.execute(_PRUNE_SQL[table], (cutoff, batch)).rowcount
            result[table] += deleted
            done += 1
            if deleted < batch:
                break
            if max_batches is not None and done >= max_batches:
                more = True
                break
    result["more"] = int(more)
    return result
