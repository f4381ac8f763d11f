"""Conditions over several readings of one device: a point's state decided by a short table of
rules (``when:``), each a small expression over the point's own value and other fields or
registers of the same device (``inputs:``), the first that holds giving the state.

    inputs: {doors: {address: 6}}
    when:
      - if: "bit(value, 5) and doors == 0"     # stopped outside a landing zone, doors shut
        state: alarm
      - if: "age > 600"                        # a radio channel heard of long ago
        state: offline
      - otherwise: normal

An expression is parsed once, at load, into a tree of the few forms allowed here (names,
numbers, text, true/false, comparisons, and/or/not, + - * / % and the functions below); it is
never handed to Python's eval. ``check`` refuses one that names an unknown input or function.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.domain.model import PointState
from gateway.errors import DecodeError

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Mod: operator.mod, ast.FloorDiv: operator.floordiv,
}


def _bit(value: Any, n: Any) -> int:
    bit = int(_number(n))
    if not 0 <= bit < 64:
        raise ValueError(f"bit {bit} is not one of 0..63")
    return (int(_number(value)) >> bit) & 1


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "bit": _bit,  # bit(value, 5): bit 5 of a status word
    "abs": abs, "min": min, "max": max,
}
_TRUE_WORDS = {"true": True, "false": False, "null": None, "none": None}


@dataclass(frozen=True, slots=True)
class Expr:
    """A parsed expression and its text (for check and for the reason it gives)."""

    text: str
    tree: ast.expr


MAX_TEXT = 500  # characters of an expression
LIMIT = 2**63  # a number beyond this is no reading of a device


def parse(text: str, names: set[str]) -> Expr:
    """``text`` as an expression over ``names``; ValueError saying what is wrong."""
    if len(text) > MAX_TEXT:
        raise ValueError(f"a condition is at most {MAX_TEXT} characters; split it into rules")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, RecursionError, MemoryError) as exc:
        why = exc.msg if isinstance(exc, SyntaxError) else "nested too deep"
        raise ValueError(f"'{text}' is not an expression ({why})") from None
    if isinstance(tree, ast.Tuple | ast.List):
        raise ValueError(f"'{text}' is a list, not a condition: join conditions with 'and'")
    _check(tree, names, text)
    return Expr(text.strip(), tree)


def _check(node: ast.AST, names: set[str], text: str) -> None:
    if isinstance(node, ast.Name):
        if node.id not in names and node.id.lower() not in _TRUE_WORDS:
            known = ", ".join(sorted(names))
            raise ValueError(f"'{text}' names '{node.id}', which is not an input (inputs: "
                             f"{known})")
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS \
                or node.keywords:
            raise ValueError(f"'{text}' calls a function that is not one of "
                             f"{', '.join(sorted(FUNCTIONS))}")
        for arg in node.args:
            _check(arg, names, text)
        return
    allowed = (ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare, ast.Load,
               ast.BinOp, ast.Constant, ast.Tuple, ast.List, *_COMPARE, *_ARITHMETIC)
    if not isinstance(node, allowed):
        raise ValueError(f"'{text}' uses {type(node).__name__}, which a condition may not "
                         "(names, numbers, text, comparisons, and/or/not, + - * / %, "
                         f"{', '.join(sorted(FUNCTIONS))})")
    if isinstance(node, ast.Constant) and not isinstance(node.value,
                                                          int | float | str | bool | None):
        raise ValueError(f"'{text}' holds a constant of a kind a condition may not")
    if isinstance(node, ast.BinOp) and any(isinstance(side, ast.Constant) and not isinstance(
            side.value, int | float) for side in (node.left, node.right)):
        raise ValueError(f"'{text}': arithmetic is on numbers only")
    if isinstance(node, ast.Compare):  # a list only after 'in': (1, 2) is no condition
        for side in (node.left, *(c for op, c in zip(node.ops, node.comparators, strict=True)
                                   if not isinstance(op, ast.In | ast.NotIn))):
            if isinstance(side, ast.Tuple | ast.List):
                raise ValueError(f"'{text}': a list goes after 'in' only")
    for child in ast.iter_child_nodes(node):
        _check(child, names, text)


def evaluate(expr: Expr, values: Mapping[str, Any]) -> Any:
    """The expression's value over the readings; DecodeError when they do not fit it (a text
    compared with a number, an input the message does not carry)."""
    try:
        return _eval(expr.tree, values)
    except (TypeError, ValueError, ArithmeticError, KeyError, RecursionError) as exc:
        raise DecodeError("condition_error",
                          f"condition '{expr.text}' cannot be decided: {exc}") from None


def _number(value: Any) -> int | float:
    """Arithmetic is on numbers a device could send: not text, lists, infinities or numbers
    too large to be a reading (a payload must not make the gateway compute for minutes)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > LIMIT:
        raise ValueError(f"{value!r} is beyond any reading")
    return value


def _eval(node: ast.expr, values: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in values:
            found = values[node.id]
            if found is None:
                raise ValueError(f"'{node.id}' has no reading")
            return found
        return _TRUE_WORDS[node.id.lower()]
    if isinstance(node, ast.BoolOp):
        parts = (_eval(v, values) for v in node.values)
        return all(parts) if isinstance(node.op, ast.And) else any(parts)
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, values)
        return (not operand) if isinstance(node.op, ast.Not) else -_number(operand)
    if isinstance(node, ast.BinOp):
        left, right = _number(_eval(node.left, values)), _number(_eval(node.right, values))
        return _number(_ARITHMETIC[type(node.op)](left, right))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, values)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _eval(right_node, values)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Tuple | ast.List):
        return tuple(_eval(e, values) for e in node.elts)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return FUNCTIONS[node.func.id](*(_eval(a, values) for a in node.args))
    raise ValueError(f"{type(node).__name__} is not a condition")


@dataclass(frozen=True, slots=True)
class Rule:
    when: Expr | None  # None: otherwise
    state: PointState

    @property
    def text(self) -> str:
        return self.when.text if self.when is not None else "otherwise"


@dataclass(frozen=True, slots=True)
class Rules:
    """A point's ``when:`` table and the names of its ``inputs`` (beside ``value``)."""

    rules: tuple[Rule, ...]
    inputs: tuple[str, ...] = ()

    def decide(self, values: Mapping[str, Any]) -> Rule | None:
        """The first rule that holds over these readings; None when none does (the binding's
        own mapping decides then)."""
        for rule in self.rules:
            if rule.when is None or bool(evaluate(rule.when, values)):
                return rule
        return None
