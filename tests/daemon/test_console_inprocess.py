"""The console's API on an in-process daemon (tests/inprocess.py): sessions on the virtual
clock, and commands that answer once their batch is committed."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from gateway.console.app import create_app
from gateway.domain import site_time
from simulators.sites import mqtt_only_demo
from tests.support.console import Console, running_console
from tests.support.inprocess import T0, InProcess
from tests.support.processes import query

pytestmark = pytest.mark.anyio
T = TypeVar("T")

USERS = {"op": "operator", "tech": "technician", "sup": "supervisor"}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    config = mqtt_only_demo(tmp_path / "site")
    site = yaml.safe_load(config.read_text())
    site["console"] = {"idle_timeout": "2m", "session_length": "1h"}
    config.write_text(yaml.safe_dump(site, allow_unicode=True))
    return config


@pytest.fixture
async def console(config: Path, tmp_path: Path) -> AsyncIterator[Console]:
    async with running_console(config, tmp_path / "store.sqlite3", USERS) as made:
        yield made


async def test_a_session_ends_when_idle_and_lives_while_in_use(console: Console) -> None:
    op = await console.client("op")
    assert (await op.get("/api/me")).status_code == 200
    for _ in range(5):  # in use every minute: never idle
        console.gw.now += 60
        assert (await op.get("/api/me")).status_code == 200
    console.gw.now += 121
    r = await op.get("/api/me")
    assert r.status_code == 401
    assert "expired" in r.json()["error"]


async def test_a_session_ends_at_its_length_even_in_use(console: Console) -> None:
    op = await console.client("op")
    for _ in range(59):
        console.gw.now += 60
        assert (await op.get("/api/me")).status_code == 200
    console.gw.now += 61
    assert (await op.get("/api/me")).status_code == 401


async def test_a_shelved_point_is_recorded_but_opens_nothing_until_unshelved(
        console: Console) -> None:
    tech, op = await console.client("tech"), await console.client("op")

    async def post(client: httpx.AsyncClient, path: str, body: Any) -> httpx.Response:
        return await console.call(client.post(path, json=body))

    assert (await post(op, "/api/points/B1-F2-Z2/shelve",
                       {"minutes": 30, "reason": "x"})).status_code == 403
    r = await post(tech, "/api/points/B1-F2-Z2/shelve", {"minutes": 30})
    assert (r.status_code, r.json()["problems"][0]["field"]) == (422, "reason")
    assert (await post(tech, "/api/points/NOPE/shelve", {"reason": "x"})).status_code == 404
    r = await post(tech, "/api/points/B1-F2-Z2/shelve", {"minutes": 30, "reason": "探头更换中"})
    assert r.status_code == 200, r.text
    assert "B1-F2-Z2 shelved until" in r.json()["result"]
    points = (await tech.get("/api/points", params={"building": "1",
                                                    "kind": "smoke_detector"})).json()["points"]
    shelf = next(p for p in points if p["id"] == "B1-F2-Z2")["shelved"]
    assert (shelf["by"], shelf["reason"], shelf["until"]) == ("tech", "探头更换中", T0 + 1800)
    console.gw.publish("demo/fire/b1/f2/z2", {"state": "fire", "device": "SD-09"})
    await console.gw.settle()
    store = console.gw.store
    assert query(store, "SELECT incidents FROM signals WHERE point_id = 'B1-F2-Z2'") == [("",)]
    incidents = (await op.get("/api/incidents", params={"status": "all"})).json()["incidents"]
    assert incidents == []
    # back in service while still in alarm: announced at once
    r = await console.call(tech.delete("/api/points/B1-F2-Z2/shelve"))
    assert r.status_code == 200
    incidents = (await op.get("/api/incidents", params={"status": "all"})).json()["incidents"]
    assert [i["type"] for i in incidents] == ["fire"]
    kinds = [k for (k,) in query(store, "SELECT kind FROM events WHERE point_id = 'B1-F2-Z2'"
                                 " AND incident_id = '' ORDER BY seq")]
    assert kinds == ["point_shelved", "point_unshelved"]
    assert (await console.call(tech.delete("/api/points/B1-F2-Z2/shelve"))).status_code == 409


@pytest.mark.parametrize("details", ["loopback", "token"])
async def test_health_details_and_metrics_only_for_this_machine_or_the_token(
        tmp_path: Path, details: str) -> None:
    config = mqtt_only_demo(tmp_path / "site")
    site = yaml.safe_load(config.read_text())
    token = "t0ken-for-the-monitoring-system"
    site["console"] = {"health_details": details, "health_token": token}
    config.write_text(yaml.safe_dump(site, allow_unicode=True))
    async with InProcess(config, tmp_path / "store.sqlite3") as gw:
        app = create_app(gw.gw)

        def client(host: str, **headers: str) -> httpx.AsyncClient:
            return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(host, 5000)),
                                     base_url="http://console", headers=headers)

        async with client("10.1.2.3") as far:
            health = (await far.get("/healthz")).json()
            assert set(health) == {"status"}
            assert (await far.get("/metrics")).status_code == 403
        async with client("127.0.0.1") as here:
            assert "problems" in (await here.get("/healthz")).json()
            assert (await here.get("/metrics")).status_code == 200
        async with client("10.1.2.3", Authorization=f"Bearer {token}") as monitor:
            expected = 200 if details == "token" else 403
            assert (await monitor.get("/metrics")).status_code == expected
        app.state.reader.close()


async def test_overdue_work_is_shown_first_and_counts_up(console: Console) -> None:
    op = await console.client("op")
    console.gw.publish("demo/fire/b1/f6/z1", {"state": "fire", "device": "SD-03"})
    await console.gw.settle()
    r = await console.call(op.get("/api/incidents"))
    assert r.status_code == 200, r.text
    (summary,) = r.json()["incidents"]
    assert (summary["overdue_since"], summary["overdue_count"]) == (None, 0)
    first_due = summary["next_deadline"]
    await console.gw.advance(200)  # the 3-minute verification passes undone
    op = await console.client("op")  # (the first session idled out meanwhile: 2 min)
    r = await console.call(op.get("/api/incidents"))
    assert r.status_code == 200, r.text
    (summary,) = r.json()["incidents"]
    assert summary["overdue_since"] == first_due
    assert summary["overdue_count"] >= 1
    assert summary["next_deadline"] != first_due  # the next deadline no longer hides it


async def test_a_refusal_carries_its_code_and_names_what_it_speaks_of(console: Console) -> None:
    """The page says a refusal in the operator's language: a code, and the ids it names as
    the playbook and the people's names read, in both languages."""
    op = await console.client("op")
    console.gw.publish("demo/fire/b1/f6/z1", {"state": "fire", "device": "SD-03"})
    await console.gw.settle()
    (summary,) = (await console.call(op.get("/api/incidents"))).json()["incidents"]
    path = f"/api/incidents/{summary['id']}"
    assert (await console.call(op.post(f"{path}/ack", json={}))).status_code == 200
    r = await console.call(op.post(f"{path}/ack", json={}))
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "already_acknowledged"
    assert body["params"]["actor"] == {"zh": "op", "en": "op"}  # the display name
    assert "already acknowledged" in body["error"]  # the English, for scripts and logs
    r = await console.call(op.post(f"{path}/step", json={"step": "notify_management"}))
    body = r.json()  # not yet a step of this incident: it comes with the confirmation
    assert (body["code"], body["params"]["step"]["zh"]) == (
        "no_step", "通知当值主管、项目经理及管理处负责人")
    assert (await console.call(op.post(f"{path}/step", json={"step": "verify"}))).is_success
    body = (await console.call(op.post(f"{path}/step", json={"step": "verify"}))).json()
    assert body["code"] == "step_done"
    assert "verify" not in body["params"]["step"]["zh"]
    assert re.search("[\u4e00-\u9fff]", body["params"]["step"]["zh"])
    r = await console.call(op.post(f"{path}/resolve", json={}))
    body = r.json()
    assert (r.status_code, body["code"]) == (409, "needs_reason")
    assert "verdict" not in body["params"]["gaps"]["zh"]
    assert body["params"]["gaps"]["zh"].startswith("未决策：")
    r = await console.call(op.post(f"{path}/record", json={"field": "fire_out_at",
                                                           "value": "23:99"}))
    assert r.json()["code"] == "not_a_time"
    r = await console.call(op.post("/api/login", json={"username": "op", "password": "wrong"}))
    assert (r.status_code, r.json()["code"]) == (401, "login_wrong")
    r = await console.call(op.get("/api/incidents/INC-NONE"))
    assert (r.status_code, r.json()["code"]) == (404, "no_incident")


