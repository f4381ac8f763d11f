"""Writing one batch of the pipeline: everything it changed, in one transaction."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from gateway.domain.effects import MqttPublish, payload_text
from gateway.domain.incident import to_json
from gateway.points.conditioning import PointStatus
from gateway.store.sqlite.schema import row_id
from gateway.store.values import OutboxItem, WriteSet


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
    for out in ws.outbox:
        qos, retain = ((out.effect.qos, out.effect.retain) if isinstance(out.effect, MqttPublish)
                       else (1, False))
        cur = conn.execute(
            "INSERT INTO outbox (created_at, kind, incident_id, action_id, topic, payload, qos,"
            " retain, withhold, status) VALUES (?,?,?,?,?,?,?,?,?, 'pending')",
            (now, out.purpose.value, out.incident_id, out.action_id, out.target,
             payload_text(out.effect), qos, retain, out.withhold))
        items.append(OutboxItem(row_id(cur), out))
    conn.executemany(
        "INSERT INTO dead_letters (at, source, topic, reason, detail, size, payload)"
        " VALUES (?,?,?,?,?,?,?)",
        [(d.at, d.source, d.topic, d.reason, d.detail, d.size, d.payload)
         for d in ws.dead_letters])
    for adapter, (added, removed) in ws.ledgers.items():
        conn.executemany("DELETE FROM ledgers WHERE adapter = ? AND id = ?",
                         [(adapter, i) for i in removed])
        conn.executemany("INSERT OR REPLACE INTO ledgers (adapter, id) VALUES (?, ?)",
                         [(adapter, i) for i in added])
    conn.executemany("UPDATE commands SET status = ?, result = ?, done_at = ? WHERE id = ?",
                     [("done" if a.ok else "rejected", a.text, now, a.row_id)
                      for a in ws.command_results])
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
