"""A simulated Modbus device: its registers and coils, the writes it took (accepted or not),
and a behaviour that runs while its server does."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal, TypeVar

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simruntime import SimRuntime

T = TypeVar("T")


Table = Literal["coil", "discrete_input", "holding", "input"]


_TABLE_OF_FUNCTION: dict[int, Table] = {
    1: "coil", 5: "coil", 15: "coil", 2: "discrete_input", 4: "input",
    3: "holding", 6: "holding", 16: "holding", 22: "holding", 23: "holding"}


_WRITE_FUNCTIONS = frozenset({5, 6, 15, 16, 22, 23})
TICK = 0.05  # behaviour update period: 20 Hz


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """One written coil or register, as the device received it."""

    at: float  # wall clock (time.time())
    unit: int
    table: str  # "coil" or "holding"
    address: int
    value: int | bool
    accepted: bool  # False: answered with an exception (read-only or unknown address)

    def describe(self) -> str:
        value = int(self.value) if isinstance(self.value, bool) else self.value
        verdict = "" if self.accepted else " (rejected: illegal address)"
        return f"unit {self.unit} {self.table} {self.address} = {value}{verdict}"


WriteListener = Callable[["SimulatedDevice", WriteRecord], None]


class SimulatedDevice:
    """One Modbus unit: registers in a pymodbus datastore, behaviour in an asyncio task.

    Subclasses declare their map (``HOLDING`` and ``COILS`` counts, writable addresses) and
    implement :meth:`_step` (called about 20 times a second and after each write) and
    optionally :meth:`_written` (called from within the request, before the write lands).
    Methods that change the device are meant to be called from the event loop that runs it
    (see :class:`simulators.modbus_host.SimulatorThread` for use from another thread).
    """

    kind: ClassVar[str] = "device"
    HOLDING: ClassVar[int] = 1
    COILS: ClassVar[int] = 0
    WRITABLE_HOLDING: ClassVar[frozenset[int]] = frozenset()
    WRITABLE_COILS: ClassVar[frozenset[int]] = frozenset()

    def __init__(self, unit: int, name: str = "") -> None:
        if not 0 <= unit <= 247:
            raise ValueError(f"unit id {unit} is outside 0..247")
        self.unit = unit
        self.name = name or f"{self.kind}-{unit}"
        self.writes: list[WriteRecord] = []
        self._listeners: list[WriteListener] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_step = time.monotonic()
        coils = max(16, -(-self.COILS // 16) * 16)  # whole 16-bit words
        self.simdevice = SimDevice(
            id=unit,
            simdata=([SimData(0, count=coils, values=False, datatype=DataType.BITS)],
                     [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                     [SimData(0, count=self.HOLDING, values=0, datatype=DataType.REGISTERS)],
                     [SimData(0, count=1, datatype=DataType.INVALID)]),
            action=self._access)
        self.runtime = SimRuntime(self.simdevice)
        # The runtime's own lists, updated in place by pymodbus on client writes.
        self._holding: list[int] = self.runtime.block["h"][2]
        self._coil_words: list[int] = self.runtime.block["c"][2]

    # -- registers

    def holding(self, address: int, count: int = 1) -> list[int]:
        """Holding registers as a client would read them."""
        if address < 0 or address + count > self.HOLDING:
            raise IndexError(f"holding registers {address}..{address + count - 1} are not "
                             f"in the map of {self.name} (0..{self.HOLDING - 1})")
        return list(self._holding[address:address + count])

    def coil(self, address: int) -> bool:
        if not 0 <= address < max(self.COILS, 1):
            raise IndexError(f"coil {address} is not in the map of {self.name}")
        return bool((self._coil_words[address // 16] >> (address % 16)) & 1)

    def _set(self, address: int, value: int) -> None:
        self._holding[address] = value & 0xFFFF

    def _set_float(self, address: int, value: float) -> None:
        """float32, word order little (CDAB): the low word at ``address``."""
        hi, lo = struct.unpack(">HH", struct.pack(">f", value))
        self._holding[address] = lo
        self._holding[address + 1] = hi

    def _get_float(self, address: int) -> float:
        lo, hi = self._holding[address], self._holding[address + 1]
        value: float = struct.unpack(">f", struct.pack(">HH", hi, lo))[0]
        return value

    def _set_coil(self, address: int, value: bool) -> None:
        word, bit = divmod(address, 16)
        if value:
            self._coil_words[word] |= 1 << bit
        else:
            self._coil_words[word] &= ~(1 << bit) & 0xFFFF

    # -- writes

    def add_write_listener(self, listener: WriteListener) -> None:
        self._listeners.append(listener)

    async def _access(self, function_code: int, start_address: int, address: int, count: int,
                      registers: list[int], values: list[int] | list[bool] | None,
                      ) -> ExcCodes | None:
        """pymodbus ``SimDevice.action``: every request to this unit passes here."""
        del start_address, count, registers  # count is in 16-bit words for bit tables
        table = _TABLE_OF_FUNCTION.get(function_code)
        if table is None or table in ("discrete_input", "input"):
            return ExcCodes.ILLEGAL_ADDRESS
        size = self.COILS if table == "coil" else self.HOLDING
        if function_code not in _WRITE_FUNCTIONS or values is None:
            return None if address < size else ExcCodes.ILLEGAL_ADDRESS
        writable = self.WRITABLE_COILS if table == "coil" else self.WRITABLE_HOLDING
        addresses = range(address, address + len(values))
        accepted = all(a in writable for a in addresses)
        now = time.time()
        records = [WriteRecord(now, self.unit, table, a, v, accepted)
                   for a, v in zip(addresses, values, strict=True)]
        self.writes.extend(records)
        for record in records:
            for listener in self._listeners:
                listener(self, record)
        if not accepted:
            return ExcCodes.ILLEGAL_ADDRESS
        for record in records:
            self._written(record)
        # The write lands in the registers when this returns; act on it right after, before
        # the next request is handled.
        asyncio.get_running_loop().call_soon(self._advance)
        return None

    def _written(self, record: WriteRecord) -> None:
        """A client wrote ``record`` (accepted); it lands in the datastore right after."""

    # -- behaviour

    def _step(self, now: float, dt: float) -> None:
        """Advance the behaviour to ``now`` (monotonic seconds), ``dt`` after the last step."""

    def _advance(self) -> None:
        now = time.monotonic()
        self._step(now, now - self._last_step)
        self._last_step = now

    async def _run(self) -> None:
        self._last_step = time.monotonic()
        while True:
            self._advance()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK):
                    await self._wake.wait()

    def start(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name=f"simulator {self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def describe(self) -> str:
        return f"unit {self.unit}: {self.kind} {self.name}"
