"""``alarm-gateway``: run the daemon, check a config, work incidents, simulate devices.

Exit codes: 0 ok · 2 bad command line · 3 config file missing/unreadable · 4 YAML syntax ·
5 schema (field missing, unknown, wrong type) · 6 references (unknown role/actuator/contact,
duplicates) · 7 operator command rejected · 8 store error · 9 daemon not running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import sys
import time
from pathlib import Path
from typing import Any

from gateway.cli.check import cmd_check
from gateway.cli.common import add_site_options, load, quietly, site_options, store_path
from gateway.cli.extensions import extensions
from gateway.cli.store_commands import cmd_backup, cmd_deadletters, cmd_restore
from gateway.cli.users import cmd_users, demo_users
from gateway.config.site import ENV_BROKER, ENV_CONSOLE, SiteConfig, load_config
from gateway.domain.commands import COMMANDS, ArgKind, CommandDef, Target
from gateway.errors import CommandError, ConfigError, GatewayError
from gateway.playbook.definition import Playbook
from gateway.playbook.load import load_playbooks
from gateway.store.records import Records

DEFAULT_CONFIG = os.environ.get("ALARM_GATEWAY_CONFIG", "config/site.yaml")


# ----------------------------------------------------------------------------- run / check


def cmd_run(args: argparse.Namespace) -> int:
    from gateway import logs
    from gateway.daemon.serve import serve

    logs.configure(json=args.log_json, level=args.log_level)
    site, playbooks = load(args)
    if args.demo_users:
        demo_users(site)
    def reloader() -> tuple[SiteConfig, dict[str, Playbook]]:
        return load(args)  # the same file and overrides, read again

    services = []
    if site.console.enabled:
        from gateway.console.server import serve_console

        services.append(("console", serve_console))

    async def run() -> None:
        async with contextlib.AsyncExitStack() as stack:
            for extension in extensions():
                around = extension.around_run(args, site)
                if around is not None:
                    await stack.enter_async_context(around)
            await serve(site, playbooks, reloader=reloader,
                        allow_damaged_store=args.allow_damaged_store, services=services)

    asyncio.run(run())
    return 0


# ----------------------------------------------------------------------------- incidents


def cmd_incidents(args: argparse.Namespace) -> int:
    from gateway.present import render
    from gateway.store import open_records

    path = store_path(args)
    site: SiteConfig | None = None
    try:
        site = load_config(args.config, store=str(path))
        playbooks = load_playbooks(site.playbook_dir, site)
    except ConfigError:
        playbooks = {}
    with open_records(path, readonly=True) as records:
        if args.action == "list":
            incidents = records.list_incidents(include_closed=args.all)
            print(render.incident_table(incidents, playbooks, time.time()))
            return 0
        if args.action == "show":
            incident = records.get_incident(args.incident)
            if incident is None:
                raise CommandError(f"no incident {args.incident} in {path}")
            print(render.incident_detail(incident, records.incident_events(incident.id),
                                         records.incident_signals(incident.id), playbooks,
                                         time.time(), site))
            return 0
        return _submit(records, path, args)


def cmd_drill(args: argparse.Namespace) -> int:
    verb_args = {"minutes": str(args.minutes), "buildings": ",".join(args.building),
                 "points": ",".join(args.point)} if args.action == "start" else {}
    return _daemon_command(args, f"drill_{args.action}", verb_args)


def _daemon_command(args: argparse.Namespace, verb: str, verb_args: dict[str, str]) -> int:
    """A command for the running daemon that names no incident (drill, points, reload)."""
    from gateway.store import DaemonLock, open_records

    path = store_path(args)
    with open_records(path, readonly=True) as records:
        DaemonLock(path).require_daemon()
        return _await_command(records, verb, "", args.by, verb_args)


def _await_command(records: Records, verb: str, incident_id: str, actor: str,
                   verb_args: dict[str, str]) -> int:
    """Queue a command for the daemon and print what it made of it."""
    from gateway.store.commands import await_command

    print(await_command(records, verb, incident_id, actor, verb_args))
    return 0


def _submit(records: Records, path: Path, args: argparse.Namespace) -> int:
    from gateway.store import DaemonLock

    verb = args.action.replace("-", "_")
    incident_id = getattr(args, "incident", "") or ""
    if incident_id and records.get_incident(incident_id) is None:
        raise CommandError(f"no incident {incident_id} in {path}")
    DaemonLock(path).require_daemon()
    verb_args: dict[str, str] = {}
    for arg in COMMANDS[verb].args:
        value = getattr(args, arg.name, None)
        if isinstance(value, bool):
            value = "yes" if value else ""
        verb_args[arg.name] = "" if value is None else str(value)
    return _await_command(records, verb, incident_id, args.by, verb_args)


def cmd_tasks(args: argparse.Namespace) -> int:
    from gateway.present import render
    from gateway.store import open_records

    with open_records(store_path(args), readonly=True) as records:
        tasks = records.list_follow_ups(include_done=args.all)
    print(render.follow_up_table(tasks, time.time()))
    return 0


def cmd_points(args: argparse.Namespace) -> int:
    verb_args = {"point": args.point}
    if args.action == "shelve":
        verb_args |= {"minutes": str(args.minutes), "reason": args.reason}
    return _daemon_command(args, args.action, verb_args)


def cmd_reload(args: argparse.Namespace) -> int:
    """Ask the running daemon to re-read its config (like SIGHUP, but with who asked)."""
    return _daemon_command(args, "reload", {})


def cmd_site_command(args: argparse.Namespace) -> int:
    """A command the running daemon applies and answers: an actuator commanded by hand (it
    sends it and follows its feedback), a swap in the roster."""
    from gateway.store import DaemonLock, open_records

    verb = args.site_verb
    verb_args = {a.name: ("yes" if v is True else "" if v in (None, False) else str(v))
                 for a in COMMANDS[verb].args for v in [getattr(args, a.name, None)]}
    path = store_path(args)
    with open_records(path, readonly=True) as records:
        DaemonLock(path).require_daemon()
        return _await_command(records, verb, verb_args.get("incident", ""), args.by,
                              verb_args)


# ----------------------------------------------------------------------------- parser


def _command_parser(sub: Any, definition: CommandDef, user: str,
                    again: argparse.ArgumentParser) -> None:
    """``alarm-gateway incidents VERB``: its arguments from the command's definition."""
    p: argparse.ArgumentParser = sub.add_parser(definition.verb.replace("_", "-"),
                                                help=definition.summary, parents=[again])
    if definition.target is Target.INCIDENT:
        p.add_argument("incident")
    for arg in definition.args:
        extra: dict[str, Any] = {"help": arg.help or None}
        if arg.kind is ArgKind.CHOICE:
            extra["choices"] = list(arg.choices)
        if arg.positional:
            p.add_argument(arg.name, **extra)
        elif arg.kind is ArgKind.FLAG:
            p.add_argument(f"--{arg.name}", action="store_true", **extra)
        else:
            p.add_argument(f"--{arg.name}", required=arg.required,
                           default=None if arg.required else "", **extra)
    p.add_argument("--by", default=user, help="who gives the command (default: %(default)s; "
                                               "env ALARM_GATEWAY_OPERATOR)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alarm-gateway", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    # -c/--config and --store, in the same place for every sub-command: after its name, and
    # again after its action (incidents list --store PATH)
    site, again = site_options(DEFAULT_CONFIG), site_options(DEFAULT_CONFIG, again=True)

    def config_arg(p: argparse.ArgumentParser) -> None:
        """The same options on the commands other modules add (reports, extensions)."""
        add_site_options(p, DEFAULT_CONFIG)

    run = sub.add_parser("run", help="run the gateway daemon", parents=[site])
    run.add_argument("--broker", help=f"host:port or mqtt://user:pass@host:port (env {ENV_BROKER})")
    run.add_argument("--console", help=f"HOST:PORT for the operator console, or off "
                                       f"(env {ENV_CONSOLE}; default from the config, "
                                       "127.0.0.1:8080)")
    run.add_argument("--demo-users", action="store_true",
                     help="create one console user per role (password demo-<name>) in a "
                          "store that has none: for the demo only")
    run.add_argument("--allow-damaged-store", action="store_true",
                     default=os.environ.get("ALARM_GATEWAY_ALLOW_DAMAGED_STORE") == "1",
                     help="run on a store that fails its integrity check (until a backup is "
                          "restored): a gateway_health incident says so meanwhile "
                          "(env ALARM_GATEWAY_ALLOW_DAMAGED_STORE=1)")
    run.add_argument("--log-level", default=os.environ.get("ALARM_GATEWAY_LOG_LEVEL", "info"))
    run.add_argument("--log-json", action=argparse.BooleanOptionalAction, default=None,
                     help="JSON log lines (default: when stderr is not a terminal)")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="validate the site config and its playbooks",
                           parents=[site])
    check.set_defaults(func=cmd_check)

    inc = sub.add_parser("incidents", help="list, show and work incidents", parents=[site])
    isub = inc.add_subparsers(dest="action", required=True)
    lst = isub.add_parser("list", help="open incidents (--all: closed too)", parents=[again])
    lst.add_argument("--all", action="store_true")
    show = isub.add_parser("show", help="one incident with its full timeline", parents=[again])
    show.add_argument("incident")
    user = os.environ.get("ALARM_GATEWAY_OPERATOR") or getpass.getuser()

    for definition in COMMANDS.values():
        if definition.target is not Target.SITE:
            _command_parser(isub, definition, user, again)
    inc.set_defaults(func=cmd_incidents)

    drill = sub.add_parser("drill", help="a drill window: the signals of its buildings and "
                                         "points are drill signals (their writes withheld); "
                                         "every other signal stays real", parents=[site])
    dsub = drill.add_subparsers(dest="action", required=True)
    start = dsub.add_parser("start", help="start a drill window", parents=[again])
    start.add_argument("--minutes", type=float, default=30.0, help="at most 240")
    start.add_argument("--building", action="append", default=[],
                       help="a building in the drill (repeat for more)")
    start.add_argument("--point", action="append", default=[],
                       help="a point in the drill (repeat for more)")
    stop = dsub.add_parser("stop", help="end the drill window", parents=[again])
    for p in (start, stop):
        p.add_argument("--by", default=user, help="tester name (default: %(default)s)")
    drill.set_defaults(func=cmd_drill)

    points = sub.add_parser("points", help="shelve a nuisance point for a while (its signals "
                                           "are kept but open no incident), unshelve it; import "
                                           "a point table (.xlsx, .csv) as config",
                            parents=[site])
    psub = points.add_subparsers(dest="action", required=True)
    p = psub.add_parser("shelve", help="take a point out of service for up to 24 hours",
                        parents=[again])
    p.add_argument("point")
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--reason", required=True, help="why (e.g. detector under repair)")
    p = psub.add_parser("unshelve", help="back in service now", parents=[again])
    p.add_argument("point")
    for p in psub.choices.values():
        p.add_argument("--by", default=user, help="who (default: %(default)s)")
    points.set_defaults(func=cmd_points)
    from gateway.cli import points_import

    points_import.add_parser(psub)  # a point table made into config, no daemon needed
    add_site_options(psub.choices["import"], DEFAULT_CONFIG, again=True)

    reload = sub.add_parser("reload", help="the running daemon re-reads its config and "
                                           "playbooks (as on SIGHUP); a bad one is refused",
                            parents=[site])
    reload.add_argument("--by", default=user, help="who (default: %(default)s)")
    reload.set_defaults(func=cmd_reload)

    for verb in ("actuate", "roster_swap"):
        _command_parser(sub, COMMANDS[verb], user, site)
        sub.choices[verb.replace("_", "-")].set_defaults(func=cmd_site_command, site_verb=verb)

    backup = sub.add_parser("backup", help="an online, consistent copy of the store "
                                           "(SQLite backup API), while the daemon runs",
                            parents=[site])
    backup.add_argument("dest", help="the file to write")
    backup.add_argument("--overwrite", action="store_true")
    backup.set_defaults(func=cmd_backup)

    restore = sub.add_parser("restore", help="put a backup in place of the store (the daemon "
                                             "must be stopped; the current store is kept aside)",
                             parents=[site])
    restore.add_argument("src", help="the backup file")
    restore.set_defaults(func=cmd_restore)

    tasks = sub.add_parser("tasks", help="follow-up visits and calls (回访) due after close",
                           parents=[site])
    tasks.add_argument("--all", action="store_true", help="done ones too")
    tasks.set_defaults(func=cmd_tasks)

    users = sub.add_parser("users", help="console users and their roles (an admin's job)",
                           parents=[site])
    usub = users.add_subparsers(dest="action", required=True)
    usub.add_parser("list", help="every user with roles", parents=[again])
    roles_help = "operator, supervisor, technician, tester or admin (repeat for several)"
    p = usub.add_parser("add", help="a new user", parents=[again])
    p.add_argument("name")
    p.add_argument("--role", action="append", required=True, help=roles_help)
    p.add_argument("--display", default="", help="the name shown (default: the user name)")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from standard input instead of asking")
    p = usub.add_parser("passwd", help="set a new password (ends the user's sessions)",
                        parents=[again])
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true")
    p = usub.add_parser("roles", help="replace a user's roles", parents=[again])
    p.add_argument("name")
    p.add_argument("--role", action="append", required=True, help=roles_help)
    for name, text in (("disable", "stop a user logging in (ends the sessions)"),
                       ("enable", "let a disabled user log in again")):
        usub.add_parser(name, help=text, parents=[again]).add_argument("name")
    users.set_defaults(func=cmd_users)

    dead = sub.add_parser("deadletters", help="bad input kept for the technician",
                          parents=[site])
    dead.add_argument("--limit", type=int, default=50)
    dead.set_defaults(func=cmd_deadletters)

    from gateway.cli import reports as reports_cli

    reports_cli.add_parsers(sub, config_arg)
    from gateway.cli import explain as explain_cli

    explain_cli.add_parsers(sub, config_arg)
    from gateway.cli import roster as roster_cli

    roster_cli.add_parsers(sub, config_arg)

    for extension in extensions():
        extension.add_commands(sub, config_arg)
        extension.add_run_options(run)
    return parser


def main(argv: list[str] | None = None) -> int:
    return quietly(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return exc.exit_code
    except GatewayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
