"""The one place logging is configured: JSON lines when not on a TTY (journald keeps them),
readable key=value lines on a terminal."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog


def configure(*, json: bool | None = None, level: str = "info") -> None:
    if json is None:
        json = not sys.stderr.isatty()
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    renderer: Any = (structlog.processors.JSONRenderer(ensure_ascii=False) if json
                     else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # paho and pymodbus log through the standard library; keep their warnings, drop chatter
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(message)s")
    # pymodbus logs every failed connection attempt; the Modbus adapter reports a connection
    # going down and coming back once each, with the endpoint, in the gateway's own log
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def reset() -> None:
    structlog.reset_defaults()
