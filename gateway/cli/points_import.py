"""``alarm-gateway points import``: a site's point table (Excel or CSV) made into the
``points:`` of a site config, every row checked as the config's own points are.

The header row names the columns, in English or in Chinese (``id``/编号, ``kind``/类型, ...);
each row below is a point bound to MQTT (``topic``) or Modbus (``connection``), with
``values`` written ``raw=state;raw=state``. Every bad cell is reported by its row and column,
and nothing is written unless every row is good.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gateway.cli.point_table import Sheet, column_letter, read_sheet
from gateway.config.schema import schema_problems
from gateway.config.site_schema import PointModel
from gateway.config.yamlfile import LineIndex, format_path
from gateway.errors import ConfigFileError, ConfigSchemaError, Problem

BINDING = "<binding>"  # the point's mqtt or modbus, whichever the row is bound to
_MAPS = ("values", "thresholds", "deadband")
_PAIRS = re.compile(r"[;；\n]")


def _pairs(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in _PAIRS.split(text))):
        raw, equals, state = part.partition("=")
        if not equals or not raw.strip() or not state.strip():
            raise ValueError(f"{part!r} is not raw=state (e.g. 1=alarm;0=normal)")
        pairs[raw.strip()] = state.strip()
    return pairs


def _thresholds(text: str) -> list[dict[str, str]]:
    return [{"at_least": at, "state": state} for at, state in _pairs(text).items()]


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # the English header, as the README lists it
    path: tuple[str, ...]  # where a cell goes in the point
    aliases: tuple[str, ...] = ()  # other headers for it, Chinese first
    parse: Callable[[str], Any] = str


COLUMNS = (
    Column("id", ("id",), ("编号", "点位编号", "点号", "点位号")),
    Column("kind", ("kind",), ("类型", "点位类型", "设备类型")),
    Column("name", ("name",), ("名称", "点位名称")),  # both languages alike
    Column("name_zh", ("name", "zh"), ("中文名称", "名称中文")),
    Column("name_en", ("name", "en"), ("英文名称", "名称英文")),
    Column("building", ("location", "building"), ("楼栋", "楼号", "栋号")),
    Column("floor", ("location", "floor"), ("楼层", "层")),
    Column("zone", ("location", "zone"), ("防区", "区域", "分区")),
    Column("unit", ("location", "unit"), ("房号", "户号", "房间", "房间号")),
    Column("heartbeat", ("heartbeat",), ("心跳", "心跳周期")),
    Column("group", ("group",), ("分组",)),
    Column("topic", ("mqtt", "topic"), ("主题",)),
    Column("decoder", ("mqtt", "decoder"), ("解码", "解码器")),
    Column("field", ("mqtt", "field"), ("字段",)),
    Column("property", ("mqtt", "property"), ("属性",)),
    Column("device_field", ("mqtt", "device_field"), ("设备字段",)),
    Column("connection", ("modbus", "connection"), ("连接",)),
    Column("unit_id", ("modbus", "unit"), ("从站", "从站地址", "站号")),
    Column("table", ("modbus", "table"), ("寄存器类型", "寄存器表")),
    Column("address", ("modbus", "address"), ("地址", "寄存器地址")),
    Column("type", ("modbus", "type"), ("数据类型",)),
    Column("bit", ("modbus", "bit"), ("位",)),
    Column("poll", ("modbus", "poll"), ("轮询", "轮询组")),
    Column("values", (BINDING, "values"), ("取值", "状态映射"), _pairs),
    Column("thresholds", (BINDING, "thresholds"), ("阈值",), _thresholds),
)
# columns a point table often has that say nothing to the gateway
IGNORED = ("序号", "备注", "说明", "note", "notes", "remark", "remarks", "comment")


def _key(header: str) -> str:
    return re.sub(r"[\s_\-.()（）]", "", header).lower()


_BY_HEADER = {_key(alias): column for column in COLUMNS
              for alias in (column.name, *column.aliases)}


def import_points(path: Path, sheet: str | None = None) -> tuple[Sheet, list[dict[str, Any]]]:
    """The table's points, each as the site config writes it; every bad cell of every row
    raised together (ConfigSchemaError), or the file's problem (ConfigFileError)."""
    table = read_sheet(path, sheet)
    columns = _columns(table)
    problems: list[Problem] = []
    points: list[dict[str, Any]] = []
    first_row: dict[str, int] = {}
    id_column = next(index for index, column in columns.items() if column.name == "id")
    for number, cells in table.rows:
        unread = sorted(index for row, index in table.unread if row == number)
        if unread:
            problems += [_at(table, number, index, "a formula whose value the file does not "
                             "keep: open the file in Excel or WPS and save it, or type the "
                             "value") for index in unread]
            continue
        point, found = _point(table, columns, number, cells)
        problems += found
        if point is None:
            continue
        if point["id"] in first_row:
            problems.append(_at(table, number, id_column, f"duplicate point id {point['id']!r} "
                                f"(first in row {first_row[point['id']]})"))
        first_row.setdefault(point["id"], number)
        points.append(point)
    if problems:
        raise ConfigSchemaError(problems)
    if not points:
        raise ConfigSchemaError([Problem(table.source, "", "no points: the first row is the "
                                         "header, each row below it a point")])
    return table, points


