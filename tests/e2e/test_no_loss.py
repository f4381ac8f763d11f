"""The no-loss promise under faults: the gateway as a process, a real Mosquitto with the shipped
settings, and every fault a monitoring center meets: broker restarts and crashes mid-storm,
the gateway killed or frozen, poison payloads, a store that cannot be written (a lock held
elsewhere, a full disk), a damaged or read-only store, hostile input for memory."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
import yaml

from simulators.devices import Publisher
from simulators.load import HOSTILE, alarms, fuzz_payloads
from simulators.sites import mqtt_only_demo
from tests.support.faults import (
    WITH_SEQ,
    assert_each_once,
    bulk_publish,
    can_mount,
    count_stored,
    damage,
    fill,
    health,
    publish_in_thread,
    rss_kib,
    small_filesystem,
    stored_seqs,
)
from tests.support.processes import ROOT, Broker, Daemon, NotifySocket, query, wait_until
from tests.support.sites import site_files

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def site_with(tmp_path: Path, *, supervision: dict[str, object] | None = None,
              **broker: object) -> Path:
    """The test site with supervision settings and broker settings of the test's own."""
    config = mqtt_only_demo(tmp_path, **broker)
    site = yaml.safe_load(config.read_text())
    site["supervision"] = supervision or {}
    config.write_text(yaml.safe_dump(site, allow_unicode=True))
    return config


def supervised_site(tmp_path: Path, **supervision: object) -> Path:
    return site_with(tmp_path, supervision=supervision)


def running(daemon: Daemon) -> bool:
    return daemon.process is not None and daemon.process.poll() is None


def no_tracebacks(daemon: Daemon) -> None:
    text = daemon.log()
    assert "Traceback" not in text, text[text.find("Traceback") - 2000:][:4000]


# ----------------------------------------------------------------------------- 1 deaf after

@pytest.mark.timeout(240)
def test_broker_restart_mid_storm_then_300_more_alarms_are_all_stored_once(
        broker: Broker, spawn: Callable[..., Daemon]) -> None:
    daemon = spawn()
    daemon.start()
    bulk_publish(broker, alarms(0, 5000))  # the broker has acknowledged every one
    time.sleep(0.3)
    assert count_stored(daemon.store) < 5000, "the gateway finished before the restart"
    broker.stop()  # SIGTERM: Mosquitto saves its queue and its in-flight messages
    time.sleep(2.0)
    broker.start()
    bulk_publish(broker, alarms(5000, 300))
    wait_until(lambda: count_stored(daemon.store) >= 5300, timeout=90, what="5,300 stored")
    time.sleep(1.0)  # a duplicate would arrive now
    assert_each_once(daemon.store, 5300)
    status, body = health(daemon)
    assert (status, body["unacknowledged"]) == (200, 0), body
    assert running(daemon)


@pytest.mark.timeout(240)
def test_gateway_killed_mid_storm_then_300_more_alarms_are_all_stored_once(
        broker: Broker, spawn: Callable[..., Daemon]) -> None:
    daemon = spawn()
    daemon.start()
    publisher = publish_in_thread(broker, alarms(0, 5000))
    wait_until(lambda: count_stored(daemon.store) >= 1000, timeout=60, what="1,000 stored")
    daemon.kill()
    publisher.join(120)
    assert count_stored(daemon.store) < 5000, "the kill came too late to test anything"
    daemon.start()
    bulk_publish(broker, alarms(5000, 300))
    wait_until(lambda: count_stored(daemon.store) >= 5300, timeout=90, what="5,300 stored")
    time.sleep(1.0)
    assert_each_once(daemon.store, 5300)
    assert query(daemon.store, "SELECT count(*) FROM ledgers WHERE adapter = 'mqtt'")[0][0] < 600


@pytest.mark.timeout(180)
def test_gateway_frozen_past_the_broker_keepalive_loses_and_doubles_nothing(
        tmp_path: Path, broker: Broker, spawn: Callable[..., Daemon]) -> None:
    """SIGSTOP with messages in flight: the broker drops the connection at its keepalive and
    resends on the reconnect after SIGCONT."""
    daemon = spawn(site_with(tmp_path, keepalive="5s"))
    daemon.start()
    assert daemon.process is not None
    publisher = publish_in_thread(broker, alarms(0, 3000))
    wait_until(lambda: count_stored(daemon.store) >= 300, timeout=60, what="300 stored")
    daemon.process.send_signal(signal.SIGSTOP)
    publisher.join(60)
    time.sleep(20)  # the broker gives up on the frozen gateway (1.5 keepalives, checked lazily)
    daemon.process.send_signal(signal.SIGCONT)
    bulk_publish(broker, alarms(3000, 300))
    wait_until(lambda: count_stored(daemon.store) >= 3300, timeout=90, what="3,300 stored")
    time.sleep(1.0)
    assert_each_once(daemon.store, 3300)
    assert len(daemon.events("broker_disconnected")) == 1


