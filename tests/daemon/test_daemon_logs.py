"""The daemon's log as a technician reads it: each action requested, sent, done or failed
names its incident, actuator and command; each escalation says why and for what."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulators.sites import mqtt_only_demo
from tests.support.inprocess import InProcess, logged

pytestmark = pytest.mark.anyio

FIRE_B1 = "demo/fire/b1/f12/z3"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return mqtt_only_demo(tmp_path / "site", deadline="4s")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite3"


async def confirm_fire(gw: InProcess) -> str:
    """Building 1 on fire, confirmed by two detectors: both of its elevators are recalled,
    each waiting for its car to report "recalled". The incident's id."""
    for device in ("SD-01", "SD-02"):
        gw.publish(FIRE_B1, {"state": "fire", "device": device})
    await gw.settle()
    (incident,) = gw.incidents
    return incident.id


async def test_each_action_line_names_its_incident_actuator_and_command(
        config: Path, store: Path, logs: list[dict[str, Any]]) -> None:
    async with InProcess(config, store) as gw:
        incident = await confirm_fire(gw)
        gw.publish("demo/elevator/b1/l1/status", {"recalled": True})
        await gw.settle()
        await gw.advance(95)  # car 2 never reports: its recall fails at 90 s

    for kind in ("action_requested", "action_sent"):
        lines = {(e["incident"], e["actuator"], e["command"]) for e in logged(logs, kind)}
        assert {(incident, "ELV-B1-L1", "recall"), (incident, "ELV-B1-L2", "recall")} \
            <= lines, kind
    (done,) = logged(logs, "action_done")
    assert (done["incident"], done["actuator"], done["command"], done["action"]) == (
        incident, "ELV-B1-L1", "recall", "elevator_recall")
    assert done["detail"] == "ELV-B1-L1-RECALLED reports True"
    (failed,) = logged(logs, "action_failed")
    assert (failed["incident"], failed["actuator"], failed["command"], failed["log_level"]) \
        == (incident, "ELV-B1-L2", "recall", "warning")
    assert failed["detail"] == "no confirmation from ELV-B1-L2-RECALLED within 90s"


async def test_an_escalation_line_says_why_and_for_what(
        config: Path, store: Path, logs: list[dict[str, Any]]) -> None:
    async with InProcess(config, store) as gw:
        incident = await confirm_fire(gw)
        await gw.advance(95)

    escalated = logged(logs, "escalated")
    assert {e["log_level"] for e in escalated} == {"warning"}
    assert all(e["incident"] == incident and e["to"] for e in escalated)
    for_action = [e for e in escalated if e["reason"] == "action_failed"]
    assert {(e["action"], e["actuator"], e["command"]) for e in for_action} == {
        ("elevator_recall:ELV-B1-L1", "ELV-B1-L1", "recall"),
        ("elevator_recall:ELV-B1-L2", "ELV-B1-L2", "recall")}
    for_step = [e for e in escalated if e["reason"] == "deadline_missed"]
    assert for_step
    assert all(e.get("step") or e.get("branch") for e in for_step)
    assert "call_119" in {e.get("prompt") for e in escalated
                          if e["reason"] == "prompt_timed_out"}
