"""One HTTP request of a channel, bounded: the whole exchange within the channel's timeout,
at most ``ANSWER_LIMIT`` bytes of the answer read, no redirect followed, no proxy or
certificate setting taken from the environment. httpx's errors become ``ChannelError`` here,
with the address redacted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from adapters.notify.values import ChannelError, redact

ANSWER_LIMIT = 64 * 1024
EXCERPT = 200  # characters of an answer quoted in a delivery or an error


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    truncated: bool

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def excerpt(self) -> str:
        document = self.json()
        if document is not None:  # as the far end meant it, not \u-escaped
            text = json.dumps(document, ensure_ascii=False)
        else:
            text = " ".join(self.text.split())
        return text if len(text) <= EXCERPT else text[:EXCERPT] + "…"

    def json(self) -> Any:
        """The answer as JSON, or None when it is not JSON (or was cut short)."""
        if self.truncated:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


async def request(channel: str, url: str, *, within: float, method: str = "POST",
                  content: bytes | None = None,
                  headers: Mapping[str, str] | None = None) -> Answer:
    """The far end's answer, whatever its status; ``ChannelError`` when there is none."""
    target = redact(url)
    timeout = within
    try:
        async with asyncio.timeout(timeout):
            return await _exchange(url, method, content, dict(headers or {}), timeout)
    except TimeoutError as exc:
        raise ChannelError(channel, target, f"no answer within {timeout:g} s") from exc
    except httpx.TimeoutException as exc:
        raise ChannelError(channel, target, f"no answer within {timeout:g} s") from exc
    except httpx.ConnectError as exc:
        raise ChannelError(channel, target, f"cannot connect: {_why(exc, url)}") from exc
    except httpx.RemoteProtocolError as exc:
        raise ChannelError(channel, target,
                           f"the connection was closed before an answer: {_why(exc, url)}"
                           ) from exc
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise ChannelError(channel, target, f"not a usable address: {_why(exc, url)}",
                           retry=False) from exc
    except httpx.HTTPError as exc:
        raise ChannelError(channel, target, _why(exc, url)) from exc


async def _exchange(url: str, method: str, content: bytes | None, headers: dict[str, str],
                    within: float) -> Answer:
    async with (httpx.AsyncClient(timeout=within, follow_redirects=False,
                                  trust_env=False) as client,
                client.stream(method, url, content=content, headers=headers) as response):
        body = bytearray()
        truncated = False
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > ANSWER_LIMIT:
                truncated = True
                del body[ANSWER_LIMIT:]
                break
        return Answer(response.status_code, bytes(body), truncated)


def _why(exc: Exception, url: str) -> str:
    text = str(exc) or type(exc).__name__
    return text.replace(url, redact(url))


def refused(channel: str, url: str, answer: Answer) -> ChannelError:
    """An HTTP status other than 2xx: worth another try unless the far end says the request
    itself is wrong (4xx, but for 408 and 429)."""
    retry = answer.status >= 500 or answer.status in (408, 429)
    reason = f"HTTP {answer.status}"
    if answer.body:
        reason += f": {answer.excerpt()}"
    return ChannelError(channel, redact(url), reason, status=answer.status, retry=retry)


def ok(answer: Answer) -> bool:
    return 200 <= answer.status < 300
