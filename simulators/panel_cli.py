"""``alarm-gateway simulate panel`` and ``simulate dc09``: what a fire panel's transmission
device (GB/T 26875.3) or an alarm panel (SIA DC-09) would send to the gateway's receivers, one
report at a time, waiting for the receiver's answer::

    alarm-gateway simulate panel B2-FACP fire --zone 1 --point 3 [--description 3层烟感]
    alarm-gateway simulate panel B2-FACP normal --zone 1 --point 3
    alarm-gateway simulate panel B2-FACP reset
    alarm-gateway simulate dc09 5678 --code 110 --zone 1 [--restore]
"""

from __future__ import annotations

import argparse
import random

from gateway.config.site import SiteConfig
from simulators.gbt26875_device import (
    DISABLED,
    FAULT,
    FEEDBACK,
    FIRE,
    STARTED,
    SUPERVISORY,
    TransmissionDevice,
)
from simulators.panel_send import connect_host, send_dc09

STATES = {"fire": (FIRE,), "fault": (FAULT,), "supervisory": (SUPERVISORY,),
          "disabled": (DISABLED,), "started": (STARTED,), "feedback": (STARTED, FEEDBACK),
          "normal": ()}


def add_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    panel = sub.add_parser("panel", help="a report of a panel through its GB/T 26875.3 "
                                         "transmission device")
    panel.add_argument("panel_id", help="a panel of the config (panels:)")
    panel.add_argument("state", choices=[*STATES, "reset"])
    panel.add_argument("--zone", type=int, default=1, help="loop or zone (区号)")
    panel.add_argument("--point", type=int, default=1, help="point on it (位号)")
    panel.add_argument("--type", type=int, default=40, dest="component_type",
                       help="component type code (default: %(default)s, smoke detector)")
    panel.add_argument("--description", default="", help="the panel's text for it")
    dc09 = sub.add_parser("dc09", help="a Contact ID event of an alarm panel over SIA DC-09")
    dc09.add_argument("account")
    dc09.add_argument("--code", type=int, default=110, help="Contact ID event (default: fire)")
    dc09.add_argument("--zone", type=int, default=1)
    dc09.add_argument("--partition", type=int, default=1)
    dc09.add_argument("--restore", action="store_true")
    dc09.add_argument("--receiver", help="the DC-09 receiver of the config (default: the one "
                                         "with this account)")


def run_panel(site: SiteConfig, args: argparse.Namespace) -> int:
    panel = site.panels.get(args.panel_id)
    if panel is None:
        print(f"no panel {args.panel_id!r} in the config (panels: {', '.join(site.panels)})")
        return 2
    receiver = site.receivers[panel.receiver]
    device = TransmissionDevice(connect_host(receiver.host), receiver.port, panel.device,
                                receiver.center_address, retry_after=3.0)
    with device:
        if args.state == "reset":
            frame = device.reset(system=panel.system)
        else:
            frame = device.component(args.zone, args.point, *STATES[args.state],
                                     component_type=args.component_type, system=panel.system,
                                     description=args.description)
        answer = device.answer_to(frame, 15)
    if answer == "confirmed":
        print(f"{args.panel_id} {args.state} {args.zone}-{args.point:03d}: confirmed "
              f"by the center (serial {frame.serial})")
        return 0
    print("denied by the center: see its dead letters" if answer == "denied" else
          "no confirm within 15 s (is the gateway running, its receiver listening?)")
    return 1


def run_dc09(site: SiteConfig, args: argparse.Namespace) -> int:
    account = args.account.upper()
    receivers = [r for r in site.dc09_receivers.values()
                 if account in r.keys and (args.receiver in (None, r.id))]
    if not receivers:
        print(f"no DC-09 receiver of the config has account {account}")
        return 2
    receiver = receivers[0]
    qualifier = 3 if args.restore else 1
    data = f"#{account}|{qualifier}{args.code:03d} {args.partition:02d} {args.zone:03d}"
    body = send_dc09(receiver, account, data, random.randint(1, 9999)) or "no answer"
    print(f"{data}: {body.split('[', 1)[0]}")
    return 0 if '"ACK"' in body or '"*ACK"' in body else 1
