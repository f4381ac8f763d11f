"""A broker given on the command line or in the environment: ``host:port`` or
``mqtt[s]://user:password@host:port``, read into its parts and shown without its secret."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

_BROKER_URL_FORM = "use host:port or mqtt[s]://[user:password@]host:port"


def redact_broker_url(text: str) -> str:
    """The override as it may be shown: everything before the host's ``@`` hidden."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return f"{scheme}{sep}{rest}"


def parse_broker_url(text: str) -> tuple[str, int, str | None, str | None]:
    """``host:port`` or ``mqtt[s]://user:pass@host:port`` → parts.

    The messages never quote what was parsed: with an unencoded ``/``, ``?`` or ``#`` in the
    password, "the port" or "the host" would be a piece of the password.
    """
    if "://" not in text:
        text = "mqtt://" + text
    parts = urlsplit(text.strip())
    scheme = parts.scheme.lower()
    if scheme not in {"mqtt", "mqtts", "tcp"}:
        raise ValueError(_BROKER_URL_FORM)
    if parts.path not in {"", "/"} or parts.query or parts.fragment or "#" in text \
            or "?" in text:
        raise ValueError(f"{_BROKER_URL_FORM}, nothing after the port (percent-encode @ : / ? "
                         "# in the user name and password: %40 %3A %2F %3F %23)")
    if not parts.hostname:
        raise ValueError("no host given")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("bad port: give a number from 1 to 65535") from None
    if port is None:
        port = 8883 if scheme == "mqtts" else 1883
    elif not 1 <= port <= 65535:
        raise ValueError("bad port: give a number from 1 to 65535")
    return (parts.hostname, port, unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None)
