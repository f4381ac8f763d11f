"""Conditions over several readings in the running gateway: the car's own fields open an
entrapment, not a moving car; a payload without the fields a condition reads is bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.domain.model import PointState
from simulators.sites import mqtt_only_demo
from tests.support.inprocess import InProcess
from tests.support.processes import query

pytestmark = pytest.mark.anyio

CAR = {
    "id": "ELV-B1-L1-CAR", "kind": "elevator_status",
    "name": {"zh": "1号楼1号电梯轿厢", "en": "Building 1 lift 1 car"},
    "location": {"building": "1", "zone": "elevator-1"},
    "mqtt": {"topic": "demo/elevator/b1/l1/car", "field": "button",
             "values": {"none": "normal"}},
    "inputs": {"moving": {"field": "moving"}, "in_zone": {"field": "in_zone"},
               "doors": {"field": "doors"}},
    "when": [{"if": "not moving and not in_zone and doors == 'closed'", "state": "alarm"},
             {"otherwise": "normal"}],
}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    config = mqtt_only_demo(tmp_path / "site")
    site = yaml.safe_load(config.read_text())
    site["points"].append(CAR)
    config.write_text(yaml.safe_dump(site, allow_unicode=True))
    return config


async def test_a_car_stopped_between_floors_with_its_doors_shut_opens_an_entrapment(
        config: Path, tmp_path: Path) -> None:
    topic = "demo/elevator/b1/l1/car"
    store = tmp_path / "store.sqlite3"
    async with InProcess(config, store) as gw:
        gw.publish(topic, {"button": "none", "moving": True, "in_zone": False,
                           "doors": "closed"})
        await gw.settle()
        assert gw.gw.points["ELV-B1-L1-CAR"].state is PointState.NORMAL
        assert gw.incidents == []
        gw.publish(topic, {"button": "none", "moving": False, "in_zone": False,
                           "doors": "closed"})
        await gw.settle()
        (incident,) = gw.incidents
        assert incident.type == "elevator_entrapment"
        assert [d.point_id for d in incident.devices] == ["ELV-B1-L1-CAR"]
        gw.publish(topic, {"button": "none", "doors": "closed"})  # the car's fields missing
        await gw.settle()
        ((reason, where, detail),) = query(store, "SELECT reason, topic, detail FROM dead_letters")
        assert (reason, where) == ("condition_error", topic)
        assert "'moving' has no reading" in detail
