"""Lint, types and the rules of the house are part of the suite: ruff on everything, mypy
--strict on the daemon, the import contracts of pyproject.toml."""

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


def test_mypy_strict_passes_on_gateway_and_adapters() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


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
