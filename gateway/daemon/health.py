"""What the gateway says about itself: one reading of its vital signs, judged against limits.

The same judgement feeds ``/healthz`` (503 while anything is wrong), systemd's STATUS line and
the gateway's own points (SYS-*), which open a ``gateway_health`` incident like any device
would. Pure: the daemon takes the reading, this module only judges it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.config.site import Limits


@dataclass(frozen=True, slots=True)
class Vitals:
    now: float
    started_at: float
    broker: str  # where the broker is, for the texts
    broker_connected: bool
    broker_down_since: float | None
    store_running: bool
    store_failing_since: float | None
    store_error: str
    store_damage: str | None
    commit_waiting_since: float | None  # the oldest batch not yet committed, decided then
    last_commit_at: float | None
    unacknowledged: int
    oldest_unacknowledged: float | None
    probe_waiting_since: float | None
    last_rx: Mapping[str, float]
    modbus: Mapping[str, Mapping[str, Any]]
    # bad input of the last few minutes, by source (topic or register): while it keeps
    # arriving the gateway is degraded
    bad_input_recent: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Check:
    """One of the gateway's own points: in alarm or not, and why."""

    point: str
    bad: bool
    why: str


def checks(v: Vitals, limits: Limits) -> list[Check]:
    """The gateway's own points, each judged with its grace period (they open incidents)."""
    down_for = 0.0 if v.broker_down_since is None else v.now - v.broker_down_since
    out = [Check("SYS-BROKER", down_for >= limits.broker_down_after,
                 f"broker {v.broker} disconnected for {down_for:.0f}s")]
    out.append(_store_check(v, limits))
    age = 0.0 if v.oldest_unacknowledged is None else v.now - v.oldest_unacknowledged
    backlog = (age >= limits.unacknowledged_after
               or v.unacknowledged >= limits.max_unacknowledged)
    out.append(Check("SYS-BACKLOG", backlog,
                     f"{v.unacknowledged} alarms received and not yet stored, the oldest for "
                     f"{age:.0f}s"))
    # deaf: connected, yet nothing comes in, not even the gateway's own probe message (a
    # backlog being worked off is not deafness: messages keep arriving)
    waiting = 0.0 if v.probe_waiting_since is None else v.now - v.probe_waiting_since
    quiet = v.now - max(v.last_rx.get("mqtt", 0.0), v.started_at)
    out.append(Check("SYS-DEAF", v.broker_connected and min(waiting, quiet) >= limits.probe_after,
                     f"the broker has delivered nothing for {quiet:.0f}s, not even the "
                     f"gateway's own probe sent {waiting:.0f}s ago: device messages are not "
                     "reaching the gateway"))
    for adapter, limit in limits.silent_after.items():
        silent_for = v.now - v.last_rx.get(adapter, v.started_at)
        out.append(Check(f"SYS-SILENT-{adapter.upper()}", silent_for >= limit,
                         f"nothing received from {adapter} for {silent_for:.0f}s"))
    return out


def _store_check(v: Vitals, limits: Limits) -> Check:
    if v.store_damage is not None:
        return Check("SYS-STORE", True, f"the store is damaged: {v.store_damage}")
    if v.store_failing_since is not None:
        failing_for = v.now - v.store_failing_since
        return Check("SYS-STORE", failing_for >= limits.store_down_after,
                     f"store writes failing for {failing_for:.0f}s: {v.store_error}")
    return Check("SYS-STORE", _waiting(v) >= limits.store_down_after, _waiting_text(v))


def _waiting(v: Vitals) -> float:
    """How long the oldest batch has waited for its commit (SQLite waiting on a lock held
    elsewhere neither commits nor fails for a while)."""
    return 0.0 if v.commit_waiting_since is None else v.now - v.commit_waiting_since


def _waiting_text(v: Vitals) -> str:
    return f"a batch has waited {_waiting(v):.0f}s for the store to commit it"


def problems(v: Vitals, limits: Limits) -> list[str]:
    """What is wrong right now, without grace periods (``/healthz``): a monitoring center's
    watchdog must see a broken link or store at once, not after the incident's delay."""
    found = []
    if not v.broker_connected:
        found.append(f"broker {v.broker} disconnected")
    if not v.store_running:
        found.append("the store thread has stopped")
    elif v.store_failing_since is not None:
        found.append(f"store writes failing for {v.now - v.store_failing_since:.0f}s: "
                     f"{v.store_error}")
    elif _waiting(v) >= limits.store_down_after:
        found.append(_waiting_text(v))
    if v.store_damage is not None:
        found.append(f"the store is damaged: {v.store_damage}")
    for name, link in sorted(v.modbus.items()):
        if not link["connected"]:
            found.append(f"Modbus connection {name} down")
    found += [c.why for c in checks(v, limits)
              if (c.bad and c.point in ("SYS-BACKLOG", "SYS-DEAF"))
              or (c.bad and c.point.startswith("SYS-SILENT-"))]
    return found


def degraded(v: Vitals) -> list[str]:
    """What works, but not wholly (``/healthz`` stays 200, says "degraded" and why): a Modbus
    unit not answering (or, behind a TCP gateway, not there: a wrong unit id), bad input still
    arriving."""
    found = [f"Modbus unit {name}/{unit} not found behind its gateway: check the unit id "
             "in the config (or the device behind it is off)"
             if unit in link.get("units_misconfigured", ())
             else f"Modbus unit {name}/{unit} not answering"
             for name, link in sorted(v.modbus.items()) if link["connected"]
             for unit in link["units_offline"]]
    if v.bad_input_recent:
        worst = sorted(v.bad_input_recent.items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{source} ({n})" for source, n in worst[:5])
        more = f" and {len(worst) - 5} more" if len(worst) > 5 else ""
        found.append(f"bad input in the last {BAD_INPUT_WINDOW // 60} minutes from "
                     f"{len(worst)} source{'s' if len(worst) != 1 else ''}: {shown}{more}")
    return found


BAD_INPUT_WINDOW = 300


def report(v: Vitals, limits: Limits) -> dict[str, Any]:
    """The body of ``/healthz``: unhealthy (503) while anything is wrong, degraded (200) while
    something works only in part, else ok."""
    found = problems(v, limits)
    notes = degraded(v)
    return {
        "status": "unhealthy" if found else "degraded" if notes else "ok",
        "problems": found,
        "degraded": notes,
        "broker_connected": v.broker_connected,
        "store_writable": v.store_running and v.store_failing_since is None,
        "store_failing_for": None if v.store_failing_since is None
        else round(v.now - v.store_failing_since, 3),
        "store_damaged": v.store_damage is not None,
        "store_last_commit_age": None if v.last_commit_at is None
        else round(v.now - v.last_commit_at, 3),
        "commit_waiting_for": None if v.commit_waiting_since is None
        else round(_waiting(v), 3),
        "unacknowledged": v.unacknowledged,
        "oldest_unacknowledged_age": None if v.oldest_unacknowledged is None
        else round(v.now - v.oldest_unacknowledged, 3),
        "probe_waiting_for": None if v.probe_waiting_since is None
        else round(v.now - v.probe_waiting_since, 3),
        "modbus": {name: dict(link) for name, link in v.modbus.items()},
        "uptime": round(v.now - v.started_at, 3) if v.started_at else 0.0,
    }
