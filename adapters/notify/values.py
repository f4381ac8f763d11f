"""What a notification channel is given and what it answers: one message to one address, the
settings of each kind of channel, the delivery, and the error that says why there was none.

SendError (adapters.interface)
└── ChannelError   the far end refused or could not be reached: ``reason``, ``status`` (HTTP
                   or SMTP code, where there was one), ``retry`` (whether a later try may do)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from adapters.interface import SendError

DEFAULT_TIMEOUT = 10.0  # seconds for the whole exchange: connect, send, answer


@dataclass(frozen=True, slots=True)
class Message:
    """One notification to one address. ``key`` is the same on every try of it (the far end's
    idempotency key); ``text`` is zh-CN, markdown where the channel shows markdown."""

    key: str
    title: str
    text: str
    link: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookChannel:
    """A site's own HTTP endpoint: signed JSON (see ``adapters.notify.webhook``)."""

    url: str = field(repr=False)
    secret: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True, slots=True)
class WeComChannel:
    """A WeCom group robot (企业微信群机器人): its webhook address, the key in its query."""

    url: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True, slots=True)
class DingTalkChannel:
    """A DingTalk custom robot (钉钉自定义机器人): its webhook address with ``access_token``,
    and the ``SEC...`` secret of its 加签 security setting (None: keyword or IP security)."""

    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True, slots=True)
class EmailChannel:
    """An SMTP submission server. With ``starttls`` the session is upgraded before anything is
    said (refused when the server does not offer it); ``cafile`` adds a CA to trust (a site's
    own mail relay), beside the system's."""

    host: str
    sender: str
    to: tuple[str, ...]
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True, slots=True)
class SmsSuccess:
    """How an SMS provider says it took a message, beyond an HTTP 2xx: the JSON field (a dotted
    path, ``Code`` or ``Response.Error.Code``) equal to ``equals`` (compared as text), and where
    the provider's own id of the message is (``BizId``)."""

    field: str | None = None
    equals: str | int | bool | None = None
    id_field: str | None = None


def _frozen(headers: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(headers))


@dataclass(frozen=True, slots=True)
class SmsChannel:
    """An SMS provider's HTTP API, described as data (``adapters.notify.sms``). ``url`` and
    ``body_template`` name the message's fields as ``{phone}``, ``{text}``, ``{title}``,
    ``{code}`` (the provider's template or sign code), ``{key}`` and ``{link}``; each value is
    escaped for where it goes: the query (url), a JSON string (``body_format="json"``, the
    placeholder written inside the quotes) or a form field (``"form"``)."""

    url: str = field(repr=False)
    phone: str
    body_template: str = ""
    method: Literal["GET", "POST"] = "POST"
    body_format: Literal["json", "form", "text"] = "json"
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    code: str = ""
    success: SmsSuccess = SmsSuccess()
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _frozen(self.headers))


Channel = WebhookChannel | WeComChannel | DingTalkChannel | EmailChannel | SmsChannel


@dataclass(frozen=True, slots=True)
class Delivery:
    """The far end took the message: what it said (its answer or message id, cut short)."""

    channel: str  # webhook, wecom, dingtalk, email, sms
    target: str  # where it went, with no secret in it
    answer: str
    status: int | None = None  # HTTP or SMTP code

    def __str__(self) -> str:
        code = f" {self.status}" if self.status is not None else ""
        return f"{self.channel} {self.target}:{code} {self.answer}".rstrip()


class ChannelError(SendError):
    """The far end refused the message or could not be reached."""

    def __init__(self, channel: str, target: str, reason: str, *, status: int | None = None,
                 retry: bool = True) -> None:
        self.channel = channel
        self.target = target
        self.reason = reason
        self.status = status
        self.retry = retry
        super().__init__(f"{channel} {target}: {reason}")


def redact(url: str) -> str:
    """The address as it may be logged: no user, password or query (robots' keys and access
    tokens are in the query)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparseable address>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "", ""))
