"""SIA DC-09 messages: what an independent transmitter (dc09-spt) sends is read, and it takes
our answers; every way a message can be wrong gets the answer the standard gives; encryption
both ways; streams cut in any pieces; SIA codes read as their Contact ID events; fuzzing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dc09_spt.msg.dc03_msg import dc03_msg
from dc09_spt.msg.dc05_msg import dc05_msg
from dc09_spt.msg.dc09_msg import dc09_msg
from hypothesis import given
from hypothesis import strategies as st

from adapters.dc09.message import Dc09Error, Splitter, answer, check_frame, message, parse
from gateway.points.contact_id import ContactId
from gateway.points.sia_codes import adm_cid_event, sia_events

NOW = datetime.now(UTC)
KEY = bytes(range(16))
ACCOUNTS: dict[str, bytes | None] = {"1234": None, "9876": KEY}


def spt_block(nr: int, kind: str = "NULL", data: str = "]") -> bytes:
    return dc09_msg("1234").dc09block(nr, kind, data).encode("latin-1")


def reason(raw: bytes, accounts: dict[str, bytes | None] = ACCOUNTS,
           now: datetime = NOW) -> tuple[str, str | None]:
    with pytest.raises(Dc09Error) as caught:
        parse(raw, accounts, now)
    return caught.value.reason, caught.value.answer


def test_what_dc09_spt_sends_is_read_and_our_ack_is_taken() -> None:
    cid = spt_block(5, "ADM-CID", dc05_msg.dc05event("1234", {"code": "110", "zone": "15",
                                                              "q": "1", "area": "1"}))
    msg = parse(cid, ACCOUNTS, NOW)
    assert (msg.header.id, msg.header.seq, msg.account) == ("ADM-CID", "0005", "1234")
    assert adm_cid_event(msg.account, msg.data) == ContactId("1234", "18", "new", 110, 1, 15)
    ack = answer("ACK", msg.header, NOW)
    assert dc09_msg("1234").dc09answer(5, ack.decode())[0] == "ACK"
    sia = parse(spt_block(6, "SIA-DCS", dc03_msg.dc03event("1234", {"code": "FA", "zone": "3"})),
                ACCOUNTS, NOW)
    assert sia_events(sia.account, sia.data) == [ContactId("1234", "18", "new", 110, 0, 3)]
    assert parse(spt_block(7), ACCOUNTS, NOW).header.id == "NULL"


def test_sia_codes_read_as_their_events() -> None:
    events = sia_events("1234", "#1234|Nri2/FA015/WR002/XX003")
    assert [(e.code, e.qualifier, e.partition, e.zone) for e in events] == [
        (110, "new", 2, 15), (154, "restore", 2, 2), (999, "new", 2, 3)]
    with pytest.raises(ValueError, match="not a SIA event"):
        sia_events("1234", "#1234|N***")


def test_what_is_wrong_gets_the_answer_the_standard_gives() -> None:
    good = message("ADM-CID", 1, "1234", "#1234|1110 01 001")
    bad_crc = good[:1] + b"0000" + good[5:]
    assert reason(bad_crc) == ("bad_crc", None)  # no answer: the panel sends it again
    assert reason(good[:-2] + b"\r") == ("bad_length", None)
    assert reason(message("ADM-CID", 1, "4444", "#4444|1110 01 001")) == ("unknown_account",
                                                                          "DUH")
    assert reason(message("ADM-CID", 1, "9876", "#9876|1110 01 001")) == ("unencrypted", "DUH")
    late = message("ADM-CID", 1, "1234", "#1234|1110 01 001", now=NOW - timedelta(minutes=2))
    early = message("ADM-CID", 1, "1234", "#1234|1110 01 001", now=NOW + timedelta(minutes=2))
    assert reason(late) == ("timestamp_window", "NAK")
    assert reason(early) == ("timestamp_window", "NAK")
    nak = check_frame(answer("NAK", None, NOW))
    assert nak.startswith('"NAK"0000R0L0A0[]_')


def test_encrypted_both_ways_and_a_wrong_key_is_duh() -> None:
    raw = message("ADM-CID", 12, "9876", "#9876|3110 01 004", key=KEY, now=NOW)
    msg = parse(raw, ACCOUNTS, NOW)
    assert (msg.header.encrypted, msg.data, msg.timestamp is not None) == (
        True, "#9876|3110 01 004", True)
    ack = check_frame(answer("ACK", msg.header, NOW, KEY))
    assert ack.startswith('"*ACK"0012')
    assert reason(raw, {"9876": bytes(16)}) == ("bad_encryption", "DUH")


def test_several_messages_in_one_segment_and_one_in_many_pieces() -> None:
    frames = [message("ADM-CID", n, "1234", f"#1234|1110 01 {n:03d}") for n in range(1, 6)]
    stream = b"".join(frames)
    assert Splitter().feed(stream) == frames
    splitter = Splitter()
    assert [p for b in stream for p in splitter.feed(bytes((b,)))] == frames
    noisy = Splitter().feed(b"garbage" + frames[0])
    assert isinstance(noisy[0], Dc09Error)
    assert noisy[1:] == frames[:1]
    stalled = Splitter()
    assert stalled.feed(frames[0][:20]) == []
    assert isinstance(stalled.give_up()[0], Dc09Error)


@given(st.lists(st.binary(max_size=200), max_size=12))
def test_random_bytes_never_crash_and_never_pile_up(pieces: list[bytes]) -> None:
    splitter = Splitter()
    for piece in pieces:
        for item in splitter.feed(piece):
            if isinstance(item, bytes):
                said: str | None = "ACK"
                try:
                    parse(item, ACCOUNTS, NOW)
                except Dc09Error as exc:
                    said = exc.answer
                assert said in (None, "ACK", "NAK", "DUH")
        assert splitter.buffered <= 10 + 4095


@given(st.integers(0, 200), st.integers(0, 255))
def test_a_mutated_message_is_read_or_refused_with_a_reason(at: int, value: int) -> None:
    raw = bytearray(message("SIA-DCS", 3, "9876", "#9876|Nri1/FA015", key=KEY, now=NOW))
    raw[at % len(raw)] = value
    why = ""
    try:
        msg = parse(bytes(raw), ACCOUNTS, NOW)
    except Dc09Error as exc:
        why = exc.reason
    else:
        assert msg.account == "9876"
    assert why == "" or why.isidentifier()
