"""The site's people and duty roster in the config (``people:`` and ``roster:``; see
``gateway.domain.roster``), compiled with each mistake a problem at its place in the file."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Literal

from pydantic import Field

from gateway.config.schema import BiText, Strict
from gateway.domain.roster import (
    Channel,
    Entry,
    Override,
    Person,
    Roster,
    Shift,
    parse_days,
    parse_shift,
)

Problem = Callable[[tuple[str | int, ...], str], None]


class ChannelModel(Strict):
    kind: Literal["sms", "email", "wecom", "dingtalk", "webhook"]
    address: str = ""  # default for sms: the person's phone
    secret: str = ""


class PersonModel(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    name: BiText
    phone: str = ""
    channels: list[ChannelModel] = Field(default_factory=list)


class DutyModel(Strict):
    role: str
    person: str
    shift: str = ""  # none: the role is held all day, every day
    days: str = "*"  # the weekdays the shift starts on: mon-fri, sat,sun, *
    deputy: str = ""


class OverrideModel(Strict):
    date: dt.date  # the date the shift starts on
    role: str
    person: str
    shift: str = ""
    reason: str = ""


class RosterModel(Strict):
    shifts: dict[str, str] = Field(default_factory=dict)  # name: "08:00-20:00"
    duty: list[DutyModel] = Field(default_factory=list)
    overrides: list[OverrideModel] = Field(default_factory=list)


def compile_people(models: list[PersonModel], problem: Problem) -> dict[str, Person]:
    people: dict[str, Person] = {}
    for i, m in enumerate(models):
        if m.id in people:
            problem(("people", i, "id"), f"duplicate person id {m.id!r}")
        channels = tuple(Channel(c.kind, c.address or (m.phone if c.kind == "sms" else ""),
                                 c.secret) for c in m.channels)
        for j, c in enumerate(channels):
            if not c.address:
                problem(("people", i, "channels", j, "address"),
                        f"a {c.kind} channel needs an address"
                        + (" (or the person's phone)" if c.kind == "sms" else ""))
        people[m.id] = Person(m.id, m.name.to_text(), m.phone, channels)
    return people


def compile_roster(model: RosterModel, people: Mapping[str, Person], roles: Mapping[str, object],
                   problem: Problem) -> Roster:
    shifts: dict[str, Shift] = {}
    for name, text in model.shifts.items():
        try:
            shifts[name] = parse_shift(name, text)
        except ValueError as exc:
            problem(("roster", "shifts", name), str(exc))

    def known(at: tuple[str | int, ...], role: str, person: str, shift: str,
              deputy: str = "") -> None:
        if role not in roles:
            problem((*at, "role"), f"unknown role {role!r} (the site's roles: "
                    f"{', '.join(sorted(roles))})")
        for field_name, who in (("person", person), ("deputy", deputy)):
            if who and who not in people:
                problem((*at, field_name), f"unknown person {who!r}: list them under people:")
        if shift and shift not in shifts and shift not in model.shifts:
            problem((*at, "shift"), f"unknown shift {shift!r} (shifts: "
                    f"{', '.join(model.shifts) or 'none'})")

    entries: list[Entry] = []
    for i, d in enumerate(model.duty):
        at: tuple[str | int, ...] = ("roster", "duty", i)
        known(at, d.role, d.person, d.shift, d.deputy)
        try:
            days = parse_days(d.days)
        except ValueError as exc:
            problem((*at, "days"), str(exc))
            continue
        entry = Entry(d.role, d.person, d.shift, days, d.deputy)
        clash = next((e for e in entries if e.role == d.role and e.shift == d.shift
                      and e.days & days), None)
        if clash is not None:
            problem(at, f"{d.role} on {d.shift or 'all day'} is given twice for the same "
                    f"weekdays ({clash.person} and {d.person}): one answer to who is on duty")
        entries.append(entry)
    overrides = []
    for i, o in enumerate(model.overrides):
        at = ("roster", "overrides", i)
        known(at, o.role, o.person, o.shift)
        if not any(e.role == o.role and e.shift == o.shift for e in entries):
            problem(at, f"no duty of {o.role} on {o.shift or 'all day'} to override")
        overrides.append(Override(o.date, o.role, o.person, o.shift, o.reason))
    return Roster(shifts, tuple(entries), tuple(overrides))
