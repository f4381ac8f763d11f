"""``alarm-gateway simulate`` (also ``python -m simulators``): publish what a device would.

    alarm-gateway simulate fire --building 1 --floor 12 --zone 3 [--device SD-01]
    alarm-gateway simulate mcp --building 1 --floor 12 --number 2
    alarm-gateway simulate point W-PUMP-01 alarm
    alarm-gateway simulate point B1-F12-Z3 normal --device SD-01
    alarm-gateway simulate panel B2-FACP fire --zone 1 --point 3   # GB/T 26875.3
    alarm-gateway simulate dc09 5678 --code 110 --zone 1            # SIA DC-09
    alarm-gateway simulate serve [--only CONNECTION] [--mqtt-elevators]   # Modbus devices
    alarm-gateway simulate scenario simulators/scenarios/fire-confirmed.yaml [--speed 10] [--drill]
    alarm-gateway simulate record --out var/recorded.yaml [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import sys

from gateway.cli.common import quietly
from gateway.config.site import SiteConfig, load_config
from gateway.domain.model import PointState
from gateway.errors import GatewayError
from simulators.devices import EncodeError, Publisher, encode, mqtt_of

DEFAULT_CONFIG = os.environ.get("ALARM_GATEWAY_CONFIG", "config/site.yaml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default=DEFAULT_CONFIG,
                        help="site config (default: %(default)s)")
    parser.add_argument("--broker", help="host:port, overrides the config")
    parser.add_argument("--store", help="the gateway's store (default: from the config)")
    sub = parser.add_subparsers(dest="device", required=True)
    fire = sub.add_parser("fire", help="a detector zone of the fire panel")
    fire.add_argument("--building", required=True)
    fire.add_argument("--floor", required=True)
    fire.add_argument("--zone", required=True)
    fire.add_argument("--device", dest="device_address", default="SD-01",
                      help="detector address within the zone (default: %(default)s)")
    fire.add_argument("--state", default="alarm", choices=[s.value for s in PointState])
    fire.add_argument("--drill", action="store_true")
    mcp = sub.add_parser("mcp", help="a manual call point")
    mcp.add_argument("--building", required=True)
    mcp.add_argument("--floor", required=True)
    mcp.add_argument("--number", required=True)
    mcp.add_argument("--state", default="alarm", choices=[s.value for s in PointState])
    mcp.add_argument("--drill", action="store_true")
    point = sub.add_parser("point", help="any point of the config, by id")
    point.add_argument("point_id")
    point.add_argument("state", choices=[s.value for s in PointState])
    point.add_argument("--device", default="")
    point.add_argument("--value", type=float)
    point.add_argument("--drill", action="store_true")
    point.add_argument("--retain", action="store_true")
    from simulators import serve

    serve_parser = sub.add_parser("serve", help="run the site's Modbus device simulators "
                                                "(and MQTT elevators) until Ctrl-C")
    serve.add_arguments(serve_parser)
    from simulators import panel_cli

    panel_cli.add_arguments(sub)
    _add_replay_commands(sub)
    for each in sub.choices.values():
        # also accepted after the sub-command; SUPPRESS keeps a value given before it
        each.add_argument("-c", "--config", default=argparse.SUPPRESS,
                          help=f"site config (default: {DEFAULT_CONFIG})")
        each.add_argument("--broker", default=argparse.SUPPRESS,
                          help="host:port, overrides the config")
        each.add_argument("--store", default=argparse.SUPPRESS,
                          help="the gateway's store (default: from the config)")


def run(args: argparse.Namespace) -> int:
    handler = getattr(args, "replay_handler", None)
    if handler is not None:
        return int(handler(args))
    site = load_config(args.config, broker=args.broker)
    if args.device == "serve":
        from simulators import serve

        return serve.run(site, args)
    if args.device in ("panel", "dc09"):
        from simulators import panel_cli

        return (panel_cli.run_panel if args.device == "panel" else panel_cli.run_dc09)(site, args)
    if args.device == "fire":
        point_id = f"B{args.building}-F{args.floor}-Z{args.zone}"
        device, value = args.device_address, None
    elif args.device == "mcp":
        point_id = f"B{args.building}-F{args.floor}-MCP{args.number}"
        device, value = "", None
    else:
        point_id, device, value = args.point_id, args.device, args.value
    return publish_point(site, point_id, PointState(args.state), device=device, value=value,
                         drill=args.drill, retain=getattr(args, "retain", False))


def publish_point(site: SiteConfig, point_id: str, state: PointState, *, device: str = "",
                  value: float | None = None, drill: bool = False, retain: bool = False) -> int:
    point = site.points.get(point_id)
    if point is None:
        print(f"error: no point {point_id!r} in {site.file}", file=sys.stderr)
        return 2
    try:
        payload = encode(point, state, device=device, value=value, drill=drill)
    except EncodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    b = site.broker
    binding = mqtt_of(point)  # encode() refused Modbus points already
    try:
        with Publisher(b.host, b.port, b.username, b.password) as publisher:
            publisher.publish(binding.topic, payload, retain=retain)
    except (OSError, TimeoutError) as exc:
        print(f"error: cannot publish to {b.describe()}: {exc}", file=sys.stderr)
        return 3
    print(f"published {binding.topic} {payload.decode()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return quietly(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except GatewayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


# ----------------------------------------------------------------------------- scenarios


def _add_replay_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scenario = sub.add_parser(
        "scenario", help="replay a scenario file and check its expectations",
        description="Replay a scenario (simulators/scenarios/*.yaml) against the running "
        "gateway and check its expectations in the store. Exit 0 pass, 1 fail, 2 bad file.")
    scenario.add_argument("file", help="scenario YAML file")
    scenario.add_argument("--speed", type=float, default=1.0,
                          help="replay N times faster (default: real time)")
    scenario.add_argument("--drill", action="store_true",
                          help="run as a drill: the gateway withholds real actuator writes")
    scenario.add_argument("--no-devices", dest="run_devices", action="store_false",
                          help="do not run the simulated Modbus/MQTT devices here "
                          "('simulate serve' already runs them)")
    scenario.set_defaults(replay_handler=_run_scenario)
    record = sub.add_parser(
        "record", help="record live MQTT traffic into a scenario file",
        description="Subscribe to every topic bound to a point and write what arrives as "
        "scenario steps, until --seconds pass or Ctrl-C.")
    record.add_argument("--out", required=True, help="scenario file to write")
    record.add_argument("--seconds", type=float, help="stop after N seconds")
    record.add_argument("--name", default="", help="scenario name (default: recorded-TIME)")
    record.set_defaults(replay_handler=_run_record)


def _run_scenario(args: argparse.Namespace) -> int:
    from simulators import scenario

    site = load_config(args.config, broker=args.broker, store=args.store)
    return scenario.run_cli(file=args.file, site=site, speed=args.speed, drill=args.drill,
                            devices=args.run_devices, store_path=args.store)


def _run_record(args: argparse.Namespace) -> int:
    from pathlib import Path

    from simulators import record

    site = load_config(args.config, broker=args.broker)
    try:
        return record.record(site, Path(args.out), seconds=args.seconds, name=args.name)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
