"""Point mapping and conditioning: readings become signals; silent points become offline.

Pure functions over ``PointStatus`` values; the caller keeps the table and the clock.

A point has a main channel (alarm, prealarm, normal, test, warm-up; per device behind a zone
point) and trouble conditions beside it (a low battery, a tamper switch, unreadable messages),
each with its own signal. It is offline while something says it cannot be heard (silent past
its heartbeat, its own availability topic, its bridge, its Modbus unit), without losing what it
last said. A message older than the last accepted one by the device's own clock is stale: kept,
never obeyed. A point going into alarm again and again within a minute chatters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from gateway.config.site import PointConfig
from gateway.domain.model import PointState, Signal
from gateway.points.decode import Reading, threshold_state

# How bad a state is when a zone point's devices disagree: the worst one is the point's state.
_RANK = {
    PointState.ALARM: 0, PointState.PREALARM: 1, PointState.TROUBLE: 2, PointState.OFFLINE: 3,
    PointState.TEST: 4, PointState.WARMUP: 5, PointState.NORMAL: 6,
}
CHATTER_WINDOW = 60.0  # ISA-18.2: 3 or more activations in a minute
CHATTER_COUNT = 3
BAD_INPUT_AFTER = 3  # messages in a row that cannot be read make the point's data a trouble


@dataclass(frozen=True, slots=True)
class PointStatus:
    state: PointState
    since: float
    last_seen: float
    value: float | str | bool | None = None
    sources: tuple[tuple[str, PointState], ...] = ()  # the main channel, per device
    troubles: tuple[tuple[str, str], ...] = ()  # (device, condition) now active
    marks: tuple[tuple[str, float], ...] = ()  # per device: the last accepted time/sequence
    activations: tuple[float, ...] = ()  # when it went into alarm, within the chatter window
    offline: str = ""  # why it cannot be heard, while it cannot
    rejected: int = 0  # messages in a row that could not be read

    def source_state(self, device: str) -> PointState | None:
        for dev, state in self.sources:
            if dev == device:
                return state
        return None

    def mark(self, device: str) -> float | None:
        return next((m for dev, m in self.marks if dev == device), None)

    @property
    def chattering(self) -> int:
        return len(self.activations) if len(self.activations) >= CHATTER_COUNT else 0

    @property
    def conditions(self) -> tuple[str, ...]:
        """The trouble conditions now active (of any device behind the point)."""
        return tuple(dict.fromkeys(c for _, c in self.troubles))


def _aggregate(sources: Iterable[tuple[str, PointState]], troubles: bool,
               offline: str) -> PointState:
    if offline:
        return PointState.OFFLINE
    state = min((s for _, s in sources), key=_RANK.__getitem__, default=PointState.NORMAL)
    if troubles and _RANK[state] > _RANK[PointState.TROUBLE]:
        return PointState.TROUBLE
    return state


def _status(previous: PointStatus | None, at: float, **changes: object) -> PointStatus:
    """The point's status after a change: its aggregate state, and since when it holds."""
    base = previous or PointStatus(PointState.NORMAL, at, 0.0)  # never heard before
    status = replace(base, **changes)  # type: ignore[arg-type]
    state = _aggregate(status.sources, bool(status.troubles), status.offline)
    since = at if previous is None or previous.state is not state else previous.since
    return replace(status, state=state, since=since)


