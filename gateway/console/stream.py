"""The live stream of the console: incident, event and point changes as Server-Sent Events.

The gateway tells the hub of every committed batch; the hub turns it into small JSON messages
and hands them to each connected browser's queue. A browser that cannot keep up is dropped:
its page reconnects and reloads what it shows, so nothing is silently missed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from gateway.config.site import SiteConfig
from gateway.domain.conditions import name
from gateway.domain.incident import Incident
from gateway.domain.model import SEVERITY_RANK, Event
from gateway.playbook.definition import Playbook
from gateway.points.conditioning import PointStatus
from gateway.present.names import Names, names_of
from gateway.present.timeline import event_json
from gateway.store.values import WriteSet

QUEUE_LIMIT = 2000
HEARTBEAT = 15.0
SESSION_CHECK = 1.0
# in a storm one batch attaches hundreds of devices: the page needs the incident, not each one
MAX_SIGNAL_EVENTS = 20


def incident_summary(incident: Incident, playbooks: dict[str, Playbook]) -> dict[str, Any]:
    """What the board shows of an incident."""
    playbook = playbooks.get(incident.type)
    stage_name = None
    if playbook is not None:
        stage = next((s for s in playbook.stages if s.id == incident.stage), None)
        if stage is not None:
            stage_name = {"zh": stage.name.zh, "en": stage.name.en}
    loc = incident.location
    overdue = incident.overdue()
    return {
        "id": incident.id, "type": incident.type,
        "name": {"zh": playbook.name.zh, "en": playbook.name.en} if playbook
        else {"zh": incident.type, "en": incident.type},
        "severity": incident.severity.value,
        "severity_rank": SEVERITY_RANK[incident.severity],
        "status": incident.status.value, "stage": incident.stage, "stage_name": stage_name,
        "location": {"label": loc.label(), "building": loc.building, "floor": loc.floor,
                     "zone": loc.zone, "unit": loc.unit},
        # every place with a device in alarm (a fire spreading over floors)
        "places": [{"label": p.label(), "building": p.building, "floor": p.floor,
                    "zone": p.zone, "unit": p.unit} for p in incident.places()],
        "announced_at": incident.announced_at,
        "opened_at": incident.opened_at, "updated_at": incident.updated_at,
        "acknowledged_at": incident.acknowledged_at, "next_deadline": incident.next_deadline(),
        # overdue work, the oldest first: shown before the next deadline, counting up
        "overdue_since": overdue[0] if overdue else None, "overdue_count": len(overdue),
        "drill": incident.drill, "verdict": incident.verdict.value if incident.verdict else None,
        "returned_to_normal": incident.returned_to_normal, "device_count": len(incident.devices),
        "open_prompts": sum(1 for p in incident.prompts if p.waiting),
        "commander": incident.commander or incident.commander_role,
    }


def point_view(status: PointStatus) -> dict[str, Any]:
    """What the points page shows of a point's status: its state, its trouble conditions
    (named), whether it chatters, why it is offline, unreadable messages in a row."""
    return {
        "state": status.state.value, "since": status.since, "last_seen": status.last_seen,
        "value": status.value,
        "conditions": [{"id": c, "zh": name(c).zh, "en": name(c).en}
                       for c in status.conditions],
        "chattering": status.chattering, "offline_reason": status.offline,
        "unreadable": status.rejected,
    }


class Hub:
    def __init__(self, playbooks: dict[str, Playbook], site: Callable[[], SiteConfig | None],
                 heartbeat: float = HEARTBEAT) -> None:
        """``site``: the running site (its roles and actuators name things in the events)."""
        self.playbooks = playbooks
        self.site = site
        self.heartbeat = heartbeat
        self.clients: set[asyncio.Queue[str | None]] = set()
        self.dropped = 0

    def publish(self, ws: WriteSet) -> None:
        """Called by the gateway after each commit, on the event loop."""
        if not self.clients:
            return
        messages = [("incident", incident_summary(i, self.playbooks))
                    for i in ws.incidents.values()]
        signals = 0
        names: dict[str, Names] = {}  # by incident, from its playbook and this batch's events
        by_incident: dict[str, list[Event]] = {}
        for e in ws.events:
            by_incident.setdefault(e.incident_id, []).append(e)
        for e in ws.events:
            if e.kind == "signal":
                signals += 1
                if signals > MAX_SIGNAL_EVENTS:
                    continue
            if e.incident_id not in names:
                incident = ws.incidents.get(e.incident_id)
                playbook = self.playbooks.get(incident.type) if incident is not None else None
                names[e.incident_id] = names_of(by_incident[e.incident_id], playbook,
                                                self.site())
            messages.append(("event", event_json(e, names[e.incident_id])))
        for pid, p in ws.points.items():
            messages.append(("point", {"id": pid, **point_view(p)}))
        if ws.meta.get("drill_window") is not None:
            window = ws.meta["drill_window"]
            messages.append(("drill", json.loads(window) if window else {"until": 0}))
        for kind, data in messages:
            self._send(f"event: {kind}\ndata: "
                       f"{json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n")

    def _send(self, text: str) -> None:
        for queue in list(self.clients):
            try:
                queue.put_nowait(text)
            except asyncio.QueueFull:
                # too slow: end its stream; the page reconnects and reloads
                self.clients.discard(queue)
                self.dropped += 1
                queue.get_nowait()
                queue.put_nowait(None)

    async def stream(self, hello: dict[str, Any],
                     still_valid: Callable[[], Awaitable[bool]]) -> AsyncIterator[str]:
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=QUEUE_LIMIT)
        self.clients.add(queue)
        try:
            yield f"retry: 2000\nevent: hello\ndata: {json.dumps(hello, ensure_ascii=False)}\n\n"
            checked = said = time.monotonic()
            while True:
                # the session is checked every second: a user disabled, or given a new
                # password, loses the stream at once
                try:
                    text: str | None = await asyncio.wait_for(queue.get(), SESSION_CHECK)
                except TimeoutError:
                    text = "" if time.monotonic() - said < self.heartbeat else ": keep-alive\n\n"
                if time.monotonic() - checked >= SESSION_CHECK:
                    checked = time.monotonic()
                    if not await still_valid():
                        yield "event: session_ended\ndata: {}\n\n"
                        return
                if text is None:
                    return
                if text:
                    said = time.monotonic()
                    yield text
        finally:
            self.clients.discard(queue)