async def test_a_technician_explains_a_reading_and_prints_the_walk_record(
        console: Console) -> None:
    tech, op = await console.client("tech"), await console.client("op")
    body = {"topic": "demo/fire/b1/f6/z1", "payload": '{"state": "fire"}'}
    r = await console.call(tech.post("/api/explain", json=body))
    assert r.status_code == 200, r.text
    (found,) = r.json()["points"]
    assert (found["point_id"], found["state"], found["playbooks"]) == (
        "B1-F6-Z1", "alarm", ["fire"])
    assert console.gw.incidents == []  # a dry run: nothing stored, nothing opened
    assert (await console.call(op.post("/api/explain", json=body))).json()["code"] == \
        "forbidden"
    r = await console.call(tech.post("/api/explain", json={"topic": "t"}))
    assert (r.status_code, r.json()["code"]) == (422, "explain_what")

    since = console.gw.now
    console.gw.publish("demo/fire/b1/f6/z1", {"state": "normal", "device": "SD-03"})
    await console.gw.settle()
    await console.gw.advance(5)
    r = await console.call(tech.get("/api/walk-record", params={
        "since": since, "building": "1", "format": "md"}))
    assert r.status_code == 200, r.text
    line = next(x for x in r.text.splitlines() if x.startswith("| B1-F6-Z1 |"))
    assert "已上报" in line
    assert "测试人 | tech" in r.text  # who printed it, by the name they go by
    r = await console.call(tech.get("/api/walk-record", params={"since": since,
                                                                  "until": since - 1}))
    assert (r.status_code, r.json()["code"]) == (422, "walk_period")


