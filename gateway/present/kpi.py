"""KPIs over a period, read from the store (read-only; works beside the running daemon).

The period's incidents are those opened in ``[since, until)``. Drills are never counted in the
real figures: they are listed apart with their drill score (from the incident snapshot, see
``gateway.report.drill_score``).

- real incidents by type, with their verdicts;
- time to acknowledge: median, p90 (nearest rank), max;
- time to arrive on scene per role (from ``arrival`` events): median, max, share on time
  among the arrivals that had a deadline;
- missed deadlines (``deadline_missed`` of steps and branches, ``prompt_timed_out`` of
  prompts), by incident type and item;
- false alarms per device: incidents of the device with verdict ``false_alarm`` over all
  incidents the device was part of; a device is flagged for maintenance with 2 or more false
  alarms, or a rate of 50 % or more over 2 or more incidents;
- incidents open at the end of the period (closed and reopened events decide, not the
  current status alone)."""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.config.site import SiteConfig
from gateway.domain.incident import Incident
from gateway.domain.model import Text, Verdict
from gateway.present.report import drill_score
from gateway.store.records import Records

MAINTENANCE_FALSE_ALARMS = 2  # this many false alarms in the period flag a device
MAINTENANCE_RATE = 0.5  # ... or this share of its incidents,


MAINTENANCE_MIN_INCIDENTS = 2  # ... over at least this many
DEVICES_SHOWN = 20  # the rendered tables list the flagged devices and at most this many more


@dataclass(frozen=True, slots=True)
class Stat:
    count: int
    median: float | None = None
    p90: float | None = None
    max: float | None = None


def stat(values: Iterable[float]) -> Stat:
    ordered = sorted(values)
    if not ordered:
        return Stat(0)
    rank = max(1, math.ceil(0.9 * len(ordered)))  # nearest rank
    return Stat(len(ordered), float(statistics.median(ordered)), ordered[rank - 1], ordered[-1])


@dataclass(frozen=True, slots=True)
class TypeCount:
    type: str
    name: Text
    total: int
    real: int = 0
    minor: int = 0
    false_alarm: int = 0
    undecided: int = 0


@dataclass(frozen=True, slots=True)
class RoleArrival:
    role: str
    name: Text
    times: Stat
    timed: int  # arrivals that had a deadline
    on_time: int

    @property
    def on_time_share(self) -> float | None:
        return self.on_time / self.timed if self.timed else None


@dataclass(frozen=True, slots=True)
class MissedDeadline:
    type: str
    kind: str  # step | branch | prompt
    item: str
    count: int


@dataclass(frozen=True, slots=True)
class DeviceRate:
    device: str  # point, or point/device behind a zone point
    location: str
    incidents: int
    false_alarms: int

    @property
    def rate(self) -> float:
        return self.false_alarms / self.incidents if self.incidents else 0.0

    @property
    def maintenance(self) -> bool:
        return self.false_alarms >= MAINTENANCE_FALSE_ALARMS or (
            self.incidents >= MAINTENANCE_MIN_INCIDENTS and self.rate >= MAINTENANCE_RATE)


@dataclass(frozen=True, slots=True)
class OpenIncident:
    id: str
    type: str
    status: str  # its status now
    opened_at: float
    location: str
    drill: bool


@dataclass(frozen=True, slots=True)
class DrillResult:
    id: str
    type: str
    opened_at: float
    met: int
    total: int

    @property
    def percent(self) -> float | None:
        return round(100.0 * self.met / self.total, 1) if self.total else None


@dataclass(frozen=True, slots=True)
class Kpis:
    since: float
    until: float
    generated_at: float
    incidents: int  # real ones
    by_type: tuple[TypeCount, ...]
    ack: Stat
    unacknowledged: int
    arrivals: tuple[RoleArrival, ...]
    missed: tuple[MissedDeadline, ...]
    devices: tuple[DeviceRate, ...]  # most false alarms first
    open_at_end: tuple[OpenIncident, ...]
    drills: tuple[DrillResult, ...]
    type_names: dict[str, Text]

    @property
    def missed_total(self) -> int:
        return sum(m.count for m in self.missed)

    @property
    def false_alarms(self) -> int:
        return sum(t.false_alarm for t in self.by_type)

    @property
    def drill_average(self) -> float | None:
        scored = [d.percent for d in self.drills if d.percent is not None]
        return round(sum(scored) / len(scored), 1) if scored else None

    @property
    def maintenance(self) -> tuple[DeviceRate, ...]:
        return tuple(d for d in self.devices if d.maintenance)


_KPI_EVENTS = ("incident_opened", "arrival", "deadline_missed", "prompt_timed_out")


