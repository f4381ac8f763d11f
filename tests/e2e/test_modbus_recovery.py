"""A Modbus device lost and found, and a unit id that is wrong, seen from the whole gateway: the
demo site with its Modbus devices as real pymodbus servers on free loopback ports, a real
Mosquitto, the gateway as a process."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config.site import load_config
from simulators.modbus_devices import ModbusDeviceServer, build_site_simulators
from simulators.modbus_host import SimulatorThread
from tests.e2e.test_modbus import point_state, site_with_devices
from tests.support.faults import health
from tests.support.processes import Broker, Daemon, query, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

GAS = "gas-controller"  # polled every second (config/site.yaml)
POLL = 1.0


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return site_with_devices(tmp_path)


def devices_of(config: Path, *, gateway: bool = False) -> dict[str, ModbusDeviceServer]:
    servers = build_site_simulators(load_config(config))
    servers[GAS].gateway = gateway
    return servers


def with_unit_9(config: Path) -> Path:
    """The same site with a third gas detector configured at unit 9, where there is none."""
    text = yaml.safe_load(config.read_text())
    for template in [p for p in text["points"] if p["id"] in ("G-B1-0{n}", "G-B1-0{n}-FAULT")]:
        point = json.loads(json.dumps(copy.deepcopy(template)).replace("{n}", "9"))
        del point["for_each"]
        text["points"].append(point)
    changed = config.with_name("site-unit-9.yaml")
    changed.write_text(yaml.safe_dump(text, allow_unicode=True))
    return changed


@pytest.fixture
def gateway_of(broker: Broker) -> Iterator[list[Daemon]]:
    """The gateways a test starts, stopped at its end (before its broker)."""
    made: list[Daemon] = []
    yield made
    for daemon in made:
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.terminate()


def start(made: list[Daemon], config: Path, broker: Broker) -> Daemon:
    daemon = Daemon(config, config.with_name("store.sqlite3"), broker.url,
                    config.with_name("daemon.log"))
    made.append(daemon)
    daemon.start()
    return daemon


def of_gas(daemon: Daemon, event: str) -> list[dict[str, Any]]:
    return [e for e in daemon.events(event) if e.get("connection") == GAS]


def offline_reason(store: Path, point_id: str) -> str:
    (reason,), = query(store, "SELECT json_extract(detail, '$.offline') FROM points"
                              " WHERE id = ?", point_id)
    return str(reason or "")


def test_a_device_back_on_the_network_is_read_again_within_two_poll_intervals(
        site: Path, broker: Broker, gateway_of: list[Daemon]) -> None:
    servers = devices_of(site)
    with SimulatorThread(servers.values()) as sim:
        daemon = start(gateway_of, site, broker)
        wait_until(lambda: point_state(daemon.store, "G-B1-01") == "normal", what="first poll")
        sim.run(servers[GAS].stop())
        wait_until(lambda: point_state(daemon.store, "G-B1-01") == "offline",
                   what="the gateway notices the controller is gone")
        status, body = health(daemon)
        assert status == 503
        assert f"Modbus connection {GAS} down" in body["problems"]
        time.sleep(4 * POLL)  # a few probes go unanswered: none of them is logged
        sim.run(servers[GAS].start())
        back = time.monotonic()
        wait_until(lambda: point_state(daemon.store, "G-B1-01") == "normal", timeout=10,
                   what="the point read again")
        took = time.monotonic() - back
        print(f"\nModbus TCP device back on its port -> its point read again: {took:.2f} s "
              f"(poll interval {POLL:g} s)")
        assert took <= 2 * POLL
        wait_until(lambda: health(daemon)[1]["status"] == "ok", what="healthy again")
    (lost,) = of_gas(daemon, "modbus_connection_lost")
    assert lost["level"] == "warning"
    (found,) = of_gas(daemon, "modbus_connected")
    assert found["level"] == "info"
    assert 4 * POLL <= found["down_for"] < 4 * POLL + 10
    assert not of_gas(daemon, "modbus_unreachable")
    assert not of_gas(daemon, "modbus_unit_offline")  # the link was down, not each unit
    assert not of_gas(daemon, "modbus_unit_online")


def test_a_wrong_unit_id_behind_a_tcp_gateway_is_one_configuration_error(
        site: Path, broker: Broker, gateway_of: list[Daemon]) -> None:
    servers = devices_of(site, gateway=True)  # units 1-4, answering 0B for any other
    config = with_unit_9(site)
    with SimulatorThread(servers.values()):
        daemon = start(gateway_of, config, broker)
        wait_until(lambda: point_state(daemon.store, "G-B1-09") == "offline", timeout=15,
                   what="unit 9 offline")
        time.sleep(5 * POLL)  # polled and probed again meanwhile
        assert point_state(daemon.store, "G-B1-01") == "normal"  # the others read as ever
        status, body = health(daemon)
        assert (status, body["status"]) == (200, "degraded")
        assert body["degraded"] == [f"Modbus unit {GAS}/9 not found behind its gateway: check "
                                    "the unit id in the config (or the device behind it is "
                                    "off)"]
    (error,) = of_gas(daemon, "modbus_unit_misconfigured")
    port = servers[GAS].port
    assert (error["level"], error["host"], error["port"], error["unit"]) == (
        "error", "127.0.0.1", port, 9)
    assert "check the unit id in the config" in error["hint"]
    assert not of_gas(daemon, "modbus_unit_offline")
    why = (f"Modbus unit {GAS}/9: no unit 9 behind tcp:127.0.0.1:{port} (exception 0B, gateway "
           "target device failed to respond): check the unit id in the config")
    assert offline_reason(daemon.store, "G-B1-09") == why
    assert offline_reason(daemon.store, "G-B1-09-FAULT") == why
    # one incident for the connection's faults, listing the unit's points; no wrong registers
    (snapshot,), = query(daemon.store, "SELECT snapshot FROM incidents WHERE type ="
                         " 'device_fault'")
    assert sorted(d["point_id"] for d in json.loads(snapshot)["devices"]) == [
        "G-B1-09", "G-B1-09-FAULT"]
    assert query(daemon.store, "SELECT count(*) FROM dead_letters") == [(0,)]