async def test_the_board_says_who_is_on_duty_now(console: Console) -> None:
    """Friday 16:00 in Shanghai on the virtual clock: the day shift."""
    op = await console.client("op")
    r = await console.call(op.get("/api/roster"))
    assert r.status_code == 200, r.text
    duty = {d["role"]: d for d in r.json()["duty"]}
    assert duty["duty_supervisor"]["person"]["name"]["zh"] == "张伟"
    assert duty["duty_supervisor"]["deputy"]["id"] == "chen.jie"
    assert duty["on_duty_patrol"]["shift"] == "day"
    assert duty["on_duty_patrol"]["until"] == T0 + 4 * 3600  # 20:00 in Shanghai
    assert duty["project_manager"]["until"] is None  # held all day


async def test_a_supervisor_swaps_tonights_duty_on_record(console: Console) -> None:
    """The swap holds for the shift now running, is on record and in every notification's
    name; an operator may not swap; nobody unknown can be put on duty."""
    sup, op = await console.client("sup"), await console.client("op")
    body = {"role": "duty_supervisor", "person": "chen.jie", "reason": "张伟病假"}
    assert (await console.call(op.post("/api/roster/swap", json=body))).json()["code"] == \
        "forbidden"
    r = await console.call(sup.post("/api/roster/swap", json=body))
    assert r.status_code == 200, r.text
    assert "chen.jie on duty as duty_supervisor instead of zhang.wei" in r.json()["result"]
    duty = {d["role"]: d for d in (await console.call(sup.get("/api/roster"))).json()["duty"]}
    assert (duty["duty_supervisor"]["person"]["id"], duty["duty_supervisor"]["swapped"]) == (
        "chen.jie", "张伟病假")
    ((actor, data),) = query(console.gw.store,
                             "SELECT actor, data FROM events WHERE kind = 'roster_swapped'")
    assert (actor, json.loads(data)["was"]) == ("sup", "zhang.wei")
    for wrong, code in (({**body, "person": "nobody"}, "no_person"),
                        ({**body, "role": "cleaning"}, "no_duty")):
        r = await console.call(sup.post("/api/roster/swap", json=wrong))
        assert (r.status_code, r.json()["code"]) == (409, code)
    await console.gw.restart(after=1)  # kept in the store: the roster still answers 陈杰
    assert console.gw.gw.state.roster(console.gw.gw.site.roster).on_duty(
        "duty_supervisor", site_time.local(console.gw.now)).person == "chen.jie"
