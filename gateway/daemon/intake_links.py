"""A sender behind a receiver (a transmission device, a panel account) gone silent or heard
again: all its points offline at once (one incident for the link, not one a zone), or back."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.config.site import PointConfig
from gateway.daemon.decisions import Decisions
from gateway.points.conditioning import back_online, went_offline
from gateway.store.values import WriteSet


def link(d: Decisions, points: Sequence[PointConfig], *, online: bool, at: float, why: str,
         source: str, ws: WriteSet, now: float) -> None:
    """``why`` says what went silent; a point back online is one that went offline for it
    (its first words), not for another reason."""
    for point in points:
        previous = d.points.get(point.id)
        if online:
            status, sig = back_online(point, previous, at, source,
                                      reasons=(why.split(" silent", 1)[0],))
        else:
            status, sig = went_offline(point, previous, at, why, source)
        d.set_point(point.id, status, ws)
        if sig is not None:
            d.signal(d.in_drill(sig), ws, now, b"")
