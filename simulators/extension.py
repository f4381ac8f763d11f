"""The simulators as an extension of ``alarm-gateway``: the ``simulate`` command, and
``run --simulate-devices`` (the demo and drills without equipment: the site's Modbus units as
real pymodbus servers on their configured ports, the MQTT elevators as clients of the
broker, the panels over IP as transmission devices and DC-09 panels calling in, in the
daemon's process)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import structlog

from gateway.config.site import SiteConfig
from simulators import cli as simulators_cli

log = structlog.get_logger("simulators")


class Simulators:
    def add_commands(self, sub: Any,
                     config_arg: Callable[[argparse.ArgumentParser], None]) -> None:
        sim = sub.add_parser("simulate", help="publish what a device would (for testers)")
        simulators_cli.add_arguments(sim)
        sim.set_defaults(func=simulators_cli.run)

    def add_run_options(self, run: argparse.ArgumentParser) -> None:
        run.add_argument("--simulate-devices", action="store_true",
                         help="also run the site's devices as simulators (demo and drills "
                              "without equipment): Modbus units on their configured ports, "
                              "MQTT elevators on the broker")

    def around_run(self, args: argparse.Namespace,
                   site: SiteConfig) -> AbstractAsyncContextManager[None] | None:
        return simulated_devices(site) if args.simulate_devices else None


@contextlib.asynccontextmanager
async def simulated_devices(site: SiteConfig) -> AsyncIterator[None]:
    from simulators.modbus_devices import build_site_simulators, start_all
    from simulators.mqtt_elevator import build_site_elevators
    from simulators.panels import PanelSimulators

    servers = build_site_simulators(site)
    await start_all(servers.values())
    for server in servers.values():
        log.info("simulated_devices", connection=server.name, endpoint=server.endpoint(),
                 units=sorted(server.devices))
    elevators = build_site_elevators(site)

    async def start_elevators() -> None:
        b = site.broker
        while True:  # the embedded broker is started by the gateway: wait for it
            try:
                _, writer = await asyncio.open_connection(b.host, b.port)
            except OSError:
                await asyncio.sleep(0.2)
                continue
            writer.close()
            break
        for elevator in elevators.values():
            await elevator.start()
            log.info("simulated_elevator", elevator=elevator.describe())

    starter = asyncio.create_task(start_elevators())
    panels = PanelSimulators(site)
    panels.start()
    try:
        yield
    finally:
        await asyncio.to_thread(panels.stop)
        starter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starter
        for elevator in elevators.values():
            with contextlib.suppress(Exception):
                await elevator.stop()
        for server in servers.values():
            await server.stop()


EXTENSION = Simulators()
