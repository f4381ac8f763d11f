"""Serving the console with uvicorn inside the daemon's event loop.

The daemon owns the process's signals (uvicorn's own handlers are switched off) and the
listening socket (bound here, so a port in use is reported and the gateway goes on handling
alarms without its console rather than exiting).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

import structlog
import uvicorn

from gateway.console.app import create_app

if TYPE_CHECKING:
    from gateway.daemon.gateway import Gateway

log = structlog.get_logger("console")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def serve_console(gateway: Gateway) -> None:
    settings = gateway.site.console
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        log.error("console_not_started", host=settings.host, port=settings.port, error=str(exc),
                  note="alarms are still handled; fix the console address and restart")
        return
    port = sock.getsockname()[1]
    app = create_app(gateway)
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="off", proxy_headers=False,
        ssl_certfile=str(settings.cert_file) if settings.cert_file else None,
        ssl_keyfile=str(settings.key_file) if settings.key_file else None,
        timeout_graceful_shutdown=2, server_header=False)
    server = _Server(config)
    scheme = "https" if settings.cert_file else "http"
    log.info("console_listening", url=f"{scheme}://{settings.host}:{port}",
             api=f"{scheme}://{settings.host}:{port}/api/openapi.json")
    try:
        await server.serve(sockets=[sock])
    except asyncio.CancelledError:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.shutdown(sockets=[sock]), 3)
        raise
    finally:
        app.state.reader.close()
        sock.close()
