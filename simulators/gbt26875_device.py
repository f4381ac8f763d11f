"""A fire alarm transmission device (用户信息传输装置) that speaks GB/T 26875.3 to the center
over TCP, as a real one does: each frame of data waits for the center's confirm and is sent
again, with the same serial number, when none comes within ``retry_after`` (``retries`` times,
then given up, as the standard has it); heartbeats every ``heartbeat`` seconds.

It reports what a panel behind it would: a component in fire, fault, supervisory, disabled,
started or with feedback, and its restore; the panel's own status and a reset; its own power
faults. For the tests of what must not break the center, it also sends malformed frames,
several frames in one TCP segment, or goes silent.

Synchronous (a thread reads the confirms), usable from tests and the command line::

    with TransmissionDevice("127.0.0.1", 15030, device=889, center=88888) as dev:
        dev.component(zone=1, point=45, fire=True, description="3号楼5层烟感")
        dev.wait_confirmed()
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field

from adapters.gbt26875.frame import Command, Frame, FrameReader, Rejected, Stamp

FIRE, FAULT, DISABLED, SUPERVISORY, STARTED, FEEDBACK = 1, 2, 3, 4, 5, 6
SYSTEM_RESET = 13


def stamp(at: float | None = None) -> Stamp:
    return Stamp.local(time.time() if at is None else at)


def status_word(*bits: int, test: bool = False) -> int:
    word = 0 if test else 1
    for bit in bits:
        word |= 1 << bit
    return word


def component_adu(zone: int, point: int, status: int, *, component_type: int = 40,
                  system_type: int = 1, system: int = 1, description: str = "",
                  at: float | None = None) -> bytes:
    text = description.encode("gb18030")[:31].ljust(31, b"\0")
    body = (bytes((system_type, system, component_type)) + zone.to_bytes(2, "little")
            + point.to_bytes(2, "little") + status.to_bytes(2, "little") + text
            + stamp(at).to_bytes())
    return bytes((2, 1)) + body


def system_adu(status: int, *, system_type: int = 1, system: int = 1,
               at: float | None = None) -> bytes:
    return bytes((1, 1, system_type, system)) + status.to_bytes(2, "little") + stamp(at).to_bytes()


def operation_adu(operation: int, operator: int = 1, *, system_type: int = 1, system: int = 1,
                  at: float | None = None) -> bytes:
    return bytes((4, 1, system_type, system, operation, operator)) + stamp(at).to_bytes()


def device_status_adu(status: int, at: float | None = None) -> bytes:
    return bytes((21, 1, status)) + stamp(at).to_bytes()


@dataclass
class Sent:
    frame: Frame
    first_at: float
    tries: int = 1
    confirmed_at: float | None = None
    denied: bool = False
    given_up: bool = False


@dataclass
class TransmissionDevice:
    host: str
    port: int
    device: int
    center: int
    retry_after: float = 10.0
    retries: int = 3
    heartbeat: float | None = None
    sent: dict[int, Sent] = field(default_factory=dict)
    answers: list[Frame] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._serial = 0
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.silent = False  # sends nothing (not even heartbeats, nor retransmissions)
        self.connects = 0

    # ------------------------------------------------------------------ the link

    def open(self, timeout: float = 10.0) -> TransmissionDevice:
        deadline = time.monotonic() + timeout
        self._stop.clear()
        while not self._connect():
            if time.monotonic() > deadline:
                raise ConnectionError(f"no center listening at {self.host}:{self.port}")
            time.sleep(0.1)
        keeper = threading.Thread(target=self._keeper, daemon=True)
        keeper.start()
        self._threads.append(keeper)
        return self

    def _connect(self) -> bool:
        """One try; with a connection, a thread reads the center's answers on it."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=2)
        except OSError:
            return False
        sock.settimeout(0.2)
        self._sock = sock
        reader = threading.Thread(target=self._reader, args=(sock,), daemon=True)
        reader.start()
        self._threads.append(reader)
        self.connects += 1
        return True

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        self._threads.clear()
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def reconnect(self, timeout: float = 30.0) -> None:
        """As a device does when the center went away: connect again and carry on (frames not
        confirmed yet are sent again by their retry timer)."""
        self.close()
        self.open(timeout)

    def __enter__(self) -> TransmissionDevice:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, data: bytes) -> None:
        sock = self._sock
        if sock is None or self.silent:
            return
        # the center may be gone: the retry timer sends it again after a reconnect
        with contextlib.suppress(OSError):
            sock.sendall(data)

    def _reader(self, sock: socket.socket) -> None:
        reader = FrameReader()
        while not self._stop.is_set():
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                data = b""
            if not data:  # the center closed the connection: the keeper connects again
                with self._lock:
                    if self._sock is sock:
                        self._sock = None
                sock.close()
                return
            for item in reader.feed(data):
                if isinstance(item, Rejected):
                    self.rejected.append(item.reason)
                    continue
                self._answer(item)

    def _answer(self, frame: Frame) -> None:
        with self._lock:
            self.answers.append(frame)
            sent = self.sent.get(frame.serial)
            if sent is None or sent.confirmed_at is not None:
                return
            if frame.command == Command.CONFIRM:
                sent.confirmed_at = time.monotonic()
            elif frame.command == Command.DENY:
                sent.denied = True

    def _keeper(self) -> None:
        """Retransmissions and heartbeats."""
        last_beat = time.monotonic()
        while not self._stop.wait(0.1):
            if self._sock is None and not self._connect():
                continue
            now = time.monotonic()
            with self._lock:
                due = [s for s in self.sent.values() if s.confirmed_at is None
                       and not s.given_up and now - s.first_at >= s.tries * self.retry_after]
                for s in due:
                    if s.tries > self.retries:
                        s.given_up = True
                    else:
                        s.tries += 1
            for s in due:
                if not s.given_up:
                    self._write(s.frame.encode())
            if self.heartbeat is not None and now - last_beat >= self.heartbeat:
                last_beat = now
                self._write(self._frame(b"").encode())

    # ------------------------------------------------------------------ frames

    def _frame(self, adu: bytes, serial: int | None = None) -> Frame:
        with self._lock:
            if serial is None:
                self._serial = (self._serial + 1) % 65536
                serial = self._serial
        return Frame(serial, (1, 0), stamp(), self.device, self.center, Command.SEND, adu)

    def send(self, adu: bytes) -> Frame:
        """Send data (command 2) and keep it until the center confirms it."""
        frame = self._frame(adu)
        with self._lock:
            self.sent[frame.serial] = Sent(frame, time.monotonic())
        self._write(frame.encode())
        return frame

    def send_many(self, adus: list[bytes]) -> list[Frame]:
        """Several frames in one TCP segment."""
        frames = [self._frame(adu) for adu in adus]
        with self._lock:
            for frame in frames:
                self.sent[frame.serial] = Sent(frame, time.monotonic())
        self._write(b"".join(f.encode() for f in frames))
        return frames

    def send_raw(self, data: bytes) -> None:
        """Bytes as they are (a malformed frame, noise)."""
        self._write(data)

    def component(self, zone: int, point: int, *bits: int, test: bool = False,
                  component_type: int = 40, system: int = 1, description: str = "") -> Frame:
        return self.send(component_adu(zone, point, status_word(*bits, test=test),
                                       component_type=component_type, system=system,
                                       description=description))

    def panel(self, *bits: int, system: int = 1) -> Frame:
        return self.send(system_adu(status_word(*bits), system=system))

    def reset(self, system: int = 1) -> Frame:
        """The panel reset at its keyboard (operation bit 0)."""
        return self.send(operation_adu(0x01, system=system))

    def own_status(self, *bits: int) -> Frame:
        return self.send(device_status_adu(status_word(*bits)))

    # ------------------------------------------------------------------ waiting

    def confirmed(self, frame: Frame) -> bool:
        with self._lock:
            sent = self.sent.get(frame.serial)
            return sent is not None and sent.confirmed_at is not None

    def denied(self, frame: Frame) -> bool:
        with self._lock:
            sent = self.sent.get(frame.serial)
            return sent is not None and sent.denied

    def unconfirmed(self) -> list[Sent]:
        with self._lock:
            return [s for s in self.sent.values() if s.confirmed_at is None]

    def answer_to(self, frame: Frame, timeout: float = 10.0) -> str | None:
        """``confirmed`` or ``denied`` once the center answered ``frame``; None when it did not
        within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.confirmed(frame):
                return "confirmed"
            if self.denied(frame):
                return "denied"
            time.sleep(0.02)
        return None

    def wait_confirmed(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.unconfirmed():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.unconfirmed())} frames not confirmed within "
                                   f"{timeout} s")
            time.sleep(0.02)
