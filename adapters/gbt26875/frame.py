"""GB/T 26875.3 frames: cut from a byte stream by their length field, checked, and answered.

Layout (integers little-endian)::

    @@ | serial u16 | version (main, user) | time (s, min, h, d, mon, yr-2000) | source (6)
       | destination (6) | ADU length u16 (<= 1024) | command (1) | ADU | checksum (1) | ##

The checksum is the sum, modulo 256, of every byte from the serial number to the end of the
ADU. Frames are cut by the length field and never by looking for ``##``: those bytes occur in
ADUs. A length over the limit is refused before anything is allocated for it, so a hostile peer
can make the reader hold at most one frame's worth of bytes."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from gateway.domain import site_time

START = b"@@"
END = b"##"
HEADER = 27  # start, serial, version, time, source, destination, length, command
TRAILER = 3  # checksum, end
MAX_ADU = 1024
MAX_FRAME = HEADER + MAX_ADU + TRAILER
_HEADER = struct.Struct("<2sH2B6s6s6sHB")


class Command(IntEnum):
    CONTROL = 1
    SEND = 2
    CONFIRM = 3
    REQUEST = 4
    RESPONSE = 5
    DENY = 6


def known_command(value: int) -> bool:
    """The standard's commands (1-6) and the user-defined range (128-255)."""
    return 1 <= value <= 6 or value >= 128


@dataclass(frozen=True, slots=True)
class Stamp:
    """A time as the protocol writes it: the device's local clock, two-digit year."""

    second: int
    minute: int
    hour: int
    day: int
    month: int
    year: int  # 0-99, meaning 2000-2099

    @classmethod
    def of(cls, raw: bytes) -> Stamp:
        return cls(*raw[:6])

    @classmethod
    def local(cls, at: float) -> Stamp:
        """An epoch time as the protocol writes it: the site's wall-clock time."""
        t = site_time.local(at)
        return cls(t.second % 60, t.minute, t.hour, t.day, t.month, t.year % 100)

    def to_bytes(self) -> bytes:
        return bytes((self.second, self.minute, self.hour, self.day, self.month, self.year))

    @property
    def valid(self) -> bool:
        return (self.second < 60 and self.minute < 60 and self.hour < 24
                and 1 <= self.day <= 31 and 1 <= self.month <= 12 and self.year < 100)

    def __str__(self) -> str:
        return (f"20{self.year:02d}-{self.month:02d}-{self.day:02d} "
                f"{self.hour:02d}:{self.minute:02d}:{self.second:02d}")


def address(raw: bytes) -> int:
    """A 6-byte address as the number devices and configs write it (little-endian)."""
    return int.from_bytes(raw, "little")


def address_bytes(number: int) -> bytes:
    return number.to_bytes(6, "little")


@dataclass(frozen=True, slots=True)
class Frame:
    serial: int
    version: tuple[int, int]
    sent: Stamp
    source: int
    destination: int
    command: int
    adu: bytes = b""

    def encode(self) -> bytes:
        if len(self.adu) > MAX_ADU:
            raise ValueError(f"an ADU of {len(self.adu)} bytes is over the limit of {MAX_ADU}")
        head = _HEADER.pack(START, self.serial, *self.version, self.sent.to_bytes(),
                            address_bytes(self.source), address_bytes(self.destination),
                            len(self.adu), self.command)
        body = head[2:] + self.adu
        return START + body + bytes((checksum(body),)) + END

    def answer(self, command: Command, sent: Stamp) -> Frame:
        """The center's confirm or deny of this frame: the same serial number, the addresses
        swapped, no ADU."""
        return Frame(self.serial, self.version, sent, self.destination, self.source, command)


def checksum(body: bytes) -> int:
    return sum(body) & 0xFF


@dataclass(frozen=True, slots=True)
class Rejected:
    """Bytes that are not a frame we can take, and why. ``header`` is the frame's header when it
    could be read (a deny is addressed with it); ``raw`` is what was dropped (kept as a dead
    letter), at most one frame's worth."""

    reason: str
    raw: bytes
    header: Frame | None = None


class FrameReader:
    """Feed it what the socket gives, in any pieces; it returns whole frames and rejections in
    order. It never holds more than ``MAX_FRAME`` bytes of one frame. A frame that fails its
    checks is refused and the reader resynchronises on the next start marker, so one bad frame
    costs no good one; a frame left incomplete is refused with ``give_up``."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame | Rejected]:
        self._buf += data
        out: list[Frame | Rejected] = []
        while True:
            item = self._next()
            if item is None:
                return out
            out.append(item)

    def give_up(self) -> list[Frame | Rejected]:
        """The frame begun in the buffer is not coming whole (nothing arrived for a while: a
        device sends a frame in one go): refuse it and read on from after its start marker,
        where a length field that lied may have hidden whole frames."""
        if not self._buf:
            return []
        waiting = len(self._buf)
        gone = self._drop(1, f"an incomplete frame: {waiting} bytes and no more")
        return [gone, *self.feed(b"")]

    def _next(self) -> Frame | Rejected | None:
        buf = self._buf
        start = buf.find(START)
        if start < 0:
            # keep a last "@" that may begin a start marker; the rest is noise
            noise = len(buf) - (1 if buf.endswith(b"@") else 0)
            if noise == 0:
                return None
            return self._drop(noise, "bytes outside any frame (no @@ start marker)")
        if start > 0:
            return self._drop(start, "bytes outside any frame before an @@ start marker")
        if len(buf) < HEADER:
            return None
        _, serial, main, user, sent, src, dst, length, command = _HEADER.unpack_from(buf)
        header = Frame(serial, (main, user), Stamp.of(sent), address(src), address(dst), command)
        if length > MAX_ADU:
            return self._drop(1, f"ADU length {length} is over the limit of {MAX_ADU}", header,
                              raw=bytes(buf[:HEADER]))
        if main != 1:
            return self._drop(1, f"protocol version {main}.{user}: not GB/T 26875.3-2011 (main "
                              "version 1); another vendor's @@...## layout?", header,
                              raw=bytes(buf[:HEADER]))
        total = HEADER + length + TRAILER
        if len(buf) < total:
            return None
        raw = bytes(buf[:total])
        if raw[-2:] != END:
            return self._drop(1, "no ## end marker where the length field says the frame ends",
                              header, raw=raw)
        body = raw[2:HEADER + length]
        if raw[HEADER + length] != checksum(body):
            # resynchronise after the start marker rather than trust the length: a corrupted
            # length would otherwise swallow the good frames behind it
            return self._drop(1, f"checksum {raw[HEADER + length]:#04x}, the frame sums to "
                              f"{checksum(body):#04x}", header, raw=raw)
        if not known_command(command):
            return self._cut(total, Rejected(f"unknown command {command}", raw, header))
        return self._cut(total, Frame(serial, (main, user), Stamp.of(sent), address(src),
                                      address(dst), command, bytes(raw[HEADER:HEADER + length])))

    def _drop(self, count: int, reason: str, header: Frame | None = None,
              raw: bytes | None = None) -> Rejected:
        """Drop ``count`` bytes and resynchronise on the next start marker (one byte on from a
        false start, so that ``@@@@`` still finds the frame that begins at its second ``@``)."""
        dropped = bytes(self._buf[:count]) if raw is None else raw
        del self._buf[:count]
        return Rejected(reason, dropped, header)

    def _cut(self, count: int, item: Frame | Rejected) -> Frame | Rejected:
        del self._buf[:count]
        return item
