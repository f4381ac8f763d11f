"""``alarm-gateway explain``: what a reading would do, before going live
(``gateway.present.explain``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from gateway.errors import GatewayError


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                config_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "explain", help="what a reading would do: point, binding, condition, playbook step",
        description="A dry run of one reading, without the daemon: which point it is for, how "
                    "its binding reads it, which condition or mapping gives the state, and "
                    "which playbook that state opens with its first steps and auto-actions. "
                    "Nothing is stored or sent.",
        epilog="examples:\n"
               "  alarm-gateway explain --topic demo/fire/b1/f12/z3 "
               "--payload '{\"state\": \"fire\"}'\n"
               "  alarm-gateway explain --modbus gas-controller/1 --table holding "
               "--address 0 --values 30",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    config_arg(p)
    mqtt = p.add_argument_group("an MQTT message")
    mqtt.add_argument("--topic", help="the topic it comes on")
    mqtt.add_argument("--payload", help="the payload, as sent (JSON or plain text)")
    modbus = p.add_argument_group("Modbus registers")
    modbus.add_argument("--modbus", metavar="CONNECTION/UNIT", help="e.g. elevators/1")
    modbus.add_argument("--table", default="holding",
                        choices=("holding", "input", "coil", "discrete_input"))
    modbus.add_argument("--address", type=int, help="the 0-based address of the first value")
    modbus.add_argument("--values", help="register words (or bits) from it on: 32,0,1")
    p.set_defaults(func=cmd_explain)


def _words(text: str) -> list[int]:
    try:
        return [int(v, 0) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise GatewayError(f"--values {text!r}: write register values as numbers, "
                           "comma-separated (32,0,0x1F)") from None


def cmd_explain(args: argparse.Namespace) -> int:
    from gateway.config.site import load_config
    from gateway.playbook.load import load_playbooks
    from gateway.present import explain

    site = load_config(args.config)
    playbooks = load_playbooks(site.playbook_dir, site)
    if args.topic is not None:
        if args.payload is None:
            raise GatewayError("give the payload with --payload")
        found = explain.explain_mqtt(site, playbooks, args.topic, args.payload.encode())
    elif args.modbus is not None:
        connection, _, unit = args.modbus.partition("/")
        if not unit.isdigit() or args.address is None or not args.values:
            raise GatewayError("for Modbus give --modbus CONNECTION/UNIT, --address and "
                               "--values")
        found = explain.explain_modbus(site, playbooks, connection, int(unit), args.table,
                                       args.address, _words(args.values))
    else:
        raise GatewayError("give --topic and --payload, or --modbus, --address and --values")
    sys.stdout.write(explain.render(found, playbooks))
    return 0 if found else 1
