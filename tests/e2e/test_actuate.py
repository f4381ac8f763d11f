"""An elevator recalled by hand and its recall reset, end to end: the gateway as a process, the
building-2 cars as a real pymodbus server (tests/e2e/test_modbus.py's devices; every port a
free one), the recall given on the command line and the reset through the console's API. Each
write reaches the car, the car's "recalled" bit reports where it went, and the command is
confirmed by it: on record as facts of the site, in the log, on the actuators' page."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulators.modbus_elevator import ElevatorCar, Mode
from tests.e2e.test_modbus import Devices, point_state, running_plant
from tests.support.processes import Broker, Daemon, free_port, query, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PASSWORD = "actuate-test-pw"


def _own_ports(site: dict[str, Any]) -> None:
    for receiver in (r for kind in site.get("receivers", {}).values() for r in kind):
        receiver["port"] = free_port()  # the panels' listeners too, off the demo's ports
    car = next(a for a in site["actuators"] if a["id"] == "ELV-B2-L1")
    car["commands"]["restore"]["feedback"]["timeout"] = "6s"  # the demo's reset, sooner


@pytest.fixture
def plant(tmp_path: Path, broker: Broker) -> Iterator[tuple[Daemon, Devices]]:
    with running_plant(tmp_path, broker, _own_ports) as made:
        yield made


def gateway(daemon: Daemon, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args, "-c", str(daemon.config),
                           "--store", str(daemon.store)], input=stdin, capture_output=True,
                          text=True, timeout=60, check=False)


def site_events(daemon: Daemon, kind: str) -> list[dict[str, Any]]:
    return [json.loads(d) for (d,) in query(daemon.store, "SELECT data FROM events WHERE"
                                            " kind = ? AND incident_id = '' ORDER BY seq", kind)]


def done(daemon: Daemon, command: str) -> bool:
    return any(e["command"] == command for e in site_events(daemon, "action_done"))


def test_a_recall_and_its_reset_by_hand_are_written_to_the_car_and_confirmed_by_it(
        plant: tuple[Daemon, Devices]) -> None:
    daemon, devices = plant
    car: ElevatorCar = devices.device("elevators", 1)
    wait_until(lambda: point_state(daemon.store, "ELV-B2-L1-RECALLED") == "normal",
               what="first poll")
    assert devices.call(lambda: car.floor) != 1

    # the recall, on the command line
    recall = gateway(daemon, "actuate", "ELV-B2-L1", "recall", "--reason",
                     "电梯井进水，先行迫降 / water in the shaft", "--by", "李明")
    assert recall.returncode == 0, recall.stderr
    assert "done when ELV-B2-L1-RECALLED confirms it" in recall.stdout
    wait_until(lambda: done(daemon, "recall"), timeout=15, what="the car confirms the recall")
    writes = devices.call(lambda: [(w.table, w.address, w.value) for w in car.writes])
    assert writes == [("coil", 0, True)]
    assert devices.call(lambda: (car.floor, car.recall_complete)) == (1, True)
    (requested,) = site_events(daemon, "action_requested")
    assert (requested["by_hand"], requested["reason"]) == (True, "电梯井进水，先行迫降 / "
                                                                "water in the shaft")
    (confirmed,) = site_events(daemon, "action_done")
    assert confirmed["detail"] == "ELV-B2-L1-RECALLED reports 1"

    # the reset, through the console's API, by a technician
    add = gateway(daemon, "users", "add", "wang.gong", "--role", "technician", "--display",
                  "王工", "--password-stdin", stdin=PASSWORD + "\n")
    assert add.returncode == 0, add.stderr
    with httpx.Client(base_url=daemon.console_url, timeout=15) as api:
        token = api.post("/api/login", json={"username": "wang.gong",
                                             "password": PASSWORD}).json()["token"]
        api.headers["Authorization"] = f"Bearer {token}"
        r = api.post("/api/actuators/ELV-B2-L1/actuate",
                     json={"command": "restore", "reason": "水已排净 / the shaft is dry"})
        assert r.status_code == 200, r.text
        wait_until(lambda: done(daemon, "restore"), timeout=15,
                   what="the car confirms it is back in service")
        actuators = api.get("/api/actuators").json()["actuators"]
    writes = devices.call(lambda: [(w.table, w.address, w.value) for w in car.writes])
    assert writes == [("coil", 0, True), ("coil", 0, False)]
    assert devices.call(lambda: (car.mode, car.recall_complete)) == (Mode.NORMAL, False)
    last = next(a for a in actuators if a["id"] == "ELV-B2-L1")["last"]
    assert (last["command"], last["status"], last["by"], last["incident_id"]) == (
        "restore", "done", "wang.gong", "")
    assert last["detail_text"]["en"] == "feedback came: Building 2 elevator 1 recalled = no"
    logged = [(e["actuator"], e["command"]) for e in daemon.events("action_done")
              if e.get("by_hand")]
    assert logged == [("ELV-B2-L1", "recall"), ("ELV-B2-L1", "restore")]
    assert query(daemon.store, "SELECT count(*) FROM incidents") == [(0,)]


def test_a_car_that_ignores_the_recall_fails_the_command_at_its_timeout(
        plant: tuple[Daemon, Devices]) -> None:
    daemon, devices = plant
    car: ElevatorCar = devices.device("elevators", 2)
    devices.call(lambda: car.set_behaviour("ignore_recall"))
    wait_until(lambda: point_state(daemon.store, "ELV-B2-L2-RECALLED") == "normal",
               what="first poll")
    recall = gateway(daemon, "actuate", "ELV-B2-L2", "recall", "--reason", "演练前检查",
                     "--by", "李明")
    assert recall.returncode == 0, recall.stderr
    wait_until(lambda: site_events(daemon, "action_failed"), timeout=15,
               what="no confirmation within 6 s")
    (failed,) = site_events(daemon, "action_failed")
    assert failed["detail"] == "no confirmation from ELV-B2-L2-RECALLED within 6s"
    assert len(car.writes) == 1  # the write reached it; it just did not act
    refused = gateway(daemon, "actuate", "ELV-B2-L2", "fly", "--reason", "x", "--by", "李明")
    assert refused.returncode == 7
    assert "has no command 'fly'" in refused.stderr
