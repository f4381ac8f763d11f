"""The site's wall clock: every time shown, typed or printed is in the site's time zone.

Times are kept as epoch seconds; they are shown in the zone the site config names
(``site.timezone``, default Asia/Shanghai) whatever zone the server or the browser runs in,
and travel as ISO 8601 with the offset (``2026-12-05T14:12:00+08:00``). A time typed without a
date or offset is read as the site's wall-clock time.

A process runs one site, so the zone is set once when its config is loaded (``use``).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT = "Asia/Shanghai"

_zone = ZoneInfo(DEFAULT)
_AGO = re.compile(r"^(?:now\s*)?-\s*(\d+(?:\.\d+)?)\s*(s|m|min|h)$")
_WALL = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")


class TimeError(ValueError):
    """A text that is not a time the site can read."""


def zone_of(name: str) -> ZoneInfo:
    """The zone of an IANA name (``Asia/Shanghai``); a clear error for one that is not."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimeError(f"{name!r} is not a time zone (write an IANA name such as "
                        f"{DEFAULT})") from None


def use(name: str) -> None:
    """Speak the time of the site whose config was loaded."""
    global _zone  # noqa: PLW0603 - one site per process, set once at load
    _zone = zone_of(name)


def zone() -> ZoneInfo:
    return _zone


def name() -> str:
    return _zone.key


def local(at: float) -> datetime:
    return datetime.fromtimestamp(at, _zone)


def iso(at: float) -> str:
    """``2026-12-05T14:12:00+08:00``."""
    return local(at).isoformat(timespec="seconds")


def wall(at: float, *, date: bool = True) -> str:
    """``2026-12-05 14:12:00`` (or ``14:12:00``) on the site's clock."""
    return local(at).strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")


def offset(at: float) -> str:
    """``UTC+08:00``."""
    delta = local(at).utcoffset() or timedelta(0)
    minutes = int(delta.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def parse(value: str, now: float) -> float:
    """``now``, ``-5m`` (five minutes ago; ``-90s``, ``-1h``), ``14:05``, ``14:05:30`` (today on
    the site's clock), ``2026-11-25 14:05`` (the site's clock) or ISO 8601 with an offset →
    epoch seconds."""
    text = value.strip()
    if text.lower() == "now":
        return now
    ago = _AGO.match(text.lower())
    if ago is not None:
        unit = {"s": 1, "m": 60, "min": 60, "h": 3600}[ago.group(2)]
        return now - float(ago.group(1)) * unit
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = _wall_time(text, now)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_zone)
    return parsed.timestamp()


def _wall_time(text: str, now: float) -> datetime:
    today = local(now).strftime("%Y-%m-%d")
    for fmt in _WALL:
        for candidate in (f"{today} {text}", text):
            try:
                return datetime.strptime(candidate, fmt)
            except ValueError:
                continue
    raise TimeError(f"{text!r} is not a time (write now, -5m, 14:05, 14:05:30, "
                    "2026-11-25 14:05 or 2026-11-25T14:05:00+08:00)")


_ISO = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:\d\d|Z)$")


def readable(text: str) -> str:
    """A stored time (ISO 8601 with its offset) as the site's wall clock shows it; any other
    text as it is."""
    if _ISO.match(text) is None:
        return text
    try:
        return wall(datetime.fromisoformat(text).timestamp())
    except ValueError:
        return text
