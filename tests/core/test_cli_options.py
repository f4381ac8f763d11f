"""The command line's manners: ``-c/--config`` and ``--store`` in the same place for every
sub-command, and a reader that goes away early (``check | head -1``) ends it quietly."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from gateway.cli.main import build_parser
from tests.support.processes import ROOT


def _actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    # argparse keeps what a parser takes private: walking it finds every sub-command added,
    # the extensions' included, so that none is left out of these tests
    return list(parser._actions)  # noqa: SLF001 - see above


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = [a for a in _actions(parser) if a.nargs == argparse.PARSER]
    return dict(found[0].choices or {}) if found else {}


def _filled(parser: argparse.ArgumentParser) -> list[str]:
    """What a parser needs to parse: its positionals and required options, each filled."""
    argv: list[str] = []
    for action in _actions(parser):
        if action.nargs == argparse.PARSER or action.default == argparse.SUPPRESS:
            continue
        value = str(next(iter(action.choices))) if action.choices else "1"
        if not action.option_strings:
            argv.append(value)
        elif action.required:
            argv += [action.option_strings[-1], value]
    return argv


def invocations() -> Iterator[tuple[str, list[str], list[str]]]:
    """Every sub-command (and each of its actions) as (name, before, after): the words up to
    where the options go after the sub-command's name, and the rest."""
    for name, command in _commands(build_parser()).items():
        actions = _commands(command)
        if not actions:
            yield name, [name], _filled(command)
        for action_name, action in actions.items():
            yield f"{name} {action_name}", [name], [action_name, *_filled(action)]


INVOCATIONS = list(invocations())
OPTIONS = ["-c", "elsewhere/site.yaml", "--store", "elsewhere/store.sqlite3"]


@pytest.mark.parametrize(("before", "after"), [(b, a) for _, b, a in INVOCATIONS],
                         ids=[name for name, _, _ in INVOCATIONS])
def test_every_sub_command_takes_config_and_store_after_its_name(
        before: list[str], after: list[str]) -> None:
    args = build_parser().parse_args([*before, *OPTIONS, *after])

    assert (args.config, args.store) == ("elsewhere/site.yaml", "elsewhere/store.sqlite3")


@pytest.mark.parametrize(("before", "after"), [(b, a) for _, b, a in INVOCATIONS],
                         ids=[name for name, _, _ in INVOCATIONS])
def test_every_sub_command_takes_config_and_store_at_its_end(
        before: list[str], after: list[str]) -> None:
    args = build_parser().parse_args([*before, *after, *OPTIONS])

    assert (args.config, args.store) == ("elsewhere/site.yaml", "elsewhere/store.sqlite3")


def test_options_before_an_action_stay_when_not_given_again() -> None:
    args = build_parser().parse_args(["incidents", "--store", "a.sqlite3", "list"])

    assert (args.store, args.config) == ("a.sqlite3", os.environ.get(
        "ALARM_GATEWAY_CONFIG", "config/site.yaml"))


def test_the_sub_commands_are_all_walked() -> None:
    names = {name for name, _, _ in INVOCATIONS}

    assert {"run", "check", "incidents list", "incidents ack", "drill start", "points shelve",
            "reload", "backup", "restore", "tasks", "users add", "deadletters", "report",
            "kpi", "simulate fire", "simulate scenario"} <= names


def test_check_into_a_reader_gone_away_ends_quietly() -> None:
    """``alarm-gateway check -c config/site.yaml | head -1``: the reader has closed the pipe
    before the report is written; no traceback follows it."""
    read, write = os.pipe()
    os.close(read)  # gone before a word is written: every write is a broken pipe
    try:
        result = subprocess.run(
            [sys.executable, "-m", "gateway", "check", "-c", str(ROOT / "config" / "site.yaml")],
            stdout=write, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=60,
            check=False)
    finally:
        os.close(write)

    assert result.returncode == 1
    assert result.stderr == ""


def test_check_through_head_prints_its_first_line_alone() -> None:
    config = ROOT / "config" / "site.yaml"
    result = subprocess.run(
        f"'{sys.executable}' -m gateway check -c '{config}' | head -1", shell=True,
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)

    assert result.stdout == f"{config}: OK\n"
    assert result.stderr == ""
