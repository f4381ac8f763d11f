"""Where simulated Modbus devices run outside the simulators' own process: a virtual serial
line (two pseudo-terminals back to back) for RTU, a thread with an event loop of its own for
synchronous tests, and a wait for a condition inside the loop."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import tty
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from simulators.modbus_base import T
from simulators.modbus_devices import ModbusDeviceServer, start_all, stop_all


class VirtualSerialPair:
    """Two pseudo-terminals joined back to back (what ``socat pty,raw pty,raw`` gives).

    Open :attr:`server_port` with the RTU server and :attr:`client_port` with the RTU client;
    bytes are relayed both ways by the event loop. Use inside a running loop.
    """

    def __init__(self) -> None:
        self._masters: list[int] = []
        self._slaves: list[int] = []
        self.server_port = self.client_port = ""

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(2):
            master, slave = os.openpty()
            tty.setraw(slave)
            os.set_blocking(master, False)
            self._masters.append(master)
            self._slaves.append(slave)  # kept open: a pty without its slave reads EIO
        self.server_port, self.client_port = (os.ttyname(s) for s in self._slaves)
        a, b = self._masters
        loop.add_reader(a, self._relay, a, b)
        loop.add_reader(b, self._relay, b, a)

    @staticmethod
    def _relay(source: int, sink: int) -> None:
        try:
            data = os.read(source, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO: the other end is not open (yet); nothing to carry
            time.sleep(0.001)
            return
        while data:
            try:
                data = data[os.write(sink, data):]
            except BlockingIOError:
                time.sleep(0.001)

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        for fd in self._masters:
            loop.remove_reader(fd)
        for fd in self._masters + self._slaves:
            os.close(fd)
        self._masters.clear()
        self._slaves.clear()

    async def __aenter__(self) -> VirtualSerialPair:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class SimulatorThread:
    """Servers running on an event loop in a background thread, for synchronous tests.

    ``with SimulatorThread(servers) as sim: sim.call(gas.ramp, 60, 5)`` — device methods are
    not thread-safe, so drive them through :meth:`call` (or :meth:`run` for coroutines).
    """

    def __init__(self, servers: Iterable[ModbusDeviceServer]) -> None:
        self.servers = list(servers)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name="modbus-simulators", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        try:
            self.run(start_all(self.servers), timeout)
        except BaseException:
            self._shutdown()
            raise

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 10.0, **kwargs: Any) -> T:
        async def invoke() -> T:
            return fn(*args, **kwargs)
        return self.run(invoke(), timeout)

    def stop(self, timeout: float = 10.0) -> None:
        try:
            self.run(stop_all(self.servers), timeout)
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> SimulatorThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def wait_until(predicate: Callable[[], bool | Awaitable[bool]], within: float = 5.0,
                     interval: float = 0.02) -> None:
    """Wait until ``predicate`` (sync or async) holds; TimeoutError after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {within} s")
        await asyncio.sleep(interval)
