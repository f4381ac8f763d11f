"""The daemon's upkeep: the config version on record, retention of raw data, and a check of
the store file (a minute after start, then once an hour)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from functools import partial
from typing import TYPE_CHECKING

import structlog

from gateway.daemon.versions import ConfigDiff
from gateway.errors import StoreError
from gateway.store import check_store_file
from gateway.store.records import Records

if TYPE_CHECKING:
    from gateway.daemon.gateway import Gateway

log = structlog.get_logger("gateway")

UPKEEP_EVERY = 3600.0
RECORD_RETRY = 30.0


async def run(gw: Gateway) -> None:
    await asyncio.sleep(60.0)
    while True:
        await retention(gw)
        await check_store(gw)
        await asyncio.sleep(UPKEEP_EVERY)


async def record_config(gw: Gateway, source: str, actor: str,
                        change: ConfigDiff | None = None) -> None:
    """Record the running config version; retried until the store takes it."""
    while True:
        try:
            await _record_config_once(gw, source, actor, change)
        except StoreError as exc:
            log.error("config_version_not_recorded", error=str(exc), retry_in=RECORD_RETRY)
            await asyncio.sleep(RECORD_RETRY)
        else:
            return


async def _record_config_once(gw: Gateway, source: str, actor: str,
                              change: ConfigDiff | None) -> None:
    version = gw.config
    latest = await gw.store.call(lambda r: r.latest_config_version())
    if latest is not None and latest[1] == version.hash:
        return
    summary = list(change.summary) if change else ["first start" if latest is None
                                                    else "changed while stopped"]
    if change and change.needs_restart:
        summary.append("needs a restart to apply: " + ", ".join(change.needs_restart))
    at, text = gw.clock(), "; ".join(summary)
    await gw.store.call(lambda r: r.record_config_version(
        at=at, hash=version.hash, actor=actor, source=source, summary=text,
        files=json.dumps(list(version.files))))
    log.info("config_version_recorded", config=version.short, source=source,
             actor=actor or None)


async def retention(gw: Gateway) -> None:
    r = gw.site.retention
    total: Counter[str] = Counter()
    try:
        while True:
            # one bounded batch per table per store job, with the pipeline's batches between
            removed = await gw.store.call(partial(
                _prune, now=gw.clock(), signals_days=r["signals"] / 86400,
                dead_letters_days=r["dead_letters"] / 86400,
                commands_days=r["commands"] / 86400, outbox_days=r["outbox"] / 86400))
            more = removed.pop("more")
            total.update(removed)
            if not more:
                break
            await asyncio.sleep(0.05)
    except StoreError as exc:
        log.error("retention_failed", error=str(exc))
    if any(total.values()):
        log.info("retention", removed=dict(total))


def _prune(records: Records, **days: float) -> dict[str, int]:
    return records.prune(**days)


async def check_store(gw: Gateway) -> None:
    """``quick_check`` on a connection of its own (WAL: the writes go on meanwhile)."""
    damage = await asyncio.to_thread(check_store_file, gw.site.store_path)
    if damage != gw.store_damage:
        if damage is None:
            log.warning("store_damage_cleared", store=str(gw.site.store_path))
        else:
            log.error("store_damaged", store=str(gw.site.store_path), damage=damage,
                      note="restore the latest backup (alarm-gateway restore FILE)")
    gw.store_damage = damage
