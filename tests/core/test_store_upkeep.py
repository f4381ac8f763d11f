"""Store upkeep: schema migrations, online backup, restore and retention of raw data."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from gateway.config.site import SiteConfig
from gateway.domain.incident import Incident, to_json
from gateway.domain.model import Event, Location, PointKind, PointState, Signal
from gateway.engine.machine import Engine
from gateway.errors import StoreError
from gateway.playbook.load import load_playbooks
from gateway.store import values
from gateway.store.sqlite import backup as backups
from gateway.store.sqlite import reads, retention, schema
from gateway.store.sqlite.lock import DaemonLock
from gateway.store.sqlite.thread import Store
from gateway.store.sqlite.writes import write_batch
from gateway.store.values import SignalRecord, WriteSet
from tests.support.engine import T0, Harness
from tests.support.processes import ROOT

# The schema exactly as the first release wrote it (user_version 1), run whole on every start.
V1_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, at REAL NOT NULL, kind TEXT NOT NULL, incident_id TEXT,
    point_id TEXT, actor TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_incident ON events (incident_id, seq);
CREATE TABLE IF NOT EXISTS signals (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, point_id TEXT NOT NULL, device TEXT NOT NULL,
    state TEXT NOT NULL, value TEXT, changed INTEGER NOT NULL, replayed INTEGER NOT NULL,
    drill INTEGER NOT NULL, source TEXT NOT NULL, incidents TEXT NOT NULL, payload BLOB);
CREATE INDEX IF NOT EXISTS signals_point ON signals (point_id, id);
CREATE TABLE IF NOT EXISTS signal_incidents (
    signal_id INTEGER NOT NULL, incident_id TEXT NOT NULL, PRIMARY KEY (incident_id, signal_id));
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, status TEXT NOT NULL, stage TEXT NOT NULL,
    severity TEXT NOT NULL, drill INTEGER NOT NULL, location TEXT NOT NULL,
    opened_at REAL NOT NULL, updated_at REAL NOT NULL, closed_at REAL, snapshot TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS incidents_status ON incidents (status, opened_at);
CREATE TABLE IF NOT EXISTS points (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, since REAL NOT NULL, last_seen REAL NOT NULL,
    value TEXT, sources TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY, created_at REAL NOT NULL, kind TEXT NOT NULL, incident_id TEXT,
    action_id TEXT, topic TEXT NOT NULL, payload TEXT NOT NULL, qos INTEGER NOT NULL,
    retain INTEGER NOT NULL, withhold INTEGER NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, done_at REAL, detail TEXT);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (status) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, source TEXT NOT NULL, topic TEXT NOT NULL,
    reason TEXT NOT NULL, detail TEXT NOT NULL, size INTEGER NOT NULL, payload BLOB);
CREATE TABLE IF NOT EXISTS mqtt_rx (
    mid INTEGER PRIMARY KEY, topic TEXT NOT NULL, digest BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS commands (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, verb TEXT NOT NULL, incident_id TEXT NOT NULL,
    actor TEXT NOT NULL, args TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
    result TEXT, done_at REAL);
"""

# What version 2 added first (follow-ups); users and sessions came later at the same version.
V2_FOLLOW_UPS_SQL = """
CREATE TABLE IF NOT EXISTS follow_ups (
    incident_id TEXT NOT NULL, id TEXT NOT NULL, role TEXT NOT NULL, text_zh TEXT NOT NULL,
    text_en TEXT NOT NULL, due_at REAL NOT NULL, status TEXT NOT NULL, done_at REAL,
    done_by TEXT, note TEXT, drill INTEGER NOT NULL, PRIMARY KEY (incident_id, id));
CREATE INDEX IF NOT EXISTS follow_ups_due ON follow_ups (status, due_at);
"""

V1_TABLES = {"meta", "events", "signals", "signal_incidents", "incidents", "points", "outbox",
             "dead_letters", "mqtt_rx", "commands"}