# ----------------------------------------------------------------------------- 2 poison

def test_a_lone_surrogate_is_a_dead_letter_and_the_alarms_behind_it_are_stored(
        broker: Broker, spawn: Callable[..., Daemon]) -> None:
    daemon = spawn()
    daemon.start()
    bulk_publish(broker, [("demo/fire/b1/f3/z1", HOSTILE["lone_surrogate"]),
                          *alarms(0, 500)])
    wait_until(lambda: count_stored(daemon.store) >= 500, timeout=30, what="500 stored")
    assert_each_once(daemon.store, 500)
    (reason, detail, payload), = query(daemon.store, "SELECT reason, detail, payload FROM"
                                       " dead_letters WHERE topic = 'demo/fire/b1/f3/z1'")
    assert reason == "bad_text"
    assert "surrogate" in detail
    assert payload == HOSTILE["lone_surrogate"]
    assert running(daemon)
    daemon.terminate()
    daemon.start()  # and it starts again: nothing of it is redelivered
    assert query(daemon.store, "SELECT count(*) FROM dead_letters WHERE reason = 'bad_text'"
                 ) == [(1,)]
    no_tracebacks(daemon)


# ----------------------------------------------------------------------------- 3 + 6 store

@pytest.mark.timeout(180)
def test_a_write_lock_held_30s_stops_acknowledging_says_so_and_then_stores_all_in_order(
        tmp_path: Path, broker: Broker, spawn: Callable[..., Daemon]) -> None:
    notify = NotifySocket(tmp_path / "notify.sock")
    config = supervised_site(tmp_path, store_down_after="3s", unacknowledged_after="8s")
    daemon = spawn(config, env={"NOTIFY_SOCKET": str(notify.path)})
    try:
        daemon.start()
        bulk_publish(broker, alarms(0, 100))
        wait_until(lambda: count_stored(daemon.store) >= 100, what="the first 100")
        holder = sqlite3.connect(daemon.store, isolation_level=None, timeout=30)
        holder.execute("BEGIN IMMEDIATE")  # a technician's sqlite3 session, left open
        held_at = time.monotonic()
        publisher = publish_in_thread(broker, alarms(100, 400))
        # a batch waiting (3 s), then the store itself failing (its 10 s busy timeout)
        wait_until(lambda: health(daemon)[0] == 503, timeout=10, what="/healthz 503")
        assert any("waited" in p for p in health(daemon)[1]["problems"])
        wait_until(lambda: health(daemon)[1]["store_writable"] is False, timeout=15,
                   what="store not writable")
        status, body = health(daemon)
        assert status == 503
        assert body["unacknowledged"] > 0
        assert any("store writes failing" in p for p in body["problems"]), body
        wait_until(lambda: any("store writes failing" in m.get("STATUS", "")
                               for _, m in notify.having("STATUS")),
                   timeout=15, what="STATUS says so")
        time.sleep(max(0.0, 30 - (time.monotonic() - held_at)))
        assert running(daemon)
        assert count_stored(daemon.store) == 100
        holder.execute("ROLLBACK")
        holder.close()
        publisher.join(30)
        wait_until(lambda: count_stored(daemon.store) >= 500, timeout=40, what="all stored")
        assert_each_once(daemon.store, 500)
        wait_until(lambda: health(daemon)[0] == 200, timeout=15, what="healthy again")
        # the gateway's own incident, opened while the store was stuck, is on record
        points = {r[0] for r in query(daemon.store, "SELECT point_id FROM events WHERE kind ="
                                      " 'incident_opened' AND point_id LIKE 'SYS-%'")}
        assert {"SYS-STORE", "SYS-BACKLOG"} <= points
        assert len(daemon.events("store_write_failed")) == 1
        assert len(daemon.events("store_write_recovered")) == 1
        in_order(daemon.store)
    finally:
        notify.close()


def in_order(store: Path) -> None:
    """Per point, signals are stored in the order they were published (``seq``); per
    incident, the timeline's times never go back."""
    by_point: dict[str, list[int]] = {}
    for point, payload in query(store, "SELECT point_id, payload FROM signals WHERE "
                                f"{WITH_SEQ} ORDER BY id"):
        by_point.setdefault(point, []).append(json.loads(payload)["seq"])
    for point, seqs in by_point.items():
        assert seqs == sorted(seqs), (point, seqs)
    times: dict[str, list[float]] = {}
    for incident, at in query(store, "SELECT incident_id, at FROM events WHERE incident_id"
                              " != '' ORDER BY seq"):
        times.setdefault(incident, []).append(at)
    for incident, ats in times.items():
        assert ats == sorted(ats), incident


