"""The console's HTTP API against the daemon as a process, a real broker and real users.

One daemon serves the module: its tests use separate incidents (different buildings, floors
and playbooks) so they do not depend on each other's order.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from simulators.devices import Publisher
from tests.support.processes import Broker, Daemon, start_broker, wait_until
from tests.support.sites import fire_payload, site_files

pytestmark = [pytest.mark.broker, pytest.mark.slow]

USERS = {"op": "operator", "op2": "operator", "sup": "supervisor", "tech": "technician",
         "test": "tester", "boss": "admin", "forgetful": "operator"}


def password(name: str) -> str:
    return f"pw-{name}-secret"


def add_user(daemon: Daemon, name: str, role: str) -> None:
    subprocess.run([sys.executable, "-m", "gateway", "users", "add", name, "--role", role,
                    "--password-stdin", "-c", str(daemon.config), "--store", str(daemon.store)],
                   input=password(name) + "\n", text=True, check=True, capture_output=True,
                   timeout=30)


@pytest.fixture(scope="module")
def broker_m(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = start_broker(tmp_path_factory.mktemp("broker"))
    yield b
    b.stop()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, broker_m: Broker) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("console")
    d = Daemon(site_files(tmp), tmp / "store.sqlite3", broker_m.url, tmp / "daemon.log")
    for name, role in USERS.items():
        add_user(d, name, role)
    d.start()
    wait_until(lambda: _up(d), what="console listening")
    yield d
    if d.process is not None and d.process.poll() is None:
        d.terminate()


def _up(d: Daemon) -> bool:
    try:
        return httpx.get(f"{d.console_url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


_OPEN: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def client_for(daemon: Daemon) -> httpx.Client:
    # as the console's page does: its requests say they come from its own origin
    client = httpx.Client(base_url=daemon.console_url, timeout=15,
                          headers={"Origin": daemon.console_url})
    _OPEN.append(client)
    return client


class Api:
    def __init__(self, daemon: Daemon, user: str | None = None) -> None:
        self.client = client_for(daemon)
        if user is not None:
            r = self.client.post("/api/login", json={"username": user,
                                                     "password": password(user)})
            assert r.status_code == 200, r.text

    def get(self, path: str, **params: object) -> httpx.Response:
        return self.client.get(path, params=params)  # type: ignore[arg-type]

    def post(self, path: str, body: object = None) -> httpx.Response:
        return self.client.post(path, json={} if body is None else body)

    def do(self, incident_id: str, verb: str, **body: object) -> httpx.Response:
        return self.post(f"/api/incidents/{incident_id}/{verb}", body)


def alarm(broker: Broker, building: int, floor: int, zone: int, device: str = "SD-01") -> None:
    with Publisher(broker.host, broker.port) as pub:
        pub.publish(f"demo/fire/b{building}/f{floor}/z{zone}", fire_payload(device))


def incident_at(api: Api, building: str, floor: str, kind: str = "fire") -> str:
    found: list[str] = []

    def seen() -> bool:
        found[:] = [i["id"] for i in api.get("/api/incidents", status="all").json()["incidents"]
                    if i["location"]["building"] == building and i["location"]["floor"] == floor
                    and i["type"] == kind]
        return bool(found)

    wait_until(seen, what=f"incident at B{building} F{floor}")
    return found[0]


# ----------------------------------------------------------------------------- health, docs


def test_healthz_and_metrics_need_no_login(daemon: Daemon) -> None:
    health = httpx.get(f"{daemon.console_url}/healthz").json()
    assert health["status"] == "ok"
    assert health["broker_connected"] is True
    assert health["store_writable"] is True
    metrics = httpx.get(f"{daemon.console_url}/metrics").text
    for name in ("alarm_gateway_broker_connected 1.0", "alarm_gateway_store_writable 1.0",
                 "alarm_gateway_points{", "# TYPE alarm_gateway_events_total counter"):
        assert name in metrics


def test_openapi_document_lists_every_command(daemon: Daemon) -> None:
    paths = httpx.get(f"{daemon.console_url}/api/openapi.json").json()["paths"]
    for verb in ("ack", "confirm", "reject", "decide", "step", "arrive", "answer", "note",
                 "record", "assign", "resolve", "close", "reopen", "follow-up"):
        assert f"/api/incidents/{{incident_id}}/{verb}" in paths
    for path in ("/api/login", "/api/incidents", "/api/points", "/api/actuators", "/api/stream",
                 "/api/kpi", "/api/tasks", "/api/drill", "/healthz", "/metrics"):
        assert path in paths


def test_page_is_served_with_a_strict_content_security_policy(daemon: Daemon) -> None:
    r = httpx.get(f"{daemon.console_url}/")
    assert r.status_code == 200
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(f"{daemon.console_url}/static/..%2Fapp.py").status_code == 404
    assert httpx.get(f"{daemon.console_url}/static/js/..%2F..%2Fapp.py").status_code == 404
    assert httpx.get(f"{daemon.console_url}/static/js/..%2Findex.html").status_code == 404
    script = httpx.get(f"{daemon.console_url}/static/js/main.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")  # modules need it


# ----------------------------------------------------------------------------- sessions


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/me"), ("GET", "/api/site"), ("GET", "/api/incidents"),
    ("GET", "/api/incidents/INC-000001"), ("GET", "/api/incidents/INC-000001/report"),
    ("GET", "/api/points"), ("GET", "/api/actuators"), ("GET", "/api/deadletters"),
    ("GET", "/api/tasks"), ("GET", "/api/kpi"), ("GET", "/api/stream"),
    ("POST", "/api/incidents"), ("POST", "/api/incidents/INC-000001/ack"),
    ("POST", "/api/drill"), ("DELETE", "/api/drill"), ("POST", "/api/logout")])
def test_every_api_route_needs_a_session(daemon: Daemon, method: str, path: str) -> None:
    r = httpx.request(method, f"{daemon.console_url}{path}", json={})
    assert r.status_code == 401
    assert "log in" in r.json()["error"]


def test_login_cookie_bearer_token_and_logout(daemon: Daemon) -> None:
    client = client_for(daemon)
    bad = client.post("/api/login", json={"username": "op", "password": "nope"})
    assert (bad.status_code, bad.json()["error"]) == (401, "wrong user name or password")
    r = client.post("/api/login", json={"username": "op", "password": password("op")})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert r.json()["user"]["roles"] == ["operator"]
    assert client.get("/api/me").json()["user"]["name"] == "op"
    token = r.json()["token"]
    bearer = httpx.get(f"{daemon.console_url}/api/me",
                       headers={"Authorization": f"Bearer {token}"})
    assert bearer.json()["user"]["name"] == "op"
    assert client.post("/api/logout", json={}).status_code == 200
    assert httpx.get(f"{daemon.console_url}/api/me",
                     headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_disabled_user_loses_the_session(daemon: Daemon) -> None:
    add_user(daemon, "leaver", "operator")
    api = Api(daemon, "leaver")
    assert api.get("/api/me").status_code == 200
    subprocess.run([sys.executable, "-m", "gateway", "users", "disable", "leaver", "-c",
                    str(daemon.config), "--store", str(daemon.store)], check=True,
                   capture_output=True, timeout=30)
    # the daemon caches sessions for speed; a disabled user's next login is refused at once
    r = httpx.post(f"{daemon.console_url}/api/login",
                   json={"username": "leaver", "password": password("leaver")})
    assert r.status_code == 401


# ----------------------------------------------------------------------------- validation


def test_body_must_be_json(daemon: Daemon) -> None:
    api = Api(daemon, "op")
    r = api.client.post("/api/incidents", content=b"playbook=fire",
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    assert "application/json" in r.json()["error"]


@pytest.mark.parametrize(("verb", "body", "field"), [
    ("answer", {"prompt": "call_119", "answer": "maybe"}, "answer"),
    ("answer", {"answer": "yes"}, "prompt"),
    ("reject", {}, "note"),
    ("reject", {"note": "   "}, "note"),
    ("decide", {"branch": "verdict"}, "option"),
    ("step", {"step": "verify", "colour": "red"}, "colour"),
    ("record", {"field": "cause"}, "value"),
    ("close", {"handling": "x", "analysis": "y"}, "improvement"),
    ("reopen", {}, "reason"),
    ("note", {"text": ""}, "text"),
    ("assign", {"commander": ""}, "commander"),
    ("follow-up", {"task": "resident_visit"}, "note"),
    ("arrive", {"who": "x"}, "role"),
])
def test_each_bad_body_names_the_field_at_fault(daemon: Daemon, verb: str,
                                                body: dict[str, object], field: str) -> None:
    api = Api(daemon, "boss")
    r = api.do("INC-000001", verb, **body)
    assert r.status_code == 422, r.text
    assert r.json()["problems"][0]["field"] == field
    assert r.json()["error"].startswith(f"{field}:")


def test_bad_query_and_bad_open_body(daemon: Daemon) -> None:
    api = Api(daemon, "op")
    r = api.get("/api/incidents", status="burning")
    assert (r.status_code, r.json()["problems"][0]["field"]) == (422, "query.status")
    r = api.post("/api/incidents", {"building": "1"})
    assert (r.status_code, r.json()["problems"][0]["field"]) == (422, "playbook")
    r = api.post("/api/drill", {"minutes": 0})
    assert r.status_code in (403, 422)


def test_unknown_incident_is_404_and_wrong_state_409(daemon: Daemon, broker_m: Broker) -> None:
    api = Api(daemon, "sup")
    r = api.do("INC-999999", "ack")
    assert (r.status_code, r.json()["error"]) == (404, "no incident INC-999999")
    assert api.get("/api/incidents/INC-999999").status_code == 404
    alarm(broker_m, 2, 17, 1)
    incident_id = incident_at(api, "2", "17")
    r = api.do(incident_id, "resolve")
    assert (r.status_code, r.json()["error"]) == (
        409, f"{incident_id} is not acknowledged yet: acknowledge it first")
    assert api.do(incident_id, "ack").status_code == 200
    again = api.do(incident_id, "ack")
    assert again.status_code == 409
    assert "already acknowledged by sup" in again.json()["error"]


# ----------------------------------------------------------------------------- roles


def test_role_rules(daemon: Daemon) -> None:
    op, op2, sup, tech, tester = (Api(daemon, n) for n in ("op", "op2", "sup", "tech", "test"))
    r = op.post("/api/incidents", {"playbook": "gas_leak", "building": "1", "floor": "21",
                                   "unit": "2101", "reporter": "2101 住户"})
    assert r.status_code == 201, r.text
    incident_id = r.json()["id"]
    assert tech.post("/api/incidents", {"playbook": "gas_leak", "building": "1",
                                        "floor": "22"}).status_code == 403
    r = tech.do(incident_id, "ack")
    assert r.status_code == 403
    assert "tech (technician) may not do this" in r.json()["error"]
    assert tech.do(incident_id, "note", text="楼道有装修").status_code == 200
    assert tester.do(incident_id, "ack").status_code == 403  # a real incident
    assert op.do(incident_id, "ack").status_code == 200
    assert op2.do(incident_id, "record", field="leak_location",
                  value="无泄漏，灶具未关").status_code == 200
    assert op.do(incident_id, "reject", note="检测仪读数为零").status_code == 200
    review = {"handling": "3 分钟到场检测", "analysis": "误报", "improvement": "无"}
    r = op.do(incident_id, "close", **review)
    assert r.status_code == 403
    assert "needs admin or supervisor" in r.json()["error"]
    assert op.do(incident_id, "assign", commander="sup").status_code == 403
    gaps = sup.do(incident_id, "close", **review)  # the gas playbook's steps left undone
    assert gaps.status_code == 409
    assert "give the reason" in gaps.json()["error"]
    assert sup.do(incident_id, "close", **review, reason="误报，余下步骤不需要").status_code == 200
    assert op.do(incident_id, "reopen", reason="x").status_code == 403
    assert sup.do(incident_id, "reopen", reason="住户再次闻到").status_code == 200
    # drills: only a tester (or admin) starts one; a tester works drill incidents
    assert op.post("/api/drill", {"minutes": 5}).status_code == 403
    r = tester.post("/api/incidents", {"playbook": "gas_leak", "building": "1", "floor": "B1",
                                       "zone": "kitchen", "drill": True})
    assert r.status_code == 201, r.text
    drill_id = r.json()["id"]
    assert tester.do(drill_id, "ack").status_code == 200
    assert tester.post("/api/incidents", {"playbook": "gas_leak", "building": "1",
                                          "floor": "9"}).status_code == 403
    started = tester.post("/api/drill", {"minutes": 5})
    assert started.status_code == 200
    assert "drill on until" in started.json()["result"]
    assert tester.client.delete("/api/drill").json()["result"] == "drill off"


def test_answers_are_recorded_under_the_session_user(daemon: Daemon) -> None:
    """Who answered is the logged-in user (the second-operator rule builds on it; see
    tests/core/test_workflow.py and tests/core/test_playbooks.py)."""
    op, op2 = Api(daemon, "op"), Api(daemon, "op2")
    r = op.post("/api/incidents", {"playbook": "gas_leak", "building": "1", "floor": "15",
                                   "unit": "1502", "reporter": "住户电话"})
    assert r.status_code == 201, r.text
    incident_id = r.json()["id"]
    assert op.do(incident_id, "answer", prompt="call_119", answer="yes").status_code == 409
    assert op.do(incident_id, "answer", prompt="call_gas_company",
                 answer="yes").status_code == 200
    again = op2.do(incident_id, "answer", prompt="call_gas_company", answer="no")
    assert again.status_code == 409
    assert "already settled (answered yes) by op" in again.json()["error"]


# ----------------------------------------------------------------------------- workflow


def test_the_whole_workflow_over_the_api(daemon: Daemon, broker_m: Broker) -> None:
    op, sup = Api(daemon, "op"), Api(daemon, "sup")
    alarm(broker_m, 1, 14, 3)
    incident_id = incident_at(op, "1", "14")
    board = op.get("/api/incidents").json()["incidents"]
    mine = next(i for i in board if i["id"] == incident_id)
    assert (mine["status"], mine["stage"], mine["name"]["zh"]) == ("open", "unverified", "火警")
    assert mine["next_deadline"] > time.time()
    steps = [
        ("ack", {"note": "收到"}), ("arrive", {"role": "on_duty_patrol", "who": "赵保安"}),
        ("decide", {"branch": "verdict", "option": "confirmed", "note": "确有明火"}),
        ("answer", {"prompt": "call_119", "answer": "yes"}),
        ("step", {"step": "evacuate", "note": "已疏散"}),
        ("note", {"text": "消防车已到"}),
        ("record", {"field": "cause", "value": "电动车充电"}),
        ("record", {"field": "injuries", "value": "无"}),
        ("record", {"field": "brigade_arrived_at", "value": "-1m"}),
        ("record", {"field": "fire_out_at", "value": "now"}),
        ("resolve", {"note": "火已扑灭"}),
    ]
    for verb, body in steps:
        r = op.do(incident_id, verb, **body)
        assert r.status_code == 200, (verb, r.text)
    assert sup.do(incident_id, "assign", commander="张主管").status_code == 200
    closed = sup.do(incident_id, "close", handling="4 分钟到场扑灭", analysis="电动车入户充电",
                    improvement="增设集中充电点", reason="火已扑灭，余下工作不再需要")
    assert closed.status_code == 200, closed.text
    detail = op.get(f"/api/incidents/{incident_id}").json()
    inc = detail["incident"]
    devices = inc["devices"]  # every device of the incident, not a count
    assert devices
    assert {"point_id", "device", "state", "last_at"} <= set(devices[0])
    assert inc["device_count"] == len(devices)
    assert (inc["status"], inc["verdict"], inc["commander"]) == ("closed", "real", "张主管")
    assert detail["playbook"]["statement"]["zh"].startswith("小区发生火情")
    assert detail["playbook"]["prompts"]["call_119"]["call"]["phone"] == "119"
    kinds = [e["kind"] for e in detail["events"]]
    for kind in ("incident_opened", "acknowledged", "arrival", "branch_decided",
                 "action_requested", "prompt_answered", "record", "resolved", "closed"):
        assert kind in kinds
    assert {r["id"]: r["value"] for r in detail["playbook"]["records"]}["cause"] == "电动车充电"
    report = op.get(f"/api/incidents/{incident_id}/report", lang="en", format="html")
    assert report.status_code == 200
    assert "text/html" in report.headers["content-type"]
    assert incident_id in report.text
    md = op.get(f"/api/incidents/{incident_id}/report", format="md")
    assert md.text.startswith("# ")
    tasks = op.get("/api/tasks").json()["tasks"]
    assert any(t["incident_id"] == incident_id and t["id"] == "resident_visit" for t in tasks)
    assert op.do(incident_id, "follow-up", task="resident_visit",
                 note="住户无损失").status_code == 200
    assert not [t for t in op.get("/api/tasks").json()["tasks"]
                if t["incident_id"] == incident_id]
    closed = op.get("/api/incidents", status="closed", building="1").json()["incidents"]
    assert incident_id in [i["id"] for i in closed]
    kpi = op.get("/api/kpi", days=1).json()
    assert json.dumps(kpi)  # figures as JSON
    assert op.get("/api/kpi", format="html").status_code == 200


def test_incident_filters(daemon: Daemon) -> None:
    op = Api(daemon, "op")
    r = op.post("/api/incidents", {"playbook": "gas_leak", "building": "2", "floor": "3",
                                   "unit": "301", "reporter": "301 住户"})
    assert r.status_code == 201
    gas_id = r.json()["id"]
    live = op.get("/api/incidents", type="gas_leak", building="2").json()["incidents"]
    assert [i["id"] for i in live] == [gas_id]
    assert gas_id not in [i["id"] for i in op.get("/api/incidents", type="fire").json()[
        "incidents"]]
    assert gas_id not in [i["id"] for i in op.get("/api/incidents", drill=True).json()[
        "incidents"]]
    duplicate = op.post("/api/incidents", {"playbook": "gas_leak", "building": "2",
                                           "floor": "3", "unit": "301"})
    assert duplicate.status_code == 409
    assert f"{gas_id} is already open" in duplicate.json()["error"]
    unknown = op.post("/api/incidents", {"playbook": "meteor"})
    assert (unknown.status_code, "unknown playbook 'meteor'" in unknown.json()["error"]) == (
        409, True)


# ----------------------------------------------------------------------------- points, live


def test_points_actuators_and_dead_letters(daemon: Daemon, broker_m: Broker) -> None:
    tech = Api(daemon, "tech")
    started = time.time()
    with Publisher(broker_m.host, broker_m.port) as pub:
        pub.publish("demo/fire/b2/f9/z4", fire_payload("SD-04", state="normal"))
        pub.publish("demo/fire/b2/f9/z3", b"{not json")
    wait_until(lambda: tech.get("/api/points", seen_since=started).json()["points"],
               what="the point seen since the walk test began")
    seen = tech.get("/api/points", seen_since=started).json()["points"]
    assert [p["id"] for p in seen] == ["B2-F9-Z4"]
    assert seen[0]["state"] == "normal"
    assert seen[0]["name"]["zh"] == "2号楼9层4防区感烟探测器"
    smoke = tech.get("/api/points", building="1", kind="smoke_detector").json()["points"]
    assert len(smoke) == 18 * 4
    assert {p["location"]["building"] for p in smoke} == {"1"}
    actuators = {a["id"]: a for a in tech.get("/api/actuators").json()["actuators"]}
    assert actuators["ELV-B1-L1"]["feedback"][0]["point"] == "ELV-B1-L1-RECALLED"
    wait_until(lambda: tech.get("/api/deadletters").json()["dead_letters"],
               what="the bad payload kept")
    letter = tech.get("/api/deadletters").json()["dead_letters"][0]
    assert letter["topic"] == "demo/fire/b2/f9/z3"


def test_live_stream_carries_a_new_alarm_within_a_second(daemon: Daemon,
                                                         broker_m: Broker) -> None:
    op = Api(daemon, "op")
    got: list[tuple[float, str, dict[str, object]]] = []
    ready = threading.Event()

    def listen() -> None:
        with op.client.stream("GET", "/api/stream", timeout=20) as response:
            kind = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    if kind == "hello":
                        ready.set()
                    data = json.loads(line[6:])
                    got.append((time.monotonic(), kind, data))
                    if kind == "event" and data.get("point_id") == "B2-F18-Z4":
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert ready.wait(10)
    published = time.monotonic()
    alarm(broker_m, 2, 18, 4)
    thread.join(10)
    # building 2 may already have a fire open (one incident per building): the new device
    # arrives either as the incident opening or as a device joining it
    arrived = [(at, d) for at, kind, d in got
               if kind == "event" and d.get("point_id") == "B2-F18-Z4"]
    assert arrived, got[-5:]
    assert arrived[0][0] - published < 1.0
    assert arrived[0][1]["kind"] in ("incident_opened", "signal")



def test_console_binds_to_loopback_by_default() -> None:
    from gateway.config.site import load_config
    from tests.support.processes import ROOT

    console = load_config(ROOT / "config" / "site.yaml", environ={}).console
    assert (console.host, console.port, console.enabled) == ("127.0.0.1", 8080, True)
    off = load_config(ROOT / "config" / "site.yaml", environ={"ALARM_GATEWAY_CONSOLE": "off"})
    assert not off.console.enabled



def query_store(daemon: Daemon, sql: str) -> list[tuple[object, ...]]:
    from tests.support.processes import query

    return query(daemon.store, sql)


def test_console_over_tls_with_a_secure_cookie(tmp_path: Path, broker: Broker) -> None:
    key, cert = tmp_path / "console.key", tmp_path / "console.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True,
                   timeout=60)
    config = site_files(tmp_path)
    site = yaml.safe_load(config.read_text())
    site["console"] = {"tls": {"cert_file": str(cert), "key_file": str(key)}}
    config.write_text(yaml.safe_dump(site, allow_unicode=True))
    d = Daemon(config, tmp_path / "store.sqlite3", broker.url, tmp_path / "daemon.log")
    add_user(d, "op", "operator")
    d.start()
    url = f"https://127.0.0.1:{d.console_port}"
    try:
        trust = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=url, verify=trust, timeout=10) as client:
            wait_until(lambda: client.get("/healthz").status_code == 200, what="TLS console")
            r = client.post("/api/login", json={"username": "op", "password": password("op")})
            assert r.status_code == 200
            assert "secure" in r.headers["set-cookie"].lower()
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{d.console_port}/healthz", timeout=3)
        assert d.events("console_listening")
        assert f'"url": "https://127.0.0.1:{d.console_port}"' in d.log()
    finally:
        d.terminate()


def test_a_second_confirmation_comes_from_a_different_user(daemon: Daemon,
                                                            broker_m: Broker) -> None:
    op, op2, sup = Api(daemon, "op"), Api(daemon, "op2"), Api(daemon, "sup")
    r = op.post("/api/incidents", {"playbook": "water_leak", "building": "1", "floor": "B2",
                                   "zone": "pump_room", "reporter": "巡逻"})
    assert r.status_code == 201, r.text
    incident_id = r.json()["id"]
    assert op.do(incident_id, "decide", branch="elevator", option="flooded").status_code == 200
    first = op.do(incident_id, "answer", prompt="cut_elevator_power", answer="yes")
    assert first.status_code == 200
    assert "a second operator must confirm" in first.json()["result"]
    same = op.do(incident_id, "answer", prompt="cut_elevator_power", answer="yes")
    assert same.status_code == 409
    assert "needs a second operator: op already said yes" in same.json()["error"]
    assert op2.do(incident_id, "answer", prompt="cut_elevator_power",
                  answer="yes").status_code == 200
    detail = sup.get(f"/api/incidents/{incident_id}").json()
    prompt = next(p for p in detail["incident"]["prompts"] if p["id"] == "cut_elevator_power")
    assert (prompt["answered_by"], prompt["confirmed_by"]) == ("op", "op2")
    assert any(a["prompt"] == "cut_elevator_power" for a in detail["incident"]["actions"])
    assert detail["playbook"]["prompts"]["cut_elevator_power"]["second_confirmation"] is True


def test_site_describes_roles_playbooks_and_buildings(daemon: Daemon) -> None:
    site = Api(daemon, "tech").get("/api/site").json()
    assert site["name"] == {"zh": "翠湖苑", "en": "Cuihu Garden"}
    assert site["roles"]["duty_supervisor"]["zh"] == "当值主管"
    assert site["buildings"] == ["1", "2"]
    manual = {p["id"] for p in site["playbooks"] if p["manual"]}
    assert {"earthquake", "car_park_vehicle", "unit_power_outage", "gas_leak"} <= manual
