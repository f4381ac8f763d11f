"""What the incident report calls people, places, devices and actions: a user by the name
they go by, a device by its name with its point id beside, a place with a named zone
(``pump_room``) by the site's name for it (``zones``), an action by its name and its
actuator's. Ids stand in only where the site and the playbook have no name."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from gateway.config.site import SiteConfig
from gateway.domain.incident import Incident
from gateway.domain.model import Event, Location, Text
from gateway.present.action_words import action_detail
from gateway.present.names import Names
from gateway.present.words import (
    POINT_KIND_WORDS,
    cat,
    device_name,
    pair,
    place,
    same,
    short,
    sval,
)

# login name → the name the user goes by (the console's users)
People = Mapping[str, str]

# the engine's words for a feedback that did not come in time (``timers``)
_NO_CONFIRMATION = re.compile(r"no confirmation from (?P<point>\S+) within (?P<seconds>\d+)s")


def person(people: People | None, name: str) -> str:
    """A user by the name they go by; anyone else (赵保安, a device) as written."""
    return (people or {}).get(name, name)


@dataclass(slots=True)
class Naming:
    """The report's names: the playbook's and the site's (``Names``), users, places, devices."""

    names: Names
    site: SiteConfig | None = None
    people: People = field(default_factory=dict)
    action_ids: dict[str, tuple[str, str]] = field(default_factory=dict)  # → action, actuator

    def who(self, name: str) -> str:
        return person(self.people, name)

    def place(self, location: Location) -> Text:
        """1号楼12层3防区; a named zone by the site's name for it: 1号楼B2层水泵房."""
        return self.site.zones.place(location) if self.site is not None else place(location)

    def device(self, point_id: str, device: str = "", kind: str = "") -> Text:
        """1号楼12层3防区（B1-F12-Z3/SD-01）: the point's name, its id beside; with ``kind``,
        what it is where the name does not say (1号楼12层3防区感烟探测器)."""
        code = device_name(point_id, device)
        point = self.site.points.get(point_id) if self.site is not None else None
        name = point.name if point is not None and point.name.zh else same("")
        what = self.kind(kind) if kind else same("")
        zh = name.zh if what.zh in name.zh else f"{name.zh}{what.zh}"
        en = name.en or name.zh
        en = en if what.en.lower() in en.lower() else f"{en} {what.en}".strip()
        if not zh:
            return same(code)
        return Text(f"{zh}（{code}）", f"{en} ({code})")

    def kind(self, kind: str) -> Text:
        return pair(POINT_KIND_WORDS, kind)

    def action(self, action: str) -> Text:
        return self.names.actions.get(action) or same(action)

    def actuator(self, actuator_id: str) -> Text:
        return self.names.actuators.get(actuator_id) or same(actuator_id)

    def action_on(self, action: str, actuator_id: str) -> Text:
        """电梯迫降首层 · 1号楼2号电梯."""
        if not actuator_id:
            return self.action(action)
        return cat(self.action(action), " · ", self.actuator(actuator_id))

    def action_state(self, action_id: str) -> Text:
        """An auto-action by the id the engine gives it (``elevator_recall:ELV-B1-L2``)."""
        known = self.action_ids.get(action_id)
        if known is None:
            action, _, actuator = action_id.partition(":")
            return self.action_on(action, actuator)
        return self.action_on(*known)

    def unconfirmed(self, gap: str) -> Text:
        """An action as the engine lists it among the gaps (``elevator_recall/ELV-B1-L2``)."""
        action, _, actuator = gap.partition("/")
        return self.action_on(action, actuator)

    def action_detail(self, detail: str) -> Text:
        """What became of an action, in words (``action_words``), the engine's timeout of its
        feedback among them."""
        timed_out = _NO_CONFIRMATION.fullmatch(detail)
        if timed_out is None:
            return action_detail(detail, self.names)
        point = self.device(timed_out["point"])
        seconds = timed_out["seconds"]
        return Text(f"{seconds} 秒内未收到 {point.zh}的确认",
                    f"no confirmation from {point.en} within {seconds} s")

    def follow_up(self, incident: Incident, task_id: str) -> Text:
        task = next((f for f in incident.follow_ups if f.id == task_id), None)
        return short(Text(task.text_zh, task.text_en)) if task is not None else same(task_id)

    def as_seen(self, e: Event) -> Event:
        """An event with its people by the names they go by: its actor, the first of two
        operators, a commander picked from the users."""
        named = {key: self.who(sval(e.data, key)) for key in _PEOPLE_IN_EVENTS
                 if sval(e.data, key) in self.people}
        if not named and e.actor not in self.people:
            return e
        return replace(e, actor=self.who(e.actor), data={**e.data, **named})


# the fields of an event that name a person
_PEOPLE_IN_EVENTS = ("first", "commander")


def naming_of(incident: Incident, events: Sequence[Event], names: Names,
              site: SiteConfig | None, people: People | None = None) -> Naming:
    action_ids = {a.id: (a.action, a.actuator_id) for a in incident.actions}
    for e in events:
        if e.kind == "action_requested" and sval(e.data, "action_id"):
            action_ids.setdefault(sval(e.data, "action_id"),
                                  (sval(e.data, "action"), sval(e.data, "actuator")))
    return Naming(names, site, dict(people or {}), action_ids)
