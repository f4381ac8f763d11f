"""SMS through a provider's HTTP API, described as data rather than code: the address and
body are templates naming the message's fields, the answer is read by a field path.

A template names fields as ``{phone}`` ``{text}`` ``{title}`` ``{code}`` ``{key}``
``{link}`` and nothing else is replaced, so a JSON body keeps its own braces::

    body_template: '{"mobile": "{phone}", "sign": "{code}", "content": "{text}"}'
    success: {field: "result.code", equals: 0, id_field: "result.sid"}

Each value is escaped for its place (a query value in the url, the inside of a JSON string, a
form value); a name the template does not know is refused before anything is sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus

from adapters.notify.exchange import Answer, ok, refused, request
from adapters.notify.values import ChannelError, Delivery, Message, SmsChannel, redact

FIELDS = ("phone", "text", "title", "code", "key", "link")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

CONTENT_TYPES = {"json": "application/json; charset=utf-8",
                 "form": "application/x-www-form-urlencoded; charset=utf-8",
                 "text": "text/plain; charset=utf-8"}


def unknown_fields(template: str) -> list[str]:
    """The names a template uses that are not a message's fields (a config check)."""
    return sorted({m for m in PLACEHOLDER.findall(template) if m not in FIELDS})


def _json_inside(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


ESCAPES: dict[str, Callable[[str], str]] = {
    "url": lambda v: quote(v, safe=""),
    "json": _json_inside,
    "form": lambda v: quote_plus(v, safe=""),
    "text": lambda v: v,
}


def render(template: str, values: dict[str, str], escape: str) -> str:
    quoted = ESCAPES[escape]
    return PLACEHOLDER.sub(lambda m: quoted(values[m.group(1)]), template)


def values(channel: SmsChannel, message: Message) -> dict[str, str]:
    return {"phone": channel.phone, "text": message.text, "title": message.title,
            "code": channel.code, "key": message.key, "link": message.link or ""}


def field(document: Any, path: str) -> Any:
    """The value at a dotted path of a JSON document (``KeyError`` when there is none)."""
    for name in path.split("."):
        if isinstance(document, list) and name.isdigit() and int(name) < len(document):
            document = document[int(name)]
        elif isinstance(document, dict) and name in document:
            document = document[name]
        else:
            raise KeyError(path)
    return document


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) or value is None else str(value)


def _check(channel: SmsChannel) -> None:
    unknown = unknown_fields(channel.url) + unknown_fields(channel.body_template)
    if unknown:
        names = ", ".join("{" + u + "}" for u in sorted(set(unknown)))
        raise ChannelError("sms", redact(channel.url),
                           f"the template names {names} (known: {', '.join(FIELDS)})",
                           retry=False)


async def send(channel: SmsChannel, message: Message) -> Delivery:
    _check(channel)
    fields = values(channel, message)
    url = render(channel.url, fields, "url")
    content: bytes | None = None
    headers = dict(channel.headers)
    if channel.method == "POST":
        text = render(channel.body_template, fields, channel.body_format)
        if channel.body_format == "json":
            try:
                json.loads(text)
            except ValueError as exc:
                raise ChannelError("sms", redact(channel.url),
                                   f"the body template does not make JSON: {exc}",
                                   retry=False) from exc
        content = text.encode("utf-8")
        headers.setdefault("Content-Type", CONTENT_TYPES[channel.body_format])
    answer = await request("sms", url, within=channel.timeout, method=channel.method,
                           content=content, headers=headers)
    if not ok(answer):
        raise refused("sms", channel.url, answer)
    return Delivery("sms", redact(channel.url), _taken(channel, answer), answer.status)


def _taken(channel: SmsChannel, answer: Answer) -> str:
    """What the provider's answer says of the message (its id where it gives one), or
    ``ChannelError`` when it says it did not take it."""
    wanted = channel.success
    if wanted.field is None and wanted.id_field is None:
        return answer.excerpt()
    document = answer.json()
    target = redact(channel.url)
    if document is None:
        raise ChannelError("sms", target, f"the answer is not JSON: {answer.excerpt()}",
                           status=answer.status)
    if wanted.field is not None:
        try:
            got = field(document, wanted.field)
        except KeyError:
            raise ChannelError("sms", target, f"the answer has no {wanted.field}: "
                               f"{answer.excerpt()}", status=answer.status) from None
        if _text(got) != _text(wanted.equals):
            raise ChannelError("sms", target, f"{wanted.field} is {_text(got)}, not "
                               f"{_text(wanted.equals)}: {answer.excerpt()}",
                               status=answer.status)
    if wanted.id_field is not None:
        try:
            return _text(field(document, wanted.id_field))
        except KeyError:
            return answer.excerpt()
    return answer.excerpt()
