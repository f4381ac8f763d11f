"""Reading the SQLite store: incidents, their timelines, tasks, commands, versions."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from gateway.domain.effects import Outgoing, Purpose, from_record
from gateway.domain.events import EventKind
from gateway.domain.incident import Incident, from_json
from gateway.domain.model import Event, PointState
from gateway.points.conditioning import PointStatus
from gateway.store.sqlite.schema import row_id
from gateway.store.sqlite.writes import _dumps
from gateway.store.values import (
    DeadLetter,
    FollowUpTask,
    OutboxItem,
    StartupState,
    StoredConfigVersion,
    StoredSignal,
)


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
    pending, unreadable = [], []
    for number, target, payload, qos, retain, kind, incident_id, action_id, withhold in (
            conn.execute("SELECT id, topic, payload, qos, retain, kind, incident_id, action_id,"
                         " withhold FROM outbox WHERE status = 'pending' ORDER BY id")):
        try:
            effect = from_record(target, payload, qos, bool(retain))
            purpose = Purpose(kind)
        except (ValueError, TypeError) as exc:
            unreadable.append((number, f"not an effect: {target} ({exc})"))
            continue
        pending.append(OutboxItem(number, Outgoing(effect, purpose, incident_id or "",
                                                   action_id or "", bool(withhold))))
    row = conn.execute("SELECT value FROM meta WHERE key = 'next_number'").fetchone()
    drill = conn.execute("SELECT value FROM meta WHERE key = 'drill_window'").fetchone()
    shelved = conn.execute("SELECT value FROM meta WHERE key = 'shelved'").fetchone()
    by_hand = conn.execute("SELECT value FROM meta WHERE key = 'site_actions'").fetchone()
    swaps = conn.execute("SELECT value FROM meta WHERE key = 'roster_swaps'").fetchone()
    ledgers: dict[str, list[int]] = {}
    for adapter, number in conn.execute("SELECT adapter, id FROM ledgers ORDER BY adapter, id"):
        ledgers.setdefault(adapter, []).append(number)
    return StartupState(incidents, points, pending, int(row[0]) if row else 1,
                        drill[0] if drill else "",
                        json.loads(shelved[0]) if shelved else {},
                        {a: tuple(ids) for a, ids in ledgers.items()}, tuple(unreadable),
                        by_hand[0] if by_hand else "", swaps[0] if swaps else "")


def pending_commands(conn: sqlite3.Connection) -> list[tuple[int, str, str, str, dict[str, str]]]:
    return [(cid, verb, incident_id, actor, json.loads(args))
            for cid, verb, incident_id, actor, args in conn.execute(
                "SELECT id, verb, incident_id, actor, args FROM commands"
                " WHERE status = 'pending' ORDER BY id")]


def list_incidents(conn: sqlite3.Connection, *, include_closed: bool = False,
                   limit: int = 200) -> list[Incident]:
    where = "" if include_closed else "WHERE status != 'closed'"
    return [from_json(json.loads(row[0])) for row in conn.execute(
        f"SELECT snapshot FROM incidents {where} ORDER BY opened_at DESC LIMIT ?", (limit,))]


def get_incident(conn: sqlite3.Connection, incident_id: str) -> Incident | None:
    row = conn.execute("SELECT snapshot FROM incidents WHERE id = ?", (incident_id,)).fetchone()
    return from_json(json.loads(row[0])) if row else None


def incident_events(conn: sqlite3.Connection, incident_id: str) -> list[Event]:
    return [Event(kind=EventKind(kind), at=at, incident_id=incident_id, point_id=point_id or "",
                  actor=actor or "", data=json.loads(data))
            for at, kind, point_id, actor, data in conn.execute(
                "SELECT at, kind, point_id, actor, data FROM events WHERE incident_id = ?"
                " ORDER BY seq", (incident_id,))]


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
    return row_id(cur)


def command_result(conn: sqlite3.Connection, command_id: int) -> tuple[str, str | None]:
    status, result = conn.execute("SELECT status, result FROM commands WHERE id = ?",
                                  (command_id,)).fetchone()
    return status, result


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
    return row_id(cur)


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
