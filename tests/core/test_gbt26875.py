"""GB/T 26875.3 frames and ADUs: the example frames published with a public implementation
(ActorLancer/GB-T-26875.3.2011-rs, GB26875文档.md) read as they should and our confirm and deny
are byte for byte the published ones; streams cut in any pieces; hostile bytes fuzzed."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.gbt26875.adu import (
    AduError,
    Clock,
    ComponentStatus,
    DeviceOperation,
    DeviceStatus,
    Version,
    parse_adu,
)
from adapters.gbt26875.codes import COMPONENT_TYPES, name
from adapters.gbt26875.frame import (
    MAX_FRAME,
    Command,
    Frame,
    FrameReader,
    Rejected,
    Stamp,
)

CENTER_TIME = Stamp.of(bytes.fromhex("233A091A090C"))
DEVICE, CENTER = 889, 88888  # 79 03 00 00 00 00 and 38 5B 01 00 00 00

# (what the device sent, published as in the document)
SMOKE_FIRE = ("40 40 01 00 01 01 20 3A 09 1A 09 0C 79 03 00 00 00 00 38 5B 01 00 00 00 30 00 02 "
              "02 01 01 01 28 0A 00 02 00 02 00" + " 20" * 30 + " 00 02 3A 09 1A 09 0C 46 23 23")
MAIN_POWER_FAULT = ("40 40 01 00 01 01 20 3A 09 1A 09 0C 79 03 00 00 00 00 38 5B 01 00 00 00 09 00"
                    " 02 15 01 08 02 3A 09 1A 09 0C 42 23 23")
DUTY_CHECK_ANSWER = ("40 40 01 00 01 01 20 3A 09 1A 09 0C 79 03 00 00 00 00 38 5B 01 00 00 00 0A "
                     "00 02 18 01 20 01 02 3A 09 1A 09 0C 5F 23 23")
VERSION = ("40 40 01 00 01 01 20 3A 09 1A 09 0C 79 03 00 00 00 00 38 5B 01 00 00 00 04 00 02 19 "
           "01 01 01 C7 23 23")
DEVICE_CLOCK = ("40 40 01 00 01 01 20 3A 09 1A 09 0C 79 03 00 00 00 00 38 5B 01 00 00 00 08 00 02"
                " 1C 01 02 3A 09 1A 09 0C 40 23 23")
CENTER_READS_STATUS = ("40 40 01 00 01 01 20 3A 09 1A 09 0C 38 5B 01 00 00 00 79 03 00 00 00 00 03 "
                       "00 04 51 01 00 FE 23 23")
CONFIRM = ("40 40 01 00 01 01 23 3A 09 1A 09 0C 38 5B 01 00 00 00 79 03 00 00 00 00 00 00 03 AB "
           "23 23")
DENY = "40 40 01 00 01 01 23 3A 09 1A 09 0C 38 5B 01 00 00 00 79 03 00 00 00 00 00 00 06 AE 23 23"
UPLOADS = [SMOKE_FIRE, MAIN_POWER_FAULT, DUTY_CHECK_ANSWER, VERSION, DEVICE_CLOCK]


def frame_of(text: str) -> Frame:
    (item,) = FrameReader().feed(bytes.fromhex(text))
    assert isinstance(item, Frame), item
    return item


@pytest.mark.parametrize("text", [*UPLOADS, CENTER_READS_STATUS, CONFIRM, DENY])
def test_every_published_frame_reads_and_encodes_back_to_the_same_bytes(text: str) -> None:
    frame = frame_of(text)
    assert frame.encode() == bytes.fromhex(text)


@pytest.mark.parametrize("text", UPLOADS)
def test_our_confirm_and_deny_are_the_published_ones(text: str) -> None:
    frame = frame_of(text)
    assert (frame.source, frame.destination, frame.command) == (DEVICE, CENTER, Command.SEND)
    assert frame.answer(Command.CONFIRM, CENTER_TIME).encode() == bytes.fromhex(CONFIRM)
    assert frame.answer(Command.DENY, CENTER_TIME).encode() == bytes.fromhex(DENY)


def test_a_smoke_detector_in_fire_on_zone_10_point_2() -> None:
    adu = parse_adu(frame_of(SMOKE_FIRE).adu)
    assert adu is not None
    assert adu.type == 2
    (component,) = adu.objects
    assert isinstance(component, ComponentStatus)
    assert (component.system_type, component.system_address, component.component_type) == (1, 1, 40)
    assert (component.zone, component.point, component.address32) == (10, 2, 0x2000A)
    assert component.flags == {"fire"}  # bit 0 clear: the panel is in test... as published
    assert str(component.at) == "2012-09-26 09:58:02"
    assert name(COMPONENT_TYPES, 40) == "感烟火灾探测器 (40)"
    assert name(COMPONENT_TYPES, 200, "en") == "code 200 (user-defined)"


def test_the_devices_own_status_operations_version_and_clock() -> None:
    (status,) = parse_adu(frame_of(MAIN_POWER_FAULT).adu).objects  # type: ignore[union-attr]
    assert isinstance(status, DeviceStatus)
    assert status.flags == {"main_power_fault"}
    (op,) = parse_adu(frame_of(DUTY_CHECK_ANSWER).adu).objects  # type: ignore[union-attr]
    assert isinstance(op, DeviceOperation)
    assert (op.flags, op.operator) == ({"duty_check_answer"}, 1)
    (version,) = parse_adu(frame_of(VERSION).adu).objects  # type: ignore[union-attr]
    assert version == Version(1, 1)
    (clock,) = parse_adu(frame_of(DEVICE_CLOCK).adu).objects  # type: ignore[union-attr]
    assert isinstance(clock, Clock)
    assert clock.at.valid


def test_a_heartbeat_has_no_adu() -> None:
    beat = Frame(7, (1, 0), CENTER_TIME, DEVICE, CENTER, Command.SEND)
    assert parse_adu(frame_of(beat.encode().hex()).adu) is None


def component_frame(serial: int, text: bytes, status: int = 0x0003) -> Frame:
    body = (bytes((1, 1, 40)) + (3).to_bytes(2, "little") + (45).to_bytes(2, "little")
            + status.to_bytes(2, "little") + text.ljust(31, b"\0") + CENTER_TIME.to_bytes())
    return Frame(serial, (1, 0), CENTER_TIME, DEVICE, CENTER, Command.SEND,
                 bytes((2, 1)) + body)


def test_the_panels_description_is_gb18030_and_may_hold_the_end_marker() -> None:
    frame = component_frame(3, "3号楼5层##烟感".encode("gb18030"))
    (item,) = FrameReader().feed(frame.encode())
    assert isinstance(item, Frame)
    (component,) = parse_adu(item.adu).objects  # type: ignore[union-attr]
    assert isinstance(component, ComponentStatus)
    assert component.description == "3号楼5层##烟感"
    assert (component.zone, component.point, component.flags) == (3, 45, {"normal", "fire"})


def test_several_frames_in_one_segment_and_one_frame_in_many() -> None:
    frames = [component_frame(n, b"SD") for n in range(5)]
    stream = b"".join(f.encode() for f in frames)
    assert FrameReader().feed(stream) == frames
    reader = FrameReader()
    got = [item for byte in stream for item in reader.feed(bytes((byte,)))]
    assert got == frames
    assert reader.buffered == 0


def test_a_bad_checksum_is_refused_with_the_header_a_deny_needs() -> None:
    raw = bytearray(bytes.fromhex(SMOKE_FIRE))
    raw[-3] ^= 0xFF
    good = bytes.fromhex(VERSION)
    items = FrameReader().feed(bytes(raw) + good)
    assert isinstance(items[0], Rejected)
    assert "checksum" in items[0].reason
    header = items[0].header
    assert header is not None
    assert (header.serial, header.source) == (1, DEVICE)
    assert header.answer(Command.DENY, CENTER_TIME).encode() == bytes.fromhex(DENY)
    # the reader resynchronised after the bad frame's start marker: the rest of it is noise,
    # and the next frame is not lost
    assert [type(i) for i in items] == [Rejected, Rejected, Frame]
    assert items[-1] == frame_of(VERSION)


def test_a_length_over_the_limit_is_refused_at_once_and_the_stream_goes_on() -> None:
    raw = bytearray(bytes.fromhex(VERSION))
    raw[24:26] = (0xFFFF).to_bytes(2, "little")
    reader = FrameReader()
    items = reader.feed(bytes(raw[:27]))  # only the header: no waiting for 65 kB
    assert isinstance(items[0], Rejected)
    assert "over the limit of 1024" in items[0].reason
    assert reader.buffered < 27
    assert reader.feed(bytes(raw[27:]) + bytes.fromhex(VERSION))[-1] == frame_of(VERSION)


def test_another_vendors_layout_is_refused_not_misread() -> None:
    raw = bytearray(bytes.fromhex(VERSION))
    raw[4] = 0x02  # main version 2
    (item, *_) = FrameReader().feed(bytes(raw))
    assert isinstance(item, Rejected)
    assert "not GB/T 26875.3-2011" in item.reason


def test_unknown_commands_and_noise_are_refused() -> None:
    odd = Frame(9, (1, 0), CENTER_TIME, DEVICE, CENTER, 7)
    items = FrameReader().feed(b"\x00junk" + odd.encode())
    assert [type(i) for i in items] == [Rejected, Rejected]
    assert "outside any frame" in items[0].reason
    assert "unknown command 7" in items[1].reason


def test_an_adu_whose_count_does_not_fit_is_refused_whole() -> None:
    with pytest.raises(AduError, match="type 2 says 2 objects of 46 bytes"):
        parse_adu(component_frame(1, b"x").adu[:1] + b"\x02" + component_frame(1, b"x").adu[2:])


# ----------------------------------------------------------------------------- fuzzing


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_random_bytes_in_random_pieces_never_crash_nor_pile_up(pieces: list[bytes]) -> None:
    reader = FrameReader()
    stream = b"".join(pieces)
    for piece in pieces:
        for item in reader.feed(piece):
            assert isinstance(item, Frame | Rejected)
            if isinstance(item, Frame):
                assert item.encode() in stream
        assert reader.buffered <= MAX_FRAME



@given(st.sampled_from(UPLOADS), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)),
                                          min_size=1, max_size=4), st.integers(1, 64))
def test_mutated_frames_give_a_frame_or_a_reason_and_the_next_frame_survives(
        text: str, flips: list[tuple[int, int]], chunk: int) -> None:
    raw = bytearray(bytes.fromhex(text))
    for at, value in flips:
        raw[at % len(raw)] = value
    after = bytes.fromhex(VERSION)
    stream = bytes(raw) + after
    reader = FrameReader()
    items = [i for n in range(0, len(stream), chunk) for i in reader.feed(stream[n:n + chunk])]
    for item in items:
        if isinstance(item, Frame):
            with contextlib.suppress(AduError):
                parse_adu(item.adu)
        else:
            assert item.reason
    # a corrupted length may leave the reader waiting for bytes that never come: once the
    # connection is quiet it gives up on that frame, and the frame behind it arrives
    while reader.buffered:
        items += reader.give_up()
    assert frame_of(VERSION) in items


def test_a_frame_left_incomplete_is_given_up_and_what_follows_is_read() -> None:
    raw = bytearray(bytes.fromhex(VERSION))
    raw[24] = 60  # says 60 bytes of ADU: the reader waits for more than will come
    reader = FrameReader()
    assert reader.feed(bytes(raw) + bytes.fromhex(VERSION)) == []
    items = reader.give_up()
    assert isinstance(items[0], Rejected)
    assert "incomplete frame" in items[0].reason
    assert items[-1] == frame_of(VERSION)
    assert reader.buffered == 0
