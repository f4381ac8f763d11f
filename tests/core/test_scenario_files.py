"""Scenario files: their format, what a broken one says, storms, recordings, and judging
expectations on a store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config.site import SiteConfig, load_config
from gateway.domain.incident import ActionState, Incident, PromptState, to_json
from gateway.domain.model import (
    ActionStatus,
    IncidentStatus,
    Location,
    PointState,
    PromptStatus,
    Severity,
    Text,
)
from gateway.playbook.definition import Playbook
from gateway.playbook.load import load_playbooks
from gateway.store.sqlite.records import SqliteRecords
from gateway.store.sqlite.schema import connect
from gateway.store.values import Mark
from simulators.record import Recorded, Recorder, scenario_text
from simulators.scenario_check import evaluate
from simulators.scenario_load import StormStep, load_scenario, storm_messages
from simulators.scenario_model import EXIT_BAD_SCENARIO, ExpectModel, ScenarioError
from tests.support.processes import ROOT
from tests.support.sites import scenario_file, simulate

SHIPPED = sorted((ROOT / "simulators" / "scenarios").glob("*.yaml"))


@pytest.fixture(scope="module")
def demo() -> tuple[SiteConfig, dict[str, Playbook]]:
    site = load_config(ROOT / "config" / "site.yaml")
    return site, load_playbooks(site.playbook_dir, site)


def problems_of(path: Path, demo: tuple[SiteConfig, dict[str, Playbook]]) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, *demo)
    assert info.value.exit_code == EXIT_BAD_SCENARIO
    return [str(p) for p in info.value.problems]


# ----------------------------------------------------------------------------- the format


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenarios_are_valid(path: Path,
                                     demo: tuple[SiteConfig, dict[str, Playbook]]) -> None:
    scenario = load_scenario(path, *demo)
    assert scenario.steps
    assert not scenario.expect.empty, "a shipped scenario checks something"


def test_shipped_scenarios_cover_the_demo_devices() -> None:
    names = {p.stem for p in SHIPPED}
    assert {"fire-confirmed", "fire-false-alarm", "fire-storm", "fire-drill", "gas-leak",
            "water-leak", "elevator-entrapment"} <= names


def test_a_scenario_compiles_to_timed_steps(tmp_path: Path,
                                            demo: tuple[SiteConfig, dict[str, Playbook]]) -> None:
    path = scenario_file(tmp_path, """
name: all-kinds
description: {zh: 全部步骤, en: every kind of step}
drill: true
steps:
  - {at: 31s, storm: {building: [1, 2], zones: 3, over: 10s}}
  - {at: 0s, point: B1-F12-Z3, state: alarm, device: SD-01}
  - {at: 25s, gas: G-B1-02, ramp_to: 60, over: 30s}
  - {at: 1m, topic: demo/other, payload: "  as is  "}
  - {at: 30s, elevator: ELV-B2-L1, behaviour: stuck}
expect:
  within: 1m
  prompts: [call_119, {prompt: start_pa, count: 0}]
""")
    scenario = load_scenario(path, *demo)
    assert scenario.drill
    assert scenario.description == "every kind of step"
    assert [(type(s).__name__, s.at) for s in scenario.steps] == [
        ("PointStep", 0.0), ("GasStep", 25.0), ("ElevatorStep", 30.0), ("StormStep", 31.0),
        ("RawStep", 60.0)]
    assert scenario.length == 60.0  # the raw step at 1m ends after the ramp (25 + 30)
    assert scenario.needs_devices
    raw = scenario.steps[-1]
    assert getattr(raw, "payload", None) == b"  as is  "
    assert scenario.expect.within == 60.0
    assert [(p.prompt, p.count) for p in scenario.expect.prompts] == [("call_119", None),
                                                                     ("start_pa", 0)]


def test_a_broken_scenario_names_the_line_step_and_field(
        tmp_path: Path, demo: tuple[SiteConfig, dict[str, Playbook]]) -> None:
    path = scenario_file(tmp_path, """name: broken
