"""Online backup of the store and restore of a backup, while the daemon runs or not."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from gateway.errors import StoreError
from gateway.store.sqlite.lock import DaemonLock
from gateway.store.sqlite.schema import SCHEMA_VERSION, connect, schema_version
from gateway.store.values import BackupInfo, RestoreInfo

BACKUP_STEP_PAGES = 1024  # pages copied per step of an online backup (4 MiB at 4 KiB pages)


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
        version = _checked_copy(src, tmp, mode)
        _same_owner(tmp, owner)
        _fsync(tmp)
        aside = _move_aside(store_path, now)
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


def _checked_copy(src: Path, tmp: Path, mode: int) -> int:
    """The backup copied to ``tmp`` once it proves sound: it opens, passes its integrity
    check, is a gateway store and has a schema this code knows (its version, returned)."""
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
    return version


def _move_aside(store_path: Path, now: float) -> Path | None:
    """The store in place, with its side files, moved aside (kept); where to, if anything."""
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
    return aside
