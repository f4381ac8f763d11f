"""What a GB/T 26875.3 panel's reports become, in-process (the listener's items put in by a
fake adapter): status bits as states, conditions and feedback values, the panel's and the
device's own status, operations on record, reports of panels no one configured and ADUs that
cannot be read kept as dead letters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.gbt26875.frame import Command, Frame, Stamp
from adapters.gbt26875.receiver import DeviceLink, ReceivedFrame, frame_key
from simulators.gbt26875_device import (
    DISABLED,
    FAULT,
    FEEDBACK,
    FIRE,
    STARTED,
    SUPERVISORY,
    component_adu,
    device_status_adu,
    operation_adu,
    status_word,
    system_adu,
)
from simulators.sites import PANEL_CENTER, PANEL_DEVICE, panel_demo
from tests.support.inprocess import InProcess
from tests.support.processes import free_port, query

pytestmark = pytest.mark.anyio
T = Stamp(0, 0, 8, 15, 1, 27)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return panel_demo(tmp_path / "site", free_port())


def report(gw: InProcess, adu: bytes, *, device: int = PANEL_DEVICE, serial: int = 1) -> None:
    frame = Frame(serial, (1, 0), T, device, PANEL_CENTER, Command.SEND, adu)
    gw.adapters["fire-center"].put(ReceivedFrame("fire-center", "10.0.0.9:5000", frame, gw.now,
                                                 frame_key(frame)))


def rows(store: Path, point: str) -> list[tuple[str, str, str]]:
    return query(store, "SELECT state, COALESCE(condition, ''), value FROM signals "
                 "WHERE point_id = ? ORDER BY id", point)


async def test_status_bits_become_states_conditions_and_feedback(config: Path,
                                                                 tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    async with InProcess(config, store) as gw:
        for serial, bits in enumerate([(FAULT,), (), (DISABLED,), (SUPERVISORY,),
                                       (STARTED, FEEDBACK)], start=1):
            report(gw, component_adu(1, 7, status_word(*bits)), serial=serial)
        report(gw, component_adu(1, 8, status_word(test=True)), serial=9)
        await gw.settle()
        states = rows(store, "B2-FACP-1-007")
        assert [(s, c) for s, c, _ in states] == [
            ("normal", ""), ("trouble", "fault"), ("normal", "fault"), ("trouble", "disabled"),
            ("normal", "disabled"), ("trouble", "supervisory"), ("normal", "supervisory")]
        (point_value,), = query(store, "SELECT value FROM points WHERE id = 'B2-FACP-1-007'")
        assert json.loads(point_value) is True  # feedback: what an actuator can wait for
        assert rows(store, "B2-FACP-1-008")[0][0] == "test"


async def test_the_panels_and_the_devices_own_status_and_operations_on_record(
        config: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    async with InProcess(config, store) as gw:
        report(gw, system_adu(status_word(FIRE)), serial=1)
        report(gw, device_status_adu(status_word(3)), serial=2)  # main power fault
        report(gw, component_adu(2, 4, status_word(FIRE)), serial=3)
        report(gw, operation_adu(0x01 | 0x02, operator=7), serial=4)  # reset, silence
        await gw.settle()
        panel = rows(store, "B2-FACP")
        assert ("alarm", "", None) in panel
        assert ("trouble", "main_power_fault", '"main_power_fault"') in panel
        assert [s for s, _, _ in rows(store, "B2-FACP-2-004")] == ["alarm", "normal"]
        ((data,),) = query(store, "SELECT data FROM events WHERE kind = 'panel_operation'")
        assert json.loads(data) == {"operations": ["reset", "silence"], "operator": "7",
                                    "at": "panel"}


async def test_an_unconfigured_panel_and_an_unreadable_adu_are_dead_letters(
        config: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    async with InProcess(config, store) as gw:
        report(gw, component_adu(1, 1, status_word(FIRE), system=9), serial=1)
        report(gw, b"\x02\x02" + b"\x00" * 46, serial=2)  # says 2 objects, holds 1
        report(gw, component_adu(1, 2, status_word(FIRE)), serial=3)  # and the next is taken
        await gw.settle()
        letters = query(store, "SELECT reason, detail FROM dead_letters ORDER BY id")
        assert [r for r, _ in letters] == ["unknown_panel", "bad_adu"]
        assert "panel 1-9 is in no panels: entry" in letters[0][1]
        assert rows(store, "B2-FACP-1-002")[0][0] == "alarm"


async def test_a_silent_device_is_one_incident_for_all_its_points(config: Path,
                                                                  tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    async with InProcess(config, store) as gw:
        gw.adapters["fire-center"].put(DeviceLink("fire-center", PANEL_DEVICE, False, gw.now,
                                                  120.0))
        await gw.settle()
        offline = query(store, "SELECT count(*) FROM signals WHERE state = 'offline'")[0][0]
        assert offline == 39  # the panel's 36 components and its own 3 points
        assert [i.type for i in gw.incidents] == ["device_fault"]
