"""The daemon: adapters in, the pipeline in the middle, the store and the dispatcher out.

``Gateway`` assembles the parts and runs their tasks: the adapters (built from the config by
``registry``), the pipeline deciding and committing batches (``pipeline``, ``decisions``), the
dispatcher sending the outbox's effects (``dispatcher``), the ticks (``ticks``), the command
queue, systemd's status and watchdog, upkeep (``upkeep``), reloads (``reload``) and the
services beside them (the console). ``open`` and ``Pipeline.step`` let a test run it in-process
without its tasks, with adapters of its own and a virtual clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any

import structlog

from adapters.interface import Adapter
from gateway.config.site import SiteConfig
from gateway.daemon import broker as embedded
from gateway.daemon import broker_settings, registry, site_commands, systemd, upkeep
from gateway.daemon.decisions import Decisions, Shelf
from gateway.daemon.dispatcher import Dispatcher
from gateway.daemon.health import Vitals, report
from gateway.daemon.inputs import TICK, QueuedCommand, Reload
from gateway.daemon.pipeline import Pipeline
from gateway.daemon.reload import apply_reload
from gateway.daemon.sdnotify import Notifier
from gateway.daemon.status import bad_input_recent, status_line, vitals
from gateway.daemon.ticks import SUPERVISION_EVERY, SelfChecks, Ticks
from gateway.daemon.versions import config_version
from gateway.domain import drill as drill_window
from gateway.domain.commands import Answer
from gateway.domain.drill import DrillWindow
from gateway.domain.incident import Incident, action_of
from gateway.engine.machine import Engine
from gateway.engine.state import EngineState, OperatorCommand
from gateway.errors import StoreError
from gateway.playbook.definition import Playbook
from gateway.points.conditioning import PointStatus
from gateway.store import SCHEMA_VERSION, DaemonLock, DaemonStore
from gateway.store.values import StartupState

log = structlog.get_logger("gateway")

COMMAND_POLL = 0.2
COMMAND_TIMEOUT = 10.0
TASK_RESTART_DELAY = 1.0
DRAIN_SECONDS = 5.0  # on SIGTERM: finish the work in hand and flush the outbox, within this

# something that runs beside the pipeline for the daemon's life, given the gateway
Service = Callable[["Gateway"], Coroutine[Any, Any, None]]
# the site's adapters (``registry.build`` unless a test brings its own)
BuildAdapters = Callable[[SiteConfig, Callable[[Adapter, Any], None],
                          dict[str, tuple[int, ...]]], list[Adapter]]


class Gateway:
    def __init__(self, site: SiteConfig, playbooks: dict[str, Playbook], *,
                 clock: Callable[[], float] = time.time,
                 reloader: Callable[[], tuple[SiteConfig, dict[str, Playbook]]] | None = None,
                 notifier: Notifier | None = None, allow_damaged_store: bool = False,
                 services: Sequence[tuple[str, Service]] = (),
                 adapters: BuildAdapters = registry.build) -> None:
        """``services``: what else runs beside the pipeline for the daemon's whole life, given
        the gateway (the operator console's HTTP server)."""
        self.site = site
        self.services = tuple(services)
        self.config = config_version(site, playbooks)
        self.reloader = reloader
        self.notifier = notifier or Notifier()
        self.clock = clock
        self.build_adapters = adapters
        self.store = DaemonStore(site.store_path, synchronous=site.store_synchronous,
                                 allow_damaged=allow_damaged_store)
        self.lock = DaemonLock(site.store_path)
        engine = Engine(site, playbooks)
        engine.config_version = self.config.short
        self.d = Decisions(site, engine, registry.intakes(site), clock=clock)
        self.adapters: dict[str, Adapter] = {}
        self.pipeline = Pipeline(self.d, self.store, self.adapters, clock=clock)
        self.dispatcher = Dispatcher(self.adapters, self.pipeline.outq,
                                     self.pipeline.outbox_result)
        self.self_checks = SelfChecks()
        self.ticks = Ticks(self.d, lambda ws, now: self.self_checks.run(
            self.d, self.vitals, self.broker_connected, ws, now))
        self.d.on_command = lambda item, ws, now: site_commands.on_command(self.d, item, ws, now)
        self.d.on_reload = lambda item, ws, now: apply_reload(self, item, ws, now)
        self.d.on_tick = self.ticks
        self.draining = False
        self.store_damage: str | None = None  # what the last quick_check found
        self.queued_commands: set[int] = set()
        self.reload_listeners: list[Callable[[], None]] = []  # told of every reload
        self.tasks: asyncio.TaskGroup | None = None  # the daemon's, while it runs
        self._adapter_tasks: dict[str, asyncio.Task[None]] = {}
        self._broker_process: Any = None
        # a command answered on record is not taken from the queue again
        self.pipeline.listeners.append(lambda ws: self.queued_commands.difference_update(
            a.row_id for a in ws.command_results))

    # ------------------------------------------------------------------ what others read

    @property
    def engine(self) -> Engine:
        return self.d.engine

    @property
    def state(self) -> EngineState:
        return self.d.state

    @property
    def points(self) -> dict[str, PointStatus]:
        return self.d.points

    @property
    def shelved(self) -> dict[str, Shelf]:
        return self.d.shelved

    @property
    def drill(self) -> DrillWindow | None:
        return self.d.drill

    @property
    def drill_until(self) -> float:
        return self.d.drill_until

    @property
    def counters(self) -> Counter[str]:
        return self.d.counters

    @property
    def started_at(self) -> float:
        return self.ticks.started_at

    @property
    def broker_connected(self) -> bool:
        return any(a.health().connected for a in self.adapters.values() if a.kind == "mqtt")

    def vitals(self, now: float | None = None) -> Vitals:
        return vitals(self, self.clock() if now is None else now)

    def health(self) -> dict[str, Any]:
        """What /healthz reports: every problem now, and the figures behind them."""
        body = report(self.vitals(), self.site.health_limits)
        body["open_incidents"] = len(self.state.incidents)
        return body

    def bad_input_recent(self, now: float) -> dict[str, int]:
        return bad_input_recent(self.d, now)

    def status_line(self) -> str:
        """One line for systemd's STATUS and the log."""
        return status_line(self)

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        self.lock.acquire()
        try:
            if self.site.broker.embedded:
                # before the store thread exists: the broker is forked with a pre-exec hook
                await self._start_embedded_broker()
            await self.store.open()
            if self.store.migrations:
                log.info("store_migrated", from_version=self.store.migrated_from,
                         to_version=SCHEMA_VERSION, applied=list(self.store.migrations))
            try:
                await self._run_open()
            finally:
                await self.store.close()
        finally:
            self.lock.release()
            if self._broker_process is not None:
                embedded.stop(self._broker_process)

    async def open(self) -> StartupState:
        """Take up where the store left off: open incidents, points, drill window, shelves,
        pending outbox; build the adapters (not yet running). The store is open."""
        try:
            startup = await self.store.call(lambda r: r.load_startup())
        except StoreError as exc:
            raise StoreError(f"cannot read the open incidents and points from "
                             f"{self.site.store_path}: {exc}. Restore the latest backup "
                             "(alarm-gateway restore FILE)") from exc
        d = self.d
        self.ticks.start(self.clock())
        d.state = EngineState.restore(startup.open_incidents, startup.next_number)
        d.points.update(startup.points)
        d.drill = drill_window.from_json(startup.drill)
        d.shelved.update({pid: Shelf(**shelf) for pid, shelf in startup.shelved.items()})
        try:  # the commands by hand still followed; a row the store could not keep whole
            d.state.site_actions.update({a.id: a for a in map(  # is said, not fatal
                action_of, json.loads(startup.site_actions or "[]"))})
        except (ValueError, TypeError, KeyError) as exc:
            log.error("site_actions_unreadable", error=str(exc)[:200],
                      note="commands by hand given before the restart are no longer followed")
        try:
            d.state.swaps = site_commands.swaps_of(startup.roster_swaps)
        except (ValueError, TypeError, KeyError) as exc:
            log.error("roster_swaps_unreadable", error=str(exc)[:200],
                      note="the roster's swaps given before the restart are lost: give them "
                           "again")
        d.state.point_values.update({pid: (p.value, p.state) for pid, p in d.points.items()})
        for item in startup.pending_outbox:
            self.pipeline.outq.put_nowait(item)
        for row_id, why in startup.unreadable_outbox:
            log.error("outbox_unreadable", outbox_id=row_id, reason=why)
            self.pipeline.outbox_done.append((row_id, "failed", why, self.clock()))
        self.store_damage = self.store.damage
        self.adapters.update({a.name: a for a in self.build_adapters(
            self.site, self.pipeline.deliver, dict(startup.ledgers))})
        return startup

    async def _run_open(self) -> None:
        startup = await self.open()
        b = self.site.broker
        broker_settings.log_findings(b.host, b.port, b.config_file,
                                     self.site.embedded_broker_config)
        if self.store_damage is not None:
            log.error("store_damaged", store=str(self.site.store_path), damage=self.store_damage,
                      note="running on it as allowed; restore a backup as soon as possible")
        log.info("gateway_starting", site=self.site.site_id, store=str(self.site.store_path),
                 broker=b.describe(), embedded_broker=b.embedded, points=len(self.site.points),
                 playbooks=sorted(self.engine.playbooks), open_incidents=len(self.state.incidents),
                 pending_outbox=len(startup.pending_outbox), adapters=sorted(self.adapters))
        async with asyncio.TaskGroup() as tg:
            self.tasks = tg
            tg.create_task(upkeep.record_config(self, "start", ""), name="config-version")
            self.start_adapters(self.adapters.values())
            for name, factory in (("pipeline", self.pipeline.run), ("ticker", self._ticker),
                                  ("dispatcher", self.dispatcher.run),
                                  ("acknowledger", self.pipeline.acknowledge),
                                  ("commands", self._command_poller),
                                  ("ready", lambda: systemd.announce_ready(
                                      self.notifier, list(self.adapters.values()),
                                      self.status_line, self.site, self.config.short)),
                                  ("status", lambda: systemd.keep_status(self.notifier,
                                                                         self.status_line)),
                                  ("upkeep", lambda: upkeep.run(self))):
                tg.create_task(self._supervised(name, factory), name=name)
            if self.notifier.watchdog_seconds:
                tg.create_task(systemd.keep_watchdog(self.notifier, self.notifier.watchdog_seconds,
                                                     lambda: self.store.running),
                               name="watchdog")
            for name, service in self.services:
                tg.create_task(service(self), name=name)

    async def _supervised(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Run a long-lived task; a defect in it is logged with its traceback, counted, and
        the task started again: no failure of one part ends the daemon on its own."""
        while True:
            try:
                await factory()
            except Exception as exc:
                self.counters["task_failures"] += 1
                log.exception("task_failed", task=name, error=repr(exc),
                              restart_in=TASK_RESTART_DELAY)
                await asyncio.sleep(TASK_RESTART_DELAY)
            else:
                return

    def start_adapters(self, adapters: Iterable[Adapter]) -> None:
        if self.tasks is None or self.draining:
            return
        for adapter in adapters:
            self._adapter_tasks[adapter.name] = self.tasks.create_task(
                self._supervised(f"adapter-{adapter.name}", adapter.run),
                name=f"adapter-{adapter.name}")

    async def stop_adapters(self, names: Sequence[str]) -> None:
        tasks = [self._adapter_tasks.pop(n) for n in names if n in self._adapter_tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for name in names:
            self.adapters.pop(name, None)

    async def replace_adapters(self, kind: str) -> None:
        """After a reload that changed what adapters of ``kind`` are built from: the old ones
        stop, new ones start."""
        await self.stop_adapters([n for n, a in self.adapters.items() if a.kind == kind])
        new = [a for a in self.build_adapters(self.site, self.pipeline.deliver, {})
               if a.kind == kind]
        self.adapters.update({a.name: a for a in new})
        self.start_adapters(new)

    async def _ticker(self) -> None:
        while True:
            due = self.engine.next_due(self.state)
            wait = SUPERVISION_EVERY if due is None else min(SUPERVISION_EVERY,
                                                             max(0.0, due - self.clock()))
            await asyncio.sleep(wait)
            self.pipeline.put(TICK)

    async def _start_embedded_broker(self) -> None:
        b = self.site.broker
        conf = self.site.embedded_broker_config
        if conf is None:
            raise StoreError("the embedded broker has no config")
        data_dir = self.site.store_path.parent / "broker"
        conf_text = embedded.render_config(conf, b.port, data_dir)
        conf_path = data_dir / "mosquitto.conf"
        self._broker_process = embedded.start_mosquitto(conf_text, conf_path)
        await embedded.wait_listening(b.host, b.port, self._broker_process, conf_path)
        log.info("embedded_broker_started", port=b.port, pid=self._broker_process.pid,
                 settings=str(conf))

    # ------------------------------------------------------------------ stopping

    async def shutdown(self) -> None:
        """SIGTERM: take no new signals, finish what is in hand, flush the outbox within a
        bound; the caller then cancels the rest and the store closes cleanly."""
        if self.draining:
            return
        self.draining = self.pipeline.draining = True
        self.ticks.checking = False
        self.notifier.stopping(self.status_line())
        pipeline = self.pipeline
        log.info("gateway_stopping", queued=pipeline.inputs.qsize(),
                 outbox=pipeline.outq.qsize())
        for name, task in self._adapter_tasks.items():
            if self.adapters[name].kind != "mqtt":
                task.cancel()  # the broker stays connected to send what is in hand
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_SECONDS
        await _until(lambda: not pipeline.busy and pipeline.inputs.empty(), deadline)
        await _until(lambda: (pipeline.outq.empty() and not self.dispatcher.waiting)
                     or not self.broker_connected, deadline)
        if pipeline.outbox_done:
            done, pipeline.outbox_done = pipeline.outbox_done, []
            with contextlib.suppress(StoreError):
                await self.store.call(lambda r: r.mark_outbox(done))
        log.info("gateway_drained", left_queued=pipeline.inputs.qsize(),
                 outbox_unsent=pipeline.outq.qsize(), in_time=loop.time() < deadline)

    # ------------------------------------------------------------------ operator commands

    async def _stored_for(self, incident_id: str) -> Incident | None:
        """The store's snapshot of an incident the engine no longer holds (a closed one, for
        reopen and follow-ups); None when the engine has it or no incident is named."""
        if not incident_id or incident_id in self.state.incidents:
            return None
        return await self.store.call(lambda r: r.get_incident(incident_id))

    async def command(self, command: OperatorCommand) -> Answer:
        """Give a command as the CLI does (queued in the store, so it is on record), but hear
        its result as soon as its batch is committed."""
        now = self.clock()
        row_id = await self.store.call(lambda r: r.submit_command(
            command.verb, command.incident_id, command.actor, dict(command.args), now))
        self.queued_commands.add(row_id)
        stored = await self._stored_for(command.incident_id)
        waiter = self.pipeline.answer_later(row_id)
        self.pipeline.put(QueuedCommand(row_id, command, stored))
        try:
            return await asyncio.wait_for(waiter, COMMAND_TIMEOUT)
        finally:
            self.pipeline.command_waiters.pop(row_id, None)

    def reload(self, actor: str, source: str) -> None:
        """Re-read the config between two inputs (SIGHUP)."""
        self.pipeline.put(Reload(actor, source))

    async def _command_poller(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(COMMAND_POLL)
            try:
                await self.poll_commands()
            except StoreError as exc:
                # the store is busy or failing (reported by the writes): try again, quietly
                if not failing:
                    log.warning("command_poll_failed", error=str(exc), retry_every=COMMAND_POLL)
                failing = True
            else:
                failing = False

    async def poll_commands(self) -> None:
        """Commands queued in the store (by the CLI) into the pipeline, each once."""
        rows = await self.store.call(lambda r: r.pending_commands())
        for row_id, verb, incident_id, actor, args in rows:
            if row_id in self.queued_commands:
                continue
            stored = await self._stored_for(incident_id)
            self.queued_commands.add(row_id)
            self.pipeline.put(QueuedCommand(row_id, OperatorCommand(
                verb, incident_id, actor, args), stored))


async def _until(done: Callable[[], bool], deadline: float) -> None:
    loop = asyncio.get_running_loop()
    for _ in itertools.count():  # polled: what it waits for has no event of its own
        if done() or loop.time() >= deadline:
            return
        await asyncio.sleep(0.02)