def condition(point: PointConfig, previous: PointStatus | None, reading: Reading, at: float,
              *, source: str, replayed: bool = False) -> tuple[PointStatus, list[Signal]]:
    """Apply one reading to a point: its new status and the signals it produced (the main
    channel's first, then each trouble condition that came or went)."""
    device = reading.device
    mark = previous.mark(device) if previous is not None else None
    if reading.order is not None and mark is not None and reading.order < mark:
        # sent before what the point already knows: on record, never obeyed
        stale = Signal(point_id=point.id, kind=point.kind, location=point.location,
                       state=reading.state or PointState.NORMAL, at=at, value=reading.value,
                       device=device, source=source, changed=False, replayed=replayed,
                       drill=reading.drill, stale=True)
        return replace(previous, last_seen=at) if previous else _status(None, at), [stale]
    prev_source = previous.source_state(device) if previous else None
    if previous is not None and previous.offline:
        prev_source = PointState.OFFLINE
    state = reading.state
    if state is None:
        if not isinstance(reading.value, float):  # thresholds read numbers only
            raise TypeError(f"point {point.id}: a reading without a state needs a number")
        thresholds, deadband = point.thresholds
        state = threshold_state(thresholds, deadband, reading.value, prev_source)
    kept = [] if previous is None else [
        (dev, st) for dev, st in previous.sources if dev != device]
    activations = previous.activations if previous else ()
    if state is PointState.ALARM and prev_source is not PointState.ALARM:
        activations = (*(t for t in activations if at - t < CHATTER_WINDOW), at)
    chattering = len(activations) if len(activations) >= CHATTER_COUNT else 0
    main = Signal(point_id=point.id, kind=point.kind, location=point.location, state=state,
                  at=at, value=reading.value, device=device, source=source,
                  changed=prev_source is not state, replayed=replayed, drill=reading.drill,
                  chattering=chattering if state is PointState.ALARM else 0)
    troubles = dict.fromkeys(previous.troubles if previous else ())
    signals = [main]
    conditions = list(reading.conditions)
    if ("", "bad_input") in troubles:
        conditions.append(("bad_input", False))  # read again: its data is good
    for name, active in conditions:
        owner = "" if name == "bad_input" else device
        if active == ((owner, name) in troubles):
            continue
        if active:
            troubles[(owner, name)] = None
        else:
            del troubles[(owner, name)]
        signals.append(replace(main, state=PointState.TROUBLE if active else PointState.NORMAL,
                               value=name, condition=name, changed=True, chattering=0))
    marks = tuple((dev, m) for dev, m in (previous.marks if previous else ()) if dev != device)
    if reading.order is not None:
        marks = (*marks, (device, reading.order))
    # a condition over several readings may say the device cannot be trusted to be heard (a
    # radio channel last heard of long ago): offline, with that condition as the reason
    offline = (reading.reason or "offline") if state is PointState.OFFLINE else ""
    status = _status(previous, at, last_seen=at, value=reading.value,
                     sources=tuple(sorted((*kept, (device, state)))), troubles=tuple(troubles),
                     marks=marks, activations=activations, offline=offline, rejected=0)
    return status, signals


def went_offline(point: PointConfig, previous: PointStatus | None, at: float, why: str,
                 source: str) -> tuple[PointStatus, Signal | None]:
    """Something says the point cannot be heard (its availability, its bridge, its unit, its
    silence): offline, what it last said kept. No signal when it was offline already."""
    if previous is not None and previous.offline:
        return replace(previous, offline=why), None
    status = _status(previous, at, offline=why)
    return status, Signal(point_id=point.id, kind=point.kind, location=point.location,
                          state=PointState.OFFLINE, at=at, value=why, source=source)


def back_online(point: PointConfig, previous: PointStatus | None, at: float,
                source: str, reasons: tuple[str, ...] = ()) -> tuple[PointStatus, Signal | None]:
    """The point can be heard again (its availability or bridge says online): what it last
    said holds again, until its next reading. ``reasons``: only an offline for one of these
    (a device back online does not end its bridge's outage)."""
    if previous is None or not previous.offline or (
            reasons and not previous.offline.startswith(reasons)):
        return previous or _status(None, at), None
    status = _status(previous, at, offline="")
    return status, Signal(point_id=point.id, kind=point.kind, location=point.location,
                          state=status.state, at=at, value="online", source=source)


def rejected(point: PointConfig, previous: PointStatus | None, at: float,
             source: str, why: str) -> tuple[PointStatus, Signal | None]:
    """A message of the point that could not be read: after ``BAD_INPUT_AFTER`` in a row its
    data is a trouble of its own (``bad_input``), cleared by the next good reading."""
    count = (previous.rejected if previous else 0) + 1
    status = _status(previous, at, rejected=count)
    if count != BAD_INPUT_AFTER:
        return status, None
    status = _status(status, at, troubles=(*status.troubles, ("", "bad_input")))
    return status, Signal(point_id=point.id, kind=point.kind, location=point.location,
                          state=PointState.TROUBLE, at=at, value=why, source=source,
                          condition="bad_input")


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
        if status is not None and status.offline:
            continue
        last = max(status.last_seen if status else started_at, started_at)
        if now - last < point.heartbeat:
            continue
        silent_for = now - (status.last_seen if status else started_at)
        new, sig = went_offline(point, status, now, f"silent for {silent_for:.0f}s",
                                "supervision")
        if sig is not None:
            out.append((new, replace(sig, value=round(silent_for, 1))))
    return out
