"""The SQLite store's queries for the console's users and sessions, the KPIs, the actuator
page and the scenario replays."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from gateway.domain.incident import Incident, from_json
from gateway.store.values import CommandRow, Mark, UserRow

# ----------------------------------------------------------------------------- users


def _user(name: str, display: str, roles: str, disabled: Any, password: str = "") -> UserRow:
    return UserRow(name, display, tuple(roles.split(",")), bool(disabled), password)


def add_user(conn: sqlite3.Connection, user: UserRow, now: float) -> None:
    try:
        conn.execute("INSERT INTO users (name, display, password, roles, created_at)"
                     " VALUES (?,?,?,?,?)",
                     (user.name, user.display, user.password_hash, ",".join(user.roles), now))
    except sqlite3.IntegrityError:
        raise ValueError(f"user {user.name!r} already exists") from None


def update_user(conn: sqlite3.Connection, name: str, *, password_hash: str | None,
                roles: Sequence[str] | None, disabled: bool | None) -> bool:
    found = conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is not None
    if password_hash is not None:
        conn.execute("UPDATE users SET password = ? WHERE name = ?", (password_hash, name))
    if roles is not None:
        conn.execute("UPDATE users SET roles = ? WHERE name = ?", (",".join(roles), name))
    if disabled is not None:
        conn.execute("UPDATE users SET disabled = ? WHERE name = ?", (disabled, name))
    return found


def list_users(conn: sqlite3.Connection) -> list[UserRow]:
    return [_user(*row) for row in conn.execute(
        "SELECT name, display, roles, disabled FROM users ORDER BY name")]


def user_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM users").fetchone()[0])


def find_user(conn: sqlite3.Connection, name: str) -> UserRow | None:
    row = conn.execute("SELECT name, display, roles, disabled, password FROM users"
                       " WHERE name = ?", (name,)).fetchone()
    return _user(*row) if row else None


def add_session(conn: sqlite3.Connection, token_hash: bytes, user: str, now: float,
                expires_at: float) -> None:
    conn.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
    conn.execute("INSERT INTO sessions (token_hash, user, created_at, expires_at)"
                 " VALUES (?,?,?,?)", (token_hash, user, now, expires_at))


def session_user(conn: sqlite3.Connection, token_hash: bytes, now: float) -> UserRow | None:
    row = conn.execute(
        "SELECT u.name, u.display, u.roles, u.disabled FROM sessions s JOIN users u"
        " ON u.name = s.user WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0",
        (token_hash, now)).fetchone()
    return _user(*row) if row else None


def session_expires(conn: sqlite3.Connection, token_hash: bytes) -> float:
    row = conn.execute("SELECT expires_at FROM sessions WHERE token_hash = ?",
                       (token_hash,)).fetchone()
    return float(row[0]) if row else 0.0


def end_sessions(conn: sqlite3.Connection, *, token_hash: bytes | None,
                 user: str | None) -> None:
    if token_hash is not None:
        conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))
    if user is not None:
        conn.execute("DELETE FROM sessions WHERE user = ?", (user,))


# ----------------------------------------------------------------------------- KPIs


def incidents_opened(conn: sqlite3.Connection, since: float, until: float) -> list[Incident]:
    return [from_json(json.loads(row[0])) for row in conn.execute(
        "SELECT snapshot FROM incidents WHERE opened_at >= ? AND opened_at < ?"
        " ORDER BY opened_at, id", (since, until))]


def incident_event_data(conn: sqlite3.Connection, since: float, until: float,
                        kinds: Sequence[str]) -> list[tuple[str, str, dict[str, Any]]]:
    marks = ",".join("?" * len(kinds))
    return [(incident_id, kind, json.loads(data)) for incident_id, kind, data in conn.execute(
        "SELECT e.incident_id, e.kind, e.data FROM events e JOIN incidents i"
        " ON i.id = e.incident_id WHERE i.opened_at >= ? AND i.opened_at < ?"
        f" AND e.kind IN ({marks}) ORDER BY e.seq", (since, until, *kinds))]


def incidents_open_at(conn: sqlite3.Connection, at: float) -> list[Incident]:
    out = []
    for (snapshot,) in conn.execute(
            "SELECT snapshot FROM incidents WHERE opened_at < ?"
            " AND (closed_at IS NULL OR closed_at > ?) ORDER BY opened_at, id", (at, at)):
        incident = from_json(json.loads(snapshot))
        last = conn.execute(
            "SELECT kind FROM events WHERE incident_id = ? AND kind IN ('closed', 'reopened')"
            " AND at <= ? ORDER BY seq DESC LIMIT 1", (incident.id, at)).fetchone()
        if last is not None and last[0] == "closed":
            continue  # closed by then, reopened later
        out.append(incident)
    return out


# ----------------------------------------------------------------------------- the console


def recent_commands(conn: sqlite3.Connection, limit: int) -> list[CommandRow]:
    return [CommandRow(*row) for row in conn.execute(
        "SELECT action_id, status, created_at, done_at, detail, incident_id FROM outbox"
        " WHERE kind = 'command' AND action_id != '' ORDER BY id DESC LIMIT ?", (limit,))]


# ----------------------------------------------------------------------------- replays


def incidents_touched_since(conn: sqlite3.Connection, at: float) -> list[Incident]:
    return [from_json(json.loads(row[0])) for row in conn.execute(
        "SELECT snapshot FROM incidents WHERE opened_at >= ? OR updated_at >= ?", (at, at))]


def point_row(conn: sqlite3.Connection, point_id: str) -> tuple[str, float] | None:
    row = conn.execute("SELECT state, last_seen FROM points WHERE id = ?",
                       (point_id,)).fetchone()
    return (str(row[0]), float(row[1])) if row else None


def points_heard_since(conn: sqlite3.Connection, point_ids: Sequence[str],
                       since: float) -> int:
    marks = ",".join("?" * len(point_ids))
    return len(conn.execute(
        f"SELECT id FROM points WHERE state != 'offline' AND since >= ? AND id IN ({marks})",
        (since, *point_ids)).fetchall())


def mark(conn: sqlite3.Connection, at: float) -> Mark:
    ids = conn.execute("SELECT (SELECT coalesce(max(id), 0) FROM signals),"
                       " (SELECT coalesce(max(id), 0) FROM dead_letters),"
                       " (SELECT coalesce(max(id), 0) FROM outbox)").fetchone()
    return Mark(at, int(ids[0]), int(ids[1]), int(ids[2]))


def signals_after(conn: sqlite3.Connection, mark: Mark) -> list[tuple[str, str, bool]]:
    return [(pid, state, bool(drill)) for pid, state, drill in conn.execute(
        "SELECT point_id, state, drill FROM signals WHERE id > ?", (mark.signal_id,))]


def heard_between(conn: sqlite3.Connection, since: float,
                  until: float) -> list[tuple[str, float, float, int, str]]:
    return [(str(p), float(first), float(last), int(n), str(states or ""))
            for p, first, last, n, states in conn.execute(
                "SELECT point_id, min(at), max(at), count(*), group_concat(DISTINCT state)"
                " FROM signals WHERE at >= ? AND at < ? AND state != 'offline'"
                " AND source != 'supervision' GROUP BY point_id", (since, until))]


def commands_after(conn: sqlite3.Connection, mark: Mark) -> list[tuple[str, str]]:
    return [(topic, status) for topic, status in conn.execute(
        "SELECT topic, status FROM outbox WHERE kind = 'command' AND withhold = 0"
        " AND id > ? ORDER BY id", (mark.outbox_id,))]


def stored_since(conn: sqlite3.Connection, mark: Mark) -> int:
    row = conn.execute("SELECT (SELECT count(*) FROM signals WHERE id > ?)"
                       " + (SELECT count(*) FROM dead_letters WHERE id > ?)",
                       (mark.signal_id, mark.dead_letter_id)).fetchone()
    return int(row[0])