NEW_TABLES = {"follow_ups", "users", "sessions", "config_versions", "ledgers"}
# version 4 drops mqtt_rx (redeliveries are told by the protocol, not by content) and gives
# points a heartbeat count; every other table keeps its rows as they are
GONE_TABLES = {"mqtt_rx"}
KEPT_TABLES = sorted(V1_TABLES - GONE_TABLES - {"points", "signals"})
LATEST_TABLES = (V1_TABLES - GONE_TABLES) | NEW_TABLES
DAY = 86_400.0


@pytest.fixture(scope="module")
def fire(site: SiteConfig) -> Incident:
    """A real incident from the engine: a smoke detector on the small test site."""
    h = Harness(Engine(site, load_playbooks(site.playbook_dir, site)), site)
    h.signal("B1-F12-Z3", device="SD-01")
    return h.only()


def tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def schema_objects(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    return {(r[0], r[1]) for r in conn.execute(
        "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}


def dump(conn: sqlite3.Connection, names: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in names}


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def build_old_store(path: Path, incident: Incident, *, version: int = 1) -> None:
    """A store as the code before migrations left it, with a row in every table."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(V1_SQL + (V2_FOLLOW_UPS_SQL if version >= 2 else ""))
        conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("INSERT INTO meta VALUES ('next_number', '2')")
        conn.execute(
            "INSERT INTO incidents VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (incident.id, incident.type, incident.status.value, incident.stage,
             incident.severity.value, incident.drill, incident.location.label(),
             incident.opened_at, incident.updated_at, incident.closed_at,
             json.dumps(to_json(incident))))
        conn.execute("INSERT INTO events (at, kind, incident_id, point_id, actor, data)"
                     " VALUES (?, 'incident_opened', ?, 'B1-F12-Z3', '', '{}')",
                     (T0, incident.id))
        conn.execute("INSERT INTO signals VALUES (1, ?, 'B1-F12-Z3', 'SD-01', 'alarm', NULL,"
                     " 1, 0, 0, 'mqtt', ?, x'7b7d')", (T0, incident.id))
        conn.execute("INSERT INTO signal_incidents VALUES (1, ?)", (incident.id,))
        conn.execute("INSERT INTO points VALUES ('B1-F12-Z3', 'alarm', ?, ?, NULL, '[]')",
                     (T0, T0))
        conn.execute("INSERT INTO outbox (created_at, kind, incident_id, action_id, topic,"
                     " payload, qos, retain, withhold, status) VALUES"
                     " (?, 'notify', ?, '', 't', '{}', 1, 0, 0, 'pending')", (T0, incident.id))
        conn.execute("INSERT INTO dead_letters (at, source, topic, reason, detail, size, payload)"
                     " VALUES (?, 'mqtt', 't', 'bad_json', 'x', 1, x'00')", (T0,))
        conn.execute("INSERT INTO mqtt_rx VALUES (7, 't', x'0102')")
        conn.execute("INSERT INTO commands (at, verb, incident_id, actor, args)"
                     " VALUES (?, 'ack', ?, '王工', '{}')", (T0, incident.id))
    finally:
        conn.close()


# ----------------------------------------------------------------------------- migrations


def test_a_v1_store_migrates_to_the_latest_schema_with_its_rows_intact(
        tmp_path: Path, fire: Incident) -> None:
    path = tmp_path / "store.sqlite3"
    build_old_store(path, fire, version=1)
    old = sqlite3.connect(path)
    before = dump(old, KEPT_TABLES)
    points = dump(old, ["points"])["points"]
    signals = dump(old, ["signals"])["signals"]
    old.close()

    conn = schema.connect(path)
    try:
        assert (conn.migrated_from, conn.migrations) == (1, (2, 3, 4, 5, 6))
        assert tables(conn) == LATEST_TABLES
        assert dump(conn, KEPT_TABLES) == before
        # the points gain a heartbeat count and their conditions; signals which condition
        # they are about and whether they were stale
        assert dump(conn, ["points"])["points"] == [(*row, 0, "{}") for row in points]
        assert dump(conn, ["signals"])["signals"] == [(*row, "", 0) for row in signals]
        assert schema.schema_version(conn) == schema.SCHEMA_VERSION
        assert reads.get_incident(conn, fire.id) == fire
        assert reads.list_follow_ups(conn) == []
        assert reads.latest_config_version(conn) is None
    finally:
        conn.close()

    again = schema.connect(path)
    try:
        assert (again.migrated_from, again.migrations) == (None, ())
        assert dump(again, KEPT_TABLES) == before
    finally:
        again.close()
    assert user_version(path) == schema.SCHEMA_VERSION


def test_a_fresh_store_and_a_migrated_one_have_the_same_schema(tmp_path: Path,
                                                               fire: Incident) -> None:
    build_old_store(tmp_path / "old.sqlite3", fire, version=1)
    fresh = schema.connect(tmp_path / "fresh.sqlite3")
    migrated = schema.connect(tmp_path / "old.sqlite3")
    try:
        assert (fresh.migrated_from, fresh.migrations) == (0, (1, 2, 3, 4, 5, 6))
        assert schema_objects(fresh) == schema_objects(migrated)
        assert ("index", "config_versions_hash") in schema_objects(fresh)
    finally:
        fresh.close()
        migrated.close()


def test_a_v2_store_from_before_the_console_gets_its_users_and_sessions(
        tmp_path: Path, fire: Incident) -> None:
    path = tmp_path / "store.sqlite3"
    build_old_store(path, fire, version=2)  # follow_ups, but no users/sessions, at version 2
    conn = schema.connect(path)
    try:
        assert (conn.migrated_from, conn.migrations) == (2, (3, 4, 5, 6))
        assert tables(conn) == LATEST_TABLES
        conn.execute("INSERT INTO users (name, display, password, roles, created_at)"
                     " VALUES ('a', 'A', 'x', '[]', 0)")
    finally:
        conn.close()


def test_a_store_newer_than_the_code_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("CREATE TABLE future (x)")
    raw.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StoreError, match=rf"schema {schema.SCHEMA_VERSION + 1}, newer"):
        schema.connect(path)
    assert user_version(path) == schema.SCHEMA_VERSION + 1
    raw = sqlite3.connect(path)
    try:
        assert tables(raw) == {"future"}
    finally:
        raw.close()


def test_a_failing_migration_is_rolled_back_whole(tmp_path: Path, fire: Incident,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "store.sqlite3"
    build_old_store(path, fire, version=1)
    broken = (*schema.MIGRATIONS[:2],
              (3, ("CREATE TABLE config_versions (id INTEGER PRIMARY KEY)", "NOT SQL")))
    monkeypatch.setattr(schema, "MIGRATIONS", broken)
    with pytest.raises(StoreError, match="syntax error"):
        schema.connect(path)
    assert user_version(path) == 2  # migration 2 committed, 3 did not
    raw = sqlite3.connect(path)
    try:
        assert "config_versions" not in tables(raw)
        assert "follow_ups" in tables(raw)
    finally:
        raw.close()
    monkeypatch.undo()
    conn = schema.connect(path)
    try:
        assert conn.migrations == (3, 4, 5, 6)
    finally:
        conn.close()


def test_config_versions_are_recorded_and_listed_newest_first(tmp_path: Path,
                                                              fire: Incident) -> None:
    old = tmp_path / "old.sqlite3"
    build_old_store(old, fire, version=1)
    reader = schema.connect(old, readonly=True)  # a CLI reading a store not yet migrated
    try:
        assert reads.latest_config_version(reader) is None
        assert reads.list_config_versions(reader) == []
    finally:
        reader.close()

    conn = schema.connect(tmp_path / "store.sqlite3")
    try:
        assert reads.latest_config_version(conn) is None
        first = reads.record_config_version(conn, at=T0, hash="aaa", actor="王工", source="cli",
                                            summary="initial", files={"site.yaml": "d1"})
        second = reads.record_config_version(conn, at=T0 + 60, hash="bbb", actor="李明",
                                             source="console", summary="点位 +1",
                                             files=["site.yaml", "points.yaml"])
        assert second > first
        assert reads.latest_config_version(conn) == (second, "bbb")
        listed = reads.list_config_versions(conn, limit=10)
        assert [(v.id, v.hash, v.actor, v.summary) for v in listed] == [
            (second, "bbb", "李明", "点位 +1"), (first, "aaa", "王工", "initial")]
        assert json.loads(listed[0].files) == ["site.yaml", "points.yaml"]
        assert json.loads(listed[1].files) == {"site.yaml": "d1"}
        third = reads.record_config_version(conn, at=T0 + 90, hash="ccc", actor="", source="sighup",
                                            summary="", files='["site.yaml"]')  # JSON text: as is
        assert reads.list_config_versions(conn, limit=1)[0].files == '["site.yaml"]'
        assert reads.latest_config_version(conn) == (third, "ccc")
    finally:
        conn.close()


# ----------------------------------------------------------------------------- backup

EVENTS_PER_INCIDENT = 3
SIGNALS_PER_INCIDENT = 2


def numbered_batch(incident: Incident, k: int) -> WriteSet:
    """Batch k: incident INC-k with its events and signals, one stray signal, meta batch = k."""
    iid = f"INC-{k:06d}"
    at = T0 + k
    ws = WriteSet()
    ws.incidents[iid] = dataclasses.replace(incident, id=iid)
    ws.events.extend(Event(kind="signal", at=at, incident_id=iid, point_id="B1-F12-Z3",
                           data={"n": n}) for n in range(EVENTS_PER_INCIDENT))
    sig = Signal(point_id="B1-F12-Z3", kind=PointKind.SMOKE_DETECTOR,
                 location=Location(site="demo", building="1"), state=PointState.ALARM, at=at,
                 device="SD-01", source="mqtt")
    ws.signals.extend(SignalRecord(sig, b"x" * 1500, (iid,))
                      for _ in range(SIGNALS_PER_INCIDENT))
    ws.signals.append(SignalRecord(sig, b"y" * 1500, ()))
    ws.meta["batch"] = str(k)
    return ws


def prefix(k: int) -> tuple[int, int, int]:
    """(incidents, events, signals) once batches 1..k committed."""
    return (k, k * EVENTS_PER_INCIDENT, k * (SIGNALS_PER_INCIDENT + 1))


def write_batches(path: Path, incident: Incident, ks: range) -> None:
    conn = schema.connect(path)
    try:
        for k in ks:
            with schema.transaction(conn):
                write_batch(conn, ws=numbered_batch(incident, k), now=T0 + k)
    finally:
        conn.close()


def check_copy(path: Path) -> int:
    """The copy is whole and consistent; returns the last batch it holds."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        k = int(conn.execute("SELECT value FROM meta WHERE key = 'batch'").fetchone()[0])
        assert backups._counts(conn) == prefix(k)  # noqa: SLF001 - the helper the API reports
        per_incident = conn.execute(
            "SELECT i.id, (SELECT count(*) FROM events e WHERE e.incident_id = i.id),"
            " (SELECT count(*) FROM signal_incidents si JOIN signals s ON s.id = si.signal_id"
            "  WHERE si.incident_id = i.id) FROM incidents i").fetchall()
        assert len(per_incident) == k
        assert {(e, s) for _, e, s in per_incident} == {(EVENTS_PER_INCIDENT,
                                                         SIGNALS_PER_INCIDENT)}
        return k
    finally:
        conn.close()


def test_backup_while_the_store_thread_writes_is_a_consistent_snapshot(
        tmp_path: Path, fire: Incident, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "store.sqlite3"
    dest = tmp_path / "backups" / "copy.sqlite3"
    write_batches(path, fire, range(1, 201))
    monkeypatch.setattr(backups, "BACKUP_STEP_PAGES", 8)  # many steps, writes land in between
    steps: list[tuple[int, int]] = []
    wrote = threading.Event()

    def progress(done: int, total: int) -> None:
        steps.append((done, total))
        if len(steps) == 1:  # the snapshot is taken: wait for a commit after it
            wrote.clear()
            assert wrote.wait(10)
        time.sleep(0.002)

    async def main() -> tuple[backups.BackupInfo, int, int]:
        st = Store(path)
        await st.open()
        committed = 200
        stop = asyncio.Event()

        async def writer() -> None:
            nonlocal committed
            while not stop.is_set():
                k = committed + 1
                ws = numbered_batch(fire, k)
                await st.call(lambda r: r.write_batch(ws, T0 + k))  # noqa: B023 - awaited here
                committed = k
                wrote.set()
                await asyncio.sleep(0.001)

        task = asyncio.create_task(writer())
        await asyncio.sleep(0.05)
        at_start = committed
        info = await asyncio.to_thread(backups.backup, path, dest, progress=progress)
        at_end = committed
        stop.set()
        await task
        await st.close()
        return info, at_start, at_end

    info, at_start, at_end = asyncio.run(main())
    assert at_end > at_start  # the daemon kept writing during the copy
    k = check_copy(dest)
    assert at_start <= k < at_end  # a commit landed after the snapshot, not in it
    assert (info.incidents, info.events, info.signals) == prefix(k)
    assert info.schema_version == schema.SCHEMA_VERSION
    assert info.bytes == dest.stat().st_size
    assert info.pages * 4096 == info.bytes
    assert len(steps) > 10
    assert steps[-1][0] == steps[-1][1]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["copy.sqlite3"]  # no temp left
    assert user_version(path) == schema.SCHEMA_VERSION


def test_backup_refuses_an_existing_destination_unless_told(tmp_path: Path,
                                                            fire: Incident) -> None:
    path = tmp_path / "store.sqlite3"
    write_batches(path, fire, range(1, 4))
    dest = tmp_path / "copy.sqlite3"
    dest.write_bytes(b"keep me")
    with pytest.raises(StoreError, match="exists already"):
        backups.backup(path, dest)
    assert dest.read_bytes() == b"keep me"
    with pytest.raises(StoreError, match="onto itself"):
        backups.backup(path, path, overwrite=True)
    info = backups.backup(path, dest, overwrite=True)
    assert check_copy(dest) == 3
    assert info.incidents == 3
    with pytest.raises(StoreError, match="no store"):
        backups.backup(tmp_path / "missing.sqlite3", tmp_path / "other.sqlite3")
    assert not (tmp_path / "other.sqlite3").exists()
    assert sorted(p.name for p in tmp_path.iterdir()
                  if p.name.startswith(".")) == []  # no temporary files left


# ----------------------------------------------------------------------------- restore


def test_restore_is_refused_while_a_daemon_holds_the_store(tmp_path: Path,
                                                           fire: Incident) -> None:
    path = tmp_path / "store.sqlite3"
    write_batches(path, fire, range(1, 3))
    copy = tmp_path / "copy.sqlite3"
    backups.backup(path, copy)
    before = path.read_bytes()

    lock = DaemonLock(path)  # another fd in this process, as a daemon would hold it
    lock.acquire()
    try:
        with pytest.raises(StoreError, match=r"daemon is running .* stop it before restoring"):
            backups.restore(copy, path, now=time.time())
    finally:
        lock.release()

    holder = subprocess.Popen(  # and another process
        [sys.executable, "-c", "import sys; from pathlib import Path;"
         "from gateway.store.sqlite.lock import DaemonLock;"
         f"DaemonLock(Path({str(path)!r})).acquire(); print('locked', flush=True);"
         "sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreError, match="daemon is running"):
            backups.restore(copy, path, now=time.time())
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.before-restore-*"))


def test_restore_puts_the_backup_in_place_and_keeps_the_old_store_aside(
        tmp_path: Path, fire: Incident) -> None:
    path = tmp_path / "store.sqlite3"
    write_batches(path, fire, range(1, 4))
    path.chmod(0o600)
    copy = tmp_path / "copy.sqlite3"
    backups.backup(path, copy)
    assert copy.stat().st_mode & 0o777 == 0o600  # never wider than the store
    write_batches(path, fire, range(4, 8))  # written after the backup: gone once restored
    path.chmod(0o640)

    now = time.mktime((2031, 5, 6, 7, 8, 9, 0, 0, -1))
    info = backups.restore(copy, path, now=now)
    aside = tmp_path / "store.sqlite3.before-restore-20310506-070809"
    assert info.aside == aside
    assert (info.schema_version, info.migrations) == (schema.SCHEMA_VERSION, ())
    assert (info.incidents, info.events, info.signals) == prefix(3)
    old = sqlite3.connect(aside)
    try:
        assert old.execute("SELECT value FROM meta WHERE key = 'batch'").fetchone() == ("7",)
        assert old.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        old.close()
    conn = schema.connect(path)
    try:
        assert backups._counts(conn) == prefix(3)  # noqa: SLF001
        assert reads.get_incident(conn, "INC-000003") is not None
        assert reads.get_incident(conn, "INC-000004") is None
    finally:
        conn.close()
    assert copy.exists()  # the source is left as it was
    assert path.stat().st_mode & 0o777 == 0o640  # the mode of the store it replaced
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert not list(tmp_path.glob("store.sqlite3-*"))  # migrated and closed: one file

    second = backups.restore(copy, path, now=now)  # same second: a name of its own
    assert second.aside == tmp_path / "store.sqlite3.before-restore-20310506-070809-2"


def test_restore_migrates_an_old_backup_and_refuses_bad_sources(tmp_path: Path,
                                                                fire: Incident) -> None:
    path = tmp_path / "store.sqlite3"
    old = tmp_path / "v1.sqlite3"
    build_old_store(old, fire, version=1)
    info = backups.restore(old, path, now=time.time())  # no store yet: nothing to move aside
    assert info.aside is None
    assert (info.schema_version, info.migrations) == (1, (2, 3, 4, 5, 6))
    assert user_version(path) == schema.SCHEMA_VERSION
    assert user_version(old) == 1

    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match=r"junk\.sqlite3"):
        backups.restore(junk, path, now=time.time())
    newer = tmp_path / "newer.sqlite3"
    build_old_store(newer, fire, version=1)
    raw = sqlite3.connect(newer, isolation_level=None)
    raw.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StoreError, match="newer than this gateway"):
        backups.restore(newer, path, now=time.time())
    other = tmp_path / "other.sqlite3"
    raw = sqlite3.connect(other)
    raw.execute("CREATE TABLE t (x)")
    raw.close()
    with pytest.raises(StoreError, match="not a gateway store"):
        backups.restore(other, path, now=time.time())
    with pytest.raises(StoreError, match="no backup file"):
        backups.restore(tmp_path / "missing.sqlite3", path, now=time.time())
    assert not list(tmp_path.glob("*.before-restore-*"))  # refused ones moved nothing


# ----------------------------------------------------------------------------- retention

NOW = T0 + 100 * DAY


def seed_for_prune(path: Path, incident: Incident) -> sqlite3.Connection:
    conn = schema.connect(path)
    old, recent = NOW - 40 * DAY, NOW - 1 * DAY
    sig = Signal(point_id="B1-F12-Z3", kind=PointKind.SMOKE_DETECTOR,
                 location=Location(site="demo"), state=PointState.ALARM, at=old, device="SD-01")
    ws = WriteSet()
    ws.incidents[incident.id] = incident
    ws.events.extend(Event(kind="signal", at=old, incident_id=incident.id) for _ in range(4))
    ws.signals.extend(SignalRecord(sig, b"old", ()) for _ in range(12))
    ws.signals.extend(SignalRecord(sig, b"kept", (incident.id,)) for _ in range(3))
    ws.signals.extend(SignalRecord(dataclasses.replace(sig, at=recent), b"new", ())
                      for _ in range(2))
    ws.dead_letters.extend(values.DeadLetter(at, "mqtt", "t", "bad_json", "", b"", 0)
                           for at in (old, old, recent))
    with schema.transaction(conn):
        write_batch(conn, ws=ws, now=old)
        for status, at in (("done", old), ("rejected", old), ("pending", old), ("done", recent)):
            cid = reads.submit_command(conn, "ack", incident.id, "王工", {}, at)
            conn.execute("UPDATE commands SET status = ?, done_at = ? WHERE id = ?",
                         (status, None if status == "pending" else at, cid))
        for status, at in (("sent", old), ("withheld", old), ("failed", old), ("pending", old),
                           ("sent", recent)):
            conn.execute("INSERT INTO outbox (created_at, kind, topic, payload, qos, retain,"
                         " withhold, status, done_at) VALUES (?, 'notify', 't', '{}', 1, 0, 0,"
                         " ?, ?)", (at, status, None if status == "pending" else at))
    return conn


RETENTION = {"signals_days": 30, "dead_letters_days": 30, "commands_days": 30,
             "outbox_days": 30}


def test_prune_deletes_old_unreferenced_rows_in_batches_and_keeps_the_record(
        tmp_path: Path, fire: Incident) -> None:
    conn = seed_for_prune(tmp_path / "store.sqlite3", fire)
    try:
        events_before = reads.incident_events(conn, fire.id)
        deletes: list[str] = []
        conn.set_trace_callback(lambda sql: deletes.append(sql) if "DELETE" in sql else None)
        result = retention.prune(conn, now=NOW, batch=5, **RETENTION)
        conn.set_trace_callback(None)
        assert result == {"signals": 12, "dead_letters": 2, "commands": 2, "outbox": 3,
                          "more": 0}
        assert sum("FROM signals" in d for d in deletes) == 3  # 5 + 5 + 2, one commit each
        assert conn.execute("SELECT payload FROM signals ORDER BY id").fetchall() == [
            (b"kept",)] * 3 + [(b"new",)] * 2
        assert len(reads.incident_signals(conn, fire.id)) == 3
        assert reads.incident_events(conn, fire.id) == events_before
        assert reads.get_incident(conn, fire.id) == fire
        assert conn.execute("SELECT count(*) FROM dead_letters").fetchone() == (1,)
        assert sorted(conn.execute("SELECT status FROM commands")) == [("done",), ("pending",)]
        assert sorted(conn.execute("SELECT status FROM outbox")) == [("pending",), ("sent",)]
        assert retention.prune(conn, now=NOW, batch=5, **RETENTION) == dict.fromkeys(
            [*retention.PRUNE_TABLES, "more"], 0)
    finally:
        conn.close()


def test_prune_inside_a_store_job_stops_after_max_batches_and_says_more_remains(
        tmp_path: Path, fire: Incident) -> None:
    path = tmp_path / "store.sqlite3"
    seed_for_prune(path, fire).close()
    job = partial(retention.prune, now=NOW, batch=5, signals_days=30,  # one batch: in a job
                  dead_letters_days=30, commands_days=30, outbox_days=30)

    async def main() -> list[dict[str, int]]:
        st = Store(path)
        await st.open()
        results = [await st.call(lambda r: job(r.conn))]
        while results[-1]["more"]:
            results.append(await st.call(lambda r: job(r.conn)))
        await st.close()
        return results

    results = asyncio.run(main())
    assert [r["signals"] for r in results] == [5, 5, 2]
    assert [r["more"] for r in results] == [1, 1, 0]
    assert sum(r["outbox"] for r in results) == 3


def test_prune_with_no_retention_keeps_the_table(tmp_path: Path, fire: Incident) -> None:
    conn = seed_for_prune(tmp_path / "store.sqlite3", fire)
    try:
        result = retention.prune(conn, now=NOW, signals_days=None, dead_letters_days=None,
                             commands_days=30, outbox_days=None)
        assert result == {"signals": 0, "dead_letters": 0, "commands": 2, "outbox": 0,
                          "more": 0}
        assert conn.execute("SELECT count(*) FROM signals").fetchone() == (17,)
        with pytest.raises(ValueError, match="more than 0 days"):
            retention.prune(conn, now=NOW, signals_days=0, dead_letters_days=None,
                        commands_days=None, outbox_days=None)
        with schema.transaction(conn):  # in a caller's transaction: bounded by max_batches
            capped = retention.prune(conn, now=NOW, batch=4, max_batches=2, **RETENTION)
        assert (capped["signals"], capped["more"]) == (8, 1)
    finally:
        conn.close()


def test_the_packet_ids_in_flight_of_a_v5_store_become_the_broker_adapters_ledger(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "store.sqlite3"
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:5])
    schema.connect(path).close()
    raw = sqlite3.connect(path)
    raw.executemany("INSERT INTO mqtt_inflight (mid) VALUES (?)", [(3,), (41,), (65535,)])
    raw.commit()
    raw.close()
    monkeypatch.undo()
    conn = schema.connect(path)
    try:
        assert conn.migrations == (6,)
        assert "mqtt_inflight" not in tables(conn)
        assert reads.load_startup(conn).ledgers == {"mqtt": (3, 41, 65535)}
    finally:
        conn.close()