@pytest.fixture
def mountable(tmp_path: Path) -> None:
    if not can_mount(tmp_path):
        pytest.skip("this machine does not let the tests mount a tmpfs (needs root / "
                    "CAP_SYS_ADMIN); the full-disk and read-only cases cannot be made")


@pytest.mark.timeout(180)
@pytest.mark.usefixtures("mountable")
def test_a_full_disk_is_visible_everywhere_and_nothing_is_lost_or_reordered(
        tmp_path: Path, broker: Broker, spawn: Callable[..., Daemon]) -> None:
    notify = NotifySocket(tmp_path / "notify.sock")
    with small_filesystem(tmp_path / "disk", "64m") as disk:
        config = supervised_site(tmp_path, store_down_after="3s", unacknowledged_after="8s")
        daemon = spawn(config, store=disk / "store.sqlite3",
                       env={"NOTIFY_SOCKET": str(notify.path)})
        try:
            daemon.start()
            bulk_publish(broker, alarms(0, 200))
            wait_until(lambda: count_stored(daemon.store) >= 200, what="the first 200")
            ballast = fill(disk)
            publisher = publish_in_thread(broker, alarms(200, 1800))
            wait_until(lambda: health(daemon)[0] == 503, timeout=20, what="/healthz 503")
            _, body = health(daemon)
            assert body["store_writable"] is False
            assert "full" in " ".join(body["problems"]), body
            wait_until(lambda: any("store writes failing" in m.get("STATUS", "")
                                   for _, m in notify.having("STATUS")),
                       timeout=15, what="STATUS says so")
            time.sleep(10)
            assert running(daemon)
            ballast.unlink()
            publisher.join(60)
            wait_until(lambda: count_stored(daemon.store) >= 2000, timeout=60,
                       what="all stored")
            assert_each_once(daemon.store, 2000)
            in_order(daemon.store)
            wait_until(lambda: health(daemon)[0] == 200, timeout=20, what="healthy again")
            opened = {r[0] for r in query(daemon.store, "SELECT point_id FROM events WHERE"
                                          " kind = 'incident_opened' AND point_id LIKE 'SYS-%'")}
            assert "SYS-STORE" in opened
            no_tracebacks(daemon)
        finally:
            notify.close()
            if daemon.process is not None and daemon.process.poll() is None:
                daemon.kill()


# ----------------------------------------------------------------------------- 4 wrap

@pytest.mark.timeout(300)
def test_a_real_alarm_with_a_reused_packet_id_and_payload_is_not_taken_for_a_redelivery(
        broker: Broker, spawn: Callable[..., Daemon]) -> None:
    """fire (packet id 1), normal (2), 65,533 heartbeats: the next fire gets packet id 1 again,
    with the same payload; the gateway is frozen, then killed, so the broker resends it with
    DUP set after the restart. It is a new alarm."""
    daemon = spawn()
    daemon.start()
    leak = "zigbee2mqtt/b1/pump_room/leak_1"
    wet, dry = b'{"water_leak": true}', b'{"water_leak": false}'
    bulk_publish(broker, [(leak, wet), (leak, dry)])
    bulk_publish(broker, [(leak, dry)] * 65_533, window=1000, timeout=240)
    wait_until(lambda: query(daemon.store, "SELECT repeats FROM points WHERE id = 'W-PUMP-01'")
               == [(65_533,)], timeout=120, what="every heartbeat counted")
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGSTOP)
    bulk_publish(broker, [(leak, wet)])
    time.sleep(0.5)  # the broker has sent it to the frozen gateway
    daemon.kill()
    daemon.start()
    wait_until(lambda: query(daemon.store, "SELECT state FROM points WHERE id = 'W-PUMP-01'")
               == [("alarm",)], timeout=20, what="the second leak")
    states = [s for (s,) in query(daemon.store, "SELECT state FROM signals WHERE point_id ="
                                  " 'W-PUMP-01' ORDER BY id")]
    assert states == ["alarm", "normal", "alarm"]


# ----------------------------------------------------------------------------- 7 startup

