"""The names of a site's zones. A numbered zone (``3``) is a fire-alarm zone and reads as one
(3防区 / zone 3); every other zone a point or an actuator is in (``pump_room``,
``elevator-2``) has a name in both languages in the site config's ``zones``, where a key may
hold ``{n}`` for a number (``elevator-{n}: {zh: "{n}号电梯", en: "lift {n}"}``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gateway.domain.model import Location, Text

NUMBERED = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class Zones:
    names: Mapping[str, Text] = field(default_factory=dict)

    def name(self, zone: str) -> Text | None:
        """The zone's name; None for a numbered zone or one the site did not name."""
        if not zone or NUMBERED.fullmatch(zone):
            return None
        exact = self.names.get(zone)
        if exact is not None:
            return exact
        for key, text in self.names.items():
            if "{n}" not in key:
                continue
            head, _, tail = key.partition("{n}")
            match = re.fullmatch(re.escape(head) + r"(\d+)" + re.escape(tail), zone)
            if match is not None:
                n = match.group(1)
                return Text(text.zh.replace("{n}", n), text.en.replace("{n}", n))
        return None

    def unnamed(self, zone: str) -> bool:
        return bool(zone) and NUMBERED.fullmatch(zone) is None and self.name(zone) is None

    def of(self, zones: Iterable[str]) -> dict[str, Text]:
        """The names of these zones (those that have one)."""
        return {z: n for z in set(zones) if (n := self.name(z)) is not None}

    def place(self, location: Location) -> Text:
        """1号楼12层3防区 · 1号楼B2层水泵房 / building 1, floor 12, zone 3 · building 1, floor
        B2, pump room; the site's id when nothing narrower is known."""
        named = self.name(location.zone)
        zone_zh = named.zh if named else f"{location.zone}防区" if location.zone else ""
        zone_en = named.en if named else f"zone {location.zone}" if location.zone else ""
        zh = "".join(filter(None, [
            f"{location.building}号楼" if location.building else "",
            f"{location.floor}层" if location.floor else "", zone_zh,
            f"{location.unit}室" if location.unit else ""]))
        en = ", ".join(filter(None, [
            f"building {location.building}" if location.building else "",
            f"floor {location.floor}" if location.floor else "", zone_en,
            f"unit {location.unit}" if location.unit else ""]))
        return Text(zh or location.site, en or location.site)
