"""Alarm handling end to end: the gateway as a process against a real Mosquitto, with the
traffic real devices send (Zigbee2MQTT availability and bridge state, device clocks, empty
retained messages, a panel's 2,000 detectors falling silent, unreadable data)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulators.load import bulk_publish
from simulators.sites import mqtt_only_demo
from tests.support.faults import health
from tests.support.processes import Broker, Daemon, query, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def publish(broker: Broker, *messages: tuple[str, bytes] | tuple[str, bytes, bool]) -> None:
    bulk_publish(broker.host, broker.port, [(m[0], m[1]) for m in messages])


def states(daemon: Daemon, *points: str) -> dict[str, str]:
    marks = ",".join("?" * len(points))
    return dict(query(daemon.store, f"SELECT id, state FROM points WHERE id IN ({marks})",
                      *points))


def devices_of(daemon: Daemon, incident_type: str) -> list[dict[str, Any]]:
    (snapshot,), = query(daemon.store, "SELECT snapshot FROM incidents WHERE type = ?",
                         incident_type)
    return list(json.loads(snapshot)["devices"])


ZIGBEE = ["W-PUMP-01", "W-GAR-01", "W-GAR-02", "W-GAR-03", "ELV-B1-L1-BTN", "ELV-B1-L2-BTN",
          "ELV-B2-L1-BTN", "ELV-B2-L2-BTN"]


def test_a_bridge_going_offline_marks_its_points_offline_as_one_incident(
        broker: Broker, spawn: Callable[..., Daemon]) -> None:
    daemon = spawn()
    daemon.start()
    publish(broker, ("zigbee2mqtt/garage/leak_1", b'{"water_leak": false}'))
    wait_until(lambda: states(daemon, "W-GAR-01") == {"W-GAR-01": "normal"})
    publish(broker, ("zigbee2mqtt/bridge/state", b'{"state": "offline"}'))
    wait_until(lambda: set(states(daemon, *ZIGBEE).values()) == {"offline"}
               and len(states(daemon, *ZIGBEE)) == len(ZIGBEE), what="all behind it offline")
    wait_until(lambda: query(daemon.store, "SELECT count(*) FROM incidents")[0][0] == 1)
    assert sorted(d["point_id"] for d in devices_of(daemon, "device_fault")) == sorted(ZIGBEE)
    assert len(daemon.events("bridge_state")) == 1
    publish(broker, ("zigbee2mqtt/bridge/state", b"online"))  # plain text, as before 1.30
    wait_until(lambda: states(daemon, "W-GAR-01") == {"W-GAR-01": "normal"}, what="back")


def test_a_device_reporting_itself_offline_is_offline_until_it_is_online(
        broker: Broker, spawn: Callable[..., Daemon]) -> None:
    daemon = spawn()
    daemon.start()
    publish(broker, ("zigbee2mqtt/garage/leak_2", b'{"water_leak": true}'))
    wait_until(lambda: states(daemon, "W-GAR-02") == {"W-GAR-02": "alarm"})
    publish(broker, ("zigbee2mqtt/garage/leak_2/availability", b'{"state":"offline"}'))
    wait_until(lambda: states(daemon, "W-GAR-02") == {"W-GAR-02": "offline"})
    # offline while in a leak incident: recorded there, not a second incident
    assert [t for (t,) in query(daemon.store, "SELECT type FROM incidents")] == ["water_leak"]
    publish(broker, ("zigbee2mqtt/garage/leak_2/availability", b'{"state":"online"}'))
    wait_until(lambda: states(daemon, "W-GAR-02") == {"W-GAR-02": "alarm"})


def test_a_message_the_device_sent_before_the_alarm_never_clears_it(
        broker: Broker, spawn: Callable[..., Daemon]) -> None:
    daemon = spawn()
    daemon.start()
    publish(broker,
            ("zigbee2mqtt/garage/leak_3",
             b'{"water_leak": true, "last_seen": "2026-12-05T10:00:05.000Z"}'),
            ("zigbee2mqtt/garage/leak_3",
             b'{"water_leak": false, "last_seen": "2026-12-05T10:00:01.000Z"}'))
    wait_until(lambda: query(daemon.store, "SELECT count(*) FROM signals WHERE stale = 1")
               == [(1,)], what="the late message kept as stale")
    assert states(daemon, "W-GAR-03") == {"W-GAR-03": "alarm"}
    assert len(daemon.events("stale_message")) == 1


def test_an_empty_retained_message_is_a_deletion_not_bad_input(
        broker: Broker, spawn: Callable[..., Daemon]) -> None:
    daemon = spawn()
    daemon.start()
    from simulators.devices import Publisher

    with Publisher(broker.host, broker.port) as pub:
        pub.publish("demo/fire/b1/f2/z2", b'{"state": "normal"}', retain=True)
        pub.publish("demo/fire/b1/f2/z2", b"", retain=True)  # how MQTT deletes it
        pub.publish("zigbee2mqtt/garage/leak_1", b'{"water_leak": null}')
        pub.publish("demo/fire/b1/f2/z3", b'{"state": "fire"}')
    wait_until(lambda: query(daemon.store, "SELECT count(*) FROM incidents")[0][0] == 1)
    assert query(daemon.store, "SELECT count(*) FROM dead_letters WHERE topic LIKE 'demo/fire%'"
                 " OR topic LIKE 'zigbee2mqtt%'") == [(0,)]
    assert len(daemon.events("empty_payload")) == 1


def test_unreadable_messages_make_the_point_a_trouble_and_the_gateway_degraded(
        broker: Broker, spawn: Callable[..., Daemon]) -> None:
    daemon = spawn()
    daemon.start()
    contact_id = b"[#1234|Nri1/FA001]"  # a panel's Contact ID through a bridge: no decoder
    publish(broker, *[("demo/fire/b2/f9/z1", contact_id)] * 3)
    wait_until(lambda: states(daemon, "B2-F9-Z1") == {"B2-F9-Z1": "trouble"},
               what="its data a trouble")
    causes = [d["condition"] for d in devices_of(daemon, "device_fault")]
    assert causes == ["bad_input"]
    status, body = health(daemon)
    assert (status, body["status"]) == (200, "degraded")
    assert "demo/fire/b2/f9/z1 (3)" in body["degraded"][0]
    publish(broker, ("demo/fire/b2/f9/z1", b'{"state": "normal"}'))
    wait_until(lambda: states(daemon, "B2-F9-Z1") == {"B2-F9-Z1": "normal"})


@pytest.mark.timeout(120)
def test_2000_detectors_falling_silent_are_one_incident_per_source_in_a_few_log_lines(
        tmp_path: Path, broker: Broker, spawn: Callable[..., Daemon]) -> None:
    config = mqtt_only_demo(tmp_path)
    site = yaml.safe_load(config.read_text())
    for panel in ("a", "b"):
        site["points"].append({
            "id": f"P{panel.upper()}-{{n}}", "for_each": {"n": "1..1000"},
            "kind": "smoke_detector", "location": {"building": "1"}, "heartbeat": "3s",
            "mqtt": {"topic": f"panel-{panel}/zone/{{n}}", "field": "state",
                     "values": {"fire": "alarm", "normal": "normal"}}})
    site["broker"]["subscriptions"] += ["panel-a/#", "panel-b/#"]
    config.write_text(yaml.safe_dump(site, allow_unicode=True))
    daemon = spawn(config)
    daemon.start()
    publish(broker, *[(f"panel-{p}/zone/{n}", b'{"state": "normal"}')
                      for p in "ab" for n in range(1, 1001)])
    wait_until(lambda: query(daemon.store, "SELECT count(*) FROM points WHERE state ="
                             " 'offline' AND id LIKE 'P%'")[0][0] == 2000, timeout=30,
               what="2,000 offline")
    wait_until(lambda: query(daemon.store, "SELECT count(*) FROM incidents")[0][0] >= 2)
    groups = sorted(len(json.loads(s)["devices"]) for (s,) in query(
        daemon.store, "SELECT snapshot FROM incidents WHERE type = 'device_fault'"))
    assert groups[-2:] == [1000, 1000]
    assert len(daemon.log().splitlines()) < 80, daemon.log()[-3000:]
