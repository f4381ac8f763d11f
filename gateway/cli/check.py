"""``alarm-gateway check``: the site config and its playbooks validated, and what they make
of the site summed up (points, playbooks and what opens them, files the gateway cannot read,
broker settings that lose queued alarms)."""

from __future__ import annotations

import argparse
import os
import sys

from gateway.config.site import SiteConfig, load_config
from gateway.daemon import broker_settings
from gateway.errors import ConfigError, Problem
from gateway.playbook.definition import Playbook
from gateway.playbook.load import load_playbooks


def cmd_check(args: argparse.Namespace) -> int:
    try:
        site = load_config(args.config, store=args.store)
    except ConfigError as exc:
        _invalid(str(args.config), [str(p) for p in exc.problems])
        return exc.exit_code
    fitted: list[Problem] = []
    try:
        playbooks = load_playbooks(site.playbook_dir, site, fitted)
    except ConfigError as exc:
        _invalid(str(site.playbook_dir), [str(p) for p in exc.problems])
        return exc.exit_code
    print(f"{args.config}: OK")
    for warning in fitted:
        print(f"  warning     {warning}")
    _summary(site, playbooks)
    for pb in sorted(playbooks.values(), key=lambda p: p.id):
        _playbook(pb)
    unbound = sorted({p.kind.value for p in site.points.values()}
                     - {k.value for pb in playbooks.values()
                        for k in ((pb.trigger.point_kinds if pb.trigger else None) or ())})
    if unbound:
        print(f"  note        no playbook names these point kinds: {', '.join(unbound)} "
              "(they are recorded and supervised, and faults still open device_fault)")
    _unreadable_files(site)
    _broker_settings(site)
    return 0


def _invalid(where: str, problems: list[str]) -> None:
    print(f"{where}: INVALID", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)


def _summary(site: SiteConfig, playbooks: dict[str, Playbook]) -> None:
    broker = "embedded (started by the gateway)" if site.broker.embedded else site.broker.describe()
    points = site.points.values()
    on_mqtt = sum(1 for p in points if p.mqtt is not None)
    on_modbus = sum(1 for p in points if p.modbus is not None)
    on_panels = sum(1 for p in points if p.panel is not None)
    on_dc09 = sum(1 for p in points if p.dc09 is not None)
    ways = [f"{on_mqtt} on MQTT topics",
            f"{on_modbus} on Modbus ({len(site.modbus)} connections)"]
    if on_panels:
        ways.append(f"{on_panels} of {len(site.panels)} panels behind GB/T 26875.3 listeners")
    if on_dc09:
        ways.append(f"{on_dc09} of SIA DC-09 panel accounts")
    print(f"  site        {site.site_id} ({site.site_name})")
    print(f"  broker      {broker}")
    print(f"  store       {site.store_path}")
    print(f"  points      {len(site.points)}: {', '.join(ways)}")
    print(f"  actuators   {len(site.actuators)}")
    print(f"  playbooks   {len(playbooks)} in {site.playbook_dir}")


def _playbook(pb: Playbook) -> None:
    opens = []
    if pb.trigger is not None:
        kinds = ", ".join(sorted(k.value for k in pb.trigger.point_kinds or ())) or "any"
        states = ", ".join(sorted(s.value for s in pb.trigger.states))
        held = f" for {pb.trigger.duration:g}s" if pb.trigger.duration else ""
        opens.append(f"{kinds} in {states}{held}, one per {pb.trigger.correlate_by}")
    if pb.manual:
        opens.append("by hand")
    counts = [f"{len(pb.stages)} stages"]
    for what, n in (("steps", sum(len(s.steps) for s in pb.stages)),
                    ("branches", sum(1 for s in pb.stages if s.branch)),
                    ("prompts", sum(len(s.prompts) for s in pb.stages)),
                    ("auto-actions", sum(len(s.actions) for s in pb.stages))):
        if n:
            counts.append(f"{n} {what}")
    print(f"    {pb.id:<20} {pb.name.zh} / {pb.name.en} [{pb.severity.value}]")
    print(f"    {'':<20} opens: {'; '.join(opens)}; {', '.join(counts)}")


def _unreadable_files(site: SiteConfig) -> None:
    tls = site.broker.tls
    for field, name in (("broker.tls.ca_file", tls.ca_file if tls else None),
                        ("broker.tls.cert_file", tls.cert_file if tls else None),
                        ("broker.tls.key_file", tls.key_file if tls else None),
                        ("console.tls.cert_file", site.console.cert_file),
                        ("console.tls.key_file", site.console.key_file)):
        if name and not os.access(name, os.R_OK):
            # the file's name only, never its content
            print(f"  warning     {field} {name} cannot be read by this user "
                  "(the gateway's user must be able to)")


def _broker_settings(site: SiteConfig) -> None:
    b = site.broker
    conf = broker_settings.config_of(b.host, b.port, b.config_file, site.embedded_broker_config)
    if conf is None:
        return
    try:
        for finding in broker_settings.check_file(conf):
            print(f"  warning     broker {conf}: {finding}")
    except OSError as exc:
        print(f"  warning     broker config {conf} cannot be read: {exc.strerror or exc}")
