"""``alarm-gateway roster``: who is on duty for each role, now or at a given time."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from gateway.errors import GatewayError


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                config_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("roster", help="who is on duty for each role (now, or --at TIME)",
                       description="The duty roster of the site config: for each role the "
                                   "person on duty, their deputy and the shift, on the site's "
                                   "clock; a date's override (a swap) shows with its reason.")
    config_arg(p)
    p.add_argument("--at", metavar="TIME",
                   help="a time on the site's clock: 14:05, '2026-12-24 21:00' (default: now)")
    p.set_defaults(func=cmd_roster)


def cmd_roster(args: argparse.Namespace) -> int:
    from gateway.config.site import load_config
    from gateway.domain import site_time

    site = load_config(args.config)
    now = time.time()
    try:
        at = site_time.parse(args.at, now) if args.at else now
    except site_time.TimeError as exc:
        raise GatewayError(str(exc)) from None
    local = site_time.local(at)
    print(f"值班表 roster · {site_time.wall(at)[:16]} ({site_time.offset(at)})")
    if not site.roster.entries:
        print("  没有值班表 / no roster in the site config (roster:)")
        return 1
    for role in site.roster.roles:
        name = site.roles.get(role)
        title = f"{name.zh} / {name.en}" if name else role
        duty = site.roster.on_duty(role, local)
        if duty is None:
            print(f"  {title}: 无人值班 / nobody on duty")
            continue
        person = site.people[duty.person]
        line = f"  {title}: {person.name.zh} / {person.name.en} ({person.id})"
        if person.phone:
            line += f" {person.phone}"
        if duty.shift and duty.since and duty.until:
            line += (f" · {duty.shift} {duty.since.strftime('%m-%d %H:%M')}–"
                     f"{duty.until.strftime('%m-%d %H:%M')}")
        if duty.deputy:
            deputy = site.people[duty.deputy]
            line += f" · 替班 deputy: {deputy.name.zh} ({deputy.id})"
        if duty.swapped:
            line += f" · 调班 swapped: {duty.swapped}"
        print(line)
    sys.stdout.flush()
    return 0
