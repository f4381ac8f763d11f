"""Commands and run-time companions that other packages add to ``alarm-gateway`` (the device
simulators: ``simulate``, ``run --simulate-devices``), found through the
``alarm_gateway.extensions`` entry points, so the product never imports them."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from importlib.metadata import entry_points
from typing import Any, Protocol

from gateway.config.site import SiteConfig

ENTRY_POINTS = "alarm_gateway.extensions"


class Extension(Protocol):
    def add_commands(self, sub: Any,
                     config_arg: Callable[[argparse.ArgumentParser], None]) -> None:
        """Add sub-commands (``sub`` is what ``add_subparsers`` returned; ``config_arg`` adds
        ``-c/--config`` and ``--store``, which every sub-command takes in the same place)."""

    def add_run_options(self, run: argparse.ArgumentParser) -> None:
        """Add options to ``alarm-gateway run``."""

    def around_run(self, args: argparse.Namespace,
                   site: SiteConfig) -> AbstractAsyncContextManager[None] | None:
        """What runs around the daemon for ``run`` (started before it, stopped after)."""


def extensions() -> list[Extension]:
    found: list[Extension] = []
    for point in entry_points(group=ENTRY_POINTS):
        found.append(point.load())
    return found