steps:
  - {at: 0s, point: B1-F12-Z3, state: alarm}
  - {at: 5s, point: B1-F12-Z3, state: alrm}
  - {at: 6s, point: B1-F99-Z3, state: alarm}
  - {at: 7s, point: G-B1-01, state: alarm}
  - {at: 8s, gas: G-B1-01, ramp_to: 60, elevator: ELV-B2-L1}
  - {at: soon, elevator: ELV-B2-L1, behaviour: stuck, colour: red}
  - {at: 9s, elevator: PA-SITE, behaviour: stuck}
  - {at: 9s, point: W-PUMP-01, state: alarm, device: SD-01}
expect:
  incidents: [{type: fire, stage: confirm}]
  actions: [{actuator: ELV-X}]
""")
    problems = problems_of(path, demo)
    expected = [
        ":4: steps[1].state: Input should be 'normal'",
        ":5: steps[2].point: unknown point 'B1-F99-Z3'",
        ":6: steps[3].point: point G-B1-01 is read over Modbus",
        ":7: steps[4]: a step does one thing",
        ":8: steps[5].at: 'soon' is not a duration",
        ":8: steps[5].colour: unknown field",
        ":9: steps[6].elevator: unknown elevator actuator 'PA-SITE'",
        ":10: steps[7].device: point W-PUMP-01 has no device field",
        ":12: expect.incidents[0].stage: playbook fire has no stage 'confirm'",
        ":13: expect.actions[0].actuator: unknown actuator 'ELV-X'",
    ]
    assert len(problems) == len(expected), problems
    for problem, fragment in zip(problems, expected, strict=True):
        assert fragment in problem, (fragment, problem)
        assert problem.startswith(str(path))


@pytest.mark.parametrize(("text", "fragment"), [
    ("name: x\nsteps: [\n", "YAML syntax error"),
    ("- just a list\n", "a scenario is a mapping"),
    ("name: x\nsteps: []\n", "steps: List should have at least 1 item"),
    ("name: x\nsteps:\n  - {at: 1s, storm: {building: 9, zones: 3}}\n",
     "steps[0].storm.building: building '9' has no detector zones"),
    ("name: x\nsteps:\n  - {at: 1s, topic: 'demo/#', payload: x}\n",
     "steps[0]: a raw step publishes on one exact topic"),
    ("name: x\nsteps:\n  - {at: 1s, point: B1-F1-Z1, state: offline}\n",
     "steps[0].state: point B1-F1-Z1 has no value that maps to 'offline'"),
    ("name: x\nsteps:\n  - {at: 1s, point: B1-F1-Z1, state: alarm}\nexpect:\n"
     "  signals: [{point: 'Q*'}]\n", "expect.signals[0].point: 'Q*' names no point"),
])
def test_more_broken_scenarios(tmp_path: Path, demo: tuple[SiteConfig, dict[str, Playbook]],
                               text: str, fragment: str) -> None:
    problems = problems_of(scenario_file(tmp_path, text), demo)
    assert any(fragment in p for p in problems), problems


def test_the_command_line_exits_2_on_a_broken_scenario(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, "name: x\nsteps:\n  - {at: 0s, point: B1-F1-Z1, state: fire}\n")
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "simulate", "scenario", str(path), "-c",
         str(ROOT / "config" / "site.yaml")], capture_output=True, text=True, timeout=60,
        check=False)
    assert result.returncode == 2, result.stderr
    assert f"{path}:3: steps[0].state:" in result.stderr


def test_a_storm_goes_through_the_zones_then_the_next_detector_addresses(
        demo: tuple[SiteConfig, dict[str, Playbook]]) -> None:
    site = demo[0]
    zones = tuple(p for p in site.points.values() if p.kind.value == "smoke_detector"
                  and p.location.building == "2" and p.mqtt is not None)
    step = StormStep(0, 0.0, 80, 10.0, PointState.ALARM, (("2", zones),))
    messages = list(storm_messages(step, drill=True))
    assert len(messages) == 80
    topics = [t for t, _ in messages]
    assert len(set(topics)) == 72
    docs = [json.loads(p) for _, p in messages]
    assert {d["state"] for d in docs} == {"fire"}
    assert all(d["drill"] is True for d in docs)
    assert [d["device"] for d in docs].count("SD-02") == 8
    assert len({(t, d["device"]) for t, d in zip(topics, docs, strict=True)}) == 80


def test_device_steps_need_the_devices_in_this_process() -> None:
    result = simulate("scenario", str(ROOT / "simulators" / "scenarios" / "gas-leak.yaml"), "-c",
                      str(ROOT / "config" / "site.yaml"), "--no-devices")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "steps[0] drive simulated devices, which run in this process: drop --no-devices" \
        in result.stderr


SMALL_SITE = """
site: {id: t, name: Test, address: Somewhere}
roles: {monitoring_center: Monitoring}
points:
  - id: CO-1
    kind: gas_detector
    mqtt: {topic: t/co, field: ppm, deadband: 10,
           thresholds: [{at_least: 50, state: prealarm}, {at_least: 100, state: alarm}]}
  - id: Z-1
    kind: smoke_detector
    mqtt: {topic: t/z, field: state, device_field: device, values: {fire: alarm, ok: normal}}
  - {id: SHARED-A, kind: generic, mqtt: {topic: t/shared, values: {"1": alarm, "0": normal}}}
  - {id: SHARED-B, kind: generic, mqtt: {topic: t/shared, values: {"1": alarm, "0": normal}}}
