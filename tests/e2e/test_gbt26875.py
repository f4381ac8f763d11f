"""The GB/T 26875.3 listener end to end: the gateway as its own process, a transmission device
simulated as a real TCP peer (simulators.gbt26875_device), building 2's panel mapped from a CSV
table (simulators.sites.panel_demo). Confirms only after the commit; retransmissions stored
once, across a SIGKILL too; malformed frames denied and kept; a silent device offline."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from adapters.gbt26875.frame import Command
from simulators.gbt26875_device import FIRE, TransmissionDevice
from simulators.sites import PANEL_CENTER, PANEL_DEVICE, panel_demo
from tests.support.processes import Broker, Daemon, free_port, query, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def daemon(tmp_path: Path, broker: Broker, port: int) -> Iterator[Daemon]:
    d = Daemon(panel_demo(tmp_path, port, idle_timeout="4s"), tmp_path / "store.sqlite3",
               broker.url, tmp_path / "daemon.log")
    yield d
    if d.process is not None and d.process.poll() is None:
        d.terminate()


@pytest.fixture
def device(port: int) -> Callable[..., TransmissionDevice]:
    made: list[TransmissionDevice] = []

    def make(**options: float) -> TransmissionDevice:
        dev = TransmissionDevice("127.0.0.1", port, PANEL_DEVICE, PANEL_CENTER, **options)
        made.append(dev.open())
        return dev

    yield make  # type: ignore[misc]
    for dev in made:
        dev.close()


def signals(daemon: Daemon, point: str) -> list[tuple[str, str, str]]:
    return query(daemon.store, "SELECT state, device, source FROM signals WHERE point_id = ? "
                 "ORDER BY id", point)


def test_a_fire_on_the_panel_opens_the_fire_incident_and_is_confirmed_once_stored(
        daemon: Daemon, device: Callable[..., TransmissionDevice]) -> None:
    daemon.start()
    dev = device()
    frame = dev.component(1, 3, FIRE, description="2号楼3层烟感")
    wait_until(lambda: dev.confirmed(frame), what="the confirm")
    # the confirm came after the commit: the signal is in the store by then
    assert signals(daemon, "B2-FACP-1-003")[0][0] == "alarm"
    wait_until(lambda: query(daemon.store, "SELECT type, location FROM incidents") != [],
               what="an incident")
    ((kind, location),) = query(daemon.store, "SELECT type, location FROM incidents")
    assert kind == "fire"
    assert "B2" in str(location)
    confirm = next(a for a in dev.answers if a.serial == frame.serial)
    assert (confirm.command, confirm.source, confirm.destination) == (
        Command.CONFIRM, PANEL_CENTER, PANEL_DEVICE)
    restore = dev.component(1, 3)
    wait_until(lambda: dev.confirmed(restore), what="the restore's confirm")
    assert [s[0] for s in signals(daemon, "B2-FACP-1-003")] == ["alarm", "normal"]


def test_a_component_no_one_mapped_still_opens_its_incident_named_by_the_panel(
        daemon: Daemon, device: Callable[..., TransmissionDevice]) -> None:
    daemon.start()
    dev = device()
    frame = dev.component(7, 45, FIRE, description="地下室配电间烟感")
    wait_until(lambda: dev.confirmed(frame), what="the confirm")
    ((state, name, source),) = signals(daemon, "B2-FACP-UNMAPPED")
    assert state == "alarm"
    assert name == "7-045 地下室配电间烟感"
    assert source == f"gbt26875:fire-center/{PANEL_DEVICE}"
    wait_until(lambda: query(daemon.store, "SELECT type FROM incidents") == [("fire",)],
               what="the fire incident")


def test_a_malformed_frame_is_denied_kept_and_the_next_one_is_taken(
        daemon: Daemon, device: Callable[..., TransmissionDevice]) -> None:
    daemon.start()
    dev = device()
    bad = dev._frame(b"\x02\x01" + b"\x00" * 46)  # noqa: SLF001 - a frame to corrupt
    raw = bytearray(bad.encode())
    raw[-3] ^= 0x5A  # its checksum
    dev.send_raw(bytes(raw))
    good = dev.component(1, 5, FIRE)
    wait_until(lambda: dev.confirmed(good), what="the next frame's confirm")
    wait_until(lambda: any(a.serial == bad.serial and a.command == Command.DENY
                           for a in dev.answers), what="the deny")
    wait_until(lambda: query(daemon.store, "SELECT reason, detail FROM dead_letters") != [],
               what="the dead letter")
    reasons = query(daemon.store, "SELECT reason, detail FROM dead_letters")
    assert reasons[0][0] == "bad_frame"
    assert "checksum" in reasons[0][1]
    assert daemon.process is not None
    assert daemon.process.poll() is None


def test_frames_killed_between_receipt_and_confirm_are_sent_again_and_stored_once(
        daemon: Daemon, device: Callable[..., TransmissionDevice]) -> None:
    daemon.start()
    dev = device(retry_after=1.0, retries=30)
    total = 3000

    def send_all() -> None:
        for start in range(0, total, 20):  # 20 frames a segment, each a new alarm
            dev.send_many([_fire(zone=9, point=n) for n in range(start, start + 20)])
            time.sleep(0.01)

    sender = threading.Thread(target=send_all)
    sender.start()
    wait_until(lambda: len(signals(daemon, "B2-FACP-UNMAPPED")) >= 300, what="first frames")
    daemon.kill()
    sender.join(30)
    stored_at_kill = len(signals(daemon, "B2-FACP-UNMAPPED"))
    assert stored_at_kill < total, "the kill came too late to test anything"
    daemon.start()
    dev.reconnect()
    wait_until(lambda: not dev.unconfirmed(), timeout=60, what="every frame confirmed")
    time.sleep(1.5)  # a retransmission stored twice would show now
    devices = [row[1] for row in signals(daemon, "B2-FACP-UNMAPPED")]
    assert len(devices) == total
    assert sorted(devices) == sorted(f"9-{n:03d}" for n in range(total))
    assert len(query(daemon.store, "SELECT id FROM ledgers WHERE adapter = 'fire-center'")) \
        <= 8192


def _fire(zone: int, point: int) -> bytes:
    from simulators.gbt26875_device import component_adu, status_word
    return component_adu(zone, point, status_word(FIRE))


def test_a_silent_device_takes_its_panel_offline_and_its_heartbeat_back(
        daemon: Daemon, device: Callable[..., TransmissionDevice]) -> None:
    daemon.start()
    dev = device(heartbeat=1.0)
    first = dev.component(1, 2)
    wait_until(lambda: dev.confirmed(first), what="the confirm")
    time.sleep(5)  # heartbeats keep it online past the 4 s idle timeout
    assert panel_states(daemon) == []
    dev.silent = True
    wait_until(lambda: panel_states(daemon) == ["offline"], timeout=15,
               what="the panel offline")
    # one incident for the link, not one a component
    assert query(daemon.store, "SELECT type FROM incidents") == [("device_fault",)]
    dev.silent = False  # its heartbeats (on a new connection: the idle one was closed)
    wait_until(lambda: panel_states(daemon) == ["offline", "online"], timeout=15,
               what="the panel back online")


def panel_states(daemon: Daemon) -> list[str]:
    """What the link did to the panel's own point: offline, and online again."""
    rows = query(daemon.store, "SELECT state, value FROM signals WHERE point_id = 'B2-FACP' "
                 "AND source LIKE 'gbt26875:%' ORDER BY id")
    return ["offline" if state == "offline" else json.loads(value) for state, value in rows
            if state == "offline" or json.loads(value) == "online"]


