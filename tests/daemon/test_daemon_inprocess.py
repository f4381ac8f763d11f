"""The daemon in-process: fake adapters, a temporary store, a virtual clock (tests/inprocess.py).

What is not about the wire is tested here, without sleeps: deadlines across a restart,
shelving, drill windows, reloads, supervision of points and of the gateway itself, effects
routed to the adapter that sends them, and what a defect in one input leaves behind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.domain.effects import ModbusWrite, MqttPublish, Notify
from gateway.domain.model import ActionStatus, PointState
from gateway.errors import Refusal
from gateway.present.names import names_of
from gateway.present.timeline import describe
from simulators.sites import mqtt_only_demo
from tests.support.inprocess import T0, InProcess, logged
from tests.support.processes import ROOT, query

pytestmark = pytest.mark.anyio

FIRE_B1 = "demo/fire/b1/f12/z3"


def fire(device: str = "SD-01", state: str = "fire") -> dict[str, str]:
    return {"state": state, "device": device}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return mqtt_only_demo(tmp_path / "site", deadline="4s")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite3"


def edit(config: Path, change: object) -> None:
    site = yaml.safe_load(config.read_text())
    change(site)  # type: ignore[operator]
    config.write_text(yaml.safe_dump(site, allow_unicode=True))


# ----------------------------------------------------------------------------- deadlines


async def test_an_open_incident_escalates_on_time_across_a_restart(config: Path,
                                                                   store: Path) -> None:
    async with InProcess(config, store) as gw:
        gw.publish(FIRE_B1, fire())
        await gw.settle()
        (incident,) = gw.incidents
        await gw.advance(2)
        await gw.restart(after=1)
        assert [i.id for i in gw.incidents] == [incident.id]  # taken up from the store
        await gw.advance(0.5)
        assert not gw.events("deadline_missed")
        await gw.advance(1)
        (missed,) = gw.events("deadline_missed")
        assert (missed.data["step"], missed.data["late"]) == ("verify", False)
        assert missed.at - incident.opened_at == pytest.approx(4.0, abs=1.0)
        assert gw.events("escalated")
        assert gw.sent(Notify), "the people on duty are told"


async def test_a_deadline_passed_while_down_fires_at_start_marked_late(config: Path,
                                                                       store: Path) -> None:
    async with InProcess(config, store) as gw:
        gw.publish(FIRE_B1, fire())
        await gw.settle()
        await gw.restart(after=60)
        await gw.advance(1)
        (missed,) = gw.events("deadline_missed")
        assert missed.data["late"] is True


# ----------------------------------------------------------------------------- shelving


async def test_a_shelved_point_is_kept_on_record_and_announced_when_shelving_ends(
        config: Path, store: Path, logs: list[dict[str, Any]]) -> None:
    async with InProcess(config, store) as gw:
        ok, text = await gw.command("shelve", point="B1-F2-Z2", minutes="30", reason="探头更换")
        assert ok, text
        assert "B1-F2-Z2 shelved until" in text
        (shelved,) = logged(logs, "point_shelved")
        assert (shelved["point"], shelved["reason"], shelved["log_level"]) == (
            "B1-F2-Z2", "探头更换", "warning")
        gw.publish("demo/fire/b1/f2/z2", fire("SD-09"))
        await gw.settle()
        assert gw.incidents == []
        assert query(store, "SELECT incidents FROM signals WHERE point_id = 'B1-F2-Z2'") == [
            ("",)]
        await gw.restart(after=60)  # the shelf is kept across a restart
        assert set(gw.gw.shelved) == {"B1-F2-Z2"}
        await gw.advance(30 * 60)
        (incident,) = gw.incidents  # still in alarm when the shelf ran out: announced
        assert incident.type == "fire"
        kinds = [k for (k,) in query(store, "SELECT kind FROM events WHERE point_id ="
                                     " 'B1-F2-Z2' AND incident_id = '' ORDER BY seq")]
        assert kinds == ["point_shelved", "point_unshelved"]
        assert not gw.gw.shelved
        assert [e["reason"] for e in logged(logs, "point_unshelved")] == ["shelving expired"]


async def test_shelving_is_refused_without_a_reason_for_too_long_or_an_unknown_point(
        config: Path, store: Path) -> None:
    async with InProcess(config, store) as gw:
        assert await gw.command("shelve", point="B1-F2-Z2", minutes="30") == (
            False, "shelving needs a reason and lasts between 1 minute and 24 hours")
        ok, _ = await gw.command("shelve", point="B1-F2-Z2", minutes="1441", reason="x")
        assert not ok
        ok, text = await gw.command("shelve", point="B1-F2-Z9", reason="x")
        assert not ok
        assert "B1-F2-Z9" in text
        assert await gw.command("unshelve", point="B1-F2-Z2") == (
            False, "B1-F2-Z2 is not shelved")


# ----------------------------------------------------------------------------- drills


async def test_a_drill_window_makes_its_scope_drill_and_leaves_the_rest_real(
        config: Path, store: Path) -> None:
    async with InProcess(config, store) as gw:
        ok, text = await gw.command("drill_start", minutes="10", buildings="2")
        assert ok, text
        for device in ("SD-01", "SD-02"):  # two detectors: confirmed, elevators recalled
            gw.publish("demo/fire/b2/f3/z1", fire(device))
        gw.publish(FIRE_B1, fire())
        await gw.settle()
        drill = {i.location.building: i.drill for i in gw.incidents}
        assert drill == {"1": False, "2": True}
        b2 = next(i for i in gw.incidents if i.drill)
        assert b2.actions
        assert {a.status for a in b2.actions} == {ActionStatus.WITHHELD}
        assert not [e for e in gw.sent(MqttPublish) if "elevator" in e.topic], \
            "a drill sends no actuator command"
        await gw.advance(10 * 60 + 1)  # the window is over: building 2 is real again
        gw.publish("demo/fire/b2/f5/z1", fire("SD-07"))
        await gw.settle()
        assert any(i.location.building == "2" and not i.drill for i in gw.incidents)


async def test_a_drill_window_ends_when_stopped_and_is_kept_across_a_restart(
        config: Path, store: Path) -> None:
    async with InProcess(config, store) as gw:
        assert (await gw.command("drill_start", minutes="60"))[0]
        await gw.restart(after=5)
        assert gw.gw.drill is not None
        assert gw.gw.drill_until == pytest.approx(T0 + 3600)
        assert await gw.command("drill_stop") == (True, "drill off")
        gw.publish(FIRE_B1, fire())
        await gw.settle()
        assert [i.drill for i in gw.incidents] == [False]
        assert await gw.command("drill_start", minutes="300") == (
            False, "a drill lasts between 1 minute and 4 hours")


# ----------------------------------------------------------------------------- reload


async def test_a_reload_applies_a_valid_change_and_keeps_the_running_config_on_a_bad_one(
        config: Path, store: Path, logs: list[dict[str, Any]]) -> None:
    async with InProcess(config, store) as gw:
        gw.publish(FIRE_B1, fire())
        await gw.settle()
        before = gw.gw.config.short
        edit(config, lambda site: site["points"].append({
            "id": "B1-F1-NEW", "kind": "smoke_detector", "name": {"zh": "新探头", "en": "New"},
            "location": {"building": "1", "floor": "1", "zone": "7"},
            "mqtt": {"topic": "demo/fire/b1/f1/new", "field": "state",
                     "values": {"fire": "alarm", "normal": "normal"}}}))
        ok, text = await gw.command("reload")
        assert ok, text
        assert "applied" in text
        assert gw.gw.config.short != before
        gw.publish("demo/fire/b1/f1/new", fire("SD-N"))
        await gw.settle()
        assert gw.gw.points["B1-F1-NEW"].state is PointState.ALARM
        assert len(gw.incidents) == 1, "the open incident carries on and takes the new point"
        config.write_text("site: [")
        ok, text = await gw.command("reload")
        assert not ok
        assert text.startswith("config rejected, the running one is kept")
        assert "B1-F1-NEW" in gw.gw.site.points
        assert (await gw.command("reload")) == (False, text)
        (reloaded,) = logged(logs, "config_reloaded")
        assert reloaded["by"] == "tester"
        assert any("point" in change for change in reloaded["changes"])
        rejected = logged(logs, "reload_rejected")
        assert len(rejected) == 2
        assert rejected[0]["kept"] == reloaded["config"]
        versions = query(store, "SELECT source FROM config_versions")
        assert versions == [], "recorded by the running daemon's upkeep task, not in-process"


# ----------------------------------------------------------------------------- supervision


async def test_silent_points_go_offline_as_one_maintenance_incident_and_come_back(
        config: Path, store: Path, logs: list[dict[str, Any]]) -> None:
    edit(config, lambda site: [p.update(heartbeat="10s") for p in site["points"]
                               if p["id"].startswith("W-GAR-")])
    async with InProcess(config, store) as gw:
        await gw.advance(5)
        gw.publish("zigbee2mqtt/garage/leak_3", {"water_leak": False})
        await gw.advance(8)
        assert {p for p, s in gw.gw.points.items() if s.state is PointState.OFFLINE} == {
            "W-GAR-01", "W-GAR-02"}
        await gw.advance(10)
        offline = {p for p, s in gw.gw.points.items() if s.state is PointState.OFFLINE}
        assert offline == {"W-GAR-01", "W-GAR-02", "W-GAR-03"}
        # one line for those that fell silent together, by source
        assert [(e["points"], e["first"]) for e in logged(logs, "points_offline")] == [
            (2, ["W-GAR-01", "W-GAR-02"]), (1, ["W-GAR-03"])]
        (incident,) = gw.incidents
        assert incident.type == "device_fault"
        assert sorted(d.point_id for d in incident.devices) == ["W-GAR-01", "W-GAR-02",
                                                                  "W-GAR-03"]
        gw.publish("zigbee2mqtt/garage/leak_3", {"water_leak": False})
        await gw.settle()
        assert gw.gw.points["W-GAR-03"].state is PointState.NORMAL


async def test_the_broker_down_too_long_opens_a_system_incident_and_its_return_clears_it(
        config: Path, store: Path, logs: list[dict[str, Any]]) -> None:
    edit(config, lambda site: site.update(supervision={"broker_down_after": "30s",
                                                       "silent_after": {"mqtt": "1h"}}))
    async with InProcess(config, store) as gw:
        gw.broker.connected = False
        await gw.advance(29)
        assert gw.incidents == []
        assert "broker DISCONNECTED" in gw.gw.status_line()
        await gw.advance(2)
        (incident,) = gw.incidents
        assert (incident.type, [d.point_id for d in incident.devices]) == (
            "gateway_health", ["SYS-BROKER"])
        assert "SYSTEM: SYS-BROKER" in gw.gw.status_line()
        assert gw.gw.health()["status"] == "unhealthy"
        gw.broker.connected = True
        await gw.advance(1)
        assert gw.gw.points["SYS-BROKER"].state is PointState.NORMAL
        assert "SYSTEM" not in gw.gw.status_line()
        checks = [(e["point"], e["state"], e["log_level"])
                  for e in logged(logs, "gateway_self_check")]
        assert checks == [("SYS-BROKER", "alarm", "error"), ("SYS-BROKER", "normal", "info")]


async def test_a_silent_adapter_opens_a_system_incident_until_it_is_heard_again(
        config: Path, store: Path) -> None:
    edit(config, lambda site: site.update(supervision={"silent_after": {"mqtt": "2m"}}))
    async with InProcess(config, store) as gw:
        await gw.advance(119)
        assert gw.incidents == []
        await gw.advance(2)
        assert [i.type for i in gw.incidents] == ["gateway_health"]
        gw.publish("demo/fire/b1/f1/z1", fire(state="normal"))
        await gw.advance(1)
        assert gw.gw.points["SYS-SILENT-MQTT"].state is PointState.NORMAL


# ----------------------------------------------------------------------------- effects


@pytest.fixture
def full_site(tmp_path: Path) -> Path:
    """The demo site with its Modbus connections (fakes here)."""
    return ROOT / "config" / "site.yaml"


async def test_each_effect_goes_to_the_adapter_that_sends_it_and_a_refusal_is_on_record(
        full_site: Path, store: Path, logs: list[dict[str, Any]]) -> None:
    refused = "unit 2 refused the write of coil 0: exception 02 (illegal data address)"

    def refuse(effect: object) -> str | None:
        return refused if isinstance(effect, ModbusWrite) and effect.unit == 2 else None

    async with InProcess(full_site, store, refuse=refuse) as gw:
        for device in ("SD-01", "SD-02"):  # building 2: its elevators recall over Modbus
            gw.publish("demo/fire/b2/f3/z1", fire(device))
        await gw.settle()
        writes = [e for e in gw.adapters["elevators"].sent if isinstance(e, ModbusWrite)]
        assert sorted((w.unit, w.table, w.address) for w in writes) == [
            (1, "coil", 0), (2, "coil", 0)]
        assert not [e for e in gw.broker.sent if isinstance(e, ModbusWrite)]
        (incident,) = gw.incidents
        status = {a.actuator_id: (a.status, a.detail) for a in incident.actions}
        assert status["ELV-B2-L2"] == (ActionStatus.FAILED, refused)
        assert status["ELV-B2-L1"][0] is ActionStatus.SENT
        rows = query(store, "SELECT topic, status, detail FROM outbox WHERE kind = 'command'"
                     " ORDER BY topic")
        assert rows == [("modbus://elevators/1/coil/0", "sent", "sent"),
                        ("modbus://elevators/2/coil/0", "failed", refused)]
        (failed,) = logged(logs, "send_failed")
        assert (failed["target"], failed["adapter"], failed["error"]) == (
            "modbus://elevators/2/coil/0", "elevators", refused)


async def test_a_modbus_unit_down_takes_its_points_offline(full_site: Path,
                                                           store: Path) -> None:
    async with InProcess(full_site, store) as gw:
        gw.unit_down("gas-controller", 1, "timeout")
        await gw.settle()
        offline = [p for p, s in gw.gw.points.items() if s.state is PointState.OFFLINE]
        assert offline
        assert all(p.startswith("G-") for p in offline)
        reasons = {gw.gw.points[p].offline for p in offline}
        assert reasons == {"Modbus unit gas-controller/1: timeout"}


# ----------------------------------------------------------------------------- defects


async def test_a_defect_in_one_input_keeps_it_as_a_dead_letter_and_the_rest_go_on(
        config: Path, store: Path, monkeypatch: pytest.MonkeyPatch,
        logs: list[dict[str, Any]]) -> None:
    from gateway.daemon import intake_mqtt

    real = intake_mqtt.decode

    def defective(binding: object, payload: bytes) -> object:
        if b"SD-66" in payload:
            raise ZeroDivisionError("a defect")
        return real(binding, payload)  # type: ignore[arg-type]

    monkeypatch.setattr(intake_mqtt, "decode", defective)
    async with InProcess(config, store) as gw:
        bad = gw.publish("demo/fire/b1/f3/z2", fire("SD-66"))
        good = gw.publish(FIRE_B1, fire())
        await gw.settle()
        assert [i.type for i in gw.incidents] == ["fire"]
        assert gw.broker.acked == [bad, good], "both acknowledged: nothing left in flight"
        assert query(store, "SELECT topic, reason FROM dead_letters") == [
            ("demo/fire/b1/f3/z2", "internal_error")]
        assert gw.gw.counters["internal_errors"] == 1
        (failed,) = logged(logs, "input_failed")
        assert (failed["source"], failed["error"]) == ("demo/fire/b1/f3/z2",
                                                       "ZeroDivisionError('a defect')")
        assert "exc_info" in failed  # with its traceback


async def test_inputs_are_acknowledged_only_once_committed(config: Path, store: Path) -> None:
    async with InProcess(config, store) as gw:
        message = gw.publish(FIRE_B1, fire())
        assert gw.broker.health().unacknowledged == 1
        assert gw.gw.health()["unacknowledged"] == 1
        await gw.settle()
        assert gw.broker.acked == [message]
        assert gw.broker.health().unacknowledged == 0
        payload = json.loads(query(store, "SELECT payload FROM signals")[0][0])
        assert payload == fire()


async def test_a_refused_command_says_why_in_a_kind_the_console_can_act_on(
        config: Path, store: Path) -> None:
    async with InProcess(config, store) as gw:
        missing = await gw.answer("ack", "INC-000404")
        assert (missing.refusal, missing.text) == (Refusal.NOT_FOUND, "no incident INC-000404")
        gw.publish(FIRE_B1, fire())
        await gw.settle()
        (incident,) = gw.incidents
        assert (await gw.answer("ack", incident.id)).ok
        wrong = await gw.answer("step", incident.id, step="no_such_step")
        assert wrong.refusal is Refusal.CONFLICT
        assert "no_such_step" in wrong.text
        rows = query(store, "SELECT status FROM commands ORDER BY id")
        assert rows == [("rejected",), ("done",), ("rejected",)]


async def test_bad_input_is_kept_counted_and_logged_once_per_source_and_reason(
        config: Path, store: Path, logs: list[dict[str, Any]]) -> None:
    async with InProcess(config, store) as gw:
        for _ in range(3):
            gw.publish("demo/fire/b1/f1/z1", b"{not json")
        gw.publish("demo/unknown/device", {"state": "fire"})
        gw.publish("demo/fire/b1/f1/z1", {"state": "smoke-ish"})
        await gw.settle()
        reasons = sorted(r for (r,) in query(store, "SELECT reason FROM dead_letters"))
        assert reasons == ["bad_json", "bad_json", "bad_json", "unknown_topic",
                           "unmapped_value"]
        said = sorted((e["topic"], e["reason"]) for e in logged(logs, "bad_input"))
        assert said == [("demo/fire/b1/f1/z1", "bad_json"),
                        ("demo/fire/b1/f1/z1", "unmapped_value"),
                        ("demo/unknown/device", "unknown_topic")]
        assert gw.gw.counters["bad_input_bad_json"] == 3
        assert gw.gw.health()["status"] == "degraded"


async def test_an_escalation_names_the_person_on_duty_by_the_roster(config: Path,
                                                                     store: Path) -> None:
    """Friday 16:00 in Shanghai (the virtual clock): the day shift's duty supervisor is
    张伟, with 陈杰 as deputy; the escalation and its notification say so."""
    async with InProcess(config, store) as gw:
        gw.publish(FIRE_B1, fire())
        await gw.settle()
        await gw.advance(5)  # the verification's deadline passes: escalated to the supervisor
        escalated = [e for e in gw.events("escalated") if e.data["to"] == "duty_supervisor"]
        assert escalated
        assert (escalated[0].data["person"], escalated[0].data["deputy"]) == (
            "zhang.wei", "chen.jie")
        told = [json.loads(n.payload) for n in gw.sent(Notify) if n.role == "duty_supervisor"]
        assert told
        assert told[0]["on_duty"]["name_zh"] == "张伟"
        assert told[0]["on_duty"]["phone"] == "138-0000-1003"
        assert told[0]["deputy"]["id"] == "chen.jie"
        texts = [describe(e, names_of([], None, gw.gw.site)).zh for e in escalated]
        assert any("当值主管（张伟）" in t for t in texts)
