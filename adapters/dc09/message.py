"""SIA DC-09 messages: ``LF crc(4 hex) length(4 hex) body CR``, the body being
``"ID"seq[Rrcvr]Lpref#acct[data]`` then optional ``[extended]`` blocks and ``_HH:MM:SS,MM-DD-YYYY``.

- The CRC is CRC-16/ARC (reflected 0x8005, start 0) over the body; the length is the body's.
- An encrypted message (``"*SIA-DCS"``, ``"*ADM-CID"``, ``"*NULL"``) carries, after ``[``,
  the hex of AES-CBC (zero IV; a 128, 192 or 256-bit key of the account) over
  ``padding|data]...`` ending with the timestamp, which it must have. The padding is
  pseudo-random characters other than ``|``, ``[`` and ``]``.
- Answers: ``ACK`` (echoing sequence, receiver, line and account; encrypted, with a timestamp,
  when the message was), ``NAK`` with the receiver's time when the message's timestamp is out
  of the window (never encrypted), ``DUH`` for a message well formed that cannot be processed.
  A message whose CRC or length is wrong gets no answer: the panel sends it again."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

LF, CR = 0x0A, 0x0D
MAX_BODY = 4095  # "0LLL": three hex digits of length
IDS = ("SIA-DCS", "ADM-CID", "NULL")
_HEADER = re.compile(r'"(?P<enc>\*?)(?P<id>SIA-DCS|ADM-CID|NULL)"(?P<seq>\d{4})'
                     r"(?P<rcvr>R[0-9A-F]{1,6})?(?P<line>L[0-9A-F]{1,6})?"
                     r"#(?P<acct>[0-9A-F]{3,16})\[(?P<rest>.*)$", re.S)
_TIMESTAMP = re.compile(r"_(\d{2}):(\d{2}):(\d{2}),(\d{2})-(\d{2})-(\d{4})$")
_PAD = [c for c in range(0x21, 0x7F) if chr(c) not in "|[]"]


def crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


class Dc09Error(Exception):
    """A message that cannot be taken: ``reason`` (a word), ``detail``, and the answer it gets
    (``NAK``, ``DUH``, or None for none), with what of its header could be read."""

    def __init__(self, reason: str, detail: str, answer: str | None = None,
                 header: Header | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.answer, self.header = reason, detail, answer, header


@dataclass(frozen=True, slots=True)
class Header:
    id: str
    encrypted: bool
    seq: str
    receiver: str  # "R..." or ""
    line: str  # "L..." or ""
    account: str


@dataclass(frozen=True, slots=True)
class Message:
    header: Header
    data: str  # inside the data block: "#1234|1110 01 015", "#1234|Nri1/FA015", "" (NULL)
    extended: tuple[str, ...]
    timestamp: datetime | None

    @property
    def account(self) -> str:
        return self.header.account


def frame(body: str) -> bytes:
    raw = body.encode("latin-1")
    return b"\n" + f"{crc16(raw):04X}{len(raw):04X}".encode() + raw + b"\r"


def check_frame(raw: bytes) -> str:
    """The body of a whole frame whose CRC and length are right (Dc09Error otherwise)."""
    if len(raw) < 10 or raw[0] != LF or raw[-1] != CR:
        raise Dc09Error("bad_frame", "a message is LF, CRC, length, body, CR")
    head = raw[1:9].decode("latin-1")
    try:
        crc, length = int(head[:4], 16), int(head[4:], 16)
    except ValueError:
        raise Dc09Error("bad_frame", f"CRC and length are hex digits, not {head!r}") from None
    body = raw[9:-1]
    if length != len(body):
        raise Dc09Error("bad_length", f"the length field says {length}, the body has "
                        f"{len(body)} bytes")
    if crc != crc16(body):
        raise Dc09Error("bad_crc", f"CRC {crc:04X}, the body's is {crc16(body):04X}")
    return body.decode("latin-1")


def parse(raw: bytes, keys: dict[str, bytes | None], now: datetime,
          window: tuple[float, float] = (40.0, 20.0)) -> Message:
    """A whole frame as a message. ``keys``: the known accounts and their AES keys (None:
    unencrypted); ``window``: how far in the past and future a timestamp may be."""
    body = check_frame(raw)
    m = _HEADER.match(body)
    if m is None:
        raise Dc09Error("bad_header", f"not a SIA-DCS, ADM-CID or NULL message: {body[:40]!r}",
                        "DUH")
    header = Header(m["id"], bool(m["enc"]), m["seq"], m["rcvr"] or "", m["line"] or "",
                    m["acct"])
    if header.account not in keys:
        raise Dc09Error("unknown_account", f"account {header.account} is not in this "
                        "receiver's accounts", "DUH", header)
    key = keys[header.account]
    rest = m["rest"]
    if header.encrypted:
        if key is None:
            raise Dc09Error("not_encrypted_here", f"account {header.account} has no key: "
                            "its messages are expected in clear", "DUH", header)
        rest = _decrypt(rest, key, header)
    elif key is not None:
        raise Dc09Error("unencrypted", f"account {header.account} has a key: a message in "
                        "clear is refused", "DUH", header)
    data, sep, tail = rest.partition("]")
    if not sep:
        raise Dc09Error("bad_data", "no ] closing the data block", "DUH", header)
    extended: list[str] = []
    while tail.startswith("["):
        block, sep, tail = tail[1:].partition("]")
        if not sep:
            raise Dc09Error("bad_data", "an extended data block without its ]", "DUH", header)
        extended.append(block)
    stamp = _timestamp(tail, header)
    if header.encrypted and stamp is None:
        raise Dc09Error("no_timestamp", "an encrypted message must carry its timestamp",
                        "NAK", header)
    if stamp is not None and not (now - timedelta(seconds=window[0]) <= stamp
                                  <= now + timedelta(seconds=window[1])):
        raise Dc09Error("timestamp_window", f"timestamp {stamp:%H:%M:%S %m-%d-%Y} is outside "
                        f"-{window[0]:g} s/+{window[1]:g} s of the receiver's time", "NAK",
                        header)
    return Message(header, data, tuple(extended), stamp)


def _timestamp(tail: str, header: Header) -> datetime | None:
    if not tail:
        return None
    t = _TIMESTAMP.fullmatch(tail)
    if t is None:
        raise Dc09Error("bad_timestamp", f"{tail[:30]!r} is not _HH:MM:SS,MM-DD-YYYY", "DUH",
                        header)
    hh, mi, ss, mo, dd, yy = (int(x) for x in t.groups())
    try:
        return datetime(yy, mo, dd, hh, mi, ss, tzinfo=UTC)
    except ValueError:
        raise Dc09Error("bad_timestamp", f"{tail!r} is not a date", "DUH", header) from None


def _cipher(key: bytes) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(key), modes.CBC(bytes(16)))


def _decrypt(hex_text: str, key: bytes, header: Header) -> str:
    try:
        data = bytes.fromhex(hex_text)
    except ValueError:
        raise Dc09Error("bad_encryption", "the encrypted part is not hex", "DUH",
                        header) from None
    if not data or len(data) % 16:
        raise Dc09Error("bad_encryption", f"{len(data)} encrypted bytes: not blocks of 16",
                        "DUH", header)
    decryptor = _cipher(key).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    text = plain.decode("latin-1")
    _, sep, content = text.partition("|")
    if not sep or any(b < 0x20 or b > 0x7E for b in plain):
        raise Dc09Error("bad_encryption", "decrypted, it is not text with a |: a wrong key?",
                        "DUH", header)
    return content


def _encrypt(text: str, key: bytes) -> str:
    pad_length = 16 - (len(text) + 1) % 16
    pad = bytes(_PAD[b % len(_PAD)] for b in os.urandom(pad_length)).decode()
    plain = (pad + "|" + text).encode("latin-1")
    encryptor = _cipher(key).encryptor()
    return (encryptor.update(plain) + encryptor.finalize()).hex().upper()


def _stamp(now: datetime) -> str:
    return f"_{now:%H:%M:%S,%m-%d-%Y}"


def answer(kind: str, header: Header | None, now: datetime, key: bytes | None = None) -> bytes:
    """ACK or DUH to a message (encrypted when it was and the key is known); NAK with the
    receiver's time, never encrypted."""
    if kind == "NAK" or header is None:
        return frame(f'"NAK"0000R0L0A0[]{_stamp(now)}')
    route = f"{header.receiver}{header.line or 'L0'}#{header.account}["
    if header.encrypted and key is not None:
        return frame(f'"*{kind}"{header.seq}{route}{_encrypt("]" + _stamp(now), key)}')
    return frame(f'"{kind}"{header.seq}{route}]')


