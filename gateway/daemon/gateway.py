"""The daemon: adapters in, engine in the middle, store and outbox out.

One pipeline task owns the engine and the point table and handles inputs in batches: decode and
condition the readings, run the engine, commit everything the batch changed in one transaction,
and only then acknowledge the MQTT messages to the broker and hand the new outbox rows to the
dispatcher. A crash anywhere before the commit leaves the messages unacknowledged, so the broker
delivers them again; a crash after it leaves pending outbox rows that are sent at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any

import structlog

from adapters.modbus import ModbusLink
from adapters.modbus_values import (
    BlockRead,
    BlockRefused,
    LinkSettings,
    ModbusWriteError,
    UnitHealth,
)
from adapters.mqtt import InboundMessage, MqttAdapter, MqttSettings
from gateway.config.schema import unknown_name
from gateway.config.site import MqttBinding, PointConfig, SiteConfig
from gateway.daemon import broker as embedded
from gateway.daemon import broker_settings
from gateway.daemon.commits import DEAD_LETTER_KEEP, Commit, Committer
from gateway.daemon.health import BAD_INPUT_WINDOW, Vitals, checks, degraded, problems, report
from gateway.daemon.reporting import Reports
from gateway.daemon.sdnotify import Notifier
from gateway.daemon.versions import ConfigDiff, config_version, diff
from gateway.domain import drill as drill_window
from gateway.domain.drill import DrillWindow
from gateway.domain.incident import Incident
from gateway.domain.model import ActionStatus, Event, Location, PointKind, PointState, Signal
from gateway.engine.machine import Engine
from gateway.engine.state import (
    MODBUS_SCHEME,
    EngineState,
    OperatorCommand,
    Outcome,
    apply,
    event_messages,
)
from gateway.errors import CommandError, ConfigError, DecodeError, Problem, StoreError
from gateway.playbook.definition import Playbook
from gateway.points.conditioning import (
    PointStatus,
    back_online,
    condition,
    rejected,
    supervise,
    went_offline,
)
from gateway.points.decode import availability, decode, decode_modbus
from gateway.points.modbus_plan import plan as modbus_plan
from gateway.store import SCHEMA_VERSION, DaemonLock, DaemonStore, check_store_file
from gateway.store.records import Records
from gateway.store.values import DeadLetter, OutboxItem, SignalRecord, WriteSet

log = structlog.get_logger("gateway")

MAX_BATCH = 512
# Batches decided and waiting for their commit. While the store cannot be written the pipeline
# goes on deciding (deadlines, self-supervision, the console's view) up to this many; the
# broker's in-flight window bounds what MQTT brings meanwhile.
MAX_PENDING_COMMITS = 256
SUPERVISION_EVERY = 1.0
COMMAND_POLL = 0.2
COMMAND_TIMEOUT = 10.0
TASK_RESTART_DELAY = 1.0
BAD_INPUT_KEEP = 10_000  # recent bad inputs remembered for the health report


@dataclass(frozen=True, slots=True)
class _Command:
    row_id: int
    command: OperatorCommand
    stored: Incident | None = None  # the store's snapshot, for commands on closed incidents


@dataclass(frozen=True, slots=True)
class _ActionResult:
    incident_id: str
    action_id: str
    status: ActionStatus
    detail: str


class _Tick:
    pass


MAX_SHELVE_MINUTES = 24 * 60


@dataclass(frozen=True, slots=True)
class Shelf:
    until: float
    by: str
    reason: str
    at: float


_TICK = _Tick()
# something that runs beside the pipeline for the daemon's life, given the gateway
Service = Callable[["Gateway"], Coroutine[Any, Any, None]]
_LOGGED_EVENTS = {"incident_opened", "stage_entered", "action_requested", "deadline_missed",
                  "escalated", "prompt_timed_out", "branch_decided", "resolved", "closed",
                  "reopened"}
_LOGGED_FIELDS = {"name_en", "location", "state", "stage_name_en", "reason", "actuator",
                  "command", "step", "late", "late_by", "to", "withheld"}
@dataclass(frozen=True, slots=True)
class _Reload:
    """Re-read the config (SIGHUP, or ``alarm-gateway reload`` as a queued command)."""

    actor: str
    source: str
    row_id: int | None = None


_Input = (InboundMessage | _Command | _ActionResult | _Tick | _Reload | BlockRead | BlockRefused
          | UnitHealth)
DRAIN_SECONDS = 5.0  # on SIGTERM: finish the work in hand and flush the outbox, within this
READY_WAIT = 15.0  # READY=1 once subscribed, or after this with the broker still unreachable
STATUS_EVERY = 5.0
UPKEEP_EVERY = 3600.0


class Gateway:
    def __init__(self, site: SiteConfig, playbooks: dict[str, Playbook], *,
                 clock: Callable[[], float] = time.time,
                 reloader: Callable[[], tuple[SiteConfig, dict[str, Playbook]]] | None = None,
                 notifier: Notifier | None = None, allow_damaged_store: bool = False,
                 services: Sequence[tuple[str, Service]] = ()) -> None:
        """``services``: what else runs beside the pipeline for the daemon's whole life, given
        the gateway (the operator console's HTTP server)."""
        self.site = site
        self.services = tuple(services)
        self.engine = Engine(site, playbooks)
        self.config = config_version(site, playbooks)
        self.engine.config_version = self.config.short
        self.reloader = reloader
        self.notifier = notifier or Notifier()
        self.draining = False
        self.busy = 0  # batches taken from the inputs and not yet committed and acknowledged
        # the last input of each adapter ("mqtt", and each Modbus connection id)
        self.last_rx: dict[str, float] = {}
        self.broker_down_since: float | None = None
        self.system_points: dict[str, PointState] = {}
        self._run_task: asyncio.Task[None] | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._link_tasks: dict[str, asyncio.Task[None]] = {}
        self.clock = clock
        self.store = DaemonStore(site.store_path, synchronous=site.store_synchronous,
                           allow_damaged=allow_damaged_store)
        self.lock = DaemonLock(site.store_path)
        self.state = EngineState()
        self.points: dict[str, PointStatus] = {}
        self.topics: dict[str, tuple[PointConfig, ...]] = site.points_by_topic()
        self.availability = site.points_by_topic("availability")
        self.bridges = site.points_by_topic("bridge")
        self.inputs: asyncio.Queue[_Input] = asyncio.Queue()
        self.outq: asyncio.Queue[OutboxItem] = asyncio.Queue()
        # broker-acknowledged outbox rows, written with the next batch (or the next tick)
        self.outbox_done: list[tuple[int, str, str, float]] = []
        # committed-in-order hand-over from the pipeline to the acknowledger
        self.commits: asyncio.Queue[Commit] = asyncio.Queue(maxsize=MAX_PENDING_COMMITS)
        self.counters: Counter[str] = Counter()
        self.committer = Committer(self.store, self.counters)
        self._write_seq = 0  # numbers the pipeline's writes, which commit in this order
        self.reports = Reports()  # which bad inputs are logged (each kind once, bounded)
        self.bad_input: deque[tuple[float, str]] = deque(maxlen=BAD_INPUT_KEEP)
        self.store_damage: str | None = None  # what the last quick_check found
        self.started_at = 0.0
        self.last_supervision = 0.0
        self.queued_commands: set[int] = set()
        self.mqtt: MqttAdapter | None = None
        self.modbus_plans = modbus_plan(site.points)
        self.links: dict[str, ModbusLink] = {}
        # a tester's drill window: signals of its scope meanwhile are drill signals
        self.drill: DrillWindow | None = None
        # points an operator shelved (ISA-18.2): their signals are kept but open nothing
        self.shelved: dict[str, Shelf] = {}
        self._modbus_writes: set[asyncio.Task[None]] = set()
        # told of every committed batch (the console's live stream), and of every reload
        self.listeners: list[Callable[[WriteSet], None]] = []
        self.reload_listeners: list[Callable[[], None]] = []
        # commands given over the console API, answered once their batch is committed
        self.command_waiters: dict[int, asyncio.Future[tuple[bool, str]]] = {}
        self.last_commit_at = 0.0
        self._broker_process: Any = None

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

    async def _run_open(self) -> None:
        try:
            startup = await self.store.call(lambda r: r.load_startup())
        except StoreError as exc:
            raise StoreError(f"cannot read the open incidents and points from "
                             f"{self.site.store_path}: {exc}. Restore the latest backup "
                             "(alarm-gateway restore FILE)") from exc
        self.started_at = self.clock()
        self.last_supervision = self.started_at
        self.state = EngineState.restore(startup.open_incidents, startup.next_number)
        self.points = dict(startup.points)
        self.drill = drill_window.from_json(startup.drill)
        self.shelved = {pid: Shelf(**shelf) for pid, shelf in startup.shelved.items()}
        self.state.point_values.update({pid: (p.value, p.state)
                                        for pid, p in self.points.items()})
        for item in startup.pending_outbox:
            self.outq.put_nowait(item)
        self.store_damage = self.store.damage
        b = self.site.broker
        broker_settings.log_findings(b.host, b.port, b.config_file,
                                     self.site.embedded_broker_config)
        if self.store_damage is not None:
            log.error("store_damaged", store=str(self.site.store_path), damage=self.store_damage,
                      note="running on it as allowed; restore a backup as soon as possible")
        self.mqtt = MqttAdapter(MqttSettings(
            host=b.host, port=b.port, client_id=b.client_id, subscriptions=b.subscriptions,
            username=b.username, password=b.password,
            ca_file=b.tls.ca_file if b.tls else None, cert_file=b.tls.cert_file if b.tls else None,
            key_file=b.tls.key_file if b.tls else None, tls=b.tls is not None,
            tls_insecure=b.tls.insecure if b.tls else False, keepalive=int(b.keepalive),
            probe_topic=f"{self.site.mqtt_prefix}/gateway/probe/{b.client_id}"),
            self._receive, stored_inflight=startup.mqtt_inflight)
        log.info("gateway_starting", site=self.site.site_id, store=str(self.site.store_path),
                 broker=b.describe(), embedded_broker=b.embedded, points=len(self.site.points),
                 playbooks=sorted(self.engine.playbooks), open_incidents=len(self.state.incidents),
                 pending_outbox=len(startup.pending_outbox))
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            tg.create_task(self._record_config("start", ""), name="config-version")
            mqtt = self.mqtt
            self._start_links()
            for name, factory in (("mqtt", mqtt.run), ("pipeline", self._pipeline),
                                  ("ticker", self._ticker), ("dispatcher", self._dispatcher),
                                  ("acknowledger", self._acknowledger),
                                  ("commands", self._command_poller),
                                  ("ready", self._announce_ready), ("status", self._status_loop),
                                  ("upkeep", self._upkeep)):
                tg.create_task(self._supervised(name, factory), name=name)
            if self.notifier.watchdog_seconds:
                tg.create_task(self._watchdog(self.notifier.watchdog_seconds), name="watchdog")
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

    def _start_links(self) -> None:
        assert self._tg is not None
        for connection in self.site.modbus.values():
            connection_plan = self.modbus_plans.get(connection.id)
            link = ModbusLink(
                LinkSettings(connection.id, connection.transport, connection.host,
                             connection.port, connection.device, connection.baudrate,
                             connection.parity, connection.stopbits, connection.bytesize,
                             connection.timeout, connection.backoff_max),
                list(connection_plan.blocks) if connection_plan else [],
                dict(connection.poll), partial(self._from_modbus, connection.id))
            self.links[connection.id] = link
            self._link_tasks[connection.id] = self._tg.create_task(
                link.run(), name=f"modbus-{connection.id}")

    async def _restart_links(self) -> None:
        """After a reload that changed the Modbus side: the old links stop, new ones start."""
        tasks = list(self._link_tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.links.clear()
        self._link_tasks.clear()
        if not self.draining:
            self._start_links()

    def _receive(self, message: InboundMessage) -> None:
        self.last_rx["mqtt"] = self.clock()
        if self.draining:
            # stopping: not taken, so not acknowledged; the broker keeps it for the next start
            self.counters["mqtt_left_for_next_start"] += 1
            return
        self.inputs.put_nowait(message)

    def _from_modbus(self, connection: str, report: BlockRead | BlockRefused | UnitHealth) -> None:
        if isinstance(report, BlockRead):
            self.last_rx[connection] = self.clock()
        if not self.draining:
            self.inputs.put_nowait(report)

    # ------------------------------------------------------------------ systemd

    def status_line(self) -> str:
        """One line for systemd's STATUS and the log."""
        total = len(self.site.points)
        online = sum(1 for pid, p in self.points.items()
                     if p.state is not PointState.OFFLINE and pid in self.site.points)
        live = len(self.state.incidents)
        parts = [f"{live} open incident{'s' if live != 1 else ''}",
                 "broker connected" if self.mqtt and self.mqtt.connected
                 else "broker DISCONNECTED", f"{online}/{total} points online"]
        vitals = self.vitals()
        found = problems(vitals, self.site.health_limits)
        if found:
            parts.append("PROBLEM: " + "; ".join(found))
        notes = degraded(vitals)
        if notes:
            parts.append("DEGRADED: " + "; ".join(notes))
        down = [name for name, state in sorted(self.system_points.items())
                if state is PointState.ALARM]
        if down:
            parts.append("SYSTEM: " + ", ".join(down))
        if self.drill is not None and self.drill.active(self.clock()):
            parts.append(f"drill on ({self.drill.scope_text()})")
        if self.draining:
            parts.append("stopping")
        return ", ".join(parts)

    async def _status_loop(self) -> None:
        last = ""
        while True:
            line = self.status_line()
            if line != last:
                self.notifier.status(line)
                last = line
            await asyncio.sleep(STATUS_EVERY)

    async def _watchdog(self, interval: float) -> None:
        """WATCHDOG=1 from the event loop: a loop that hangs stops the pings and systemd
        restarts the service; so does a dead store thread."""
        while True:
            # a store failing to write is reported (STATUS, /healthz, an incident) and
            # retried; a restart would not cure a full disk
            if self.store.running:
                self.notifier.watchdog()
            await asyncio.sleep(interval / 3)

    # ------------------------------------------------------------------ stopping

    async def shutdown(self) -> None:
        """SIGTERM: take no new signals, finish what is in hand, flush the outbox within a
        bound; the caller then cancels the rest and the store closes cleanly."""
        if self.draining:
            return
        self.draining = True
        self.notifier.stopping(self.status_line())
        log.info("gateway_stopping", queued=self.inputs.qsize(), outbox=self.outq.qsize())
        for task in self._link_tasks.values():
            task.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_SECONDS
        await _until(lambda: not self.busy and self.inputs.empty(), deadline)
        await _until(lambda: (self.outq.empty() and not self._publishing())
                     or self.mqtt is None or not self.mqtt.connected, deadline)
        if self.outbox_done:
            done, self.outbox_done = self.outbox_done, []
            with contextlib.suppress(StoreError):
                await self.store.call(lambda r: r.mark_outbox(done))
        log.info("gateway_drained", left_queued=self.inputs.qsize(),
                 outbox_unsent=self.outq.qsize(), in_time=loop.time() < deadline)

    def _publishing(self) -> bool:
        return bool(self.mqtt is not None and self.mqtt.inflight) or bool(self._modbus_writes)

    async def _announce_ready(self) -> None:
        assert self.mqtt is not None
        try:
            await asyncio.wait_for(self.mqtt.wait_subscribed(), READY_WAIT)
        except TimeoutError:
            # systemd must not kill a gateway whose broker is down: it is up, and says so
            self.notifier.ready(self.status_line())
            log.warning("gateway_ready_without_broker", broker=self.site.broker.describe())
            await self.mqtt.wait_subscribed()
        else:
            self.notifier.ready(self.status_line())
        log.info("gateway_ready", site=self.site.site_id, broker=self.site.broker.describe(),
                 config=self.config.short)

    async def _start_embedded_broker(self) -> None:
        b = self.site.broker
        assert self.site.embedded_broker_config is not None
        data_dir = self.site.store_path.parent / "broker"
        conf_text = embedded.render_config(self.site.embedded_broker_config, b.port, data_dir)
        conf_path = data_dir / "mosquitto.conf"
        self._broker_process = embedded.start_mosquitto(conf_text, conf_path)
        await embedded.wait_listening(b.host, b.port, self._broker_process, conf_path)
        log.info("embedded_broker_started", port=b.port, pid=self._broker_process.pid,
                 settings=str(self.site.embedded_broker_config))

    # ------------------------------------------------------------------ the pipeline

    async def _pipeline(self) -> None:
        while True:
            first = await self.inputs.get()
            batch = [first]
            while len(batch) < MAX_BATCH and not self.inputs.empty():
                batch.append(self.inputs.get_nowait())
            self.busy += 1
            try:
                if not await self._process(batch):
                    self.busy -= 1  # nothing to commit
            except Exception as exc:
                # The pipeline must outlive a defect. Nothing of this batch was acknowledged;
                # its messages are kept as dead letters so that they are, rather than stay
                # in flight at the broker and block what comes after them.
                self.counters["internal_errors"] += 1
                log.exception("batch_failed", size=len(batch), error=repr(exc))
                await self._keep_failed_batch(batch, exc)

    async def _keep_failed_batch(self, batch: list[_Input], exc: Exception) -> None:
        ws = WriteSet()
        messages = [m for m in batch if isinstance(m, InboundMessage)]
        for message in messages:
            self._dead_letter_message(ws, message, "internal_error", repr(exc))
        for item in batch:
            if isinstance(item, _Command):
                ws.command_results.append((item.row_id, False, f"internal error: {exc!r}"))
        if self.mqtt is not None:
            ws.inflight_add, ws.inflight_del = self.mqtt.changes_for_store(messages)
        await self._submit(ws, self.clock(), messages)

    async def _process(self, batch: list[_Input]) -> bool:
        """Decide a batch and hand its commit to the store without waiting for it.

        The next batch is decided while this one commits; the acknowledger waits for the
        commits in order and only then acknowledges the messages and releases the effects.
        """
        now = self.clock()
        ws = WriteSet()
        messages = [item for item in batch if isinstance(item, InboundMessage)]
        number_before = self.state.next_number
        for item in batch:
            try:
                self._handle(item, ws, now)
            except Exception as exc:  # noqa: BLE001 - one bad input must not stop the others
                self._internal_error(item, ws, exc)
        if self.state.next_number != number_before:
            ws.next_number = self.state.next_number
        tick = isinstance(batch[-1], _Tick)
        if self.outbox_done and (bool(ws) or tick):
            # delivery marks ride along with real work, or go at the next tick (within 1 s):
            # never an fsync of their own per message
            ws.outbox_done, self.outbox_done = self.outbox_done, []
        if self.mqtt is not None and (messages or bool(ws) or tick):
            ws.inflight_add, ws.inflight_del = self.mqtt.changes_for_store(messages)
        if not ws and not messages:
            return False
        await self._submit(ws, now, messages)
        return True

    async def _submit(self, ws: WriteSet, now: float, messages: list[InboundMessage]) -> None:
        ws.outbox.extend(event_messages(self.engine.prefix, ws.events, ws.incidents))
        self._write_seq += 1
        future = self.store.submit(lambda r: r.write_batch(ws, now), seq=self._write_seq)
        await self.commits.put(Commit(self._write_seq, future, ws, now, messages))

    async def _acknowledger(self) -> None:
        while True:
            commit = await self.commits.get()
            try:
                items = await self.committer.stored(commit)
                self._committed(commit, items)
            finally:
                self.busy -= 1

    def _committed(self, commit: Commit, items: list[OutboxItem]) -> None:
        self.last_commit_at = self.clock()
        if self.mqtt is not None:
            for message in commit.acks:
                self.mqtt.ack(message)
        for outbox_item in items:
            self.outq.put_nowait(outbox_item)
        for row_id, ok, result in commit.ws.command_results:
            waiter = self.command_waiters.pop(row_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result((ok, result))
        for listener in self.listeners:
            try:
                listener(commit.ws)
            except Exception:
                # a listener's defect (the console) must not stop the gateway
                log.exception("listener_failed")

    def _handle(self, item: _Input, ws: WriteSet, now: float) -> None:
        if isinstance(item, InboundMessage):
            self._on_message(item, ws, now)
        elif isinstance(item, _Command):
            self._on_command(item, ws, now)
        elif isinstance(item, _Reload):
            self._on_reload(item, ws, now)
        elif isinstance(item, _ActionResult):
            self._fold(self.engine.on_action_result(
                self.state, item.incident_id, item.action_id, item.status, item.detail, now), ws)
        elif isinstance(item, BlockRead):
            self._on_block(item, ws, now)
        elif isinstance(item, BlockRefused):
            self._dead_letter(ws, "modbus", _block_name(item.connection, item.block.unit,
                                                        item.block.table, item.block.address),
                              "modbus_exception", item.detail, b"", item.at)
        elif isinstance(item, UnitHealth):
            self._on_unit_health(item, ws, now)
        else:
            self._on_tick(ws, now)

    def _internal_error(self, item: _Input, ws: WriteSet, exc: Exception) -> None:
        """A defect met by one input: keep the input, say so loudly (with the traceback
        once per source and kind of error), go on with the rest."""
        self.counters["internal_errors"] += 1
        where = item.topic if isinstance(item, InboundMessage) else type(item).__name__
        if self._first_report(where, f"internal_error:{type(exc).__name__}"):
            log.exception("input_failed", input=type(item).__name__, source=where,
                          error=repr(exc), note="further ones from here are counted only")
        if isinstance(item, InboundMessage):
            self._dead_letter_message(ws, item, "internal_error", repr(exc))
        elif isinstance(item, _Command):
            ws.command_results.append((item.row_id, False, f"internal error: {exc!r}"))

    def _fold(self, outcome: Outcome, ws: WriteSet) -> None:
        apply(self.state, outcome)
        ws.incidents.update(outcome.incidents)
        ws.events.extend(outcome.events)
        ws.outbox.extend(outcome.effects)
        for event in outcome.events:
            if event.kind in _LOGGED_EVENTS and event.data.get("reason") != "opened":
                log.info(event.kind, incident=event.incident_id, point=event.point_id,
                         actor=event.actor, **{k: v for k, v in event.data.items()
                                                if k in _LOGGED_FIELDS})

    def _on_message(self, message: InboundMessage, ws: WriteSet, now: float) -> None:
        if len(message.payload) > self.site.broker.max_payload_bytes:
            self._dead_letter_message(ws, message, "oversized",
                              f"{len(message.payload)} bytes, limit "
                              f"{self.site.broker.max_payload_bytes}")
            return
        if message.bad_topic:
            self._dead_letter_message(ws, message, "bad_topic", "topic is not valid UTF-8")
            return
        if not message.payload:
            # how MQTT deletes a retained message (and what a device that read nothing may
            # send): no reading, not bad input
            self.counters["empty_payloads"] += 1
            if self._first_report(message.topic, "empty_payload"):
                log.info("empty_payload", topic=message.topic,
                         note="a retained message deleted, or nothing to read: no reading")
            return
        if message.topic in self.availability or message.topic in self.bridges:
            self._on_availability(message, ws, now)
            return
        points = self.topics.get(message.topic)
        if points is None:
            self._dead_letter_message(ws, message, "unknown_topic",
                                      "no point is bound to this topic")
            return
        for point in points:
            if point.mqtt is None:
                continue  # the topic table holds MQTT-bound points only
            self._on_reading(point, point.mqtt, message, ws, now)

    def _on_reading(self, point: PointConfig, binding: MqttBinding, message: InboundMessage,
                    ws: WriteSet, now: float) -> None:
        previous = self.points.get(point.id)
        try:
            reading = decode(binding, message.payload)
        except DecodeError as exc:
            self._dead_letter_message(ws, message, exc.reason, f"point {point.id}: {exc.detail}")
            status, bad = rejected(point, previous, message.received_at, message.topic,
                                   exc.reason)
            self._set_point(point.id, status, ws)
            if bad is not None:
                self._signal(self._in_drill(bad), ws, now, message.payload)
            return
        if reading is None:
            self.counters["no_reading"] += 1  # heard, with nothing to say (``null``)
            if previous is not None:
                self._set_point(point.id, replace(previous, last_seen=message.received_at), ws)
            return
        status, signals = condition(point, previous, reading, message.received_at,
                                    source=message.topic, replayed=message.retained)
        self._set_point(point.id, status, ws)
        if signals[0].stale:
            self.counters["stale_messages"] += 1
            if self._first_report(point.id, "stale"):
                log.warning("stale_message", point=point.id, topic=message.topic,
                            note="sent before what the point already knows (by the device's "
                                 "time): kept on record, not obeyed")
            ws.signals.append(SignalRecord(signals[0], message.payload, ()))
            return
        for sig in signals:
            if message.retained and not sig.changed:
                # a retained message replayed at (re)subscription restates what is known:
                # current state, not a new event
                self.counters["retained_unchanged"] += 1
                continue
            self._signal(self._in_drill(sig), ws, now, message.payload)

    def _on_availability(self, message: InboundMessage, ws: WriteSet, now: float) -> None:
        """A device's availability, or its bridge's state: online or offline."""
        try:
            online = availability(message.payload)
        except DecodeError as exc:
            self._dead_letter_message(ws, message, exc.reason, exc.detail)
            return
        bridge = message.topic in self.bridges
        points = self.bridges.get(message.topic) or self.availability.get(message.topic, ())
        what = f"bridge {message.topic}" if bridge else "device reports offline"
        changed = []
        for point in points:
            previous = self.points.get(point.id)
            if online:
                status, sig = back_online(point, previous, message.received_at, message.topic,
                                          reasons=(what,))
            else:
                status, sig = went_offline(point, previous, message.received_at,
                                           f"{what} offline" if bridge else what, message.topic)
            self._set_point(point.id, status, ws)
            if sig is not None:
                changed.append(point.id)
                self._signal(self._in_drill(sig), ws, now, message.payload)
        if changed and (bridge or not online):
            (log.info if online else log.warning)(
                "bridge_state" if bridge else "device_availability", topic=message.topic,
                state="online" if online else "offline", points=len(changed),
                first=changed[:10])

    def _set_point(self, point_id: str, status: PointStatus, ws: WriteSet) -> None:
        self.points[point_id] = status
        ws.points[point_id] = status

    @property
    def drill_until(self) -> float:
        """When the drill window ends (0 when none is on)."""
        return self.drill.until if self.drill is not None else 0.0

    def _in_drill(self, sig: Signal) -> Signal:
        """A real signal is a drill signal only from a point the drill window names."""
        if not sig.drill and self.drill is not None and self.drill.covers(
                sig.point_id, sig.location, sig.at):
            return replace(sig, drill=True)
        return sig

    def _dead_letter_message(self, ws: WriteSet, message: InboundMessage, reason: str,
                             detail: str) -> None:
        self._dead_letter(ws, "mqtt", message.topic, reason, detail, message.payload,
                          message.received_at)

    def _dead_letter(self, ws: WriteSet, source: str, topic: str, reason: str, detail: str,
                     payload: bytes, at: float) -> None:
        self.counters[f"bad_input_{reason}"] += 1
        self.bad_input.append((at, topic))
        ws.dead_letters.append(DeadLetter(
            at=at, source=source, topic=topic, reason=reason, detail=detail,
            payload=payload[:DEAD_LETTER_KEEP], size=len(payload)))
        if self._first_report(topic, reason):
            # once per source and reason; the dead-letter table keeps every one
            log.warning("bad_input", source=source, topic=topic, reason=reason,
                        detail=detail, note="kept in dead_letters; further ones counted only")

    def _first_report(self, source: str, reason: str) -> bool:
        return self.reports.first(source, reason, self.clock())

    # ------------------------------------------------------------------ Modbus

    def _on_block(self, read: BlockRead, ws: WriteSet, now: float) -> None:
        connection_plan = self.modbus_plans[read.connection]
        for slot in connection_plan.slots.get(read.block, ()):
            point = slot.point
            binding = point.modbus
            assert binding is not None
            raw = read.values[slot.offset:slot.offset + binding.words]
            previous = self.points.get(point.id)
            try:
                reading = decode_modbus(binding, raw,
                                        previous.value if previous is not None else None)
            except DecodeError as exc:
                self._dead_letter(ws, "modbus", point.source, exc.reason,
                                  f"point {point.id}: {exc.detail}",
                                  repr(list(raw)).encode(), read.at)
                continue
            status, signals = condition(point, previous, reading, read.at, source=point.source)
            self.points[point.id] = status
            sig = signals[0]
            if sig.changed or previous is None:
                ws.points[point.id] = status
                self._signal(self._in_drill(sig), ws, now, b"")
            elif previous.value != reading.value:
                # same state, new value (a concentration drifting, a feedback bit): the
                # point's row follows it and it may confirm an action; no signal row
                ws.points[point.id] = status
                self._fold(self.engine.on_value(self.state, point.id, reading.value,
                                                sig.state, now), ws)

    def _on_unit_health(self, health: UnitHealth, ws: WriteSet, now: float) -> None:
        if health.online:
            return  # the next reading of each point restores it, as a change
        connection_plan = self.modbus_plans.get(health.connection)
        if connection_plan is None:
            return
        for point in connection_plan.units.get(health.unit, ()):
            status, sig = went_offline(
                point, self.points.get(point.id), health.at,
                f"Modbus unit {health.connection}/{health.unit}: {health.reason}",
                _block_name(health.connection, health.unit))
            self._set_point(point.id, status, ws)
            if sig is not None:
                self._signal(sig, ws, now, b"")

    def _signal(self, sig: Signal, ws: WriteSet, now: float, payload: bytes) -> None:
        self.counters["signals"] += 1
        shelf = self.shelved.get(sig.point_id)
        if shelf is not None and now < shelf.until:
            # kept on record, and still confirms actions, but opens and joins nothing
            self.counters["signals_shelved"] += 1
            outcome = self.engine.on_value(self.state, sig.point_id, sig.value, sig.state, now)
            self._fold(outcome, ws)
            self._record(sig, payload, outcome, (), ws)
            return
        outcome = self.engine.on_signal(self.state, sig, now)
        self._fold(outcome, ws)
        self._record(sig, payload, outcome, tuple(outcome.attached), ws)

    def _record(self, sig: Signal, payload: bytes, outcome: Outcome,
                incidents: tuple[str, ...], ws: WriteSet) -> None:
        if sig.changed or incidents or outcome.events or outcome.effects:
            ws.signals.append(SignalRecord(sig, payload, incidents))
        else:
            # a heartbeat (nothing changed, nothing happened): not a row of its own; the
            # point's row keeps its time and counts it (``repeats``)
            self.counters["heartbeats"] += 1
            ws.repeats[sig.point_id] = ws.repeats.get(sig.point_id, 0) + 1

    def _on_command(self, item: _Command, ws: WriteSet, now: float) -> None:
        self.queued_commands.discard(item.row_id)
        cmd = item.command
        if cmd.verb in ("drill_start", "drill_stop"):
            self._on_drill(item, ws, now)
            return
        if cmd.verb in ("shelve", "unshelve"):
            self._on_shelve(item, ws, now)
            return
        if cmd.verb == "reload":
            self._on_reload(_Reload(cmd.actor, "command", item.row_id), ws, now)
            return
        try:
            outcome = self.engine.on_command(self.state, cmd, now, item.stored)
        except CommandError as exc:
            ws.command_results.append((item.row_id, False, str(exc)))
            log.info("command_rejected", verb=cmd.verb, incident=cmd.incident_id,
                     actor=cmd.actor, reason=str(exc))
            return
        self._fold(outcome, ws)
        ws.command_results.append((item.row_id, True, outcome.result))
        log.info("command_applied", verb=cmd.verb, incident=cmd.incident_id, actor=cmd.actor)

    def _on_drill(self, item: _Command, ws: WriteSet, now: float) -> None:
        cmd = item.command
        if cmd.verb == "drill_start":
            try:
                self.drill = drill_window.start(cmd.args, cmd.actor, now, self.site.buildings,
                                                self.site.points)
            except CommandError as exc:
                ws.command_results.append((item.row_id, False, str(exc)))
                return
            result = drill_window.describe(self.drill)
        else:
            self.drill = None
            result = "drill off"
        ws.meta["drill_window"] = json.dumps(self.drill.to_json()) if self.drill else ""
        self._site_event(ws, "drill_started" if self.drill else "drill_stopped", now, "",
                         cmd.actor, **(self.drill.to_json() if self.drill else {}))
        ws.command_results.append((item.row_id, True, result))
        log.warning("drill", actor=cmd.actor, state=result,
                    note="signals of the drill's scope are drill signals: their actuator "
                         "writes and notifications are withheld; every other signal is real")

    # ------------------------------------------------------------------ reload

    def _on_reload(self, item: _Reload, ws: WriteSet, now: float) -> None:
        """Re-read and apply the config between two inputs: the signals before it are decided
        on the old config, those after on the new; open incidents carry on."""
        def answer(ok: bool, text: str) -> None:
            if item.row_id is not None:
                ws.command_results.append((item.row_id, ok, text))

        self.notifier.reloading()
        try:
            if self.reloader is None:
                raise ConfigError([Problem(str(self.site.file), "",
                                           "this gateway was started without a config file")])
            site, playbooks = self.reloader()
        except ConfigError as exc:
            problems = [str(p) for p in exc.problems]
            log.error("reload_rejected", by=item.actor, source=item.source, problems=problems,
                      kept=self.config.short)
            self.notifier.ready(self.status_line())
            answer(False, "config rejected, the running one is kept:\n  "
                   + "\n  ".join(problems))
            return
        version = config_version(site, playbooks)
        change = diff(self.site, self.engine.playbooks, site, playbooks)
        if version.hash == self.config.hash and change.empty:
            self.notifier.ready(self.status_line())
            answer(True, f"config unchanged ({self.config.short})")
            return
        # settings only a restart applies stay as they are
        subscriptions = site.broker.subscriptions
        site = replace(site, broker=replace(self.site.broker, subscriptions=subscriptions),
                       store_path=self.site.store_path,
                       store_synchronous=self.site.store_synchronous, console=self.site.console,
                       site_id=self.site.site_id, mqtt_prefix=self.site.mqtt_prefix)
        plans = modbus_plan(site.points)
        modbus_changed = site.modbus != self.site.modbus or plans != self.modbus_plans
        self.site = site
        self.engine = Engine(site, playbooks)
        self.engine.config_version = version.short
        self.topics = site.points_by_topic()
        self.availability = site.points_by_topic("availability")
        self.bridges = site.points_by_topic("bridge")
        self.modbus_plans = plans
        self.points = {pid: p for pid, p in self.points.items() if pid in site.points}
        self.config = version
        orphans = sorted({i.type for i in self.state.incidents.values()} - set(playbooks))
        log.warning("config_reloaded", by=item.actor, source=item.source, config=version.short,
                    changes=list(change.summary), needs_restart=list(change.needs_restart),
                    incidents_without_playbook=orphans)
        if modbus_changed and self._tg is not None:
            self._tg.create_task(self._restart_links(), name="modbus-restart")
        if self.mqtt is not None:
            self.mqtt.update_subscriptions(list(subscriptions))
        if self._tg is not None:
            self._tg.create_task(self._record_config(item.source, item.actor, change),
                                 name="config-version")
        for listener in self.reload_listeners:
            listener()
        self.notifier.ready(self.status_line())
        text = f"config {version.short} applied: " + ("; ".join(change.summary) or "no change")
        if change.needs_restart:
            text += f" (needs a restart to apply: {', '.join(change.needs_restart)})"
        answer(True, text)

    async def _record_config(self, source: str, actor: str,
                             change: ConfigDiff | None = None) -> None:
        """Record the running config version; retried until the store takes it."""
        while True:
            try:
                await self._record_config_once(source, actor, change)
            except StoreError as exc:
                log.error("config_version_not_recorded", error=str(exc), retry_in=30)
                await asyncio.sleep(30.0)
            else:
                return

    async def _record_config_once(self, source: str, actor: str,
                                  change: ConfigDiff | None) -> None:
        version = self.config
        latest = await self.store.call(lambda r: r.latest_config_version())
        if latest is not None and latest[1] == version.hash:
            return
        summary = list(change.summary) if change else ["first start" if latest is None
                                                        else "changed while stopped"]
        if change and change.needs_restart:
            summary.append("needs a restart to apply: " + ", ".join(change.needs_restart))
        at, text = self.clock(), "; ".join(summary)
        await self.store.call(lambda r: r.record_config_version(
            at=at, hash=version.hash, actor=actor, source=source, summary=text,
            files=json.dumps(list(version.files))))
        log.info("config_version_recorded", config=version.short, source=source,
                 actor=actor or None)

    # ------------------------------------------------------------------ upkeep

    async def _upkeep(self) -> None:
        """Retention of raw data and a check of the store file: a minute after start, then
        once an hour."""
        await asyncio.sleep(60.0)
        while True:
            await self._retention()
            await self._check_store()
            await asyncio.sleep(UPKEEP_EVERY)

    async def _retention(self) -> None:
        r = self.site.retention
        total: Counter[str] = Counter()
        try:
            while True:
                # one bounded batch per table per store job, with the pipeline's batches in
                # between
                removed = await self.store.call(partial(
                    _prune, now=self.clock(), signals_days=r["signals"] / 86400,
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

    async def _check_store(self) -> None:
        """``quick_check`` on a connection of its own (WAL: the writes go on meanwhile)."""
        damage = await asyncio.to_thread(check_store_file, self.site.store_path)
        if damage != self.store_damage:
            if damage is None:
                log.warning("store_damage_cleared", store=str(self.site.store_path))
            else:
                log.error("store_damaged", store=str(self.site.store_path), damage=damage,
                          note="restore the latest backup (alarm-gateway restore FILE)")
        self.store_damage = damage

    # ------------------------------------------------------------------ self-supervision

    def _supervise_self(self, ws: WriteSet, now: float) -> None:
        """Raise (and clear) the gateway's own alarms (see ``gateway.health.checks``): they
        open a gateway_health incident like any device would."""
        connected = self.mqtt is not None and self.mqtt.connected
        if connected:
            self.broker_down_since = None
        elif self.broker_down_since is None:
            self.broker_down_since = now
        for check in checks(self.vitals(now), self.site.health_limits):
            state = PointState.ALARM if check.bad else PointState.NORMAL
            previous = self.system_points.get(check.point, PointState.NORMAL)
            if state is previous:
                continue
            self.system_points[check.point] = state
            (log.error if check.bad else log.info)("gateway_self_check", point=check.point,
                                                   state=state.value, detail=check.why)
            status = PointStatus(state, now, now, check.why)
            self.points[check.point] = status
            ws.points[check.point] = status
            self._signal(Signal(point_id=check.point, kind=PointKind.SYSTEM,
                                location=Location(self.site.site_id, zone="gateway"),
                                state=state, at=now, value=check.why,
                                source="self-supervision"), ws, now, b"")

    def _on_shelve(self, item: _Command, ws: WriteSet, now: float) -> None:
        cmd = item.command
        point_id = cmd.args.get("point", "")
        point = self.site.points.get(point_id)
        if point is None:
            ws.command_results.append((item.row_id, False,
                                       unknown_name("point", point_id, self.site.points)))
            return
        if cmd.verb == "shelve":
            reason = cmd.args.get("reason", "").strip()
            try:
                minutes = float(cmd.args.get("minutes", "60"))
            except ValueError:
                minutes = -1.0
            if not reason or not 0 < minutes <= MAX_SHELVE_MINUTES:
                ws.command_results.append((item.row_id, False, (
                    "shelving needs a reason and lasts between 1 minute and 24 hours")))
                return
            shelf = Shelf(now + minutes * 60, cmd.actor, reason, now)
            self.shelved[point_id] = shelf
            result = (f"{point_id} shelved until "
                      f"{time.strftime('%H:%M:%S', time.localtime(shelf.until))}")
            self._site_event(ws, "point_shelved", now, point_id, cmd.actor,
                             until=shelf.until, reason=reason)
            log.warning("point_shelved", point=point_id, actor=cmd.actor, reason=reason,
                        minutes=minutes, note="its signals open no incident until then")
        else:
            if self.shelved.pop(point_id, None) is None:
                ws.command_results.append((item.row_id, False, f"{point_id} is not shelved"))
                return
            result = f"{point_id} unshelved"
            self._unshelved(point_id, ws, now, cmd.actor, "unshelved by operator")
        ws.meta["shelved"] = json.dumps({pid: asdict(s) for pid, s in self.shelved.items()})
        ws.command_results.append((item.row_id, True, result))

    def _unshelved(self, point_id: str, ws: WriteSet, now: float, actor: str,
                   why: str) -> None:
        self._site_event(ws, "point_unshelved", now, point_id, actor, reason=why)
        log.info("point_unshelved", point=point_id, actor=actor, reason=why)
        status = self.points.get(point_id)
        point = self.site.points[point_id]
        if status is not None and status.state is not PointState.NORMAL:
            # still not normal: it is announced now, as if it had just happened
            self._signal(Signal(point_id=point_id, kind=point.kind, location=point.location,
                                state=status.state, at=now, value=status.value,
                                source="unshelved"), ws, now, b"")

    def _site_event(self, ws: WriteSet, kind: str, now: float, point_id: str, actor: str,
                    **data: Any) -> None:
        ws.events.append(Event(kind=kind, at=now, point_id=point_id, actor=actor, data=data))

    def _on_tick(self, ws: WriteSet, now: float) -> None:
        for reason, count in self.reports.held(now).items():
            log.warning("bad_input_unlogged", reason=reason, sources=count,
                        note="more sources of this bad input than are logged a minute; "
                             "every one is kept in dead_letters and counted")
        if not self.draining and self.started_at:
            self._supervise_self(ws, now)
        expired = [pid for pid, shelf in self.shelved.items() if shelf.until <= now]
        for point_id in expired:
            del self.shelved[point_id]
            self._unshelved(point_id, ws, now, "", "shelving expired")
        if expired:
            ws.meta["shelved"] = json.dumps({pid: asdict(s) for pid, s in self.shelved.items()})
        if now - self.last_supervision >= SUPERVISION_EVERY:
            self.last_supervision = now
            silent = supervise(self.site.points, self.points, self.started_at, now)
            for status, sig in silent:
                self._set_point(sig.point_id, status, ws)
                self._signal(sig, ws, now, b"")
            if silent:
                # one line for all that fell silent together (2,000 detectors when a
                # panel's bridge stops), by source; each is on its incident's timeline
                groups = Counter(self.site.points[s.point_id].group for _, s in silent)
                log.warning("points_offline", points=len(silent), by_source=dict(groups),
                            first=[s.point_id for _, s in silent[:10]],
                            reason="silent past their heartbeat")
        due = self.engine.next_due(self.state)
        if due is not None and due <= now:
            self._fold(self.engine.on_tick(self.state, now), ws)

    async def _ticker(self) -> None:
        while True:
            due = self.engine.next_due(self.state)
            wait = SUPERVISION_EVERY if due is None else min(SUPERVISION_EVERY,
                                                             max(0.0, due - self.clock()))
            await asyncio.sleep(wait)
            self.inputs.put_nowait(_TICK)

    # ------------------------------------------------------------------ outputs

    async def _dispatcher(self) -> None:
        assert self.mqtt is not None
        while True:
            item = await self.outq.get()
            pub = item.publish
            if pub.withhold:
                self._outbox_result(item, "withheld", "drill: real write withheld")
                continue
            if pub.topic.startswith(MODBUS_SCHEME):
                self._modbus_writes.add(asyncio.create_task(self._write(item)))
                continue
            if not self.mqtt.connected:
                await self.mqtt.wait_connected()
            future = self.mqtt.publish(pub.topic, pub.payload, pub.qos, pub.retain)
            future.add_done_callback(partial(self._published, item))

    async def _write(self, item: OutboxItem) -> None:
        """A Modbus write of the outbox: once, reported as sent or failed."""
        pub = item.publish
        try:
            connection, unit, table, address = pub.topic.removeprefix(MODBUS_SCHEME).split("/")
            link = self.links[connection]
            await link.write(int(unit), table, int(address), json.loads(pub.payload))
        except (ModbusWriteError, KeyError, ValueError) as exc:
            log.error("modbus_write_failed", target=pub.topic, error=str(exc),
                      incident=pub.incident_id, action=pub.action_id)
            self._outbox_result(item, "failed", str(exc))
        else:
            self._outbox_result(item, "sent", "unit acknowledged the write")
        finally:
            self._modbus_writes.discard(asyncio.current_task())

    def _published(self, item: OutboxItem, future: asyncio.Future[None]) -> None:
        if future.cancelled():
            return  # shutting down: the row stays pending and is sent at the next start
        error = future.exception()
        if error is None:
            self._outbox_result(item, "sent", "broker acknowledged")
        else:
            self._outbox_result(item, "failed", str(error))

    def _outbox_result(self, item: OutboxItem, status: str, detail: str) -> None:
        self.counters[f"outbox_{status}"] += 1
        self.outbox_done.append((item.id, status, detail, self.clock()))
        pub = item.publish
        if pub.kind == "command" and pub.action_id:
            self.inputs.put_nowait(_ActionResult(pub.incident_id, pub.action_id,
                                                 ActionStatus(status), detail))

    async def _stored_for(self, incident_id: str) -> Incident | None:
        """The store's snapshot of an incident the engine no longer holds (a closed one, for
        reopen and follow-ups); None when the engine has it or no incident is named."""
        if not incident_id or incident_id in self.state.incidents:
            return None
        return await self.store.call(lambda r: r.get_incident(incident_id))

    async def command(self, command: OperatorCommand) -> tuple[bool, str]:
        """Give a command as the CLI does (queued in the store, so it is on record), but hear
        its result as soon as its batch is committed."""
        now = self.clock()
        row_id = await self.store.call(lambda r: r.submit_command(
            command.verb, command.incident_id, command.actor, dict(command.args), now))
        self.queued_commands.add(row_id)
        stored = await self._stored_for(command.incident_id)
        waiter: asyncio.Future[tuple[bool, str]] = asyncio.get_running_loop().create_future()
        self.command_waiters[row_id] = waiter
        self.inputs.put_nowait(_Command(row_id, command, stored))
        try:
            return await asyncio.wait_for(waiter, COMMAND_TIMEOUT)
        finally:
            self.command_waiters.pop(row_id, None)

    def vitals(self, now: float | None = None) -> Vitals:
        now = self.clock() if now is None else now
        mqtt = self.mqtt
        return Vitals(
            now=now, started_at=self.started_at, broker=self.site.broker.describe(),
            broker_connected=bool(mqtt and mqtt.connected),
            broker_down_since=self.broker_down_since, store_running=self.store.running,
            store_failing_since=self.store.failing_since or self.committer.failing_since,
            store_error=self.store.last_error, store_damage=self.store_damage,
            commit_waiting_since=self.committer.waiting_since,
            last_commit_at=self.last_commit_at or None,
            unacknowledged=mqtt.unacknowledged() if mqtt else 0,
            oldest_unacknowledged=mqtt.oldest_unacknowledged() if mqtt else None,
            probe_waiting_since=mqtt.probe_waiting_since if mqtt else None,
            last_rx=dict(self.last_rx), bad_input_recent=self._bad_input_recent(now),
            modbus={name: {"connected": link.connected,
                           "units_offline": sorted(link.offline_units())}
                    for name, link in self.links.items()})

    def _bad_input_recent(self, now: float) -> dict[str, int]:
        recent: Counter[str] = Counter()
        for at, source in reversed(self.bad_input):
            if now - at > BAD_INPUT_WINDOW:
                break
            recent[source] += 1
        return dict(recent)

    def health(self) -> dict[str, Any]:
        """What /healthz reports: every problem now, and the figures behind them."""
        body = report(self.vitals(), self.site.health_limits)
        body["open_incidents"] = len(self.state.incidents)
        return body

    async def _command_poller(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(COMMAND_POLL)
            try:
                await self._poll_commands()
            except StoreError as exc:
                # the store is busy or failing (reported by the writes): try again, quietly
                if not failing:
                    log.warning("command_poll_failed", error=str(exc), retry_every=COMMAND_POLL)
                failing = True
            else:
                failing = False

    async def _poll_commands(self) -> None:
        rows = await self.store.call(lambda r: r.pending_commands())
        for row_id, verb, incident_id, actor, args in rows:
            if row_id in self.queued_commands:
                continue
            stored = await self._stored_for(incident_id)
            self.queued_commands.add(row_id)
            self.inputs.put_nowait(_Command(row_id, OperatorCommand(
                verb, incident_id, actor, args), stored))


def _prune(records: Records, **days: float) -> dict[str, int]:
    return records.prune(**days)


async def _until(done: Callable[[], bool], deadline: float) -> None:
    loop = asyncio.get_running_loop()
    for _ in itertools.count():
        if done() or loop.time() >= deadline:
            return
        await asyncio.sleep(0.02)


def _block_name(connection: str, unit: int, table: str = "", address: int | None = None) -> str:
    name = f"modbus:{connection}/{unit}"
    return f"{name}/{table}/{address}" if table else name


async def serve(site: SiteConfig, playbooks: dict[str, Playbook], *,
                reloader: Callable[[], tuple[SiteConfig, dict[str, Playbook]]] | None = None,
                allow_damaged_store: bool = False,
                services: Sequence[tuple[str, Service]] = ()) -> None:
    """Run until SIGTERM or SIGINT (drained, exit 0); SIGHUP re-reads the config."""
    gateway = Gateway(site, playbooks, reloader=reloader,
                      allow_damaged_store=allow_damaged_store, services=services)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
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
        gateway.inputs.put_nowait(_Reload("", "SIGHUP"))

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