def test_a_panel_reset_restores_its_components_in_alarm(
        daemon: Daemon, device: Callable[..., TransmissionDevice]) -> None:
    daemon.start()
    dev = device()
    dev.component(1, 4, FIRE)
    dev.component(8, 21, FIRE, description="未映射烟感")
    dev.wait_confirmed()
    dev.reset()
    dev.wait_confirmed()
    wait_until(lambda: [s[0] for s in signals(daemon, "B2-FACP-1-004")] == ["alarm", "normal"],
               what="the mapped component restored")
    assert [s[:2] for s in signals(daemon, "B2-FACP-UNMAPPED")] == [
        ("alarm", "8-021 未映射烟感"), ("normal", "8-021 未映射烟感")]
    assert daemon.events("panel_reset")[0]["restored"] == 2


def test_a_slow_or_half_open_peer_blocks_no_one_and_the_limit_holds(
        tmp_path: Path, broker: Broker, port: int,
        device: Callable[..., TransmissionDevice]) -> None:
    config = panel_demo(tmp_path, port, idle_timeout="30s")
    site = yaml.safe_load(config.read_text())
    site["receivers"]["gbt26875"][0]["max_connections"] = 3
    config.write_text(yaml.safe_dump(site, allow_unicode=True))
    daemon = Daemon(config, tmp_path / "store.sqlite3", broker.url, tmp_path / "daemon.log")
    daemon.start()
    try:
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"@@\x01\x00")  # a frame begun, and then nothing
        half_open = socket.create_connection(("127.0.0.1", port))  # connects, says nothing
        dev = device()
        frame = dev.component(1, 6, FIRE)
        wait_until(lambda: dev.confirmed(frame), what="the confirm despite the slow peers")
        extra = socket.create_connection(("127.0.0.1", port))  # one over the limit
        extra.settimeout(5)
        assert extra.recv(10) == b""  # closed at once
        wait_until(lambda: bool(daemon.events("receiver_connection_refused")),
                   what="the refusal logged")
        for s in (slow, half_open, extra):
            s.close()
    finally:
        daemon.terminate()