@pytest.mark.usefixtures("mountable")
def test_a_read_only_store_directory_is_exit_code_8_with_a_message(
        tmp_path: Path, broker: Broker) -> None:
    with small_filesystem(tmp_path / "ro", "4m") as folder:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        result = subprocess.run(
            [sys.executable, "-m", "gateway", "run", "-c", str(site_files(tmp_path)),
             "--broker", broker.url, "--store", str(folder / "store.sqlite3"),
             "--console", "off"], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 8, result.stderr
    assert "Traceback" not in result.stderr
    assert "Read-only file system" in result.stderr
    assert "must be writable" in result.stderr


def test_a_damaged_store_is_refused_or_run_on_with_a_health_incident_when_allowed(
        tmp_path: Path, broker: Broker, spawn: Callable[..., Daemon]) -> None:
    daemon = spawn()
    daemon.start()
    bulk_publish(broker, alarms(0, 1500))
    wait_until(lambda: count_stored(daemon.store) >= 1500, timeout=30, what="1,500 stored")
    daemon.terminate()
    damage(daemon.store)
    with pytest.raises(RuntimeError, match="daemon exited"):
        daemon.start()
    assert daemon.process is not None
    assert daemon.process.returncode == 8
    assert "is damaged" in daemon.log()
    assert "--allow-damaged-store" in daemon.log()
    allowed = spawn(daemon.config, env={"ALARM_GATEWAY_ALLOW_DAMAGED_STORE": "1"})
    allowed.start()
    wait_until(lambda: health(allowed)[1]["store_damaged"], what="health says damaged")
    assert health(allowed)[0] == 503
    assert allowed.events("store_damaged")


# ----------------------------------------------------------------------------- 8 + 9 hostile

def test_hostile_numbers_and_nesting_are_dead_letters_with_one_line_each_and_no_traceback(
        tmp_path: Path, broker: Broker, spawn: Callable[..., Daemon]) -> None:
    daemon = spawn(site_with(tmp_path, max_payload_bytes=65536))
    daemon.start()
    topic = "demo/fire/b2/f7/z2"
    bulk_publish(broker, [(topic, payload) for payload in HOSTILE.values() for _ in range(3)]
                 + alarms(0, 10))
    wait_until(lambda: count_stored(daemon.store) >= 10, what="the alarms behind them")
    rows = query(daemon.store, "SELECT reason, detail FROM dead_letters WHERE topic = ?"
                 " ORDER BY id", topic)
    assert len(rows) == 12
    reasons = [r for r, _ in rows]
    assert reasons == (["bad_text"] * 3 + ["bad_json"] * 3 + ["unmapped_value"] * 3
                       + ["bad_json"] * 3)
    details = [d for _, d in rows]
    assert "nested deeper than 32 levels" in details[3]
    assert "(400 characters)" in details[6]  # the number is named, cut short
    assert "a number is too long" in details[9]
    lines = [line for line in daemon.events("bad_input") if line["topic"] == topic]
    assert sorted(line["reason"] for line in lines) == ["bad_json", "bad_text", "unmapped_value"]
    no_tracebacks(daemon)


def test_a_400_digit_number_on_a_threshold_point_is_bad_input(
        broker: Broker, spawn: Callable[..., Daemon]) -> None:
    daemon = spawn()
    daemon.start()
    bulk_publish(broker, [("zigbee2mqtt/b1/pump_room/leak_1",
                           b'{"water_leak": ' + b"9" * 400 + b"}")])
    wait_until(lambda: query(daemon.store, "SELECT count(*) FROM dead_letters")[0][0] == 1)
    no_tracebacks(daemon)


@pytest.mark.timeout(300)
def test_memory_stays_flat_over_rounds_of_hostile_input(
        broker: Broker, spawn: Callable[..., Daemon]) -> None:
    daemon = spawn()
    daemon.start()
    assert daemon.process is not None
    topics = [f"demo/fire/b{b}/f{f}/z{z}" for b in (1, 2) for f in range(1, 19)
              for z in range(1, 5)] + ["zigbee2mqtt/b1/pump_room/leak_1"]
    sizes = []
    total = 0
    for round_no in range(6):
        total += bulk_publish(broker, fuzz_payloads(round_no, 10_000, topics), window=1000)
        # most are dead letters (empty payloads and nulls are no reading, not bad input)
        wait_until(partial(taken, daemon, total * 0.7), timeout=120,
                   what=f"round {round_no} taken")
        sizes.append(rss_kib(daemon.process.pid))
    growth = sizes[-1] - sizes[1]
    print(f"RSS by round (KiB): {sizes}")
    assert growth < 4096, f"RSS by round (KiB): {sizes}"
    # one line per topic and reason, at most 20 new ones a minute per reason, then a sum
    assert len(daemon.events("bad_input")) <= 20 * 8 * 3
    no_tracebacks(daemon)


def taken(daemon: Daemon, dead_letters: float) -> bool:
    return bool(health(daemon)[1]["unacknowledged"] == 0 and query(
        daemon.store, "SELECT count(*) FROM dead_letters")[0][0] >= dead_letters)


def test_heartbeats_are_summed_on_the_point_not_stored_one_row_each(
        broker: Broker, spawn: Callable[..., Daemon]) -> None:
    daemon = spawn()
    daemon.start()
    leak = "zigbee2mqtt/garage/leak_2"
    bulk_publish(broker, [(leak, b'{"water_leak": false, "battery": 90}')] * 300)
    wait_until(lambda: query(daemon.store, "SELECT repeats FROM points WHERE id = 'W-GAR-02'")
               == [(299,)], what="299 heartbeats counted")
    assert query(daemon.store, "SELECT count(*) FROM signals WHERE point_id = 'W-GAR-02'") == [
        (1,)]
    bulk_publish(broker, [(leak, b'{"water_leak": true}')])
    wait_until(lambda: query(daemon.store, "SELECT state, repeats FROM points WHERE id ="
                             " 'W-GAR-02'") == [("alarm", 0)], what="the change, counted anew")


# ----------------------------------------------------------------------------- deaf probe

@pytest.mark.timeout(120)
def test_a_hung_broker_is_reported_deaf_within_the_bound(
        tmp_path: Path, broker: Broker, spawn: Callable[..., Daemon]) -> None:
    daemon = spawn(supervised_site(tmp_path, deaf_after="15s"))
    daemon.start()
    wait_until(lambda: health(daemon)[0] == 200, what="healthy")
    broker.process.send_signal(signal.SIGSTOP)
    try:
        wait_until(lambda: any("not reaching the gateway" in p
                               for p in health(daemon)[1]["problems"]), timeout=40,
                   what="deaf reported")
        assert health(daemon)[0] == 503
    finally:
        broker.process.send_signal(signal.SIGCONT)
    wait_until(lambda: health(daemon)[0] == 200, timeout=60, what="healthy again")


# ----------------------------------------------------------------------------- 10 broker

def test_the_shipped_broker_settings_keep_acknowledged_alarms_through_a_broker_crash(
        broker: Broker, spawn: Callable[..., Daemon]) -> None:
    daemon = spawn()
    daemon.start()
    daemon.terminate()  # its session and queue stay at the broker
    bulk_publish(broker, alarms(0, 5000))
    broker.process.send_signal(signal.SIGKILL)
    broker.process.wait()
    broker.start()
    daemon.start()
    wait_until(lambda: count_stored(daemon.store) >= 4990, timeout=60, what="kept alarms")
    time.sleep(1.0)
    # a crash may lose what arrived in the broker's last turn of its event loop
    lost = 5000 - len(stored_seqs(daemon.store))
    assert lost <= 10


def test_risky_broker_settings_are_reported_at_start(
        tmp_path: Path, broker: Broker, spawn: Callable[..., Daemon]) -> None:
    conf = tmp_path / "site-broker.conf"
    conf.write_text("listener 1883\npersistence true\nautosave_interval 60\n"
                    "max_queued_messages 1000\n")
    config = site_with(tmp_path, config_file=str(conf))
    daemon = spawn(config)
    daemon.start()
    risks = {line["setting"] for line in daemon.events("broker_config_risk")}
    assert risks == {"autosave_interval", "max_queued_messages"}
    check = subprocess.run([sys.executable, "-m", "gateway", "check", "-c", str(config)],
                           capture_output=True, text=True, check=False)
    assert "max_queued_messages: at most 1000 messages wait" in check.stdout
    shipped = subprocess.run([sys.executable, "-m", "gateway", "check", "-c",
                              str(ROOT / "config" / "site.yaml")],
                             capture_output=True, text=True, check=False)
    assert "warning     broker" not in shipped.stdout


def test_a_surrogate_in_a_field_no_binding_reads_does_not_stop_the_alarm(
        broker: Broker, spawn: Callable[..., Daemon]) -> None:
    daemon = spawn()
    daemon.start()
    with Publisher(broker.host, broker.port) as pub:
        pub.publish("zigbee2mqtt/garage/leak_1", b'{"water_leak": true, "x": "\\udfff"}')
    wait_until(lambda: query(daemon.store, "SELECT state FROM points WHERE id = 'W-GAR-01'")
               == [("alarm",)])
    assert query(daemon.store, "SELECT count(*) FROM dead_letters") == [(0,)]
