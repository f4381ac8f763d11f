"""The daemon as a process against a real Mosquitto: end to end, crash, restart, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulators.devices import Publisher
from tests.support.processes import Broker, Daemon, query, wait_until
from tests.support.sites import fire_payload, site_files, storm

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.fixture
def daemons(tmp_path: Path, broker: Broker) -> Iterator[Callable[[Path], Daemon]]:
    """Make a daemon for a config; every one made is stopped at the end."""
    made: list[Daemon] = []

    def make(config: Path) -> Daemon:
        d = Daemon(config, tmp_path / "store.sqlite3", broker.url, tmp_path / "daemon.log")
        made.append(d)
        return d

    yield make
    for d in made:
        if d.process is not None and d.process.poll() is None:
            d.terminate()


@pytest.fixture
def daemon(tmp_path: Path, daemons: Callable[[Path], Daemon]) -> Daemon:
    return daemons(site_files(tmp_path))


class Watcher:
    """A separate subscriber: what other systems see on the broker."""

    def __init__(self, broker: Broker, topic: str) -> None:
        self.messages: list[tuple[float, str, bytes]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"watch-{uuid.uuid4().hex[:6]}")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        assert subscribed.wait(5)

    def _on_message(self, client: object, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((time.monotonic(), msg.topic, msg.payload))

    def wait_for(self, predicate: Callable[[str, bytes], bool], count: int = 1,
                 timeout: float = 10.0) -> list[tuple[float, str, bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [m for m in self.messages if predicate(m[1], m[2])]
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(f"saw {len(found)} of {count} expected messages; "
                             f"all: {[(t, p[:80]) for _, t, p in self.messages][-20:]}")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def cli(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "incidents", "-c", str(daemon.config), "--store",
         str(daemon.store), *args], capture_output=True, text=True, timeout=30, check=False)


def test_alarm_opens_incident_and_second_device_publishes_elevator_recall(
        broker: Broker, daemon: Daemon) -> None:
    daemon.start()
    watcher = Watcher(broker, "demo/elevator/#")
    events = Watcher(broker, "alarm-gateway/demo/incidents/#")
    try:
        with Publisher(broker.host, broker.port) as pub:
            pub.publish("demo/fire/b1/f12/z3", fire_payload("SD-01"))
            opened = events.wait_for(lambda t, p: json.loads(p)["events"][0]["kind"]
                                     == "incident_opened")
            message = json.loads(opened[0][2])
            assert (message["incident_id"], message["type"], message["stage"]) == (
                "INC-000001", "fire", "unverified")
            kinds = [e["kind"] for e in message["events"]]
            assert kinds == ["incident_opened", "stage_entered", "step_started", "step_started",
                             "branch_raised"]
            assert message["events"][0]["point_id"] == "B1-F12-Z3"
            pub.publish("demo/fire/b1/f12/mcp3", json.dumps({"state": "fire"}).encode())
            recalls = watcher.wait_for(lambda t, p: b"fire_recall" in p, count=2)
        assert sorted(t for _, t, _ in recalls) == ["demo/elevator/b1/l1/cmd",
                                                    "demo/elevator/b1/l2/cmd"]
        rows = query(daemon.store, "SELECT id, type, stage, status FROM incidents")
        assert rows == [("INC-000001", "fire", "confirmed", "open")]
        wait_until(lambda: query(daemon.store, "SELECT count(*) FROM outbox WHERE kind ="
                                 " 'command' AND status = 'sent'")[0][0] == 2, what="sent")
        listing = cli(daemon, "list")
        assert "INC-000001" in listing.stdout
        assert "Fire — confirmed" in listing.stdout
    finally:
        watcher.close()
        events.close()


def test_operator_works_the_incident_from_the_cli(broker: Broker, daemon: Daemon) -> None:
    daemon.start()
    with Publisher(broker.host, broker.port) as pub:
        pub.publish("demo/fire/b2/f5/z1", fire_payload("SD-07"))
    wait_until(lambda: query(daemon.store, "SELECT count(*) FROM incidents")[0][0] == 1)

    def ok(*args: str) -> str:
        result = cli(daemon, *args)
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout

    def refused(*args: str, says: str) -> None:
        result = cli(daemon, *args)
        assert result.returncode == 7, (args, result.stdout)
        assert says in result.stderr, (args, result.stderr)

    ok("ack", "INC-000001", "--by", "李明")
    refused("ack", "INC-000001", "--by", "李明", says="already acknowledged")
    ok("arrive", "INC-000001", "on_duty_patrol", "--who", "赵保安", "--by", "李明")
    ok("confirm", "INC-000001", "--by", "李明", "--note", "巡逻确认有烟")
    ok("answer", "INC-000001", "call_119", "yes", "--by", "李明")
    ok("assign", "INC-000001", "张主管", "--by", "李明")
    refused("close", "INC-000001", "--by", "张主管", "--handling", "扑灭", "--analysis", " ",
            "--improvement", "x", says="needs the review: analysis")
    refused("close", "INC-000001", "--by", "张主管", "--handling", "扑灭", "--analysis",
            "电线老化", "--improvement", "更换线路", says="needs these records first: cause")
    refused("record", "INC-000001", "fire_out_at", "25:99", says="not a time")
    for field, value in (("cause", "厨房电线老化"), ("injuries", "无"),
                         ("brigade_arrived_at", "00:00"), ("fire_out_at", "00:01")):
        ok("record", "INC-000001", field, value, "--by", "李明")
    ok("resolve", "INC-000001", "--by", "张主管", "--note", "明火已扑灭")
    refused("close", "INC-000001", "--by", "张主管", "--handling", "2 分钟到场，扑灭",
            "--analysis", "电线老化", "--improvement", "更换线路", says="give the reason")
    ok("close", "INC-000001", "--by", "张主管", "--handling", "2 分钟到场，扑灭",
       "--analysis", "电线老化", "--improvement", "更换线路",
       "--reason", "消防队接管，余下步骤不再需要")
    shown = ok("show", "INC-000001")
    for expected in ("B2-F5-Z1/SD-07", "acknowledged 0.", "after opening  — 李明",
                     "到场：当值巡逻 赵保安", "→ 确认火灾：巡逻确认有烟",
                     "联动请求：电梯迫降首层 → 2号楼1号电梯", "需拨打 火警 119",
                     "prompt \"Call 119\" answered yes  — 李明", "指定现场指挥：张主管",
                     "处理 handling: 2 分钟到场，扑灭", "resident_visit · customer_service",
                     "signal   B2-F5-Z1/SD-07 alarm"):
        assert expected in shown, (expected, shown)
    refused("ack", "INC-000001", says="closed")
    tasks = subprocess.run(
        [sys.executable, "-m", "gateway", "tasks", "-c", str(daemon.config), "--store",
         str(daemon.store)], capture_output=True, text=True, timeout=30, check=True)
    assert "INC-000001" in tasks.stdout
    assert "resident_visit" in tasks.stdout
    ok("follow-up", "INC-000001", "resident_visit", "--by", "客服小王", "--note", "住户无损失")
    ok("reopen", "INC-000001", "--by", "张主管", "--reason", "住户报告仍有焦味")
    wait_until(lambda: query(daemon.store, "SELECT status FROM incidents")[0][0]
               == "acknowledged")
    assert query(daemon.store, "SELECT status, done_by FROM follow_ups") == [("done", "客服小王")]


def test_incident_opened_by_hand_from_the_cli(broker: Broker, daemon: Daemon) -> None:
    daemon.start()
    opened = cli(daemon, "open", "gas_leak", "--building", "1", "--floor", "12", "--unit",
                 "1203", "--reporter", "1203 住户 138xxxx", "--note", "厨房闻到燃气味",
                 "--by", "李明")
    assert opened.returncode == 0, opened.stderr
    assert "opened INC-000001" in opened.stdout
    again = cli(daemon, "open", "gas_leak", "--building", "1", "--floor", "12", "--unit",
                "1203", "--by", "李明")
    assert again.returncode == 7
    assert "INC-000001 is already open" in again.stderr
    unknown = cli(daemon, "open", "alien_invasion", "--by", "李明")
    assert unknown.returncode == 7
    assert "unknown playbook 'alien_invasion'" in unknown.stderr
    ((status, opened_by),) = [(r[0], json.loads(r[1])["opened_by"]) for r in query(
        daemon.store, "SELECT status, snapshot FROM incidents")]
    assert (status, opened_by) == ("open", "李明")


def test_command_without_a_running_daemon_is_refused(broker: Broker, daemon: Daemon) -> None:
    daemon.start()
    with Publisher(broker.host, broker.port) as pub:
        pub.publish("demo/fire/b2/f5/z1", fire_payload("SD-07"))
    wait_until(lambda: query(daemon.store, "SELECT count(*) FROM incidents")[0][0] == 1)
    daemon.terminate()
    result = cli(daemon, "ack", "INC-000001")
    assert result.returncode == 9
    assert "not running" in result.stderr
    assert query(daemon.store, "SELECT count(*) FROM commands")[0][0] == 0


def test_sigkill_during_a_storm_loses_none_and_duplicates_none(broker: Broker,
                                                                   daemon: Daemon) -> None:
    daemon.start()
    total = 3000  # enough that the kill lands mid-storm on a fast machine too
    sent = threading.Event()
    publisher = storm(broker, total, sent)
    wait_until(lambda: query(daemon.store, "SELECT count(*) FROM signals")[0][0] >= 100,
               what="first alarms stored")
    daemon.kill()
    publisher.join(60)
    assert sent.is_set()
    stored_at_kill = query(daemon.store, "SELECT count(*) FROM signals")[0][0]
    assert stored_at_kill < total, "the kill came too late to test anything"
    daemon.start()
    wait_until(lambda: query(daemon.store, "SELECT count(*) FROM signals")[0][0] >= total,
               timeout=30, what="all alarms stored")
    time.sleep(0.5)  # anything extra (a duplicate) would arrive now
    seqs = [json.loads(p)["seq"] for (p,) in query(daemon.store, "SELECT payload FROM signals")]
    assert sorted(seqs) == list(range(total))
    incidents = query(daemon.store, "SELECT type, location FROM incidents")
    assert sorted(t for t, _ in incidents) == ["fire", "fire"]  # one per building


def open_fire_and_wait(broker: Broker, daemon: Daemon) -> float:
    with Publisher(broker.host, broker.port) as pub:
        pub.publish("demo/fire/b1/f3/z2", fire_payload())
    wait_until(lambda: query(daemon.store, "SELECT count(*) FROM incidents")[0][0] == 1)
    (opened_at,), = query(daemon.store, "SELECT opened_at FROM incidents")
    return float(opened_at)  # type: ignore[arg-type]


def wait_deadline_missed(daemon: Daemon) -> tuple[float, dict[str, object]]:
    wait_until(lambda: bool(query(daemon.store, "SELECT 1 FROM events WHERE kind ="
                                  " 'deadline_missed'")), timeout=10, what="escalation")
    (at, data), = query(daemon.store, "SELECT at, data FROM events WHERE kind ="
                        " 'deadline_missed'")
    return float(at), json.loads(str(data))  # type: ignore[arg-type]


def test_an_escalation_reaches_the_broker_on_the_notify_topic_of_its_role(
        tmp_path: Path, broker: Broker, daemons: Callable[[Path], Daemon]) -> None:
    """The people on duty are reached: a missed deadline's escalation is published, once, on
    ``<outputs.mqtt_prefix>/notify/<role>`` for whatever pages or calls them."""
    daemon = daemons(site_files(tmp_path, deadline="2s"))
    daemon.start()
    notes = Watcher(broker, "alarm-gateway/demo/notify/#")
    try:
        open_fire_and_wait(broker, daemon)
        wait_deadline_missed(daemon)
        wait_until(lambda: bool(query(daemon.store, "SELECT 1 FROM events WHERE kind ="
                                      " 'escalated'")), what="escalated")
        (data,), = query(daemon.store, "SELECT data FROM events WHERE kind = 'escalated'")
        role = json.loads(str(data))["to"]
        (_, topic, payload), = notes.wait_for(lambda t, p: True)
        assert topic == f"alarm-gateway/demo/notify/{role}"
        message = json.loads(payload)
        assert (message["incident_id"], message["type"], message["drill"]) == (
            "INC-000001", "fire", False)
        assert message["reason"]
        time.sleep(0.5)  # a second copy would arrive now
        assert len(notes.messages) == 1
        wait_until(lambda: query(daemon.store, "SELECT status FROM outbox WHERE kind ="
                                 " 'notify'") == [("sent",)], what="notify sent")
    finally:
        notes.close()


def test_bad_input_is_dead_lettered_counted_logged_once_and_processing_goes_on(
        broker: Broker, daemon: Daemon) -> None:
    daemon.start()
    with Publisher(broker.host, broker.port) as pub:
        pub.publish("demo/fire/b1/f1/z1", b"{not json")
        pub.publish("demo/fire/b1/f1/z1", b"{still not json")
        pub.publish("demo/unknown/device", b'{"state": "fire"}')
        pub.publish("demo/fire/b1/f1/z2", b'{"state": ["fire"]}')
        pub.publish("demo/fire/b1/f1/z3", b'{"state": "smoke-ish"}')
        pub.publish("zigbee2mqtt/garage/leak_1", b'{"water_leak": "wet"}')
        pub.publish("demo/fire/b1/f1/z4", b'{"state": "fire", "pad": "' + b"x" * 5000 + b'"}')
        pub.publish("demo/fire/b1/f2/z1", b'\xff\xfe')
        pub.publish("demo/fire/b1/f1/mcp1", json.dumps({"state": "fire"}).encode())
    wait_until(lambda: query(daemon.store, "SELECT count(*) FROM incidents")[0][0] == 1,
               what="the good alarm after the bad ones")
    reasons = sorted(r for (r,) in query(daemon.store, "SELECT reason FROM dead_letters"))
    assert reasons == ["bad_encoding", "bad_json", "bad_json", "oversized", "unknown_topic",
                       "unmapped_value", "wrong_type", "wrong_type"]
    (detail, payload), = query(daemon.store, "SELECT detail, payload FROM dead_letters WHERE"
                               " reason = 'unmapped_value'")
    assert "B1-F1-Z3" in str(detail)
    assert "smoke-ish" in str(detail)
    assert payload == b'{"state": "smoke-ish"}'
    bad_json_logs = [e for e in daemon.events("bad_input") if e["topic"] == "demo/fire/b1/f1/z1"]
    assert len(bad_json_logs) == 1
    listing = subprocess.run([sys.executable, "-m", "gateway", "deadletters", "-c",
                              str(daemon.config), "--store", str(daemon.store)],
                             capture_output=True, text=True, check=True)
    assert "unknown_topic" in listing.stdout


def test_retained_alarm_at_restart_does_not_reopen_or_resend(broker: Broker,
                                                              daemon: Daemon) -> None:
    daemon.start()
    watcher = Watcher(broker, "demo/elevator/#")
    try:
        with Publisher(broker.host, broker.port) as pub:
            pub.publish("demo/fire/b1/f8/z2", fire_payload("SD-01"), retain=True)
            pub.publish("demo/fire/b1/f8/z2", fire_payload("SD-02"), retain=True)
        watcher.wait_for(lambda t, p: b"fire_recall" in p, count=2)
        wait_until(lambda: query(daemon.store, "SELECT count(*) FROM outbox WHERE status ="
                                 " 'sent' AND kind = 'command'")[0][0] == 2)
        for args in (("ack", "INC-000001"), ("record", "INC-000001", "cause", "测试"),
                     ("record", "INC-000001", "injuries", "无"),
                     ("record", "INC-000001", "brigade_arrived_at", "00:00"),
                     ("record", "INC-000001", "fire_out_at", "00:00"),
                     ("close", "INC-000001", "--handling", "复位", "--analysis", "测试",
                      "--improvement", "无", "--reason", "测试结束")):
            assert cli(daemon, *args, "--by", "张主管").returncode == 0, args
        signals_before = query(daemon.store, "SELECT count(*) FROM signals")[0][0]
        assert daemon.terminate() == 0
        daemon.start()
        time.sleep(1.5)
        assert query(daemon.store, "SELECT id, status FROM incidents") == [("INC-000001",
                                                                            "closed")]
        assert query(daemon.store, "SELECT count(*) FROM signals")[0][0] == signals_before
        assert len([m for m in watcher.messages if b"fire_recall" in m[2]]) == 2
    finally:
        watcher.close()


def test_retained_alarm_that_appeared_while_down_opens_an_incident_at_start(
        broker: Broker, daemon: Daemon) -> None:
    with Publisher(broker.host, broker.port) as pub:
        pub.publish("zigbee2mqtt/b1/pump_room/leak_1", b'{"water_leak": false, "tamper": true}',
                    retain=True)
    daemon.start()
    wait_until(lambda: query(daemon.store, "SELECT count(*) FROM incidents")[0][0] == 1)
    (incident_type,), = query(daemon.store, "SELECT type FROM incidents")
    assert incident_type == "device_fault"
    # the dry leak sensor and its tamper condition, each a signal, both found at start
    assert query(daemon.store, "SELECT state, condition, replayed FROM signals ORDER BY id") == [
        ("normal", "", 1), ("trouble", "tamper", 1)]


def test_broker_restart_is_survived_and_reported_once(broker: Broker, daemon: Daemon) -> None:
    daemon.start()
    broker.stop()
    time.sleep(1.0)
    broker.start()
    wait_until(lambda: len(daemon.events("broker_connected")) >= 2, timeout=40,
               what="reconnect")
    with Publisher(broker.host, broker.port) as pub:
        pub.publish("demo/fire/b1/f1/z1", fire_payload())
    wait_until(lambda: query(daemon.store, "SELECT count(*) FROM incidents")[0][0] == 1)
    assert len(daemon.events("broker_disconnected")) == 1
    assert len(daemon.events("broker_unreachable")) <= 1


def test_alarms_published_while_the_gateway_is_down_are_delivered_when_it_returns(
        broker: Broker, daemon: Daemon) -> None:
    daemon.start()  # registers the persistent session
    assert daemon.terminate() == 0
    with Publisher(broker.host, broker.port) as pub:
        pub.publish("demo/fire/b2/f9/z4", fire_payload())
    daemon.start()
    wait_until(lambda: query(daemon.store, "SELECT count(*) FROM incidents")[0][0] == 1)
