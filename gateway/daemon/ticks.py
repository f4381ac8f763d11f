"""What the passing of time decides, at each tick of the pipeline: deadlines falling due,
shelves running out, points gone silent past their heartbeat, and the gateway's own health
(its SYS-* points, which open a ``gateway_health`` incident like any device would)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import structlog

from gateway.daemon.decisions import Decisions
from gateway.daemon.health import Vitals, checks
from gateway.daemon.site_commands import expire_shelves
from gateway.domain.model import Location, PointKind, PointState, Signal
from gateway.points.conditioning import PointStatus, supervise
from gateway.store.values import WriteSet

log = structlog.get_logger("gateway")

SUPERVISION_EVERY = 1.0  # seconds between two looks for silent points


class SelfChecks:
    """The gateway's own points, raised and cleared from its vital signs."""

    def __init__(self) -> None:
        self.system_points: dict[str, PointState] = {}
        self.broker_down_since: float | None = None

    def run(self, d: Decisions, vitals: Callable[[float], Vitals], broker_connected: bool,
           ws: WriteSet, now: float) -> None:
        if broker_connected:
            self.broker_down_since = None
        elif self.broker_down_since is None:
            self.broker_down_since = now
        for check in checks(vitals(now), d.site.health_limits):
            state = PointState.ALARM if check.bad else PointState.NORMAL
            if state is self.system_points.get(check.point, PointState.NORMAL):
                continue
            self.system_points[check.point] = state
            (log.error if check.bad else log.info)("gateway_self_check", point=check.point,
                                                   state=state.value, detail=check.why)
            d.set_point(check.point, PointStatus(state, now, now, check.why), ws)
            d.signal(Signal(point_id=check.point, kind=PointKind.SYSTEM,
                            location=Location(d.site.site_id, zone="gateway"), state=state,
                            at=now, value=check.why, source="self-supervision"), ws, now, b"")

    def down(self) -> list[str]:
        return [name for name, state in sorted(self.system_points.items())
                if state is PointState.ALARM]


class Ticks:
    """The pipeline's tick (``Decisions.on_tick``)."""

    def __init__(self, d: Decisions, self_check: Callable[[WriteSet, float], None]) -> None:
        self.d = d
        self.self_check = self_check
        self.started_at = 0.0  # set when the daemon has loaded its state
        self.last_supervision = 0.0
        self.checking = True  # off while the daemon drains

    def start(self, now: float) -> None:
        self.started_at = self.last_supervision = now

    def __call__(self, ws: WriteSet, now: float) -> None:
        d = self.d
        for reason, count in d.reports.held(now).items():
            log.warning("bad_input_unlogged", reason=reason, sources=count,
                        note="more sources of this bad input than are logged a minute; "
                             "every one is kept in dead_letters and counted")
        if self.checking and self.started_at:
            self.self_check(ws, now)
        expire_shelves(d, ws, now)
        if now - self.last_supervision >= SUPERVISION_EVERY:
            self.last_supervision = now
            self._silent_points(ws, now)
        due = d.engine.next_due(d.state)
        if due is not None and due <= now:
            d.fold(d.engine.on_tick(d.state, now), ws)

    def _silent_points(self, ws: WriteSet, now: float) -> None:
        d = self.d
        silent = supervise(d.site.points, d.points, self.started_at, now)
        for status, sig in silent:
            d.set_point(sig.point_id, status, ws)
            d.signal(sig, ws, now, b"")
        if silent:
            # one line for all that fell silent together (2,000 detectors when a panel's
            # bridge stops), by source; each is on its incident's timeline
            groups = Counter(d.site.points[s.point_id].group for _, s in silent)
            log.warning("points_offline", points=len(silent), by_source=dict(groups),
                        first=[s.point_id for _, s in silent[:10]],
                        reason="silent past their heartbeat")