def _columns(table: Sheet) -> dict[int, Column]:
    columns: dict[int, Column] = {}
    problems = []
    for index, header in enumerate(table.header):
        where = f"row 1, column {column_letter(index)}"
        column = _BY_HEADER.get(_key(header))
        if not header:
            if any(index < len(cells) and cells[index] for _, cells in table.rows):
                problems.append(Problem(table.source, where, "a column without a header"))
        elif column is not None and column in columns.values():
            problems.append(Problem(table.source, f"{where} ({header})",
                                    f"a second {column.name} column"))
        elif column is not None:
            columns[index] = column
        elif _key(header) not in IGNORED:
            problems.append(Problem(table.source, f"{where} ({header})", "unknown column (known: "
                                    f"{', '.join(c.name for c in COLUMNS)}, or in Chinese)"))
    present = {c.name for c in columns.values()}
    missing = [name for name in ("id", "kind") if name not in present]
    if missing and not problems:
        problems.append(Problem(table.source, "row 1", f"the header needs {' and '.join(missing)}"
                                " (the first row names the columns: id, kind, name, ...)"))
    if problems:
        raise ConfigSchemaError(problems)
    return columns


def _point(table: Sheet, columns: dict[int, Column], number: int,
           cells: tuple[str, ...]) -> tuple[dict[str, Any] | None, list[Problem]]:
    cell = {index: cells[index] if index < len(cells) else "" for index in columns}
    bound = [kind for kind in ("mqtt", "modbus")
             if any(cell[i] and c.path[0] == kind for i, c in columns.items())]
    binding = bound[0] if len(bound) == 1 else BINDING
    paths = {index: _bound(column.path, binding) for index, column in columns.items()}
    problems = []
    if len(bound) > 1:
        problems.append(Problem(table.source, f"row {number}", "a point is bound to MQTT "
                                "(topic) or to Modbus (connection), not both"))
    entry: dict[str, Any] = {}
    text = {column.name: cell[index] for index, column in columns.items()}
    zh = text.get("name_zh") or text.get("name")
    en = text.get("name_en") or text.get("name")
    if zh or en:
        entry["name"] = {"zh": zh or en, "en": en or zh}  # one language given: both read it
    for index, column in columns.items():
        if not cell[index] or column.path[0] == "name":
            continue
        if paths[index][0] == BINDING:
            problems.append(_at(table, number, index, "give the point's topic (MQTT) or "
                                "connection (Modbus) first"))
            continue
        try:
            _put(entry, paths[index], column.parse(cell[index]))
        except ValueError as exc:
            problems.append(_at(table, number, index, str(exc)))
    if problems:
        return None, problems
    try:
        model = PointModel.model_validate(entry)
    except ValidationError as exc:
        found = schema_problems(exc, Path(table.source), LineIndex(None)).problems
        return None, [_problem(table, number, paths, p.path, p.message) for p in found]
    point: dict[str, Any] = model.model_dump(mode="json", exclude_unset=True)
    if binding in point:  # how values map to states after where they are read
        point[binding] = dict(sorted(point[binding].items(), key=lambda kv: kv[0] in _MAPS))
    if "heartbeat" in entry:
        point["heartbeat"] = entry["heartbeat"]  # as written (25h), not in seconds
    return point, []


