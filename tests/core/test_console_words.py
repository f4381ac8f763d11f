"""Every refusal the gateway can give has a code the console's page says in Chinese and
English (gateway/console/static/js/refusals.js), and every command refusal of the engine
carries one."""

from __future__ import annotations

import ast
import re

from tests.support.processes import ROOT

STATIC = ROOT / "gateway" / "console" / "static" / "js"


def _page_codes() -> dict[str, tuple[str, str]]:
    text = (STATIC / "refusals.js").read_text(encoding="utf-8")
    return {m.group(1): (m.group(2), m.group(3)) for m in re.finditer(
        r"^  (\w+): \['((?:[^'\\]|\\.)*)', '((?:[^'\\]|\\.)*)'\],$", text, re.MULTILINE)}


def _python_codes() -> dict[str, str]:
    """Each code the product gives (CommandError(code=...), refused(status, code, ...),
    Answer(..., code, ...), the guards' answers), with where it is given."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):  # {"error": ..., "code": ...}
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "code" \
                            and isinstance(value, ast.Constant) and value.value:
                        found[str(value.value)] = f"{path.relative_to(ROOT)}:{node.lineno}"
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else \
                node.func.attr if isinstance(node.func, ast.Attribute) else ""
            codes = [k.value for k in node.keywords if k.arg == "code"]
            if name == "refused" and len(node.args) > 1:
                codes.append(node.args[1])
            if name == "Answer" and len(node.args) > 3:
                codes.append(node.args[3])
            if name == "_answer" and len(node.args) > 3:
                codes.append(node.args[3])
            for code in [c2 for c in codes for c2 in (
                    (c.body, c.orelse) if isinstance(c, ast.IfExp) else (c,))]:
                if isinstance(code, ast.Constant) and code.value:
                    found[str(code.value)] = f"{path.relative_to(ROOT)}:{node.lineno}"
    return found


def test_every_refusal_code_is_said_by_the_page_in_both_languages() -> None:
    page = _page_codes()
    given = _python_codes()
    assert len(given) > 40
    missing = {code: where for code, where in given.items() if code not in page}
    assert missing == {}
    for code, (zh, en) in page.items():
        assert re.search(r"[\u4e00-\u9fff]", zh), code
        # no raw id in the Chinese: only placeholders and the forms an operator may type
        assert re.findall(r"\b[a-z][a-z_]{2,}\b", re.sub(r"\{\w+\}", "", zh)) == [], code
        assert en, code
        assert not re.search(r"[\u4e00-\u9fff]", en), code
        assert sorted(re.findall(r"\{\w+\}", zh)) == sorted(re.findall(r"\{\w+\}", en)), code


def test_every_command_refusal_of_the_engine_has_a_code() -> None:
    uncoded = []
    for folder in ("engine", "domain", "daemon"):
        for path in sorted((ROOT / "gateway" / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                        and node.func.id == "CommandError" \
                        and not any(k.arg == "code" for k in node.keywords):
                    uncoded.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert uncoded == []


def test_the_page_has_no_text_for_a_code_nobody_gives() -> None:
    assert set(_page_codes()) - set(_python_codes()) == set()


