"""Lint, types and the rules of the house are part of the suite: ruff on everything, mypy
--strict on the daemon, its adapters and the simulators, the import contracts of pyproject.toml,
the size of modules, and the console's scripts never turning text into markup."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ROOT


def test_ruff_finds_nothing() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_passes_on_the_product_and_the_simulators() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


PRODUCT = ("gateway", "adapters", "simulators")
MAX_LINES = 420  # "no module over ~400 lines": small modules a newcomer can read whole


def test_no_module_of_the_product_is_too_long_to_read() -> None:
    long = {str(path.relative_to(ROOT)): n for package in PRODUCT
            for path in (ROOT / package).rglob("*.[pj]s")
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


@pytest.mark.parametrize("sink", ["innerHTML", "outerHTML", "insertAdjacentHTML",
                                  "document.write", "eval(", "new Function"])
def test_the_console_never_parses_text_as_markup_or_code(sink: str) -> None:
    """Device, playbook and operator text reaches the page as text nodes only (and the CSP
    allows no inline script): none of the ways to turn a string into markup or code."""
    scripts = sorted((ROOT / "gateway" / "console" / "static" / "js").glob("*.js"))
    assert scripts
    assert [p.name for p in scripts if sink in p.read_text(encoding="utf-8")] == []


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = "from importlinter.cli import lint_imports_command; lint_imports_command()"
    return subprocess.run([sys.executable, "-c", command, "--no-cache"], cwd=root,
                          capture_output=True, text=True, check=False, env=env)


def test_the_rules_of_the_house_hold() -> None:
    """The import contracts of pyproject.toml (README: Layout)."""
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("gateway/console/app.py", "import sqlite3", "Only the store speaks SQL"),
    ("gateway/engine/machine.py", "import time", "do no I/O and read no clock"),
    ("gateway/present/render.py", "import gateway.daemon.gateway", "each imports only those"),
    ("gateway/daemon/gateway.py", "import simulators.devices", "does not import the simulators"),
])
def test_a_broken_rule_of_the_house_is_found(tmp_path: Path, module: str, line: str,
                                             contract: str) -> None:
    for name in ("gateway", "adapters", "simulators"):
        shutil.copytree(ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    result = lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    assert f"{contract}" in result.stdout, result.stdout
    assert "BROKEN" in result.stdout, result.stdout