def _bound(path: tuple[str, ...], binding: str) -> tuple[str, ...]:
    return (binding, *path[1:]) if path[0] == BINDING else path


def _put(entry: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        entry = entry.setdefault(part, {})
    entry[path[-1]] = value


def _problem(table: Sheet, number: int, paths: dict[int, tuple[str, ...]], wanted: str,
             message: str) -> Problem:
    """A problem of the field ``wanted`` at its cell: the column whose path is the longest
    that leads to it (``modbus.values.fire`` is in the values column)."""
    best: tuple[int, int] | None = None
    for index, path in paths.items():
        text = format_path(path)
        if (wanted == text or wanted.startswith((f"{text}.", f"{text}["))) and (
                best is None or len(text) > best[1]):
            best = (index, len(text))
    if best is None:
        return Problem(table.source, f"row {number}",
                       f"{wanted}: {message}" if wanted else message)
    if message == "required field is missing":
        message = "empty, and this point needs it"
    return _at(table, number, best[0], message)


def _at(table: Sheet, number: int, index: int, message: str) -> Problem:
    header = table.header[index] if index < len(table.header) else ""
    return Problem(table.source, f"row {number}, column {column_letter(index)}"
                                 + (f" ({header})" if header else ""), message)


class _Dumper(yaml.SafeDumper):
    """Block lists indented under their key, as the site config writes them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def points_yaml(table: Sheet, points: list[dict[str, Any]]) -> str:
    body = yaml.dump({"points": points}, Dumper=_Dumper, allow_unicode=True, sort_keys=False,
                     default_flow_style=None, width=100)
    return (f"# {len(points)} points imported from {Path(table.source).name} by "
            "alarm-gateway points import.\n"
            "# Paste them into the site config's points (alarm-gateway check validates them\n"
            "# with the site: connections, zones, ids) or import the table again when it "
            "changes.\n" + body)


def cmd_points_import(args: argparse.Namespace) -> int:
    table, points = import_points(Path(args.file), args.sheet)
    text = points_yaml(table, points)
    if args.output is None:
        print(text, end="")
        return 0
    out = Path(args.output)
    part = out.with_name(f".{out.name}.part")
    try:
        part.write_text(text, encoding="utf-8")
        os.replace(part, out)  # never half a file where the last good one was
    except OSError as exc:
        raise ConfigFileError([Problem(str(out), "", f"cannot write: {exc.strerror or exc}")]
                              ) from exc
    print(f"{table.source}: {len(points)} points written to {out}")
    return 0


def add_parser(points_sub: Any) -> None:
    """``alarm-gateway points import FILE [-o OUT] [--sheet NAME]``."""
    p: argparse.ArgumentParser = points_sub.add_parser(
        "import", help="a point table (.xlsx or .csv; header row: id, kind, name_zh, ... or "
                       "编号, 类型, 名称, ...) checked row by row and written as the points: "
                       "of a site config; nothing is written while a row is bad")
    p.add_argument("file", help="the table: an .xlsx workbook or a UTF-8 .csv file")
    p.add_argument("-o", "--output", help="the YAML file to write (default: standard output)")
    p.add_argument("--sheet", help="the workbook's sheet (default: the first)")
    p.set_defaults(func=cmd_points_import)
