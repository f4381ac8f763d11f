"""Retention: raw data pruned after its time, incidents and their timelines kept."""

from __future__ import annotations

import sqlite3

from gateway.store.sqlite.schema import transaction

DAY = 86_400.0


PRUNE_TABLES = ("signals", "dead_letters", "commands", "outbox")


# One statement per table, deleting at most ``batch`` rows older than the cutoff (``?1``).
# Raw signals go only when no incident refers to them (the timeline and the incidents stay
# whole); commands and outbox rows only once settled. The ledgers need no pruning: they hold
# only what is in flight (MQTT: at most the broker's in-flight window).
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
