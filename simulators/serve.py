"""``alarm-gateway simulate serve``: run the site's Modbus device simulators until Ctrl-C.

    alarm-gateway simulate serve -c config/site.yaml [--only CONNECTION] [--mqtt-elevators]

Every Modbus connection of the site config gets a server on its own endpoint (TCP host/port
or RTU serial line) with the device each unit is (``build_site_simulators``); with
``--mqtt-elevators`` the elevators recalled over MQTT answer too, on the site's broker (or
``--broker``). One line per device started and one per write received.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable

from gateway.config.site import SiteConfig
from simulators.modbus_base import SimulatedDevice, WriteRecord
from simulators.modbus_devices import ModbusDeviceServer, build_site_simulators, start_all, stop_all
from simulators.mqtt_elevator import MqttElevator, build_site_elevators

Out = Callable[[str], None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", action="append", metavar="CONNECTION",
                        help="serve only this Modbus connection (repeatable)")
    parser.add_argument("--mqtt-elevators", action="store_true",
                        help="also run the elevators recalled over MQTT (site broker)")
    parser.add_argument("--seconds-per-floor", type=float, default=1.5,
                        help="elevator travel time per floor (default: %(default)s)")
    parser.add_argument("--door-seconds", type=float, default=2.0,
                        help="elevator door opening/closing time (default: %(default)s)")
    parser.add_argument("--valve-seconds", type=float, default=3.0,
                        help="valve travel time (default: %(default)s)")


def _stamp() -> str:
    now = time.time()
    return time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"


def _printer(line: str) -> None:
    print(f"{_stamp()} {line}", flush=True)


async def serve(site: SiteConfig, *, only: list[str] | None = None,
                mqtt_elevators: bool = False, seconds_per_floor: float = 1.5,
                door_seconds: float = 2.0, valve_seconds: float = 3.0, out: Out = _printer,
                stop: asyncio.Event | None = None) -> None:
    """Start the simulators, report, and run until ``stop`` is set (or the task is cancelled)."""
    servers = build_site_simulators(site, only=only, seconds_per_floor=seconds_per_floor,
                                    door_seconds=door_seconds,
                                    valve_travel_seconds=valve_seconds)
    elevators: list[MqttElevator] = []
    if mqtt_elevators:
        elevators = list(build_site_elevators(site, seconds_per_floor=seconds_per_floor,
                                              door_seconds=door_seconds).values())
    if not servers and not elevators:
        out("nothing to simulate: the config has no Modbus connections"
            + ("" if mqtt_elevators else " (add --mqtt-elevators for MQTT elevators)"))
        return

    def on_write(server: ModbusDeviceServer) -> Callable[[SimulatedDevice, WriteRecord], None]:
        def report(device: SimulatedDevice, record: WriteRecord) -> None:
            out(f"write {server.name} {record.describe()} ({device.name})")
        return report

    for server in servers.values():
        server.add_write_listener(on_write(server))
    for car in elevators:
        car.add_listener(out)
    stop = stop or asyncio.Event()
    started: list[MqttElevator] = []
    try:
        await start_all(servers.values())
        for server in servers.values():
            for device in server.devices.values():
                out(f"{server.name} {server.endpoint()} {device.describe()}")
        for car in elevators:
            await car.start()
            started.append(car)
            out(car.describe())
        out(f"ready: {sum(len(s.devices) for s in servers.values())} Modbus devices on "
            f"{len(servers)} connections, {len(elevators)} MQTT elevators; Ctrl-C stops")
        await stop.wait()
    finally:
        for car in started:
            await car.stop()
        await stop_all(servers.values())
        out("stopped")


def run(site: SiteConfig, args: argparse.Namespace) -> int:
    """The ``serve`` sub-command: 0 after Ctrl-C/SIGTERM, 2 bad --only, 3 cannot listen."""
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # asyncio raises NotImplementedError where there are no Unix signals; Ctrl-C
            # then still ends the run as KeyboardInterrupt
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await serve(site, only=args.only, mqtt_elevators=args.mqtt_elevators,
                    seconds_per_floor=args.seconds_per_floor, door_seconds=args.door_seconds,
                    valve_seconds=args.valve_seconds, stop=stop)

    try:
        asyncio.run(main())
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 0
    return 0
