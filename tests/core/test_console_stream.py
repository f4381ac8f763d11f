"""The live stream hub: what a committed batch becomes, slow browsers, ended sessions."""

from __future__ import annotations

import asyncio
import json

from gateway.console.stream import QUEUE_LIMIT, Hub
from gateway.domain.model import PointState
from gateway.engine.machine import Engine
from gateway.playbook.load import load_playbooks
from gateway.points.conditioning import PointStatus
from gateway.store.values import WriteSet
from tests.support.engine import Harness
from tests.support.sites import small_site


def hub_and_harness() -> tuple[Hub, Harness]:
    site = small_site()
    playbooks = load_playbooks(site.playbook_dir, site)
    return Hub(playbooks, lambda: site, heartbeat=0.05), Harness(Engine(site, playbooks), site)


def messages(chunks: list[str]) -> list[tuple[str, dict[str, object]]]:
    out = []
    for chunk in chunks:
        lines = dict(line.split(": ", 1) for line in chunk.strip().splitlines()
                     if not line.startswith(":") and ": " in line)
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_a_batch_becomes_incident_event_and_point_messages() -> None:
    hub, h = hub_and_harness()

    async def run() -> list[str]:
        got: list[str] = []

        async def valid() -> bool:
            return True

        stream = hub.stream({"user": "op"}, valid)
        got.append(await anext(stream))
        out = h.signal("B1-F12-Z3", device="SD-01")
        ws = WriteSet(events=out.events, incidents=out.incidents,
                      points={"B1-F12-Z3": PointStatus(PointState.ALARM, h.now, h.now)})
        hub.publish(ws)
        for _ in range(2 + len(out.events)):
            got.append(await anext(stream))
        await stream.aclose()
        return got

    got = messages(asyncio.run(run()))
    kinds = [k for k, _ in got]
    assert kinds[0] == "hello"
    assert kinds[1] == "incident"
    assert got[1][1]["status"] == "open"
    assert got[1][1]["name"] == {"zh": "火警", "en": "Fire"}
    assert "event" in kinds
    assert kinds[-1] == "point"
    assert not hub.clients


def test_the_stream_ends_when_the_session_does() -> None:
    hub, _ = hub_and_harness()
    checks = iter([True, False])

    async def valid() -> bool:
        return next(checks)

    async def run() -> list[str]:
        return [chunk async for chunk in hub.stream({"user": "op"}, valid)]

    got = asyncio.run(asyncio.wait_for(run(), 5))
    assert [k for k, _ in messages(got)] == ["hello", "session_ended"]
    assert any(chunk.startswith(": keep-alive") for chunk in got)


def test_a_browser_that_falls_behind_is_dropped_not_waited_for() -> None:
    hub, _ = hub_and_harness()

    async def run() -> None:
        async def valid() -> bool:
            return True

        stream = hub.stream({"user": "op"}, valid)
        await anext(stream)
        for i in range(QUEUE_LIMIT + 10):
            hub.publish(WriteSet(meta={"drill_window": json.dumps({"until": i})}))
        assert hub.dropped == 1
        assert not hub.clients
        rest = [chunk async for chunk in stream]
        assert len(rest) == QUEUE_LIMIT - 1  # what was queued, then the end

    asyncio.run(run())
