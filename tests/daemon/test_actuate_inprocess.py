"""Actuators commanded by hand through the console's API on an in-process daemon: who may,
what is refused and how it is said, the command followed to its feedback on the actuators'
page, on record as facts of the site or on an incident's timeline, across a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway.domain.effects import MqttPublish
from simulators.sites import mqtt_only_demo
from tests.support.console import Console, running_console
from tests.support.processes import query

pytestmark = pytest.mark.anyio

USERS = {"op": "operator", "tech": "technician", "tester": "tester", "sup": "supervisor"}
RECALL = {"command": "recall", "reason": "1号梯困人演练后复核 / checking the car"}
CAR = "/api/actuators/ELV-B1-L1/actuate"


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    config = mqtt_only_demo(tmp_path / "site")
    site = yaml.safe_load(config.read_text())
    site["console"] = {"idle_timeout": "2h", "session_length": "12h"}
    config.write_text(yaml.safe_dump(site, allow_unicode=True))
    async with running_console(config, tmp_path / "store.sqlite3", USERS) as made:
        yield made


async def post(console: Console, client: httpx.AsyncClient, path: str,
               body: dict[str, Any]) -> httpx.Response:
    return await console.call(client.post(path, json=body))


async def last(client: httpx.AsyncClient, actuator_id: str) -> dict[str, Any]:
    actuators = (await client.get("/api/actuators")).json()["actuators"]
    found: dict[str, Any] = next(a for a in actuators if a["id"] == actuator_id)["last"]
    return found


def recalls(console: Console) -> list[MqttPublish]:
    return [e for e in console.gw.sent(MqttPublish) if e.topic == "demo/elevator/b1/l1/cmd"]


async def test_an_operator_recalls_a_car_by_hand_and_the_page_sees_it_confirmed(
        console: Console) -> None:
    op = await console.client("op")
    r = await post(console, op, CAR, RECALL)
    assert r.status_code == 200, r.text
    assert "ELV-B1-L1-RECALLED" in r.json()["result"]
    assert [e.payload for e in recalls(console)] == ['{"cmd":"fire_recall","floor":1}']
    seen = await last(op, "ELV-B1-L1")
    assert (seen["status"], seen["command"], seen["by"], seen["reason"], seen["incident_id"]) == (
        "sent", "recall", "op", RECALL["reason"], "")
    console.gw.now += 20
    console.gw.publish("demo/elevator/b1/l1/status", {"floor": 1, "doors": "open",
                                                      "mode": "fire_recall", "recalled": True})
    await console.gw.settle()
    seen = await last(op, "ELV-B1-L1")
    assert seen["status"] == "done"
    assert seen["detail_text"]["zh"].startswith("反馈已到：1号楼1号电梯迫降到位")
    kinds = [k for (k,) in query(console.gw.store, "SELECT kind FROM events WHERE"
                                 " incident_id = '' AND kind LIKE 'action_%' ORDER BY seq")]
    assert kinds == ["action_requested", "action_sent", "action_done"]
    (actor,), = query(console.gw.store, "SELECT actor FROM events WHERE kind ="
                      " 'action_requested'")
    assert actor == "op"


async def test_a_command_in_flight_is_followed_to_its_end_across_a_restart(
        console: Console) -> None:
    op = await console.client("op")
    assert (await post(console, op, CAR, RECALL)).status_code == 200
    await console.gw.restart(after=5)
    (action,) = console.gw.gw.state.site_actions.values()
    assert (action.status.value, action.by) == ("sent", "op")
    await console.gw.advance(90)
    (action,) = console.gw.gw.state.site_actions.values()
    assert action.status.value == "failed"
    assert action.detail == "no confirmation from ELV-B1-L1-RECALLED within 90s"


async def test_a_technician_may_and_a_tester_only_in_the_drill_window_and_withheld(
        console: Console) -> None:
    tech, tester = await console.client("tech"), await console.client("tester")
    assert (await post(console, tech, CAR, RECALL)).status_code == 200
    assert len(recalls(console)) == 1
    r = await post(console, tester, CAR, RECALL)
    assert (r.status_code, r.json()["code"]) == (409, "no_drill")
    r = await post(console, tester, "/api/drill", {"minutes": 30, "buildings": ["1"]})
    assert r.status_code == 200, r.text
    r = await post(console, tester, CAR, {**RECALL, "command": "out_of_service"})
    assert r.status_code == 200, r.text
    assert "withheld" in r.json()["result"]
    assert len(recalls(console)) == 1  # nothing more was written
    seen = await last(tester, "ELV-B1-L1")
    assert (seen["status"], seen["command"], seen["by"]) == ("withheld", "out_of_service",
                                                             "tester")


async def test_a_tester_may_not_command_by_hand_for_a_real_incident(console: Console) -> None:
    tester, op = await console.client("tester"), await console.client("op")
    console.gw.publish("demo/fire/b1/f6/z1", {"state": "fire", "device": "SD-03"})
    await console.gw.settle()
    (incident,) = console.gw.incidents
    r = await post(console, tester, CAR, {**RECALL, "incident": incident.id})
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = await post(console, op, CAR, {**RECALL, "incident": incident.id})
    assert r.status_code == 200, r.text
    (action,) = console.gw.incidents[0].actions
    assert (action.by, action.command, action.escalate_to) == ("op", "recall",
                                                               "duty_supervisor")
    events = (await op.get(f"/api/incidents/{incident.id}")).json()["events"]
    said = next(e["text"] for e in events if e["kind"] == "action_requested")
    assert said["zh"].startswith("手动指令：手动迫降 → 1号楼1号电梯，原因：")
    assert said["en"].startswith("commanded by hand: recall (by hand) → Building 1 elevator 1")
    # still awaiting the car: a close says so, by the command's name
    path = f"/api/incidents/{incident.id}"
    assert (await post(console, op, f"{path}/ack", {})).status_code == 200
    for field, value in (("cause", "烟感误报"), ("injuries", "无")):
        r = await post(console, op, f"{path}/record", {"field": field, "value": value})
        assert r.status_code == 200, r.text
    sup = await console.client("sup")
    r = await post(console, sup, f"{path}/close", {"handling": "h", "analysis": "a",
                                                    "improvement": "i"})
    body = r.json()
    assert (r.status_code, body["code"]) == (409, "needs_reason")
    assert body["params"]["unconfirmed_actions"]["zh"] == "手动迫降（1号楼1号电梯）"


async def test_wrong_commands_are_refused_with_a_code_the_page_says(console: Console) -> None:
    sup = await console.client("sup")
    r = await post(console, sup, "/api/actuators/NOPE/actuate", RECALL)
    assert (r.status_code, r.json()["code"]) == (404, "no_actuator")
    r = await post(console, sup, CAR, {**RECALL, "command": "fly"})
    body = r.json()
    assert (r.status_code, body["code"]) == (409, "no_actuator_command")
    assert body["params"]["actuator"] == {"zh": "1号楼1号电梯", "en": "Building 1 elevator 1"}
    r = await post(console, sup, CAR, {"command": "recall"})
    assert (r.status_code, r.json()["problems"][0]["field"]) == (422, "reason")
    r = await post(console, sup, CAR, {**RECALL, "incident": "INC-000404"})
    assert (r.status_code, r.json()["code"]) == (404, "no_incident")
    assert recalls(console) == []
