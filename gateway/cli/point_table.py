"""A point table as a site hands it over: a sheet of an Excel workbook (.xlsx) or a CSV file,
read as its header row and the rows below it, every cell as text.

Rows are numbered as the spreadsheet shows them (the header is row 1) and columns by letter,
so that a problem points at the cell to fix.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import ConfigFileError, Problem

WORKBOOKS = (".xlsx", ".xlsm")


@dataclass(frozen=True, slots=True)
class Sheet:
    source: str  # the file as given, with the sheet where a workbook has several
    header: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]  # (row number, cells); blank rows left out
    # (row number, column index) of the cells that cannot be read: a formula whose value the
    # file does not keep (a file a program wrote and no spreadsheet saved)
    unread: frozenset[tuple[int, int]] = frozenset()


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA: the column as a spreadsheet names it."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def read_sheet(path: Path, sheet: str | None = None) -> Sheet:
    suffix = path.suffix.lower()
    if suffix in WORKBOOKS:
        return _workbook(path, sheet)
    if suffix == ".csv":
        if sheet is not None:
            raise _file_error(path, "a CSV file has no sheets (--sheet is for a workbook)")
        return _csv(path)
    raise _file_error(path, "read a point table from an .xlsx workbook or a .csv file (an old "
                            ".xls: save it as .xlsx first)")


def _file_error(path: Path, message: str) -> ConfigFileError:
    return ConfigFileError([Problem(str(path), "", message)])


def _csv(path: Path) -> Sheet:
    try:
        # Excel's "CSV UTF-8" starts with a byte order mark
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise _file_error(path, "file not found") from None
    except UnicodeDecodeError:
        raise _file_error(path, "not UTF-8 text: save it from Excel or WPS as \"CSV UTF-8\" "
                                "(逗号分隔), or import the .xlsx itself") from None
    except OSError as exc:
        raise _file_error(path, f"cannot read file: {exc.strerror or exc}") from exc
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise _file_error(path, f"not a CSV table: {exc}") from exc
    return _sheet(str(path), records, frozenset())


def _workbook(path: Path, name: str | None) -> Sheet:
    import openpyxl
    from openpyxl.chartsheet import Chartsheet
    from openpyxl.utils.exceptions import InvalidFileException

    if not path.exists():
        raise _file_error(path, "file not found")
    try:
        # once for the values Excel saved, once for the formulas behind them: a formula
        # without a saved value (a file written by a program, never opened in Excel) has none
        values = openpyxl.load_workbook(path, read_only=True, data_only=True)
        formulas = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except (OSError, zipfile.BadZipFile, InvalidFileException, KeyError, ValueError) as exc:
        raise _file_error(path, f"not a readable .xlsx workbook: {exc}") from exc
    try:
        names = values.sheetnames
        chosen = names[0] if name is None else name
        if chosen not in names:
            raise _file_error(path, f"no sheet {name!r} (it has: {', '.join(names)})")
        value_sheet, formula_sheet = values[chosen], formulas[chosen]
        if isinstance(value_sheet, Chartsheet) or isinstance(formula_sheet, Chartsheet):
            raise _file_error(path, f"sheet {chosen!r} is a chart, not a table")
        value_rows = value_sheet.iter_rows(values_only=True)
        formula_rows = formula_sheet.iter_rows(values_only=True)
        records: list[list[str]] = []
        unread: set[tuple[int, int]] = set()
        try:
            for number, (row, behind) in enumerate(
                    itertools.zip_longest(value_rows, formula_rows, fillvalue=()), start=1):
                cells = []
                for index, (value, formula) in enumerate(
                        itertools.zip_longest(row, behind, fillvalue=None)):
                    if value is None and isinstance(formula, str) and formula.startswith("="):
                        unread.add((number, index))
                    cells.append(_text(value))
                records.append(cells)
        except (ValueError, TypeError, KeyError) as exc:  # a cell the workbook holds broken
            raise _file_error(path, f"row {len(records) + 1} cannot be read: {exc}") from exc
    finally:
        values.close()
        formulas.close()
    source = str(path) if len(names) == 1 else f"{path} (sheet {chosen})"
    return _sheet(source, records, frozenset(unread))


def _sheet(source: str, records: Sequence[Sequence[str]],
           unread: frozenset[tuple[int, int]]) -> Sheet:
    header = tuple(cell.strip() for cell in records[0]) if records else ()
    rows = tuple((number, tuple(cell.strip() for cell in cells))
                 for number, cells in enumerate(records[1:], start=2)
                 if any(cell.strip() for cell in cells) or any(r == number for r, _ in unread))
    return Sheet(source, header, rows, unread)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel keeps every number as a float: address 40.0 is 40
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)
