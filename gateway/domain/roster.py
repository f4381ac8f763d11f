"""Who is on duty: the site's people and its duty roster, so that "who is the duty supervisor
now" has one answer.

A roster names shifts by the time of day they run on the site's clock (``day: 08:00-20:00``,
``night: 20:00-08:00``: a shift that runs past midnight belongs to the date it starts on), and
for each role who holds it on which weekdays and shifts, with a deputy. A date's override puts
someone else in one role for one shift (a swap for tonight). A role listed without a shift is
held all day, every day, by its person. Pure: the caller gives the site's wall-clock time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from gateway.domain.model import Text

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Channel:
    """One way to reach a person: ``kind`` (sms, email, wecom, dingtalk, webhook) and where."""

    kind: str
    address: str = ""  # a phone, an email address, a WeCom user id, a robot's or hook's URL
    secret: str = ""  # a robot's or a hook's signing secret


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: Text
    phone: str = ""
    channels: tuple[Channel, ...] = ()


@dataclass(frozen=True, slots=True)
class Shift:
    name: str
    start: int  # minutes after midnight on the site's clock
    end: int  # the same; at or before start: it ends the next day

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def started(self, at: datetime) -> datetime | None:
        """When the run of this shift that holds ``at`` began; None when none does."""
        minute = at.hour * 60 + at.minute
        today = at.replace(hour=self.start // 60, minute=self.start % 60, second=0,
                           microsecond=0)
        if not self.overnight:
            return today if self.start <= minute < self.end else None
        if minute >= self.start:
            return today
        if minute < self.end:
            return today - timedelta(days=1)
        return None


@dataclass(frozen=True, slots=True)
class Duty:
    """A role's holder in one run of a shift (``shift`` empty: the role is held all day)."""

    role: str
    person: str
    deputy: str = ""
    shift: str = ""
    since: datetime | None = None
    until: datetime | None = None
    swapped: str = ""  # the reason of the override that put this person here


@dataclass(frozen=True, slots=True)
class Entry:
    role: str
    person: str
    shift: str = ""  # empty: all day, every day
    days: frozenset[int] = frozenset(range(7))  # weekdays the shift starts on, 0 = Monday
    deputy: str = ""


@dataclass(frozen=True, slots=True)
class Override:
    day: date  # the date the shift starts on
    role: str
    person: str
    shift: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Roster:
    shifts: Mapping[str, Shift] = field(default_factory=dict)
    entries: tuple[Entry, ...] = ()
    overrides: tuple[Override, ...] = ()

    @property
    def roles(self) -> list[str]:
        return list(dict.fromkeys(e.role for e in self.entries))

    def on_duty(self, role: str, at: datetime) -> Duty | None:
        """Who holds ``role`` at ``at`` (the site's wall clock); None when nobody does."""
        for entry in self.entries:
            if entry.role != role:
                continue
            if not entry.shift:
                return self._swapped(Duty(role, entry.person, entry.deputy), at.date())
            shift = self.shifts[entry.shift]
            began = shift.started(at)
            if began is None or began.weekday() not in entry.days:
                continue
            length = (shift.end - shift.start) % (24 * 60) or 24 * 60
            duty = Duty(role, entry.person, entry.deputy, shift.name, began,
                        began + timedelta(minutes=length))
            return self._swapped(duty, began.date())
        return None

    def _swapped(self, duty: Duty, day: date) -> Duty:
        for o in self.overrides:
            if (o.day, o.role, o.shift) == (day, duty.role, duty.shift):
                return Duty(duty.role, o.person, duty.deputy, duty.shift, duty.since,
                            duty.until, o.reason or "override")
        return duty

    def now(self, at: datetime) -> list[Duty]:
        """Every role of the roster and who holds it at ``at``."""
        return [d for role in self.roles if (d := self.on_duty(role, at)) is not None]


def parse_days(text: str) -> frozenset[int]:
    """``mon-fri``, ``sat,sun``, ``*`` → weekday numbers; ValueError naming what is wrong."""
    text = text.strip().lower()
    if text in ("", "*", "daily", "every day"):
        return frozenset(range(7))
    out: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"'{part}' is not a weekday or a run of them (mon, tue ... sun; "
                             "mon-fri; sat,sun)")
        a, b = DAYS.index(first), DAYS.index(last or first)
        out.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(out)


def parse_shift(name: str, text: str) -> Shift:
    """``08:00-20:00`` → a shift; ValueError naming what is wrong."""
    try:
        start, end = (datetime.strptime(t.strip(), "%H:%M") for t in text.split("-"))
    except ValueError:
        raise ValueError(f"shift {name!r}: '{text}' is not a time range like 08:00-20:00") \
            from None
    return Shift(name, start.hour * 60 + start.minute, end.hour * 60 + end.minute)
