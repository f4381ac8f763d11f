"""``alarm-gateway users``: the console's accounts, made and changed from the command line
(an admin on the monitoring-center PC); the demo's accounts."""

from __future__ import annotations

import argparse
import getpass
import sys
import time

from gateway.cli.common import store_path
from gateway.config.site import SiteConfig
from gateway.errors import CommandError

DEMO_USERS = (("operator", "值班员", "operator"), ("supervisor", "当值主管", "supervisor"),
              ("technician", "技术员", "technician"), ("tester", "测试员", "tester"),
              ("admin", "管理员", "admin"))


def demo_users(site: SiteConfig) -> None:
    """The demo's console accounts, one per role, password ``demo-<name>``; only into a store
    that has no users yet."""
    import structlog

    from gateway.console import auth
    from gateway.store import open_records

    log = structlog.get_logger("console")
    with open_records(site.store_path) as records:
        if records.user_count():
            log.info("demo_users_skipped", reason="the store already has console users")
            return
        for name, display, role in DEMO_USERS:
            auth.add_user(records, name, display, [role], f"demo-{name}", time.time())
    log.warning("demo_users_created", users=[u[0] for u in DEMO_USERS],
                password="demo-<user name>", note="for a demo only: never on a real site")


def cmd_users(args: argparse.Namespace) -> int:
    from gateway.console import auth
    from gateway.store import open_records

    with open_records(store_path(args)) as records:
        if args.action == "list":
            users = auth.list_users(records)
            if not users:
                print("没有用户 / no console users (alarm-gateway users add NAME --role ROLE)")
            for u in users:
                print(f"{u.name:<16} {u.display:<12} {','.join(u.roles):<24}"
                      f"{' disabled 已停用' if u.disabled else ''}")
            return 0
        try:
            if args.action in ("add", "passwd"):
                password = _read_password(args)
                if args.action == "add":
                    auth.add_user(records, args.name, args.display or args.name, args.role,
                                  password, time.time())
                else:
                    auth.set_password(records, args.name, password)
            elif args.action == "roles":
                auth.set_roles(records, args.name, args.role)
            else:
                auth.set_disabled(records, args.name, args.action == "disable")
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        print(f"{args.action} {args.name}: done")
        return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise CommandError("the two passwords differ")
    return first


