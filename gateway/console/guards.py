"""What every request passes before it is read: a bound on its body (a 50 MB body is refused
before authentication and before a byte of it is parsed), and, for a request that changes
something with the session cookie, proof that it comes from the console's own page (a page
elsewhere, even on another port of this host, cannot act as the operator)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from gateway.console.sessions import COOKIE

MAX_BODY = 64 * 1024
CHANGES = ("POST", "PUT", "PATCH", "DELETE")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _answer(send: Send, status: int, error: str, code: str) -> None:
    body = json.dumps({"error": error, "code": code}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def cross_origin(scope: Scope) -> str | None:
    """Why a state-changing request is refused as coming from elsewhere (None: it is not)."""
    if scope.get("method") not in CHANGES or not str(scope.get("path", "")).startswith("/api/"):
        return None
    h = _headers(scope)
    if h.get("authorization", "").lower().startswith("bearer "):
        return None  # a script's own token, not a credential a browser sends by itself
    site = h.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"sent from another site ({site})"
    own = f"{scope.get('scheme', 'http')}://{h.get('host', '')}"
    origin = h.get("origin")
    if origin and origin != "null":
        return None if origin == own else f"sent from {origin}, not {own}"
    referer = h.get("referer")
    if referer:
        parts = urlsplit(referer)
        seen = f"{parts.scheme}://{parts.netloc}"
        return None if seen == own else f"sent from {seen}, not {own}"
    if f"{COOKIE}=" in h.get("cookie", "") and site is None:
        return "neither Origin nor Referer says where it comes from"
    return None


class Guards:
    """ASGI middleware, outermost: body bound, then the origin check."""

    def __init__(self, app: App, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def _too_large(self, send: Send) -> None:
        await _answer(send, 413, f"the body is over {self.limit // 1024} KiB", "too_large")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _headers(scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._too_large(send)
            return
        why = cross_origin(scope)
        if why is not None:
            await _answer(send, 403, f"cross-origin request refused: {why}", "cross_origin")
            return
        total = 0
        started = answered = False

        async def bounded() -> Message:
            nonlocal total, answered
            message = await receive()
            if message["type"] == "http.request" and not answered:
                total += len(message.get("body", b""))
                if total > self.limit:
                    # answer now and tell the app the client went: it stops reading
                    answered = True
                    if not started:
                        await self._too_large(send)
                    return {"type": "http.disconnect"}
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the 413 went already
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, bounded, watched)
