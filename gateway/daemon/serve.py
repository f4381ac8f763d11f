"""The daemon as a process: run until SIGTERM or SIGINT (drained, exit 0); SIGHUP re-reads
the config."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence

import structlog

from gateway.config.site import SiteConfig
from gateway.daemon.gateway import Gateway, Service
from gateway.playbook.definition import Playbook

log = structlog.get_logger("gateway")


async def serve(site: SiteConfig, playbooks: dict[str, Playbook], *,
                reloader: Callable[[], tuple[SiteConfig, dict[str, Playbook]]] | None = None,
                allow_damaged_store: bool = False,
                services: Sequence[tuple[str, Service]] = ()) -> None:
    """Run until SIGTERM or SIGINT (drained, exit 0); SIGHUP re-reads the config."""
    gateway = Gateway(site, playbooks, reloader=reloader,
                      allow_damaged_store=allow_damaged_store, services=services)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("serve() runs as a task of an event loop")
    stopping: list[asyncio.Task[None]] = []

    async def stop() -> None:
        try:
            await gateway.shutdown()
        finally:
            task.cancel()

    def on_stop_signal() -> None:
        if stopping:
            task.cancel()  # a second signal: stop now
            return
        stopping.append(loop.create_task(stop(), name="shutdown"))

    def on_reload_signal() -> None:
        gateway.reload("", "SIGHUP")

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_stop_signal)
    loop.add_signal_handler(signal.SIGHUP, on_reload_signal)
    try:
        await gateway.run()
    except asyncio.CancelledError:
        log.info("gateway_stopped", counters=dict(gateway.counters))
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        gateway.notifier.close()
