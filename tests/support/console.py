"""The console's API on an in-process daemon (``tests.support.inprocess``), driven as its page
drives it, for the daemon tests of the console."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import httpx

from gateway.console import auth
from gateway.console.app import create_app
from gateway.store import open_records
from tests.support.inprocess import T0, InProcess

T = TypeVar("T")


def password(name: str) -> str:
    return f"pw-{name}-secret"


class Console:
    """The console app of an in-process daemon, driven through its HTTP API."""

    def __init__(self, gw: InProcess) -> None:
        self.gw = gw
        self.app = create_app(gw.gw)
        self.clients: list[httpx.AsyncClient] = []

    async def client(self, user: str) -> httpx.AsyncClient:
        # as the console's page does: its requests say they come from its own origin
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                   base_url="http://console",
                                   headers={"Origin": "http://console"})
        self.clients.append(client)
        r = await client.post("/api/login", json={"username": user, "password": password(user)})
        assert r.status_code == 200, r.text
        return client

    async def call(self, request: Awaitable[T]) -> T:
        """A request answered once the daemon has done its part (it runs meanwhile)."""
        task = asyncio.ensure_future(request)
        while not task.done():
            await self.gw.settle()
            await asyncio.sleep(0)
        return task.result()

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()
        self.app.state.reader.close()


@asynccontextmanager
async def running_console(config: Path, store: Path,
                          users: Mapping[str, str]) -> AsyncIterator[Console]:
    """The daemon of ``config`` on ``store`` with these users (name → role), and its console."""
    with open_records(store) as records:
        for name, role in users.items():
            auth.add_user(records, name, name, [role], password(name), T0)
    async with InProcess(config, store) as gw:
        console = Console(gw)
        yield console
        await console.close()
