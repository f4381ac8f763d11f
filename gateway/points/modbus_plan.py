"""Which registers to read, in how few requests: the poll plan of each Modbus connection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from adapters.modbus_values import ReadBlock
from gateway.config.modbus import ModbusBinding
from gateway.config.site import PointConfig

MAX_REGISTERS = 125  # FC03/FC04 limit per request
MAX_BITS = 2000  # FC01/FC02 limit per request
MERGE_GAP = 8  # read across a gap this small rather than send another request


@dataclass(frozen=True, slots=True)
class PointSlot:
    point: PointConfig
    binding: ModbusBinding
    offset: int  # where the point's first word/bit sits inside the block


@dataclass(frozen=True, slots=True)
class ConnectionPlan:
    blocks: tuple[ReadBlock, ...]
    slots: Mapping[ReadBlock, tuple[PointSlot, ...]]
    units: Mapping[int, tuple[PointConfig, ...]]


_Bound = tuple[PointConfig, ModbusBinding]


def plan(points: Mapping[str, PointConfig]) -> dict[str, ConnectionPlan]:
    by_request: dict[tuple[str, int, str, str], list[_Bound]] = {}
    for point in points.values():
        m = point.modbus
        if m is not None:
            by_request.setdefault((m.connection, m.unit, m.table, m.poll), []).append((point, m))
    blocks: dict[str, list[ReadBlock]] = {}
    slots: dict[str, dict[ReadBlock, tuple[PointSlot, ...]]] = {}
    units: dict[str, dict[int, list[PointConfig]]] = {}
    for (connection, unit, table, group), members in sorted(by_request.items()):
        limit = MAX_BITS if table in ("coil", "discrete_input") else MAX_REGISTERS
        members.sort(key=lambda bound: _span(bound[1])[0])
        run: list[_Bound] = []
        start = end = 0
        for point, m in members:
            first, last = _span(m)
            if run and first - end <= MERGE_GAP and last - start < limit:
                end = max(end, last)
                run.append((point, m))
                continue
            if run:
                _close(connection, ReadBlock(unit, table, start, end - start + 1, group), run,
                       blocks, slots)
            run, start, end = [(point, m)], first, last
        if run:
            _close(connection, ReadBlock(unit, table, start, end - start + 1, group), run,
                   blocks, slots)
        for point, _ in members:
            units.setdefault(connection, {}).setdefault(unit, []).append(point)
    return {c: ConnectionPlan(tuple(blocks[c]), slots[c],
                              {u: tuple(ps) for u, ps in units[c].items()})
            for c in blocks}


def _span(m: ModbusBinding) -> tuple[int, int]:
    """The first and last word (or bit) a point needs: its own, and its conditions' inputs,
    read in the same request."""
    reads = [m, *(b for _, b in m.inputs)]
    return min(b.address for b in reads), max(b.address + b.words - 1 for b in reads)


def _close(connection: str, block: ReadBlock, run: list[_Bound],
           blocks: dict[str, list[ReadBlock]],
           slots: dict[str, dict[ReadBlock, tuple[PointSlot, ...]]]) -> None:
    blocks.setdefault(connection, []).append(block)
    slots.setdefault(connection, {})[block] = tuple(
        PointSlot(point, m, m.address - block.address) for point, m in run)
