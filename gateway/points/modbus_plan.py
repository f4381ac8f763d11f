"""Which registers to read, in how few requests: the poll plan of each Modbus connection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from adapters.modbus_values import ReadBlock
from gateway.config.site import PointConfig

MAX_REGISTERS = 125  # FC03/FC04 limit per request
MAX_BITS = 2000  # FC01/FC02 limit per request
MERGE_GAP = 8  # read across a gap this small rather than send another request


@dataclass(frozen=True, slots=True)
class PointSlot:
    point: PointConfig
    offset: int  # where the point's first word/bit sits inside the block


@dataclass(frozen=True, slots=True)
class ConnectionPlan:
    blocks: tuple[ReadBlock, ...]
    slots: Mapping[ReadBlock, tuple[PointSlot, ...]]
    units: Mapping[int, tuple[PointConfig, ...]]


def plan(points: Mapping[str, PointConfig]) -> dict[str, ConnectionPlan]:
    by_request: dict[tuple[str, int, str, str], list[PointConfig]] = {}
    for point in points.values():
        m = point.modbus
        if m is not None:
            by_request.setdefault((m.connection, m.unit, m.table, m.poll), []).append(point)
    blocks: dict[str, list[ReadBlock]] = {}
    slots: dict[str, dict[ReadBlock, tuple[PointSlot, ...]]] = {}
    units: dict[str, dict[int, list[PointConfig]]] = {}
    for (connection, unit, table, group), members in sorted(by_request.items()):
        limit = MAX_BITS if table in ("coil", "discrete_input") else MAX_REGISTERS
        members.sort(key=lambda p: (p.modbus.address if p.modbus else 0))
        run: list[PointConfig] = []
        start = end = 0
        for point in members:
            assert point.modbus is not None
            first, last = point.modbus.address, point.modbus.address + point.modbus.words - 1
            if run and first - end <= MERGE_GAP and last - start < limit:
                end = max(end, last)
                run.append(point)
                continue
            if run:
                _close(connection, unit, table, group, start, end, run, blocks, slots)
            run, start, end = [point], first, last
        if run:
            _close(connection, unit, table, group, start, end, run, blocks, slots)
        for point in members:
            units.setdefault(connection, {}).setdefault(unit, []).append(point)
    return {c: ConnectionPlan(tuple(blocks[c]), slots[c],
                              {u: tuple(ps) for u, ps in units[c].items()})
            for c in blocks}


def _close(connection: str, unit: int, table: str, group: str, start: int, end: int,
           run: list[PointConfig], blocks: dict[str, list[ReadBlock]],
           slots: dict[str, dict[ReadBlock, tuple[PointSlot, ...]]]) -> None:
    block = ReadBlock(unit, table, start, end - start + 1, group)
    blocks.setdefault(connection, []).append(block)
    slots.setdefault(connection, {})[block] = tuple(
        PointSlot(p, p.modbus.address - start) for p in run if p.modbus is not None)
