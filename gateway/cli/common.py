"""What every command of the CLI shares: the site config and the store it names."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from gateway.config.site import ENV_STORE, SiteConfig, load_config
from gateway.playbook.definition import Playbook
from gateway.playbook.load import load_playbooks


def load(args: argparse.Namespace) -> tuple[SiteConfig, dict[str, Playbook]]:
    """The site config and its playbooks, with the command line's overrides."""
    site = load_config(args.config, broker=getattr(args, "broker", None),
                       store=getattr(args, "store", None), console=getattr(args, "console", None))
    return site, load_playbooks(site.playbook_dir, site)


def store_path(args: argparse.Namespace) -> Path:
    """The store: --store, else ALARM_GATEWAY_STORE, else the config's."""
    if args.store:
        return Path(args.store)
    if os.environ.get(ENV_STORE):
        return Path(os.environ[ENV_STORE])
    return load_config(args.config).store_path
