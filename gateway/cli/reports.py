"""``alarm-gateway report`` and ``alarm-gateway kpi``: reports read from the store.

Both open the store read-only, so they work while the daemon runs. The site config and the
playbooks only add names: when they cannot be loaded (or the incident's playbook is gone) the
report shows ids instead.

    alarm-gateway report INC-000042 [--lang zh|en] [--format md|html] [-o FILE] [--store PATH]
    alarm-gateway kpi [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--days N]
                      [--format text|json|md|html] [--lang zh|en] [-o FILE] [--store PATH]

``--until`` is inclusive (the whole day); without dates the period is the last 30 days up to
now. Exit codes as for the other commands: 7 for an unknown incident or a bad period, 8 for a
store that cannot be read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from gateway.cli.common import store_path
from gateway.config.site import SiteConfig, load_config
from gateway.domain import site_time
from gateway.errors import CommandError, ConfigError, GatewayError
from gateway.playbook.definition import Playbook
from gateway.playbook.load import load_playbooks
from gateway.present.words import LANGS

DEFAULT_DAYS = 30


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                config_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``report`` and ``kpi`` to the CLI's sub-commands (``config_arg`` adds
    ``-c/--config`` and ``--store``)."""
    report = sub.add_parser("report", help="the report of one incident (Markdown or HTML)",
                            description="The report of one incident: a first page to file "
                                        "(the project, a summary, what was left undone, "
                                        "sign-off lines), then the timeline, response "
                                        "times against deadlines, actions, prompts, calls, "
                                        "records, review, follow-ups and, for a drill, "
                                        "its score. Users are named as they go by.")
    config_arg(report)
    report.add_argument("incident", help="incident id, e.g. INC-000042")
    report.add_argument("--lang", choices=LANGS, default="zh",
                        help="language of the report (default: %(default)s)")
    report.add_argument("--format", choices=("md", "html"), default="md",
                        help="Markdown or one self-contained HTML page (default: %(default)s)")
    report.add_argument("-o", "--output", metavar="FILE",
                        help="write to this file (default: standard output)")
    report.set_defaults(func=cmd_report)

    kpi = sub.add_parser("kpi", help="KPIs over a period (default: the last 30 days)",
                         description="Real incidents by type, time to acknowledge, time to "
                                     "arrive per role, missed deadlines, false alarms per "
                                     "device, incidents open at the end, drill scores.")
    config_arg(kpi)
    kpi.add_argument("--since", type=_date, metavar="YYYY-MM-DD",
                     help="first day of the period (the site's time zone)")
    kpi.add_argument("--until", type=_date, metavar="YYYY-MM-DD",
                     help="last day of the period, included (default: now)")
    kpi.add_argument("--days", type=_days, metavar="N",
                     help=f"length of the period in days (default: {DEFAULT_DAYS})")
    kpi.add_argument("--format", choices=("text", "json", "md", "html"), default="text")
    kpi.add_argument("--lang", choices=LANGS, default="zh",
                     help="language of md and html (text is zh and en; default: %(default)s)")
    kpi.add_argument("-o", "--output", metavar="FILE",
                     help="write to this file (default: standard output)")
    kpi.set_defaults(func=cmd_kpi)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if days < 1:
        raise argparse.ArgumentTypeError("--days must be 1 or more")
    return days


def _midnight(day: dt.date) -> float:
    """The start of a day on the site's clock."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=site_time.zone()).timestamp()


def period(since: dt.date | None, until: dt.date | None, days: int | None,
           now: float) -> tuple[float, float]:
    """``[since, until)`` in epoch seconds; ``until`` names a day that is included."""
    if since is not None and until is not None and days is not None:
        raise CommandError("give --days with --since or with --until, not with both")
    if until is not None:
        end = _midnight(until + dt.timedelta(days=1))
    elif since is not None and days is not None:
        end = _midnight(since + dt.timedelta(days=days))
    else:
        end = now
    if since is not None:
        start = _midnight(since)
    elif until is not None:
        start = _midnight(until + dt.timedelta(days=1 - (days or DEFAULT_DAYS)))
    else:
        start = end - (days or DEFAULT_DAYS) * 86400.0
    if start >= end:
        raise CommandError("the period is empty: --since must come before --until")
    return start, end


def _config(args: argparse.Namespace, path: Path) -> tuple[SiteConfig | None,
                                                            dict[str, Playbook]]:
    """The site and its playbooks for names; the report stands without them."""
    try:
        site = load_config(args.config, store=str(path))
    except ConfigError:
        return None, {}
    try:
        return site, load_playbooks(site.playbook_dir, site)
    except ConfigError:
        return site, {}


def _emit(text: str, output: str | None) -> None:
    if not output:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GatewayError(f"cannot write {output}: {exc.strerror or exc}") from exc
    print(f"已写入 / written: {output}")


def cmd_report(args: argparse.Namespace) -> int:
    from gateway.present.report import build_report
    from gateway.present.report_render import render_html, render_markdown
    from gateway.store import open_records

    path = store_path(args)
    with open_records(path, readonly=True) as records:
        incident = records.get_incident(args.incident)
        if incident is None:
            raise CommandError(f"no incident {args.incident} in {path}")
        events = records.incident_events(incident.id)
        people = {user.name: user.display for user in records.list_users()}
    site, playbooks = _config(args, path)
    report = build_report(incident, events, playbooks.get(incident.type), site,
                          now=time.time(), people=people)
    render = render_html if args.format == "html" else render_markdown
    _emit(render(report, args.lang), args.output)
    return 0


def cmd_kpi(args: argparse.Namespace) -> int:
    from gateway.present.kpi import compute_kpis, kpis_to_json
    from gateway.present.kpi_render import render_kpis_html, render_kpis_markdown, render_kpis_text
    from gateway.store import open_records

    now = time.time()
    path = store_path(args)
    site, _ = _config(args, path)  # the days are the site's
    since, until = period(args.since, args.until, args.days, now)
    with open_records(path, readonly=True) as records:
        kpis = compute_kpis(records, since, until, site=site, now=now)
    if args.format == "json":
        text = json.dumps(kpis_to_json(kpis), ensure_ascii=False, indent=2) + "\n"
    elif args.format == "md":
        text = render_kpis_markdown(kpis, args.lang)
    elif args.format == "html":
        text = render_kpis_html(kpis, args.lang)
    else:
        text = render_kpis_text(kpis)
    _emit(text, args.output)
    return 0
