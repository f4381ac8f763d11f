"""The daemon assembled in-process: fake adapters (``adapters.fake``), a temporary store, a
virtual clock. Nothing runs in the background: a test puts inputs in, moves the clock, and
``settle`` runs the pipeline and the dispatcher until there is nothing left to do."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.fake import FakeAdapter
from adapters.interface import Adapter, Deliver, SendError
from adapters.modbus_values import UnitHealth
from adapters.mqtt_values import InboundMessage
from gateway.config.site import SiteConfig, load_config
from gateway.daemon.gateway import Gateway
from gateway.daemon.inputs import TICK, QueuedCommand
from gateway.domain.commands import Answer
from gateway.domain.effects import Effect, ModbusWrite, MqttPublish, Notify
from gateway.domain.incident import Incident
from gateway.engine.state import OperatorCommand
from gateway.playbook.definition import Playbook
from gateway.playbook.load import load_playbooks
from gateway.store import open_records

T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC


class InProcess:
    """One daemon on a config file and a store, run by hand (``async with``)."""

    def __init__(self, config: Path, store: Path, *, now: float = T0,
                 refuse: Callable[[Effect], str | None] | None = None) -> None:
        """``refuse``: why the far end refuses an effect (None: it takes it)."""
        self.config = config
        self.store = store
        self.now = now
        self.refuse = refuse
        self.adapters: dict[str, FakeAdapter] = {}
        self._mids = itertools.count(1)
        self.gw = self._gateway()

    def _load(self) -> tuple[SiteConfig, dict[str, Playbook]]:
        site = load_config(self.config, store=str(self.store))
        return site, load_playbooks(site.playbook_dir, site)

    def _gateway(self) -> Gateway:
        site, playbooks = self._load()
        return Gateway(site, playbooks, clock=self.clock, reloader=self._load,
                       adapters=self._adapters)

    def clock(self) -> float:
        return self.now

    def _answer(self, effect: Effect) -> str:
        why = self.refuse(effect) if self.refuse is not None else None
        if why is not None:
            raise SendError(why)
        return "sent"

    def _adapters(self, site: SiteConfig, deliver: Deliver,
                  ledgers: dict[str, tuple[int, ...]]) -> list[Adapter]:
        made = [FakeAdapter("mqtt", deliver, on_send=self._answer, clock=self.clock,
                            accepts=lambda e: isinstance(e, MqttPublish | Notify))]
        for receiver, kind in [*((r, "gbt26875") for r in site.receivers),
                               *((r, "dc09") for r in site.dc09_receivers)]:
            made.append(FakeAdapter(receiver, deliver, kind=kind, on_send=self._answer,
                                    clock=self.clock, accepts=lambda e: False))
        for connection in site.modbus:
            made.append(FakeAdapter(
                connection, deliver, kind="modbus", on_send=self._answer, clock=self.clock,
                accepts=lambda e, c=connection: isinstance(e, ModbusWrite) and e.connection == c))
        self.adapters.update({a.name: a for a in made})
        return list(made)

    async def __aenter__(self) -> InProcess:
        await self.gw.store.open()
        await self.gw.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.gw.store.close()

    async def restart(self, *, after: float = 0.0) -> None:
        """Stop (as a kill would: nothing drained) and start again ``after`` seconds later,
        on the same store and config."""
        await self.gw.store.close()
        self.now += after
        self.adapters.clear()
        self.gw = self._gateway()
        await self.__aenter__()

    # ------------------------------------------------------------------ inputs

    @property
    def broker(self) -> FakeAdapter:
        return self.adapters["mqtt"]

    def publish(self, topic: str, payload: bytes | dict[str, Any], *,
                retained: bool = False) -> InboundMessage:
        body = json.dumps(payload).encode() if isinstance(payload, dict) else payload
        message = InboundMessage(topic=topic, payload=body, qos=1, mid=next(self._mids),
                                 retained=retained, duplicate=False, received_at=self.now)
        self.broker.put(message)
        return message

    def unit_down(self, connection: str, unit: int, reason: str = "timeout") -> None:
        self.adapters[connection].put(UnitHealth(connection, unit, False, reason, self.now))

    async def settle(self) -> None:
        """Run the pipeline and the dispatcher until nothing is left to do."""
        while True:
            progressed = await self.gw.pipeline.step()
            outq = self.gw.pipeline.outq
            while not outq.empty():
                await self.gw.dispatcher.dispatch(outq.get_nowait())
                progressed = True
            await asyncio.sleep(0)  # the answers of what was sent
            if not progressed and self.gw.pipeline.inputs.empty():
                return

    async def advance(self, seconds: float, *, step: float = 1.0) -> None:
        """Move the clock on, ticking as the daemon's ticker would (at most ``step`` apart)."""
        end = self.now + seconds
        while self.now < end:
            self.now = min(end, self.now + step)
            self.gw.pipeline.put(TICK)
            await self.settle()

    async def answer(self, verb: str, incident_id: str = "", actor: str = "tester",
                     **args: str) -> Answer:
        """An operator command, answered as the console hears it."""
        task = asyncio.create_task(self.gw.command(OperatorCommand(verb, incident_id, actor,
                                                                   args)))
        while not task.done():
            await self.settle()
            await asyncio.sleep(0)
        return task.result()

    async def command(self, verb: str, incident_id: str = "", actor: str = "tester",
                      **args: str) -> tuple[bool, str]:
        """An operator command: (applied, what it did or why not)."""
        answer = await self.answer(verb, incident_id, actor, **args)
        return answer.ok, answer.text

    def queue_command(self, row_id: int, verb: str, incident_id: str = "",
                      actor: str = "tester", **args: str) -> None:
        self.gw.pipeline.put(QueuedCommand(row_id, OperatorCommand(verb, incident_id, actor,
                                                                   args)))

    # ------------------------------------------------------------------ what it did

    @property
    def incidents(self) -> list[Incident]:
        return sorted(self.gw.state.incidents.values(), key=lambda i: i.id)

    def stored_incidents(self) -> list[Incident]:
        with open_records(self.store, readonly=True) as records:
            return records.list_incidents(include_closed=True)

    def events(self, kind: str | None = None) -> list[Any]:
        with open_records(self.store, readonly=True) as records:
            out = [e for i in records.list_incidents(include_closed=True)
                   for e in records.incident_events(i.id)]
        return [e for e in out if kind is None or e.kind == kind]

    def sent(self, kind: type[Any] = object) -> list[Any]:
        return [e for a in self.adapters.values() for e in a.sent if isinstance(e, kind)]


def logged(logs: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    """The events of one name in a captured log (the ``logs`` fixture of tests/daemon)."""
    return [e for e in logs if e["event"] == event]