def compute_kpis(records: Records, since: float, until: float, *,
                 site: SiteConfig | None = None, now: float | None = None) -> Kpis:
    """KPIs of the incidents opened in ``[since, until)``; ``site`` only adds role names."""
    generated = time.time() if now is None else now
    incidents = records.incidents_opened(since, until)
    drill_ids = {i.id for i in incidents if i.drill}
    names: dict[str, Text] = {}
    arrivals: dict[str, list[tuple[float, bool | None]]] = defaultdict(list)
    missed: Counter[tuple[str, str, str]] = Counter()
    types = {i.id: i.type for i in incidents}
    for incident_id, kind, data in records.incident_event_data(since, until, _KPI_EVENTS):
        incident_type = types.get(incident_id, "")
        if kind == "incident_opened":
            if data.get("name_zh"):
                names[incident_type] = Text(str(data["name_zh"]), str(data.get("name_en", "")))
            continue
        if incident_id in drill_ids:
            continue
        if kind == "arrival":
            seconds = data.get("seconds")
            if isinstance(seconds, int | float):
                timed = data.get("due_at") is not None
                arrivals[str(data.get("role", ""))].append(
                    (float(seconds), bool(data.get("on_time")) if timed else None))
        elif kind == "deadline_missed":
            what = "branch" if data.get("branch") else "step"
            missed[(incident_type, what, str(data.get(what, "")))] += 1
        else:
            missed[(incident_type, "prompt", str(data.get("prompt", "")))] += 1
    real = [i for i in incidents if not i.drill]
    roles = site.roles if site is not None else {}
    return Kpis(
        since=since, until=until, generated_at=generated, incidents=len(real),
        by_type=tuple(_by_type(real, names)),
        ack=stat(i.acknowledged_at - i.opened_at for i in real if i.acknowledged_at is not None),
        unacknowledged=sum(1 for i in real if i.acknowledged_at is None),
        arrivals=tuple(
            RoleArrival(role, roles.get(role) or Text(role, role),
                        stat(s for s, _ in items),
                        sum(1 for _, on_time in items if on_time is not None),
                        sum(1 for _, on_time in items if on_time))
            for role, items in sorted(arrivals.items())),
        missed=tuple(MissedDeadline(t, k, item, count) for (t, k, item), count
                     in sorted(missed.items(), key=lambda kv: (-kv[1], kv[0]))),
        devices=tuple(_devices(real)),
        open_at_end=tuple(_open_at(records, until)),
        drills=tuple(_drill(i, min(until, generated)) for i in incidents if i.drill),
        type_names=names)


def _by_type(real: Sequence[Incident], names: dict[str, Text]) -> list[TypeCount]:
    out = []
    for incident_type in sorted({i.type for i in real}):
        of_type = [i for i in real if i.type == incident_type]
        verdicts = Counter(i.verdict for i in of_type)
        out.append(TypeCount(
            incident_type, names.get(incident_type) or Text(incident_type, incident_type),
            len(of_type), verdicts[Verdict.REAL], verdicts[Verdict.MINOR],
            verdicts[Verdict.FALSE_ALARM], verdicts[None]))
    return sorted(out, key=lambda t: (-t.total, t.type))


def _devices(real: Sequence[Incident]) -> list[DeviceRate]:
    seen: dict[str, list[int]] = {}
    where: dict[str, str] = {}
    for incident in real:
        false_alarm = incident.verdict is Verdict.FALSE_ALARM
        for name in {(f"{d.point_id}/{d.device}" if d.device else d.point_id)
                     for d in incident.devices}:
            counts = seen.setdefault(name, [0, 0])
            counts[0] += 1
            counts[1] += int(false_alarm)
        for d in incident.devices:
            where.setdefault(f"{d.point_id}/{d.device}" if d.device else d.point_id,
                             d.location.label())
    rates = [DeviceRate(name, where.get(name, ""), n, fa) for name, (n, fa) in seen.items()]
    return sorted(rates, key=lambda d: (-d.false_alarms, -d.rate, -d.incidents, d.device))


def _open_at(records: Records, until: float) -> list[OpenIncident]:
    return [OpenIncident(i.id, i.type, i.status.value, i.opened_at, i.location.label(), i.drill)
            for i in records.incidents_open_at(until)]


def _drill(incident: Incident, now: float) -> DrillResult:
    s = drill_score(incident, now=now)
    return DrillResult(incident.id, incident.type, incident.opened_at, s.met, s.total)


def _stat_json(s: Stat) -> dict[str, Any]:
    return {"count": s.count, "median": s.median, "p90": s.p90, "max": s.max}


def kpis_to_json(k: Kpis) -> dict[str, Any]:
    """The KPIs as JSON-ready values (seconds, shares from 0 to 1, epoch times)."""
    return {
        "since": k.since, "until": k.until, "generated_at": k.generated_at,
        "incidents": k.incidents, "false_alarms": k.false_alarms,
        "by_type": [{"type": t.type, "name_zh": t.name.zh, "name_en": t.name.en,
                     "total": t.total, "real": t.real, "minor": t.minor,
                     "false_alarm": t.false_alarm, "undecided": t.undecided}
                    for t in k.by_type],
        "time_to_ack": {**_stat_json(k.ack), "unacknowledged": k.unacknowledged},
        "arrivals": [{"role": a.role, "name_zh": a.name.zh, "name_en": a.name.en,
                      **_stat_json(a.times), "timed": a.timed, "on_time": a.on_time,
                      "on_time_share": a.on_time_share} for a in k.arrivals],
        "missed_deadlines": {
            "total": k.missed_total,
            "items": [{"type": m.type, "kind": m.kind, "item": m.item, "count": m.count}
                      for m in k.missed]},
        "devices": [{"device": d.device, "location": d.location, "incidents": d.incidents,
                     "false_alarms": d.false_alarms, "rate": round(d.rate, 4),
                     "maintenance": d.maintenance} for d in k.devices],
        "open_at_end": [{"id": o.id, "type": o.type, "status": o.status,
                         "opened_at": o.opened_at, "location": o.location, "drill": o.drill}
                        for o in k.open_at_end],
        "drills": {"count": len(k.drills), "average_score": k.drill_average,
                   "items": [{"id": d.id, "type": d.type, "opened_at": d.opened_at,
                              "met": d.met, "total": d.total, "score": d.percent}
                             for d in k.drills]},
    }
