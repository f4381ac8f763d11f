"""Contact ID reports from an MQTT bridge, in-process: one topic fans out to the zones' points,
the panel's own point takes zone 000, unmapped zones and unknown codes; bad reports are dead
letters with their reason. What a fire panel really sends (fire, smoke, pull station,
sprinkler flow, gas, water leakage, troubles, supervisory, bypass, tests) reaches operators."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.points.contact_id import checksum_digit
from simulators.sites import mqtt_only_demo
from tests.support.inprocess import InProcess
from tests.support.processes import query

pytestmark = pytest.mark.anyio

TOPIC = "demo/panel/b1/cid"
ZONES = {1: ("smoke_detector", "3"), 2: ("manual_call_point", "3"), 3: ("gas_detector", "B1"),
         4: ("water_leak", "B2"), 5: ("sprinkler_flow", "B1")}


def cid(qualifier: int, code: int, zone: int, *, account: str = "1234",
        partition: int = 1) -> bytes:
    first = f"{account}18{qualifier}{code:03d}{partition:02d}{zone:03d}"
    return (first + checksum_digit(first)).encode()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = mqtt_only_demo(tmp_path / "site")
    site = yaml.safe_load(path.read_text())
    site["points"].append({
        "id": "B1-FACP", "kind": "fire_panel", "name": {"zh": "1号楼消防主机", "en": "B1 panel"},
        "location": {"building": "1"},
        "mqtt": {"topic": TOPIC, "decoder": "contact_id", "account": "1234"}})
    for zone, (kind, floor) in ZONES.items():
        site["points"].append({
            "id": f"B1-CID-Z{zone}", "kind": kind, "location": {"building": "1", "floor": floor},
            "mqtt": {"topic": TOPIC, "decoder": "contact_id", "account": "1234", "zone": zone}})
    path.write_text(yaml.safe_dump(site, allow_unicode=True))
    return path


def states(store: Path, point: str) -> list[tuple[str, str]]:
    return query(store, "SELECT state, COALESCE(condition, '') FROM signals WHERE point_id = ? "
                 "ORDER BY id", point)


async def test_every_kind_of_fire_panel_report_reaches_its_point(config: Path,
                                                                  tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    async with InProcess(config, store) as gw:
        for report in (cid(1, 111, 1), cid(1, 115, 2), cid(1, 151, 3), cid(1, 154, 4),
                       cid(1, 113, 5), cid(3, 111, 1), cid(1, 373, 1), cid(3, 373, 1),
                       cid(1, 200, 5), cid(1, 570, 2), cid(1, 601, 4), cid(3, 601, 4),
                       cid(1, 301, 0)):
            gw.publish(TOPIC, report)
        await gw.settle()
        assert states(store, "B1-CID-Z1") == [("alarm", ""), ("normal", ""),
                                               ("trouble", "fault"), ("normal", "fault")]
        assert states(store, "B1-CID-Z2") == [("alarm", ""), ("trouble", "disabled")]
        assert states(store, "B1-CID-Z3") == [("alarm", "")]
        assert states(store, "B1-CID-Z4") == [("alarm", ""), ("test", ""), ("normal", "")]
        assert states(store, "B1-CID-Z5") == [("alarm", ""), ("trouble", "supervisory")]
        assert states(store, "B1-FACP") == [("normal", ""), ("trouble", "main_power_fault")]
        types = sorted({i.type for i in gw.incidents})
        assert {"fire", "gas_leak", "water_leak"} <= set(types)
        assert query(store, "SELECT count(*) FROM dead_letters")[0][0] == 0


async def test_unmapped_zones_and_unknown_codes_go_to_the_panel_never_dropped(
        config: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    async with InProcess(config, store) as gw:
        gw.publish(TOPIC, cid(1, 110, 42))  # a fire in a zone no one mapped
        gw.publish(TOPIC, cid(1, 999, 7))  # a code in no table
        await gw.settle()
        rows = query(store, "SELECT state, device, COALESCE(condition, '') FROM signals "
                     "WHERE point_id = 'B1-FACP' ORDER BY id")
        assert ("alarm", "zone 042", "") in rows
        assert ("trouble", "zone 007", "unknown_event_999") in rows
        assert [i.type for i in gw.incidents if i.type == "fire"] == ["fire"]


async def test_bad_reports_are_dead_letters_naming_why(config: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    async with InProcess(config, store) as gw:
        good = cid(1, 110, 1)
        gw.publish(TOPIC, good[:-1] + (b"1" if good[-1:] != b"1" else b"2"))
        gw.publish(TOPIC, b"12341811001")
        gw.publish(TOPIC, cid(1, 110, 1, account="9999"))
        gw.publish(TOPIC, good)  # and the next good one is taken
        await gw.settle()
        reasons = [r for (r,) in query(store, "SELECT reason FROM dead_letters ORDER BY id")]
        assert reasons == ["bad_checksum", "bad_length", "unknown_account"]
        assert states(store, "B1-CID-Z1") == [("alarm", "")]
