"""What every command of the CLI shares: the site config and the store it names, and an
output whose reader may go away early."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import structlog

from gateway.config.site import ENV_STORE, SiteConfig, load_config
from gateway.errors import Problem
from gateway.playbook.definition import Playbook
from gateway.playbook.load import load_playbooks


def quietly(run: Callable[[], int]) -> int:
    """``run``'s exit code; a reader that went away early (``check | head -1``) ends it
    quietly, with 1 and no traceback (Python's docs, "Note on SIGPIPE")."""
    try:
        code = run()
        sys.stdout.flush()  # here, where a broken pipe can still be caught
    except BrokenPipeError:
        # the rest of the output goes nowhere: the interpreter flushes stdout again on exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return code


def site_options(default_config: str, *, again: bool = False) -> argparse.ArgumentParser:
    """``-c/--config`` and ``--store`` as a parent parser of every sub-command: after its
    name, and ``again`` after its action (``incidents list --store PATH``)."""
    options = argparse.ArgumentParser(add_help=False)
    add_site_options(options, default_config, again=again)
    return options


def add_site_options(parser: argparse.ArgumentParser, default_config: str, *,
                     again: bool = False) -> None:
    """``-c/--config`` and ``--store``, which every sub-command takes in the same place.
    ``again``: after an action, where a value given before the action stays unless it is
    given again."""
    if again:
        parser.add_argument("-c", "--config", metavar="FILE", default=argparse.SUPPRESS,
                            help="site config file")
        parser.add_argument("--store", metavar="PATH", default=argparse.SUPPRESS,
                            help="the store")
        return
    parser.add_argument("-c", "--config", metavar="FILE", default=default_config,
                        help="site config file (default: %(default)s; env ALARM_GATEWAY_CONFIG)")
    parser.add_argument("--store", metavar="PATH",
                        help=f"the store (default: the config's; env {ENV_STORE})")


def load(args: argparse.Namespace) -> tuple[SiteConfig, dict[str, Playbook]]:
    """The site config and its playbooks, with the command line's overrides."""
    site = load_config(args.config, broker=getattr(args, "broker", None),
                       store=getattr(args, "store", None), console=getattr(args, "console", None))
    fitted: list[Problem] = []
    playbooks = load_playbooks(site.playbook_dir, site, fitted)
    for warning in fitted:  # what the site has no actuator for is done by hand
        structlog.get_logger("gateway").warning(
            "playbook_fitted_to_site", file=warning.file, line=warning.line,
            field=warning.path, detail=warning.message)
    return site, playbooks


def store_path(args: argparse.Namespace) -> Path:
    """The store: --store, else ALARM_GATEWAY_STORE, else the config's."""
    if args.store:
        return Path(args.store)
    if os.environ.get(ENV_STORE):
        return Path(os.environ[ENV_STORE])
    return load_config(args.config).store_path
