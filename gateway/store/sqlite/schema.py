"""The SQLite store's schema, its migrations, and opening it."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from gateway.errors import StoreError

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
    (6, (
        # what each adapter keeps with its commits to tell a redelivery apart after a crash
        # (adapters/interface.py: Ledger); the MQTT packet ids in flight move in
        """CREATE TABLE IF NOT EXISTS ledgers (
    adapter TEXT NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (adapter, id)) WITHOUT ROWID""",
        "INSERT OR IGNORE INTO ledgers (adapter, id) SELECT 'mqtt', mid FROM mqtt_inflight",
        "DROP TABLE mqtt_inflight",
    )),
)


SCHEMA_VERSION = MIGRATIONS[-1][0]


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


def row_id(cur: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just wrote."""
    if cur.lastrowid is None:
        raise StoreError("the store gave no id for a row it was asked to insert")
    return cur.lastrowid


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


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
