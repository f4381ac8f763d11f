"""Console sessions: a login makes one (a random token in an HttpOnly cookie, or a bearer
token for scripts), kept in the store as a hash and cached here with its idle time; reads of
the store for the pages go through one read-only connection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import structlog
from fastapi import Request

from gateway.console import auth
from gateway.console.refusal import refused
from gateway.console.throttle import LoginThrottle, TooMany
from gateway.store import SharedReader
from gateway.store.records import Records

if TYPE_CHECKING:
    from gateway.daemon.gateway import Gateway

log = structlog.get_logger("gateway.console")
T = TypeVar("T")
COOKIE = "ag_session"
RECHECK = 1.0  # seconds a cached session is trusted before the store is asked again


class Reader:
    """The store's reads from worker threads, one at a time on one read-only connection."""

    def __init__(self, path: Path) -> None:
        self._shared = SharedReader(path)

    async def __call__(self, fn: Callable[[Records], T]) -> T:
        return await asyncio.to_thread(self._shared.run, fn)

    def close(self) -> None:
        self._shared.close()


@dataclass(slots=True)
class _Session:
    user: auth.User
    expires_at: float
    last_seen: float
    checked_at: float


class Sessions:
    """Session tokens → users, kept in the store, cached here with their idle time."""

    def __init__(self, gateway: Gateway, reader: Reader) -> None:
        self.gateway = gateway
        self.reader = reader
        self.cache: dict[str, _Session] = {}
        self.throttle = LoginThrottle(time.monotonic)

    async def login(self, name: str, password: str,
                    address: str = "") -> tuple[auth.User, str, float]:
        """A session for the right password; guessing is slowed (``throttle``) and every
        attempt is logged as an event."""
        try:
            self.throttle.admit(address)
        except TooMany as exc:
            log.warning("login_refused", user=name, address=address,
                        reason="too many failed logins from this address")
            raise refused(429, "login_throttled", "too many failed logins from this address; "
                          f"try again in {exc.retry_after:.0f} s",
                          headers={"Retry-After": f"{exc.retry_after:.0f}"},
                          seconds=f"{exc.retry_after:.0f}") from None
        if not self.throttle.begin(name, address):  # one at a time per account and address
            self.throttle.unadmit(address)
            log.warning("login_refused", user=name, address=address,
                        reason="another login for this account from here is being checked")
            raise refused(429, "login_busy", "another login for this account from this address "
                          "is being checked; try again", headers={"Retry-After": "1"})
        try:
            await asyncio.sleep(self.throttle.delay(name, address))
            user = await self.reader(lambda r: auth.authenticate(r, name, password))
            if user is None:
                self.throttle.failed(name, address)
                log.warning("login_failed", user=name, address=address)
                raise refused(401, "login_wrong", "wrong user name or password")
            self.throttle.succeeded(name, address)
        finally:
            self.throttle.end(name, address)
        log.info("login_succeeded", user=name, address=address)
        now = self.gateway.clock()
        length = self.gateway.site.console.session_seconds
        token = await self.gateway.store.call(
            lambda r: auth.create_session(r, user.name, now, length))
        self.cache[token] = _Session(user, now + length, now, now)
        return user, token, now + length

    async def user(self, token: str) -> auth.User | None:
        now = self.gateway.clock()
        idle = self.gateway.site.console.idle_seconds
        session = self.cache.get(token)
        if session is not None and now - session.checked_at > RECHECK:
            # a user disabled, or given a new password, from the CLI since
            current = await self.reader(lambda r: auth.session_user(r, token, now))
            if current is None:
                self.cache.pop(token, None)
                return None
            session.user = current
            session.checked_at = now
        if session is None:
            user = await self.reader(lambda r: auth.session_user(r, token, now))
            if user is None:
                return None
            expires = await self.reader(lambda r: auth.session_expires(r, token))
            session = self.cache[token] = _Session(user, expires, now, now)
        if now >= session.expires_at or now - session.last_seen > idle:
            await self.logout(token)
            return None
        session.last_seen = now
        return session.user

    async def logout(self, token: str) -> None:
        self.cache.pop(token, None)
        await self.gateway.store.call(lambda r: auth.end_session(r, token))


def token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE, "")