"""


def test_recorded_steps_follow_thresholds_and_keep_what_they_cannot_say(
        tmp_path: Path) -> None:
    site = load_config(scenario_file(tmp_path, SMALL_SITE, "site.yaml"))
    recorder = Recorder(site)
    messages = [("t/co", b'{"ppm": 60}'), ("t/co", b'{"ppm": 45}'), ("t/co", b'{"ppm": 35}'),
                ("t/co", b'{"ppm": 120.5}'), ("t/z", b'{"state": "fire", "device": 7, "x": 1}'),
                ("t/shared", b"1"), ("t/z", b'{"state": "smoke"}'), ("t/co", b"\x00\x01")]
    steps = [recorder.step_for(topic, payload, n * 0.5)
             for n, (topic, payload) in enumerate(messages)]
    assert steps == [
        {"at": "0.000s", "point": "CO-1", "state": "prealarm", "value": 60.0},
        {"at": "0.500s", "point": "CO-1", "state": "prealarm", "value": 45.0},  # dead-band
        {"at": "1.000s", "point": "CO-1", "state": "normal", "value": 35.0},
        {"at": "1.500s", "point": "CO-1", "state": "alarm", "value": 120.5},
        {"at": "2.000s", "point": "Z-1", "state": "alarm", "device": "7"},
        {"at": "2.500s", "topic": "t/shared", "payload": "1"},  # two points: kept as is
        {"at": "3.000s", "topic": "t/z", "payload": '{"state": "smoke"}'},
        {"at": "3.500s", "topic": "t/co", "payload_hex": "0001"},
    ]
    text = scenario_text("small", Text("小", "small"),
                         [Recorded(float(n), step) for n, step in enumerate(steps)])
    scenario = load_scenario(scenario_file(tmp_path, text), site)
    assert len(scenario.steps) == len(steps)
    assert getattr(scenario.steps[-1], "payload", None) == b"\x00\x01"


# ----------------------------------------------------------------------------- expectations


def _incident(number: int, *, opened_at: float, updated_at: float | None = None,
              stage: str = "unverified", building: str = "1", drill: bool = False,
              actions: tuple[ActionState, ...] = (),
              prompts: tuple[PromptState, ...] = ()) -> Incident:
    return Incident(
        id=f"INC-{number:06d}", type="fire", key=f"fire/demo/{building}",
        severity=Severity.CRITICAL, status=IncidentStatus.OPEN, stage=stage,
        location=Location("demo", building), opened_at=opened_at,
        updated_at=opened_at if updated_at is None else updated_at,
        drill=drill, actions=actions, prompts=prompts)


def test_expectations_count_only_what_happened_since_the_start(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    conn = connect(path)
    start = 1_000.0
    recall = ActionState("elevator_recall:ELV-B1-L1", "elevator_recall", "ELV-B1-L1", "recall",
                         ActionStatus.SENT, start + 2, start + 2)
    old = _incident(1, opened_at=start - 50, updated_at=start + 5)  # took a new signal
    new = _incident(2, opened_at=start + 1, stage="confirmed", building="2", actions=(recall,),
                    prompts=(PromptState("call_119", "confirmed", PromptStatus.OPEN, start + 2),))
    for incident in (old, new):
        conn.execute("INSERT INTO incidents (id, type, status, stage, severity, drill, location,"
                     " opened_at, updated_at, snapshot) VALUES (?,?,?,?,?,?,?,?,?,?)",
                     (incident.id, incident.type, incident.status.value, incident.stage,
                      incident.severity.value, incident.drill, incident.location.label(),
                      incident.opened_at, incident.updated_at, json.dumps(to_json(incident))))
    conn.execute("INSERT INTO points (id, state, since, last_seen, value, sources)"
                 " VALUES ('W-PUMP-01', 'alarm', ?, ?, NULL, '[]')",
                 (start + 3, start + 3))
    conn.execute("INSERT INTO points (id, state, since, last_seen, value, sources)"
                 " VALUES ('W-GAR-01', 'alarm', ?, ?, NULL, '[]')",
                 (start - 3, start - 3))
    conn.execute("INSERT INTO outbox (created_at, kind, incident_id, action_id, topic, payload,"
                 " qos, retain, withhold, status) VALUES (?, 'command', 'INC-000002', 'x',"
                 " 'demo/elevator/b1/l1/cmd', '{}', 1, 0, 0, 'sent')", (start + 2,))
    expect = ExpectModel.model_validate({
        "incidents": [{"type": "fire", "stage": "confirmed", "count": 1},
                      {"type": "fire", "stage": "unverified"},
                      {"type": "fire", "drill": True, "count": 0}],
        "actions": [{"actuator": "ELV-B1-L1", "status": "sent"},
                    {"action": "elevator_recall", "status": "done"}],
        "prompts": ["call_119", {"prompt": "start_pa", "count": 0}],
        "points": [{"point": "W-PUMP-01", "state": "alarm"},
                   {"point": "W-GAR-01", "state": "alarm"}],
        "no_writes": True,
    })
    checks = evaluate(SqliteRecords(conn), expect, Mark(start),
                      device_writes=["valves unit 1 coil 0 = 1"])
    conn.close()
    verdicts = [(c.ok, c.text) for c in checks]
    assert [ok for ok, _ in verdicts] == [True, False, True, True, False, True, True, True,
                                          False, False]
    texts = [t for _, t in verdicts]
    assert texts[0] == ("incident fire, stage confirmed: 1 (expected exactly 1): INC-000002")
    assert texts[1] == (
        "incident fire, stage unverified: 0 (expected at least 1); fire incidents since the "
        "start: INC-000002 confirmed B2; fire incidents opened before the replay took its "
        "signals: INC-000001 B1 (close them first)")
    assert "seen: INC-000002 ELV-B1-L1 recall sent" in texts[4]
    assert texts[8].endswith("not reported since the replay started (last state alarm)")
    assert "demo/elevator/b1/l1/cmd (sent)" in texts[9]
    assert "valves unit 1 coil 0 = 1" in texts[9]


# ----------------------------------------------------------------------------- live


