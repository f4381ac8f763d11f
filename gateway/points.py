"""Point mapping and conditioning: readings become signals; silent points become offline.

Pure functions over ``PointStatus`` values; the caller keeps the table and the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway.config import PointConfig
from gateway.decode import Reading, threshold_state
from gateway.model import PointState, Signal

# How bad a state is when a zone point's devices disagree: the worst one is the point's state.
_RANK = {
    PointState.ALARM: 0, PointState.PREALARM: 1, PointState.TROUBLE: 2, PointState.OFFLINE: 3,
    PointState.TEST: 4, PointState.NORMAL: 5,
}


@dataclass(frozen=True, slots=True)
class PointStatus:
    state: PointState
    since: float
    last_seen: float
    value: float | str | bool | None = None
    sources: tuple[tuple[str, PointState], ...] = ()

    def source_state(self, device: str) -> PointState | None:
        for dev, state in self.sources:
            if dev == device:
                return state
        return None


def _aggregate(sources: Iterable[tuple[str, PointState]]) -> PointState:
    return min((s for _, s in sources), key=_RANK.__getitem__, default=PointState.NORMAL)


def condition(point: PointConfig, previous: PointStatus | None, reading: Reading, at: float,
              *, source: str, replayed: bool = False) -> tuple[PointStatus, Signal]:
    """Apply one reading to a point: its new status and the signal it produced."""
    device = reading.device
    prev_source = previous.source_state(device) if previous else None
    if previous and previous.state is PointState.OFFLINE and prev_source is None:
        prev_source = PointState.OFFLINE
    state = reading.state
    if state is None:
        assert isinstance(reading.value, float)
        thresholds, deadband = point.thresholds
        state = threshold_state(thresholds, deadband, reading.value, prev_source)
    kept = [] if previous is None else [
        (dev, st) for dev, st in previous.sources
        if dev != device and st is not PointState.OFFLINE]
    sources = (*kept, (device, state))
    aggregate = _aggregate(sources)
    since = at if previous is None or previous.state is not aggregate else previous.since
    status = PointStatus(aggregate, since, at, reading.value, tuple(sorted(sources)))
    signal = Signal(
        point_id=point.id, kind=point.kind, location=point.location, state=state, at=at,
        value=reading.value, device=device, source=source, changed=prev_source is not state,
        replayed=replayed, drill=reading.drill)
    return status, signal


def supervise(points: Mapping[str, PointConfig], statuses: Mapping[str, PointStatus],
              started_at: float, now: float) -> list[tuple[PointStatus, Signal]]:
    """Points that declared a heartbeat and have been silent longer than it go offline.

    Every point gets one full interval after start-up before it is judged, so a restart does
    not declare the whole site offline.
    """
    out = []
    for point in points.values():
        if point.heartbeat is None:
            continue
        status = statuses.get(point.id)
        if status is not None and status.state is PointState.OFFLINE:
            continue
        last = max(status.last_seen if status else started_at, started_at)
        if now - last < point.heartbeat:
            continue
        silent_for = now - (status.last_seen if status else started_at)
        new = PointStatus(PointState.OFFLINE, now, status.last_seen if status else 0.0,
                          status.value if status else None, (("", PointState.OFFLINE),))
        out.append((new, Signal(
            point_id=point.id, kind=point.kind, location=point.location,
            state=PointState.OFFLINE, at=now, value=round(silent_for, 1), source="supervision")))
    return out

