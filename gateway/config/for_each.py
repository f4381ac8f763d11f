"""``for_each`` on a point: one entry of the site config expanded into many.

    for_each: {b: "1..2", zip: {ch: "1..4", room: [pump, garage, boiler, lift]}}

Each name runs over a range (``"1..18"``; ``"08..11"`` keeps its width) or a list. The names
make every combination, the first written outermost, except those under ``zip``, which run in
step (their lists are of one length) and count as one name. In any text of the entry,
``{name}`` is the name's value and ``{expression}`` computes a whole number from whole numbers
and the names with ``+ - * // %`` and brackets, e.g. ``"{100 + (ch - 1) * 4}"``; a format
follows a colon, as in Python: ``"GAS-{ch:02d}"``. The result is text: a field that takes a
number reads a text that is one (``address: "{ch * 2}"``).

Expressions are parsed with :mod:`ast` and only those operations are evaluated: no names
other than the loop's, no calls, no attributes.
"""

from __future__ import annotations

import ast
import functools
import itertools
import math
import operator
import re
from collections.abc import Callable
from typing import Any

ZIP = "zip"
_NAME = re.compile(r"[A-Za-z_]\w*")
_RANGE = re.compile(r"\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# what may be an expression; other text in braces (JSON, say) is left as it is
_EXPRESSION = re.compile(r"[\w\s.+\-*/%()]+")
_INTEGER = re.compile(r"\s*-?\d+\s*")
_SPEC = re.compile(r"[<>^]?0?\d{0,2}[dxXs]?")  # alignment, width and the kinds that make sense
_OPERATORS: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_ALLOWED = "whole numbers, the for_each names, + - * // % and brackets"

MAX_POINTS = 20_000  # one entry's expansion: a site's whole point list at most


class ForEachError(ValueError):
    """A ``for_each`` that cannot be expanded; ``at`` is the place inside the entry (or
    inside its ``for_each``) that is wrong."""

    def __init__(self, at: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.at = at


def combinations(raw: Any) -> list[dict[str, str]]:
    """Every set of values the names take, in the order the entries are made."""
    if not isinstance(raw, dict) or not raw:
        raise ForEachError((), "for_each maps a name to a list or a range like '1..18' "
                               f"(and '{ZIP}' to names that run in step)")
    factors: list[list[dict[str, str]]] = []
    seen: set[str] = set()
    for name, spec in raw.items():
        if name == ZIP:
            group = _zipped(spec)
            names = set(group[0])
        else:
            group = [{_name(name, ()): value} for value in _values(spec, (name,))]
            names = {str(name)}
        if twice := sorted(seen & names):
            raise ForEachError((), f"for_each name {twice[0]!r} is given twice")
        seen |= names
        factors.append(group)
    if math.prod(len(f) for f in factors) > MAX_POINTS:
        raise ForEachError((), f"for_each makes more than {MAX_POINTS} points from one entry "
                           "(split it, or import the point table)")
    return [{k: v for part in combo for k, v in part.items()}
            for combo in itertools.product(*factors)]


def _zipped(spec: Any) -> list[dict[str, str]]:
    if not isinstance(spec, dict) or not spec:
        raise ForEachError((ZIP,), f"'{ZIP}' maps names to lists or ranges of one length, "
                                   "run in step")
    columns = {_name(name, (ZIP,)): _values(values, (ZIP, name))
               for name, values in spec.items()}
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        counts = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ForEachError((ZIP,), f"'{ZIP}' runs its lists in step, so they must be of "
                                   f"one length: {counts}")
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _name(name: Any, at: tuple[str | int, ...]) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name == ZIP:
        raise ForEachError(at, f"for_each name {name!r} must be an identifier (not '{ZIP}')")
    return name


def _values(spec: Any, at: tuple[str | int, ...]) -> list[str]:
    if isinstance(spec, list) and spec:
        return [str(v) for v in spec]
    if isinstance(spec, int) and not isinstance(spec, bool):
        return [str(spec)]
    if isinstance(spec, str):
        match = _RANGE.fullmatch(spec)
        if match is None:
            return [spec]
        first, last = match.group(1), match.group(2)
        width = len(first) if first.startswith("0") and len(first) > 1 else 0
        lo, hi = int(first), int(last)
        if hi < lo:
            raise ForEachError(at, f"range {spec!r} runs backwards")
        if hi - lo >= MAX_POINTS:
            raise ForEachError(at, f"range {spec!r} makes more than {MAX_POINTS} points")
        return [str(n).zfill(width) for n in range(lo, hi + 1)]
    raise ForEachError(at, f"{spec!r} is neither a list nor a range like '1..18'")


def substitute(value: Any, variables: dict[str, str],
               at: tuple[str | int, ...] = ()) -> Any:
    """``value`` (an entry, or any part of it) with every text's placeholders filled in."""
    if not variables:
        return value
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: _fill(m.group(1), m.group(0), variables, at), value)
    if isinstance(value, dict):
        return {k: substitute(v, variables, (*at, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables, (*at, i)) for i, v in enumerate(value)]
    return value


def _fill(inside: str, whole: str, variables: dict[str, str],
          at: tuple[str | int, ...]) -> str:
    expression, colon, spec = inside.partition(":")
    text = expression.strip()
    if not text or not _EXPRESSION.fullmatch(expression):
        return whole
    if text.isidentifier() and text not in variables and not colon:
        return whole  # not one of the loop's names: another kind of braces, kept
    where = f"'{whole}': "
    value: int | str
    if text in variables:
        raw = variables[text]
        if not colon:
            return raw  # as written: "08" stays "08"
        value = int(raw) if _INTEGER.fullmatch(raw) else raw
    else:
        try:
            value = _evaluate(text, variables)
        except ZeroDivisionError:
            given = ", ".join(f"{k}={v}" for k, v in variables.items())
            raise ForEachError(at, f"{where}division by zero (with {given})") from None
        except ValueError as exc:
            raise ForEachError(at, f"{where}{exc}") from None
        if not colon:
            return str(value)
    try:
        if not _SPEC.fullmatch(spec):
            raise ValueError(spec)
        return format(value, spec)
    except ValueError:
        raise ForEachError(at, f"{where}{spec!r} is not a format for {value!r} "
                               "(e.g. 02d for 01, 02, ...)") from None


def _evaluate(text: str, variables: dict[str, str]) -> int:
    return _node(_parse(text), variables)


@functools.lru_cache(maxsize=256)  # one entry's expression, for each of its combinations
def _parse(text: str) -> ast.expr:
    if len(text) > 200:
        raise ValueError("an expression of a for_each is at most 200 characters")
    try:
        return ast.parse(text, mode="eval").body
    except (SyntaxError, RecursionError, MemoryError):
        raise ValueError(f"not an expression (allowed: {_ALLOWED})") from None


def _node(node: ast.expr, variables: dict[str, str]) -> int:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in variables:
            known = ", ".join(variables)
            raise ValueError(f"unknown name {node.id!r} (for_each names: {known})")
        raw = variables[node.id]
        if not _INTEGER.fullmatch(raw):
            raise ValueError(f"{node.id} is {raw!r} here, not a whole number")
        return int(raw)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _node(node.operand, variables)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_node(node.left, variables),
                                         _node(node.right, variables))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        raise ValueError("'/' makes fractions: divide whole numbers with //")
    raise ValueError(f"only {_ALLOWED} may be used")
