"""A site's own HTTP endpoint, told in signed JSON.

The request: ``POST`` to the channel's url, body (UTF-8 JSON)
``{"key", "title", "text", "link", "sent_at"}`` (``sent_at``: ISO 8601, UTC), and the headers

    X-Alarm-Gateway-Timestamp: 1718000000                 (epoch seconds, when it was signed)
    X-Alarm-Gateway-Signature: sha256=<hex>               (HMAC-SHA256, see below)
    Idempotency-Key: <key>                                (the same on every try of a message)

To verify, the receiver computes ``HMAC-SHA256(secret, f"{timestamp}.".encode() + body)``
over the body's bytes exactly as received (before any JSON parsing), compares its hex digest
with the header's in constant time (``hmac.compare_digest``), refuses a timestamp more than
5 minutes from its own clock (a replay), and takes a message whose ``Idempotency-Key`` it has
seen already as done (answering 2xx again: a retry after a lost answer). Any 2xx is a delivery;
408, 429 and 5xx are tried again later, other statuses are not.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime

from adapters.notify.exchange import ok, refused, request
from adapters.notify.values import Delivery, Message, WebhookChannel, redact

TIMESTAMP_HEADER = "X-Alarm-Gateway-Timestamp"
SIGNATURE_HEADER = "X-Alarm-Gateway-Signature"
KEY_HEADER = "Idempotency-Key"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the signature header for this body signed at ``timestamp``."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body,
                      hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def body(message: Message, now: float) -> bytes:
    sent_at = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
    document = {"key": message.key, "title": message.title, "text": message.text,
                "link": message.link, "sent_at": sent_at}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


async def send(channel: WebhookChannel, message: Message, clock: Callable[[], float]
               ) -> Delivery:
    now = clock()
    timestamp = int(now)
    content = body(message, now)
    headers = {"Content-Type": "application/json; charset=utf-8",
               TIMESTAMP_HEADER: str(timestamp),
               SIGNATURE_HEADER: signature(channel.secret, timestamp, content),
               KEY_HEADER: message.key}
    answer = await request("webhook", channel.url, within=channel.timeout, content=content,
                           headers=headers)
    if not ok(answer):
        raise refused("webhook", channel.url, answer)
    return Delivery("webhook", redact(channel.url), answer.excerpt(), answer.status)
