"""Running for months as a service: the notify protocol, SIGTERM, SIGHUP and reload, backup
and restore of a busy store, the gateway's own health, and the systemd unit."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulators.devices import Publisher
from tests.support.processes import ROOT, Broker, Daemon, NotifySocket, query, wait_until
from tests.support.sites import fire_payload, site_files, storm

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    ns = NotifySocket(tmp_path / "notify.sock")
    yield ns
    ns.close()


class Spawn:
    """Daemons for a test, every one stopped at the end even when the test fails."""

    def __init__(self, tmp_path: Path, broker: Broker) -> None:
        self.tmp_path = tmp_path
        self.broker = broker
        self.made: list[Daemon] = []

    def __call__(self, config: Path, store: Path | None = None, name: str = "daemon",
                 env: dict[str, str] | None = None, console_port: int = 0) -> Daemon:
        d = Daemon(config, store or self.tmp_path / "store.sqlite3", self.broker.url,
                   self.tmp_path / f"{name}.log", console_port=console_port, env=env or {})
        self.made.append(d)
        return d

    def stop_all(self) -> None:
        for d in self.made:
            if d.process is not None and d.process.poll() is None:
                d.process.kill()
                d.process.wait()


@pytest.fixture
def spawn(tmp_path: Path, broker: Broker) -> Iterator[Spawn]:
    s = Spawn(tmp_path, broker)
    yield s
    s.stop_all()


@pytest.fixture
def service(tmp_path: Path, spawn: Spawn, notify: NotifySocket) -> Daemon:
    return spawn(site_files(tmp_path),
                 env={"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "1500000"})


def count(store: Path, sql: str) -> int:
    return int(query(store, sql)[0][0])


# ----------------------------------------------------------------------------- notify


def test_notify_ready_status_watchdog_while_busy_and_stopping(
        service: Daemon, broker: Broker, notify: NotifySocket) -> None:
    started = time.monotonic()
    service.start()
    wait_until(lambda: notify.having("READY"), what="READY=1")
    ready_at, ready = notify.having("READY")[0]
    assert ready["READY"] == "1"
    assert ready["STATUS"].startswith("0 open incidents, broker connected, ")
    assert ready_at - started < 10
    wait_until(lambda: len(notify.having("WATCHDOG")) >= 2, what="watchdog pings")
    # busy: a storm of alarms; the pings keep coming well inside the watchdog interval
    busy_from = time.monotonic()
    storm(broker, 3000).join(60)
    wait_until(lambda: count(service.store, "SELECT count(*) FROM signals") == 3000,
               timeout=60, what="the storm stored")
    busy_to = time.monotonic()
    pings = [at for at, _ in notify.having("WATCHDOG") if busy_from <= at <= busy_to]
    gaps = [b - a for a, b in zip([busy_from, *pings], [*pings, busy_to], strict=True)]
    # every moment of the busy stretch is within one watchdog interval of a ping
    assert pings, (busy_to - busy_from, pings)
    assert max(gaps) < 1.5, gaps
    wait_until(lambda: any(m.get("STATUS", "").startswith("2 open incidents")
                           for _, m in notify.having("STATUS")), timeout=10,
               what="STATUS with the two fires")
    assert service.terminate() == 0
    stopping = notify.having("STOPPING")
    assert stopping
    assert stopping[0][1]["STOPPING"] == "1"


def test_no_notify_socket_means_no_notifications(tmp_path: Path, spawn: Spawn) -> None:
    d = spawn(site_files(tmp_path))
    d.start()
    assert d.terminate() == 0
    assert d.events("gateway_drained")


# ----------------------------------------------------------------------------- SIGTERM


def test_sigterm_during_a_storm_loses_nothing(tmp_path: Path, broker: Broker,
                                              spawn: Spawn) -> None:
    d = spawn(site_files(tmp_path))
    d.start()
    total = 4000
    sent = threading.Event()
    publisher = storm(broker, total, sent)
    wait_until(lambda: count(d.store, "SELECT count(*) FROM signals") >= 300,
               what="the first alarms stored")
    assert d.process is not None
    d.process.send_signal(signal.SIGTERM)
    assert d.process.wait(timeout=15) == 0
    assert d.events("gateway_drained")
    stored_at_stop = count(d.store, "SELECT count(*) FROM signals")
    assert stored_at_stop < total
    publisher.join(60)
    assert sent.is_set()
    # what the broker still holds (never acknowledged) comes at the next start: nothing lost,
    # nothing twice
    d.start()
    wait_until(lambda: count(d.store, "SELECT count(*) FROM signals") >= total, timeout=60,
               what="every alarm stored")
    time.sleep(1.0)
    assert count(d.store, "SELECT count(*) FROM signals") == total
    assert count(d.store, "SELECT count(DISTINCT device) FROM signals") == total
    assert d.terminate() == 0


# ----------------------------------------------------------------------------- reload


def edit_yaml(path: Path, change: object) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def fire_verify_deadline(store: Path, incident_id: str) -> float:
    snapshot = json.loads(query(store, "SELECT snapshot FROM incidents WHERE id = ?",
                                incident_id)[0][0])
    step = next(s for s in snapshot["steps"] if s["id"] == "verify")
    return float(step["due_at"] - step["started_at"])


def test_sighup_applies_a_valid_change_and_keeps_running_on_an_invalid_one(
        tmp_path: Path, broker: Broker, spawn: Spawn) -> None:
    config = site_files(tmp_path)
    d = spawn(config)
    d.start()
    with Publisher(broker.host, broker.port) as pub:
        pub.publish("demo/fire/b1/f3/z1", fire_payload("SD-01"))
    wait_until(lambda: count(d.store, "SELECT count(*) FROM incidents") == 1)
    first = json.loads(query(d.store, "SELECT snapshot FROM incidents")[0][0])
    assert fire_verify_deadline(d.store, "INC-000001") == 180
    versions = query(d.store, "SELECT hash, source FROM config_versions ORDER BY id")
    assert [v[1] for v in versions] == ["start"]
    assert first["config"] == versions[0][0][:12]

    fire = tmp_path / "playbooks" / "fire.yaml"
    fire.write_text(fire.read_text().replace("deadline: 3m", "deadline: 2m", 1))
    assert d.process is not None
    d.process.send_signal(signal.SIGHUP)
    wait_until(lambda: d.events("config_reloaded"), what="config reloaded")
    reloaded = d.events("config_reloaded")[0]
    assert reloaded["changes"] == ["playbooks changed: fire"]
    wait_until(lambda: len(query(d.store, "SELECT id FROM config_versions")) == 2,
               what="the new version recorded")
    # the open fire carries on under its old deadline; a new one opens under the new config
    with Publisher(broker.host, broker.port) as pub:
        pub.publish("demo/fire/b2/f3/z1", fire_payload("SD-02"))
    wait_until(lambda: count(d.store, "SELECT count(*) FROM incidents") == 2)
    assert fire_verify_deadline(d.store, "INC-000001") == 180
    assert fire_verify_deadline(d.store, "INC-000002") == 120
    second = json.loads(query(d.store, "SELECT snapshot FROM incidents WHERE id ="
                                       " 'INC-000002'")[0][0])
    latest = query(d.store, "SELECT hash, source, summary FROM config_versions ORDER BY id")[-1]
    assert (second["config"], latest[1], latest[2]) == (latest[0][:12], "SIGHUP",
                                                        "playbooks changed: fire")

    # an invalid config: refused, logged, the running one kept
    fire.write_text(fire.read_text().replace("role: on_duty_patrol", "role: nobody", 1))
    d.process.send_signal(signal.SIGHUP)
    wait_until(lambda: d.events("reload_rejected"), what="reload rejected")
    rejected = d.events("reload_rejected")[0]
    assert "unknown role 'nobody'" in rejected["problems"][0]
    with Publisher(broker.host, broker.port) as pub:
        pub.publish("demo/fire/b2/f4/z1", fire_payload("SD-03"))
    wait_until(lambda: count(d.store, "SELECT count(*) FROM signals") == 3,
               what="still taking alarms")
    assert len(query(d.store, "SELECT id FROM config_versions")) == 2

    # the CLI: refused with the problems, then applied once fixed, naming who asked
    def reload() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gateway", "reload", "-c", str(config),
                               "--store", str(d.store), "--by", "王工"],
                              capture_output=True, text=True, timeout=30, check=False)

    refused = reload()
    assert refused.returncode == 7
    assert "unknown role 'nobody'" in refused.stderr
    fire.write_text(fire.read_text().replace("role: nobody", "role: on_duty_patrol", 1))
    def lobby(site: dict[str, Any]) -> None:  # a new zone, named as every zone is
        site["zones"]["lobby"] = {"zh": "大堂", "en": "lobby"}
        site["points"].append(
            {"id": "W-LOBBY-01", "kind": "water_leak",
             "name": {"zh": "大堂漏水", "en": "Lobby leak"},
             "location": {"building": "1", "floor": "1", "zone": "lobby"},
             "mqtt": {"topic": "zigbee2mqtt/lobby/leak_1", "decoder": "zigbee2mqtt",
                      "property": "water_leak"}})

    edit_yaml(config, lobby)
    applied = reload()
    assert applied.returncode == 0, applied.stderr
    assert "points added: W-LOBBY-01" in applied.stdout
    assert query(d.store, "SELECT actor, source FROM config_versions ORDER BY id")[-1] == (
        "王工", "command")
    # the new point works at once (the test broker subscription covers zigbee2mqtt/#)
    with Publisher(broker.host, broker.port) as pub:
        pub.publish("zigbee2mqtt/lobby/leak_1", b'{"water_leak": true}')
    wait_until(lambda: query(d.store, "SELECT state FROM points WHERE id = 'W-LOBBY-01'")
               == [("alarm",)], what="the new point in use")
    assert d.terminate() == 0


# ----------------------------------------------------------------------------- backup


def test_backup_taken_during_a_storm_restores_to_a_consistent_store(
        tmp_path: Path, broker: Broker, spawn: Spawn) -> None:
    config = site_files(tmp_path)
    d = spawn(config)
    d.start()
    done = threading.Event()
    storm(broker, 3000, done)
    wait_until(lambda: count(d.store, "SELECT count(*) FROM signals") >= 200)
    copy = tmp_path / "backup" / "copy.sqlite3"
    copy.parent.mkdir()
    taken = subprocess.run([sys.executable, "-m", "gateway", "backup", "-c", str(config),
                            "--store", str(d.store), str(copy)], capture_output=True,
                           text=True, timeout=60, check=False)
    assert taken.returncode == 0, taken.stderr
    assert not done.is_set() or count(d.store, "SELECT count(*) FROM signals") > 0
    # restore refuses while the daemon runs on the target store
    target = tmp_path / "restored.sqlite3"
    shutil.copy(d.store, target)  # something to be kept aside
    refused = subprocess.run([sys.executable, "-m", "gateway", "restore", "-c", str(config),
                              "--store", str(d.store), str(copy)], capture_output=True,
                             text=True, timeout=60, check=False)
    assert refused.returncode == 8
    assert d.terminate() == 0
    restored = subprocess.run([sys.executable, "-m", "gateway", "restore", "-c", str(config),
                               "--store", str(target), str(copy)], capture_output=True,
                              text=True, timeout=60, check=False)
    assert restored.returncode == 0, restored.stderr
    conn = sqlite3.connect(target)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        signals = conn.execute("SELECT count(*) FROM signals").fetchone()[0]
        assert 0 < signals <= 3000
        # consistent: every signal's incident exists, every incident has its events
        orphans = conn.execute(
            "SELECT count(*) FROM signal_incidents si LEFT JOIN incidents i"
            " ON i.id = si.incident_id WHERE i.id IS NULL").fetchone()[0]
        assert orphans == 0
        for (incident_id,) in conn.execute("SELECT id FROM incidents"):
            kinds = [k for (k,) in conn.execute(
                "SELECT kind FROM events WHERE incident_id = ? ORDER BY seq", (incident_id,))]
            assert kinds[0] == "incident_opened"
    finally:
        conn.close()
    assert list(tmp_path.glob("restored.sqlite3.before-restore-*"))
    # the restored store runs
    d2 = spawn(config, target, name="daemon2")
    d2.start()
    assert d2.terminate() == 0


# ----------------------------------------------------------------------------- self-health


def test_broker_down_too_long_raises_a_system_incident_and_its_return_clears_it(
        tmp_path: Path, broker: Broker, notify: NotifySocket, spawn: Spawn) -> None:
    config = site_files(tmp_path)
    edit_yaml(config, lambda site: site.update(
        supervision={"broker_down_after": "2s", "silent_after": {"mqtt": "1h"}}))
    d = spawn(config, env={"NOTIFY_SOCKET": str(notify.path)})
    d.start()
    broker.stop()
    wait_until(lambda: query(d.store, "SELECT type, status FROM incidents") == [
        ("gateway_health", "open")], timeout=15, what="the system incident")
    snapshot = json.loads(query(d.store, "SELECT snapshot FROM incidents")[0][0])
    assert [dev["point_id"] for dev in snapshot["devices"]] == ["SYS-BROKER"]
    wait_until(lambda: any("SYSTEM: SYS-BROKER" in m.get("STATUS", "")
                           for _, m in notify.having("STATUS")), timeout=10,
               what="STATUS naming it")
    assert "broker DISCONNECTED" in notify.having("STATUS")[-1][1]["STATUS"]
    broker.start()
    wait_until(lambda: query(d.store, "SELECT state FROM points WHERE id = 'SYS-BROKER'")
               == [("normal",)], timeout=30, what="back to normal")
    assert d.terminate() == 0


def test_unknown_adapter_in_supervision_is_a_config_error(tmp_path: Path) -> None:
    config = site_files(tmp_path)
    edit_yaml(config, lambda site: site.update(supervision={"silent_after": {"zigbee": "5m"}}))
    result = subprocess.run([sys.executable, "-m", "gateway", "check", "-c", str(config)],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 6
    assert "supervision.silent_after: unknown adapter 'zigbee'" in result.stderr


# ----------------------------------------------------------------------------- the unit


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is part of systemd on Debian"
    unit = (ROOT / "systemd" / "alarm-gateway.service").read_text()
    for needed in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "StateDirectory=",
                   "ConfigurationDirectory=", "EnvironmentFile=", "ProtectSystem=strict",
                   "NoNewPrivileges=yes", "PrivateTmp=yes", "ExecReload="):
        assert needed in unit
    # installed, ExecStart points into the venv under /opt; here, at this checkout's venv
    local = unit.replace("/opt/alarm-gateway/.venv/bin/alarm-gateway",
                         str(Path(sys.executable).parent / "alarm-gateway"))
    path = tmp_path / "alarm-gateway.service"
    path.write_text(local)
    result = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True,
                            timeout=60, check=False,
                            env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    assert result.returncode == 0, result.stderr
    assert "alarm-gateway.service" not in result.stderr, result.stderr


def test_a_point_added_by_reload_is_subscribed_at_once(tmp_path: Path, broker: Broker,
                                                        spawn: Spawn) -> None:
    config = site_files(tmp_path)
    edit_yaml(config, lambda site: site["broker"].pop("subscriptions"))  # exact topics only
    d = spawn(config)
    d.start()
    edit_yaml(config, lambda site: site["points"].append(
        {"id": "W-LOBBY-02", "kind": "water_leak", "name": {"zh": "大堂漏水", "en": "Lobby leak"},
         "location": {"building": "2", "floor": "1", "zone": "1"},
         "mqtt": {"topic": "site/lobby/leak-2", "decoder": "zigbee2mqtt",
                  "property": "water_leak"}}))
    applied = subprocess.run([sys.executable, "-m", "gateway", "reload", "-c", str(config),
                              "--store", str(d.store), "--by", "王工"],
                             capture_output=True, text=True, timeout=30, check=False)
    assert applied.returncode == 0, applied.stderr
    assert "broker subscriptions changed" in applied.stdout
    assert "needs a restart" not in applied.stdout
    wait_until(lambda: d.events("subscriptions_updated"), what="subscribed")
    time.sleep(0.3)
    with Publisher(broker.host, broker.port) as pub:
        pub.publish("site/lobby/leak-2", b'{"water_leak": true}')
    wait_until(lambda: query(d.store, "SELECT state FROM points WHERE id = 'W-LOBBY-02'")
               == [("alarm",)], what="the new point in use")
    assert d.terminate() == 0


def test_the_console_follows_a_reload(tmp_path: Path, spawn: Spawn) -> None:
    import httpx

    from tests.support.processes import free_port

    config = site_files(tmp_path)
    d = spawn(config, console_port=free_port())
    subprocess.run([sys.executable, "-m", "gateway", "users", "add", "op", "--role", "operator",
                    "--password-stdin", "-c", str(config), "--store", str(d.store)],
                   input="pw-op-secret\n", text=True, check=True, capture_output=True, timeout=30)
    d.start()
    # as the console's page does: its requests say they come from its own origin
    with httpx.Client(base_url=d.console_url, timeout=10,
                      headers={"Origin": d.console_url}) as client:
        wait_until(lambda: client.get("/healthz").status_code == 200, what="console")
        client.post("/api/login", json={"username": "op", "password": "pw-op-secret"})
        before = {p["id"] for p in client.get("/api/site").json()["playbooks"]}
        text = (tmp_path / "playbooks" / "earthquake.yaml").read_text()
        (tmp_path / "playbooks" / "aftershock.yaml").write_text(
            text.replace("id: earthquake", "id: aftershock", 1))
        assert d.process is not None
        d.process.send_signal(signal.SIGHUP)
        wait_until(lambda: d.events("config_reloaded"), what="reloaded")
        after = {p["id"] for p in client.get("/api/site").json()["playbooks"]}
        assert after == before | {"aftershock"}
        r = client.post("/api/incidents", json={"playbook": "aftershock", "building": "1"})
        assert r.status_code == 201, r.text
        assert client.get(f"/api/incidents/{r.json()['id']}").json()["playbook"]["id"] == \
            "aftershock"
    assert d.terminate() == 0
