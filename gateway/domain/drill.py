"""A tester's drill window: bounded in time, scoped to the buildings and points it names.

A drill never swallows a real alarm. Inside an active window, a signal from a point the window
names (or from a building it names) is a drill signal; a signal the device or simulator itself
marks as drill (a ``drill_field``, the device's test flag) is one anyway; every other signal is
real, with its actions. A window started without a scope makes no real signal a drill: it only
says that a drill is on (the board shows it), for simulators that mark their own signals.

A drill incident's actuator writes and outside notifications are withheld and recorded as
withheld; everything else (incident, steps, deadlines, prompts, timeline, report) runs as for a
real one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway.domain import site_time
from gateway.domain.model import Location
from gateway.errors import CommandError

MAX_MINUTES = 4 * 60  # a drill is an exercise, not a shift
DEFAULT_MINUTES = 30


@dataclass(frozen=True, slots=True)
class DrillWindow:
    until: float
    buildings: tuple[str, ...] = ()
    points: tuple[str, ...] = ()
    by: str = ""
    started_at: float = 0.0

    def active(self, at: float) -> bool:
        return at < self.until

    @property
    def scoped(self) -> bool:
        return bool(self.buildings or self.points)

    def covers(self, point_id: str, location: Location, at: float) -> bool:
        """A real signal from here, now, is a drill signal."""
        return self.active(at) and (point_id in self.points
                                    or (bool(location.building)
                                        and location.building in self.buildings))

    def scope_text(self) -> str:
        parts = [f"building {', '.join(self.buildings)}"] if self.buildings else []
        if self.points:
            shown = ", ".join(self.points[:5]) + (f" and {len(self.points) - 5} more"
                                                   if len(self.points) > 5 else "")
            parts.append(f"points {shown}")
        return "; ".join(parts) or "no scope: only signals marked drill"

    def to_json(self) -> dict[str, object]:
        return {"until": self.until, "buildings": list(self.buildings),
                "points": list(self.points), "by": self.by, "started_at": self.started_at}


def from_json(text: str | None) -> DrillWindow | None:
    if not text:
        return None
    data = json.loads(text)
    return DrillWindow(float(data["until"]), tuple(data.get("buildings", ())),
                       tuple(data.get("points", ())), str(data.get("by", "")),
                       float(data.get("started_at", 0.0)))


def start(args: Mapping[str, str], actor: str, now: float, buildings: Iterable[str],
          points: Mapping[str, object]) -> DrillWindow:
    """A window from a ``drill_start`` command's arguments (``minutes``, and comma-separated
    ``buildings`` and ``points``), checked against the site; CommandError says what is wrong."""
    try:
        minutes = float(args.get("minutes", str(DEFAULT_MINUTES)))
    except ValueError:
        minutes = -1.0
    if not 0 < minutes <= MAX_MINUTES:
        raise CommandError(f"a drill lasts between 1 minute and {MAX_MINUTES // 60} hours",
                           code="drill_length")
    known_buildings = set(buildings)
    chosen_buildings = _listed(args.get("buildings", ""))
    wrong = [b for b in chosen_buildings if b not in known_buildings]
    if wrong:
        raise CommandError(f"unknown building {wrong[0]!r} (the site has: "
                           f"{', '.join(sorted(known_buildings))})", code="no_building",
                           value=wrong[0])
    chosen_points = _listed(args.get("points", ""))
    unknown = [p for p in chosen_points if p not in points]
    if unknown:
        raise CommandError(f"unknown point {unknown[0]!r}", code="no_point", value=unknown[0])
    return DrillWindow(now + minutes * 60, tuple(chosen_buildings), tuple(chosen_points),
                       actor, now)


def _listed(text: str) -> list[str]:
    return list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


def describe(window: DrillWindow) -> str:
    until = site_time.wall(window.until, date=False)
    return f"drill on until {until} ({window.scope_text()})"