def message(kind: str, seq: int, account: str, data: str, *, key: bytes | None = None,
            now: datetime | None = None, receiver: str = "", line: str = "L0") -> bytes:
    """A message as a panel sends it (for simulators and tests)."""
    stamp = _stamp(now) if now is not None else ""
    route = f"{receiver}{line}#{account}["
    if key is not None:
        stamp = stamp or _stamp(datetime.now(UTC))
        return frame(f'"*{kind}"{seq:04d}{route}{_encrypt(data + "]" + stamp, key)}')
    return frame(f'"{kind}"{seq:04d}{route}{data}]{stamp}')


class Splitter:
    """Messages cut from a TCP stream by their length field: ``feed`` returns whole frames
    (bytes) and, for bytes that are no frame, ``Dc09Error``; never more than one frame
    held."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes | Dc09Error]:
        self._buf += data
        out: list[bytes | Dc09Error] = []
        while self._buf:
            start = self._buf.find(b"\n")
            if start != 0:
                noise = len(self._buf) if start < 0 else start
                out.append(Dc09Error("bad_frame", f"{noise} bytes outside any message"))
                del self._buf[:noise]
                continue
            if len(self._buf) < 9:
                break
            try:
                length = int(self._buf[5:9].decode("latin-1"), 16)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                out.append(Dc09Error("bad_frame", "no length a message can have after LF+CRC"))
                del self._buf[:1]
                continue
            total = 10 + length
            if len(self._buf) < total:
                break
            out.append(bytes(self._buf[:total]))
            del self._buf[:total]
        return out

    def give_up(self) -> list[bytes | Dc09Error]:
        if not self._buf:
            return []
        held = len(self._buf)
        del self._buf[:1]
        return [Dc09Error("bad_frame", f"an incomplete message: {held} bytes and no more"),
                *self.feed(b"")]
