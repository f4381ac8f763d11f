"""The SIA DC-09 receiver end to end: the gateway as its own process, an independent
transmitter from PyPI (dc09-spt) over TCP and UDP, encrypted accounts, the timestamp window;
ACK only after the commit. The car park panel: simulators.sites.dc09_demo."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from Crypto.Cipher import AES
from dc09_spt import dc09_spt
from pysiaalarm import SIAAccount, SIAEvent

from adapters.dc09.message import check_frame, message
from simulators.sites import DC09_ACCOUNT, dc09_demo
from tests.support.processes import Broker, Daemon, free_port, query, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]
KEY = "0123456789ABCDEF0123456789ABCDEF"


@pytest.fixture
def port() -> int:
    return free_port()


def start(tmp_path: Path, broker: Broker, port: int, **site: str) -> Daemon:
    d = Daemon(dc09_demo(tmp_path, port, **site), tmp_path / "store.sqlite3", broker.url,
               tmp_path / "daemon.log")
    d.start()
    return d


@pytest.fixture
def stop() -> Iterator[list[Daemon]]:
    running: list[Daemon] = []
    yield running
    for d in running:
        if d.process is not None and d.process.poll() is None:
            d.terminate()


def states(daemon: Daemon, point: str) -> list[tuple[str, str]]:
    return query(daemon.store, "SELECT state, device FROM signals WHERE point_id = ? ORDER BY "
                 "id", point)


@pytest.mark.parametrize("transport", ["TCP", "UDP"])
def test_an_independent_transmitter_reports_and_is_acked_after_the_commit(
        tmp_path: Path, broker: Broker, port: int, stop: list[Daemon], transport: str) -> None:
    daemon = start(tmp_path, broker, port)
    stop.append(daemon)
    spt = dc09_spt.dc09_spt(DC09_ACCOUNT)
    spt.set_path("main", "primary", "127.0.0.1", port, type=transport)
    spt.send_msg("ADM-CID", {"code": "110", "zone": "1", "q": "1", "area": "1"})
    spt.send_msg("SIA-DCS", {"code": "WA", "zone": "2"})
    spt.send_msg("ADM-CID", {"code": "110", "zone": "9", "q": "1"})  # a zone no one mapped
    wait_until(lambda: spt.state()["msgs queued"] == 0 and not spt.state().get("send active"),
               timeout=20, what="every message ACKed")
    assert states(daemon, "CP-Z1") == [("alarm", "")]
    assert states(daemon, "CP-Z2") == [("alarm", "")]
    assert ("alarm", "zone 009") in states(daemon, "CP-PANEL")
    wait_until(lambda: {"fire", "water_leak"} <= {t for (t,) in query(
        daemon.store, "SELECT type FROM incidents")}, what="the incidents")


def send(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        return s.recv(1024)


def test_an_encrypted_account_is_answered_encrypted_and_a_clear_message_refused(
        tmp_path: Path, broker: Broker, port: int, stop: list[Daemon]) -> None:
    daemon = start(tmp_path, broker, port, key=KEY)
    stop.append(daemon)
    wait_until(lambda: _listening(port), what="the receiver")
    key = bytes.fromhex(KEY)
    # pysiaalarm reads our encrypted message (its keys are the characters themselves)
    text_key = "ABCDEF0123456789"
    ours = message("ADM-CID", 1, DC09_ACCOUNT, f"#{DC09_ACCOUNT}|1115 01 003",
                   key=text_key.encode())
    event = SIAEvent.from_line(ours.decode()[1:-1], {DC09_ACCOUNT: SIAAccount(DC09_ACCOUNT,
                                                                              text_key)})
    assert (event.valid_message, event.event_type, event.ri) == (True, "115", "003")
    reply = send(port, message("ADM-CID", 1, DC09_ACCOUNT, f"#{DC09_ACCOUNT}|1115 01 003",
                               key=key))
    body = check_frame(reply)
    assert body.startswith('"*ACK"0001')
    # the answer decrypts, with another AES implementation, to its timestamp
    cipher = AES.new(key, AES.MODE_CBC, bytes(16))
    plain = cipher.decrypt(bytes.fromhex(body.partition("[")[2])).decode("latin-1")
    assert plain.rpartition("|")[2].startswith("]_")
    assert states(daemon, "CP-Z3") == [("alarm", "")]
    refused = send(port, message("ADM-CID", 2, DC09_ACCOUNT, f"#{DC09_ACCOUNT}|1110 01 001"))
    assert check_frame(refused).startswith('"DUH"0002')
    wait_until(lambda: query(daemon.store, "SELECT reason FROM dead_letters") != [],
               what="the dead letter")
    assert query(daemon.store, "SELECT reason FROM dead_letters") == [("unencrypted",)]


def test_a_message_outside_the_timestamp_window_gets_nak_with_the_receivers_time(
        tmp_path: Path, broker: Broker, port: int, stop: list[Daemon]) -> None:
    daemon = start(tmp_path, broker, port)
    stop.append(daemon)
    wait_until(lambda: _listening(port), what="the receiver")
    late = datetime.now(UTC) - timedelta(minutes=5)
    reply = check_frame(send(port, message("ADM-CID", 3, DC09_ACCOUNT,
                                           f"#{DC09_ACCOUNT}|1110 01 001", now=late)))
    assert reply.startswith('"NAK"0000')
    stamp = datetime.strptime(reply.rpartition("_")[2], "%H:%M:%S,%m-%d-%Y").replace(tzinfo=UTC)
    assert abs((stamp - datetime.now(UTC)).total_seconds()) < 5
    time.sleep(0.5)
    assert states(daemon, "CP-Z1") == []
    assert query(daemon.store, "SELECT reason FROM dead_letters") == [("timestamp_window",)]


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_a_retransmission_is_acked_and_stored_once_across_a_restart(
        tmp_path: Path, broker: Broker, port: int, stop: list[Daemon]) -> None:
    daemon = start(tmp_path, broker, port)
    stop.append(daemon)
    wait_until(lambda: _listening(port), what="the receiver")
    first = message("ADM-CID", 41, DC09_ACCOUNT, f"#{DC09_ACCOUNT}|1111 01 001")
    assert check_frame(send(port, first)).startswith('"ACK"0041')
    # the panel did not hear the ACK and sends it again, byte for byte
    assert check_frame(send(port, first)).startswith('"ACK"0041')
    daemon.terminate()
    daemon.start()
    wait_until(lambda: _listening(port), what="the receiver again")
    assert check_frame(send(port, first)).startswith('"ACK"0041')
    time.sleep(0.5)
    assert states(daemon, "CP-Z1") == [("alarm", "")]
