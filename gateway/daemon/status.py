"""The gateway's vital signs, read from its parts (``health`` judges them), and the one line
systemd's STATUS shows."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from gateway.daemon.decisions import Decisions
from gateway.daemon.health import BAD_INPUT_WINDOW, Vitals, degraded, problems
from gateway.domain.model import PointState

if TYPE_CHECKING:
    from gateway.daemon.gateway import Gateway


def vitals(gw: Gateway, now: float) -> Vitals:
    broker = [a.health() for a in gw.adapters.values() if a.kind == "mqtt"]
    mqtt = broker[0] if broker else None
    store, committer = gw.store, gw.pipeline.committer
    return Vitals(
        now=now, started_at=gw.started_at, broker=gw.site.broker.describe(),
        broker_connected=bool(mqtt and mqtt.connected),
        broker_down_since=gw.self_checks.broker_down_since, store_running=store.running,
        store_failing_since=store.failing_since or committer.failing_since,
        store_error=store.last_error, store_damage=gw.store_damage,
        commit_waiting_since=committer.waiting_since,
        last_commit_at=gw.pipeline.last_commit_at or None,
        unacknowledged=sum(a.health().unacknowledged for a in gw.adapters.values()),
        oldest_unacknowledged=min((h.oldest_unacknowledged for h in (
            a.health() for a in gw.adapters.values()) if h.oldest_unacknowledged is not None),
            default=None),
        probe_waiting_since=mqtt.probe_waiting_since if mqtt else None,
        last_rx=dict(gw.pipeline.last_rx), bad_input_recent=bad_input_recent(gw.d, now),
        modbus={a.name: {"connected": h.connected, "units_offline": list(h.units_offline),
                         "units_misconfigured": list(h.detail.get("units_misconfigured", ()))}
                for a, h in ((a, a.health()) for a in gw.adapters.values())
                if a.kind == "modbus"})


def bad_input_recent(d: Decisions, now: float) -> dict[str, int]:
    recent: Counter[str] = Counter()
    for at, source in reversed(d.bad_input):
        if now - at > BAD_INPUT_WINDOW:
            break
        recent[source] += 1
    return dict(recent)


def status_line(gw: Gateway) -> str:
    total = len(gw.site.points)
    online = sum(1 for pid, p in gw.points.items()
                 if p.state is not PointState.OFFLINE and pid in gw.site.points)
    live = len(gw.state.incidents)
    parts = [f"{live} open incident{'s' if live != 1 else ''}",
             "broker connected" if gw.broker_connected else "broker DISCONNECTED",
             f"{online}/{total} points online"]
    v = gw.vitals()
    found = problems(v, gw.site.health_limits)
    if found:
        parts.append("PROBLEM: " + "; ".join(found))
    notes = degraded(v)
    if notes:
        parts.append("DEGRADED: " + "; ".join(notes))
    down = gw.self_checks.down()
    if down:
        parts.append("SYSTEM: " + ", ".join(down))
    drill = gw.drill
    if drill is not None and drill.active(gw.clock()):
        parts.append(f"drill on ({drill.scope_text()})")
    if gw.draining:
        parts.append("stopping")
    return ", ".join(parts)
