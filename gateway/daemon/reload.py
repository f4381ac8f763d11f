"""A reload: the config read again and applied between two inputs of the pipeline. The
signals before it are decided on the old config, those after on the new; open incidents carry
on. A config that does not load is refused and the running one kept; settings only a restart
applies (the store, the broker's connection, the console) stay as they are and are named."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import structlog

from gateway.daemon import registry, upkeep
from gateway.daemon.inputs import Reload
from gateway.daemon.versions import config_version, diff
from gateway.domain.commands import Answer
from gateway.engine.machine import Engine
from gateway.errors import ConfigError, Problem, Refusal
from gateway.store.values import WriteSet

if TYPE_CHECKING:
    from gateway.config.site import SiteConfig
    from gateway.daemon.gateway import Gateway
    from gateway.playbook.definition import Playbook

log = structlog.get_logger("gateway")


def apply_reload(gw: Gateway, item: Reload, ws: WriteSet, now: float) -> None:
    def answer(ok: bool, text: str) -> None:
        if item.row_id is not None:
            ws.command_results.append(Answer(item.row_id, text,
                                             None if ok else Refusal.CONFLICT,
                                             "" if ok else "reload_refused", {"detail": text}))

    gw.notifier.reloading()
    try:
        if gw.reloader is None:
            raise ConfigError([Problem(str(gw.site.file), "",
                                       "this gateway was started without a config file")])
        site, playbooks = gw.reloader()
    except ConfigError as exc:
        problems = [str(p) for p in exc.problems]
        log.error("reload_rejected", by=item.actor, source=item.source, problems=problems,
                  kept=gw.config.short)
        gw.notifier.ready(gw.status_line())
        answer(False, "config rejected, the running one is kept:\n  " + "\n  ".join(problems))
        return
    version = config_version(site, playbooks)
    change = diff(gw.site, gw.engine.playbooks, site, playbooks)
    if version.hash == gw.config.hash and change.empty:
        gw.notifier.ready(gw.status_line())
        answer(True, f"config unchanged ({gw.config.short})")
        return
    site = _restart_only_kept(gw.site, site)
    rebuilt = [name for name, kind in registry.KINDS.items()
               if kind.settings(site) != kind.settings(gw.site)]
    _apply(gw, site, playbooks, version.short)
    gw.config = version
    orphans = sorted({i.type for i in gw.state.incidents.values()} - set(playbooks))
    log.warning("config_reloaded", by=item.actor, source=item.source, config=version.short,
                changes=list(change.summary), needs_restart=list(change.needs_restart),
                incidents_without_playbook=orphans)
    for name, kind in registry.KINDS.items():
        if name in rebuilt:
            if gw.tasks is not None:
                gw.tasks.create_task(gw.replace_adapters(name), name=f"{name}-restart")
        elif kind.refresh is not None:
            kind.refresh([a for a in gw.adapters.values() if a.kind == name], site)
    if gw.tasks is not None:
        gw.tasks.create_task(upkeep.record_config(gw, item.source, item.actor, change),
                             name="config-version")
    for listener in gw.reload_listeners:
        listener()
    gw.notifier.ready(gw.status_line())
    text = f"config {version.short} applied: " + ("; ".join(change.summary) or "no change")
    if change.needs_restart:
        text += f" (needs a restart to apply: {', '.join(change.needs_restart)})"
    answer(True, text)


def _restart_only_kept(running: SiteConfig, site: SiteConfig) -> SiteConfig:
    """The new config with the settings only a restart applies kept as they run."""
    return replace(site, broker=replace(running.broker, subscriptions=site.broker.subscriptions),
                   store_path=running.store_path, store_synchronous=running.store_synchronous,
                   console=running.console, site_id=running.site_id,
                   mqtt_prefix=running.mqtt_prefix)


def _apply(gw: Gateway, site: SiteConfig, playbooks: dict[str, Playbook], short: str) -> None:
    d = gw.d
    engine = Engine(site, playbooks)
    engine.config_version = short
    gw.site = d.site = site
    d.engine = engine
    d.intakes = registry.intakes(site)
    d.points = {pid: p for pid, p in d.points.items() if pid in site.points}
