"""The store's interface (``gateway.store.records.Records``) on one SQLite connection."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from gateway.domain.incident import Incident
from gateway.domain.model import Event
from gateway.errors import StoreError
from gateway.store.sqlite import queries, reads, retention, writes
from gateway.store.sqlite.schema import connect, transaction
from gateway.store.values import (
    CommandRow,
    DeadLetter,
    FollowUpTask,
    Mark,
    OutboxItem,
    StartupState,
    StoredConfigVersion,
    StoredSignal,
    UserRow,
    WriteSet,
)

T = TypeVar("T")


class SqliteRecords:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def _write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """A write of its own outside the daemon's transactions (the CLI's), inside one."""
        if self.conn.in_transaction:
            return contextlib.nullcontext(self.conn)
        return transaction(self.conn)

    # --------------------------------------------------------------- the daemon's writes
    def write_batch(self, ws: WriteSet, now: float) -> list[OutboxItem]:
        with self._write():
            return writes.write_batch(self.conn, ws=ws, now=now)

    def mark_outbox(self, results: list[tuple[int, str, str, float]]) -> None:
        with self._write():
            writes.mark_outbox(self.conn, results=results)

    def load_startup(self) -> StartupState:
        return reads.load_startup(self.conn)

    def pending_commands(self) -> list[tuple[int, str, str, str, dict[str, str]]]:
        return reads.pending_commands(self.conn)

    def prune(self, *, now: float, signals_days: float | None, dead_letters_days: float | None,
              commands_days: float | None, outbox_days: float | None) -> dict[str, int]:
        with self._write():
            return retention.prune(self.conn, now=now, signals_days=signals_days,
                                   dead_letters_days=dead_letters_days,
                                   commands_days=commands_days, outbox_days=outbox_days)

    def record_config_version(self, *, at: float, hash: str, actor: str, source: str,
                              summary: str, files: Any) -> int:
        with self._write():
            return reads.record_config_version(self.conn, at=at, hash=hash, actor=actor,
                                               source=source, summary=summary, files=files)

    def latest_config_version(self) -> tuple[int, str] | None:
        return reads.latest_config_version(self.conn)

    # --------------------------------------------------------------- incidents
    def list_incidents(self, *, include_closed: bool = False,
                       limit: int = 200) -> list[Incident]:
        return reads.list_incidents(self.conn, include_closed=include_closed, limit=limit)

    def get_incident(self, incident_id: str) -> Incident | None:
        return reads.get_incident(self.conn, incident_id)

    def incident_events(self, incident_id: str) -> list[Event]:
        return reads.incident_events(self.conn, incident_id)

    def incident_signals(self, incident_id: str) -> list[StoredSignal]:
        return reads.incident_signals(self.conn, incident_id)

    def incidents_opened(self, since: float, until: float) -> list[Incident]:
        return queries.incidents_opened(self.conn, since, until)

    def incident_event_data(self, since: float, until: float,
                            kinds: Sequence[str]) -> list[tuple[str, str, dict[str, Any]]]:
        return queries.incident_event_data(self.conn, since, until, kinds)

    def incidents_open_at(self, at: float) -> list[Incident]:
        return queries.incidents_open_at(self.conn, at)

    def incidents_touched_since(self, at: float) -> list[Incident]:
        return queries.incidents_touched_since(self.conn, at)

    # --------------------------------------------------------------- tasks, letters, versions
    def list_follow_ups(self, *, include_done: bool = False,
                        limit: int = 200) -> list[FollowUpTask]:
        return reads.list_follow_ups(self.conn, include_done=include_done, limit=limit)

    def list_dead_letters(self, limit: int = 50) -> list[DeadLetter]:
        return reads.list_dead_letters(self.conn, limit)

    def list_config_versions(self, limit: int = 50) -> list[StoredConfigVersion]:
        return reads.list_config_versions(self.conn, limit)

    def recent_commands(self, limit: int = 500) -> list[CommandRow]:
        return queries.recent_commands(self.conn, limit)

    # --------------------------------------------------------------- operator commands
    def submit_command(self, verb: str, incident_id: str, actor: str, args: dict[str, str],
                       now: float) -> int:
        return reads.submit_command(self.conn, verb, incident_id, actor, args, now)

    def command_result(self, command_id: int) -> tuple[str, str | None]:
        return reads.command_result(self.conn, command_id)

    # --------------------------------------------------------------- points and signals
    def point_row(self, point_id: str) -> tuple[str, float] | None:
        return queries.point_row(self.conn, point_id)

    def points_heard_since(self, point_ids: Sequence[str], since: float) -> int:
        return queries.points_heard_since(self.conn, point_ids, since)

    def heard_between(self, since: float,
                      until: float) -> list[tuple[str, float, float, int, str]]:
        return queries.heard_between(self.conn, since, until)

    def mark(self, at: float) -> Mark:
        return queries.mark(self.conn, at)

    def signals_after(self, mark: Mark) -> list[tuple[str, str, bool]]:
        return queries.signals_after(self.conn, mark)

    def commands_after(self, mark: Mark) -> list[tuple[str, str]]:
        return queries.commands_after(self.conn, mark)

    def stored_since(self, mark: Mark) -> int:
        return queries.stored_since(self.conn, mark)

    # --------------------------------------------------------------- console users
    def add_user(self, user: UserRow, now: float) -> None:
        with self._write():
            queries.add_user(self.conn, user, now)

    def update_user(self, name: str, *, password_hash: str | None = None,
                    roles: Sequence[str] | None = None, disabled: bool | None = None) -> bool:
        with self._write():
            return queries.update_user(self.conn, name, password_hash=password_hash,
                                       roles=roles, disabled=disabled)

    def list_users(self) -> list[UserRow]:
        return queries.list_users(self.conn)

    def user_count(self) -> int:
        return queries.user_count(self.conn)

    def find_user(self, name: str) -> UserRow | None:
        return queries.find_user(self.conn, name)

    def add_session(self, token_hash: bytes, user: str, now: float, expires_at: float) -> None:
        with self._write():
            queries.add_session(self.conn, token_hash, user, now, expires_at)

    def session_user(self, token_hash: bytes, now: float) -> UserRow | None:
        return queries.session_user(self.conn, token_hash, now)

    def session_expires(self, token_hash: bytes) -> float:
        return queries.session_expires(self.conn, token_hash)

    def end_sessions(self, *, token_hash: bytes | None = None, user: str | None = None) -> None:
        with self._write():
            queries.end_sessions(self.conn, token_hash=token_hash, user=user)


@contextlib.contextmanager
def open_records(path: Path, *, readonly: bool = False) -> Iterator[SqliteRecords]:
    """The store at ``path`` for one piece of work (a CLI command, a page's reads); closed
    after it. Errors of the database are StoreError."""
    conn = connect(path, readonly=readonly)
    try:
        yield SqliteRecords(conn)
    except sqlite3.Error as exc:
        raise StoreError(f"store {path}: {exc}") from exc
    finally:
        conn.close()


class SharedReader:
    """One read-only connection kept open for many short reads (the console's pages) from
    worker threads, one read at a time; opened on first use, closed by ``close``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._records: SqliteRecords | None = None
        self._lock = threading.Lock()

    def run(self, fn: Callable[[SqliteRecords], T]) -> T:
        with self._lock:
            if self._records is None:
                self._records = SqliteRecords(connect(self.path, readonly=True))
            try:
                return fn(self._records)
            except sqlite3.Error as exc:
                raise StoreError(f"store {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._records is not None:
                self._records.conn.close()
                self._records = None
