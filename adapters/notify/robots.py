"""The group robots of the Chinese workplace messengers, both a JSON ``POST`` answered with
``{"errcode": 0, "errmsg": "ok"}`` (anything else in ``errcode`` is a refusal, even with
HTTP 200):

- WeCom (企业微信群机器人): ``{"msgtype": "markdown", "markdown": {"content": ...}}`` to the
  robot's webhook url (``.../cgi-bin/webhook/send?key=KEY``); the content is at most 4096
  bytes of UTF-8.
- DingTalk (钉钉自定义机器人): ``{"msgtype": "markdown", "markdown": {"title", "text"}}`` to
  ``.../robot/send?access_token=TOKEN``, with 加签 the query parameters ``timestamp`` (epoch
  milliseconds, within an hour of DingTalk's clock) and ``sign``: the HMAC-SHA256 of
  ``f"{timestamp}\\n{secret}"`` keyed with the secret, base64, then URL-encoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

from adapters.notify.exchange import Answer, ok, refused, request
from adapters.notify.values import (
    ChannelError,
    Delivery,
    DingTalkChannel,
    Message,
    WeComChannel,
    redact,
)

WECOM_MARKDOWN_LIMIT = 4096  # bytes of UTF-8


def wecom_content(message: Message) -> str:
    content = f"## {message.title}\n{message.text}"
    link = f"\n[详情 Details]({message.link})" if message.link else ""
    room = WECOM_MARKDOWN_LIMIT - len(link.encode("utf-8"))
    encoded = content.encode("utf-8")
    if len(encoded) > room:
        # cut on a character boundary, and say that it was cut
        content = encoded[:room - len("…".encode())].decode("utf-8", errors="ignore") + "…"
    return content + link


def dingtalk_text(message: Message) -> str:
    link = f"\n\n[详情 Details]({message.link})" if message.link else ""
    return f"### {message.title}\n\n{message.text}{link}"


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The ``sign`` query value, already URL-encoded."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(),
                      hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))


def dingtalk_url(channel: DingTalkChannel, timestamp_ms: int) -> str:
    if channel.secret is None:
        return channel.url
    joint = "&" if "?" in channel.url else "?"
    return (f"{channel.url}{joint}timestamp={timestamp_ms}"
            f"&sign={dingtalk_sign(channel.secret, timestamp_ms)}")


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


HEADERS = {"Content-Type": "application/json; charset=utf-8"}


async def send_wecom(channel: WeComChannel, message: Message) -> Delivery:
    content = _json({"msgtype": "markdown", "markdown": {"content": wecom_content(message)}})
    answer = await request("wecom", channel.url, within=channel.timeout, content=content,
                           headers=HEADERS)
    return _robot_answer("wecom", channel.url, answer)


async def send_dingtalk(channel: DingTalkChannel, message: Message,
                        clock: Callable[[], float]) -> Delivery:
    url = dingtalk_url(channel, int(clock() * 1000))
    content = _json({"msgtype": "markdown",
                     "markdown": {"title": message.title, "text": dingtalk_text(message)}})
    answer = await request("dingtalk", url, within=channel.timeout, content=content,
                           headers=HEADERS)
    return _robot_answer("dingtalk", channel.url, answer)


def _robot_answer(kind: str, url: str, answer: Answer) -> Delivery:
    if not ok(answer):
        raise refused(kind, url, answer)
    document = answer.json()
    if not isinstance(document, dict) or "errcode" not in document:
        raise ChannelError(kind, redact(url), f"not a robot's answer: {answer.excerpt()}",
                           status=answer.status)
    errcode, errmsg = document["errcode"], str(document.get("errmsg", ""))
    if errcode != 0:
        raise ChannelError(kind, redact(url), f"errcode {errcode}: {errmsg}",
                           status=answer.status)
    return Delivery(kind, redact(url), errmsg or "ok", answer.status)
