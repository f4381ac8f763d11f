"""What the daemon tells systemd while it runs: READY once its adapters are ready (or, with the
broker down, after a while: the gateway is up and says so), its STATUS line when it changes,
and WATCHDOG pings from the event loop while the store can write."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import structlog

from adapters.interface import Adapter
from gateway.config.site import SiteConfig
from gateway.daemon.sdnotify import Notifier

log = structlog.get_logger("gateway")

READY_WAIT = 15.0  # READY=1 once subscribed, or after this with the broker still unreachable
STATUS_EVERY = 5.0


async def announce_ready(notifier: Notifier, adapters: Iterable[Adapter],
                         status_line: Callable[[], str], site: SiteConfig, config: str) -> None:
    waiting = asyncio.gather(*(a.wait_ready() for a in adapters))
    try:
        await asyncio.wait_for(asyncio.shield(waiting), READY_WAIT)
    except TimeoutError:
        # systemd must not kill a gateway whose broker is down: it is up, and says so
        notifier.ready(status_line())
        log.warning("gateway_ready_without_broker", broker=site.broker.describe())
        await waiting
    else:
        notifier.ready(status_line())
    log.info("gateway_ready", site=site.site_id, broker=site.broker.describe(), config=config)


async def keep_status(notifier: Notifier, status_line: Callable[[], str]) -> None:
    last = ""
    while True:
        line = status_line()
        if line != last:
            notifier.status(line)
            last = line
        await asyncio.sleep(STATUS_EVERY)


async def keep_watchdog(notifier: Notifier, interval: float,
                        store_running: Callable[[], bool]) -> None:
    """WATCHDOG=1 from the event loop: a loop that hangs stops the pings and systemd restarts
    the service; so does a dead store thread. A store failing to write is reported (STATUS,
    /healthz, an incident) and retried: a restart would not cure a full disk."""
    while True:
        if store_running():
            notifier.watchdog()
        await asyncio.sleep(interval / 3)
