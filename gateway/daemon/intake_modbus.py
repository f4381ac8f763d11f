"""Modbus reports into readings: a block read is cut into its points' registers by the site's
read plan and decoded; a unit that stops answering takes its points offline; an exception
response is bad input (a wrong register in the config, most often)."""

from __future__ import annotations

from adapters.interface import Adapter
from adapters.modbus_values import BlockRead, BlockRefused, Report, UnitHealth
from gateway.config.modbus import ModbusBinding
from gateway.config.site import SiteConfig
from gateway.daemon.decisions import Decisions
from gateway.errors import DecodeError
from gateway.points.conditioning import condition, went_offline
from gateway.points.decode_modbus import decode_modbus, modbus_value
from gateway.points.modbus_plan import ConnectionPlan
from gateway.points.modbus_plan import plan as modbus_plan
from gateway.store.values import DeadLetter, WriteSet


def block_name(connection: str, unit: int, table: str = "", address: int | None = None) -> str:
    name = f"modbus:{connection}/{unit}"
    return f"{name}/{table}/{address}" if table else name


def _inputs(binding: ModbusBinding, read: BlockRead) -> dict[str, object]:
    """The registers a point's conditions read beside its own, from the same block."""
    out: dict[str, object] = {}
    for name, input_binding in binding.inputs:
        at = input_binding.address - read.block.address
        out[name] = modbus_value(input_binding, read.values[at:at + input_binding.words])
    return out


class ModbusIntake:
    def __init__(self, site: SiteConfig) -> None:
        self.plans: dict[str, ConnectionPlan] = modbus_plan(site.points)

    def source(self, item: Report) -> str:
        if isinstance(item, UnitHealth):
            return block_name(item.connection, item.unit)
        return block_name(item.connection, item.block.unit, item.block.table,
                          item.block.address)

    def heard(self, item: Report) -> bool:
        return isinstance(item, BlockRead)  # an answer with values, as the poll asked

    def keep(self, item: Report, reason: str, detail: str) -> DeadLetter | None:
        return None  # polled: read again at the next poll

    def take(self, d: Decisions, adapter: Adapter, item: Report, ws: WriteSet,
             now: float) -> None:
        if isinstance(item, BlockRead):
            self._block(d, item, ws, now)
        elif isinstance(item, BlockRefused):
            d.dead_letter(ws, "modbus", self.source(item), "modbus_exception", item.detail,
                          b"", item.at)
        else:
            self._unit_health(d, item, ws, now)

    def _block(self, d: Decisions, read: BlockRead, ws: WriteSet, now: float) -> None:
        connection_plan = self.plans.get(read.connection)
        if connection_plan is None:
            return  # a read of a link stopped by a reload that changed the plan
        for slot in connection_plan.slots.get(read.block, ()):
            point, binding = slot.point, slot.binding
            raw = read.values[slot.offset:slot.offset + binding.words]
            previous = d.points.get(point.id)
            try:
                reading = decode_modbus(binding, raw,
                                        previous.value if previous is not None else None,
                                        _inputs(binding, read))
            except DecodeError as exc:
                d.dead_letter(ws, "modbus", point.source, exc.reason,
                              f"point {point.id}: {exc.detail}", repr(list(raw)).encode(),
                              read.at)
                continue
            status, signals = condition(point, previous, reading, read.at, source=point.source)
            d.points[point.id] = status
            sig = signals[0]
            if sig.changed or previous is None:
                ws.points[point.id] = status
                d.signal(d.in_drill(sig), ws, now, b"")
            elif previous.value != reading.value:
                # same state, new value (a concentration drifting, a feedback bit): the
                # point's row follows it and it may confirm an action; no signal row
                ws.points[point.id] = status
                d.fold(d.engine.on_value(d.state, point.id, reading.value, sig.state, now), ws)

    def _unit_health(self, d: Decisions, health: UnitHealth, ws: WriteSet,
                     now: float) -> None:
        if health.online:
            return  # the next reading of each point restores it, as a change
        connection_plan = self.plans.get(health.connection)
        if connection_plan is None:
            return
        for point in connection_plan.units.get(health.unit, ()):
            status, sig = went_offline(
                point, d.points.get(point.id), health.at,
                f"Modbus unit {health.connection}/{health.unit}: {health.reason}",
                block_name(health.connection, health.unit))
            d.set_point(point.id, status, ws)
            if sig is not None:
                d.signal(sig, ws, now, b"")
