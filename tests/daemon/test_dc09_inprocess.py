"""What a SIA DC-09 panel's events become, in-process (the receiver's items put in by a fake
adapter): an account's own meaning of its codes, SIA codes, an account gone silent (one
incident for its link) and back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from adapters.dc09.message import message, parse
from adapters.dc09.receiver import AccountLink, ReceivedMessage
from simulators.sites import DC09_ACCOUNT, dc09_demo
from tests.support.inprocess import InProcess
from tests.support.processes import free_port, query

pytestmark = pytest.mark.anyio


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = dc09_demo(tmp_path / "site", free_port(), link_test="5m")
    site = yaml.safe_load(path.read_text())
    # this panel sends 150 for its water sensors' leaks and 381 for a sensor it lost
    site["receivers"]["dc09"][0]["accounts"][0]["codes"] = {150: "alarm",
                                                            381: "trouble:sensor_fault"}
    path.write_text(yaml.safe_dump(site, allow_unicode=True))
    return path


def event(gw: InProcess, kind: str, seq: int, data: str) -> None:
    raw = message(kind, seq, DC09_ACCOUNT, f"#{DC09_ACCOUNT}|{data}")
    msg = parse(raw, {DC09_ACCOUNT: None}, datetime.now(UTC))
    gw.adapters["alarm-receiver"].put(ReceivedMessage("alarm-receiver", "udp:10.0.0.7:9000",
                                                      msg, raw, gw.now, seq))


def rows(store: Path, point: str) -> list[tuple[str, str]]:
    return query(store, "SELECT state, COALESCE(condition, '') FROM signals WHERE point_id = ? "
                 "ORDER BY id", point)


async def test_an_accounts_own_codes_and_sia_codes(config: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    async with InProcess(config, store) as gw:
        event(gw, "ADM-CID", 1, "1150 01 002")  # by the account's table: an alarm
        event(gw, "ADM-CID", 2, "1381 01 001")  # a trouble with its own condition
        event(gw, "SIA-DCS", 3, "Nri1/FA003")  # the call point, by SIA code
        event(gw, "SIA-DCS", 4, "Nri1/FH003")  # and its restore
        await gw.settle()
        assert rows(store, "CP-Z2") == [("alarm", "")]
        assert rows(store, "CP-Z1") == [("normal", ""), ("trouble", "sensor_fault")]
        assert rows(store, "CP-Z3") == [("alarm", ""), ("normal", "")]
        assert {i.type for i in gw.incidents} >= {"water_leak", "fire"}


async def test_a_silent_account_is_one_incident_and_comes_back(config: Path,
                                                               tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    async with InProcess(config, store) as gw:
        receiver = gw.adapters["alarm-receiver"]
        receiver.put(AccountLink("alarm-receiver", DC09_ACCOUNT, False, gw.now, 320.0))
        await gw.settle()
        offline = query(store, "SELECT point_id FROM signals WHERE state = 'offline'")
        assert sorted(p for (p,) in offline) == ["CP-PANEL", "CP-Z1", "CP-Z2", "CP-Z3"]
        assert [i.type for i in gw.incidents] == ["device_fault"]
        gw.now += 60
        receiver.put(AccountLink("alarm-receiver", DC09_ACCOUNT, True, gw.now))
        await gw.settle()
        back = query(store, "SELECT count(*) FROM signals WHERE value = '\"online\"'")[0][0]
        assert back == 4
