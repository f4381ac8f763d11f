"""Scenario replay: a timeline of device events, replayed against the gateway and checked.

    alarm-gateway simulate scenario simulators/scenarios/fire-confirmed.yaml -c config/site.yaml
        [--speed 10] [--drill] [--no-devices] [--store PATH] [--broker host:port]

The file's format is in ``simulators.scenario_model``.

A drill scenario (``drill: true`` or ``--drill``) asks the running gateway to start a drill
(``drill_start`` through its command queue) before the first step, and to stop it after the
check, also on an error or Ctrl-C: its scope is every point the scenario makes report, so the
gateway marks their signals drill and withholds the actuator writes of the incidents they open,
while a real alarm elsewhere stays real. Points with a ``drill_field`` also get the drill flag in
their payload.

The site's simulated devices (Modbus gas controller, elevator interface and valves, MQTT
elevators) run in this process during the replay unless ``--no-devices`` says that
``simulate serve`` already runs them; gas and elevator steps need them in this process."""

from __future__ import annotations

import asyncio
import getpass
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config.site import PointConfig, SiteConfig
from gateway.errors import CommandError, ConfigError, GatewayError
from gateway.playbook.definition import Playbook
from gateway.playbook.load import load_playbooks
from gateway.store import DaemonLock, open_records
from gateway.store.commands import COMMAND_TIMEOUT, await_command
from gateway.store.values import Mark
from simulators.devices import encode, mqtt_of
from simulators.panel_send import PanelError, PanelSender, over_ip
from simulators.scenario_check import Check, _ids, evaluate
from simulators.scenario_devices import Devices, MqttOut, SiteDevices
from simulators.scenario_load import (
    ElevatorStep,
    GasStep,
    PointStep,
    RawStep,
    Scenario,
    Step,
    StormStep,
    load_scenario,
    storm_messages,
)
from simulators.scenario_model import (
    EXIT_BAD_SCENARIO,
    EXIT_FAIL,
    EXIT_PASS,
    ReplayError,
)

POLL = 0.2


def _actor(scenario: Scenario) -> str:
    user = os.environ.get("ALARM_GATEWAY_OPERATOR") or getpass.getuser()
    return f"{user} (scenario {scenario.name})"


def gateway_command(store_path: Path, verb: str, actor: str, args: dict[str, str],
                    timeout: float = COMMAND_TIMEOUT) -> str:
    """Queue a site-level command for the running daemon and wait for its result."""
    DaemonLock(store_path).require_daemon()
    with open_records(store_path, readonly=True) as records:
        try:
            return await_command(records, verb, "", actor, args, timeout)
        except CommandError as exc:
            raise CommandError(f"the gateway refused {verb}: {exc}") from None


@dataclass
class Options:
    speed: float = 1.0
    drill: bool = False
    devices: bool = True
    store_path: Path | None = None
    out: Callable[[str], None] = field(default=lambda line: print(line, flush=True))


@dataclass
class Outcome:
    passed: bool
    checks: list[Check] = field(default_factory=list)
    published: int = 0
    stored: int = 0
    since: Mark | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_PASS if self.passed else EXIT_FAIL


def _clock(offset: float) -> str:
    return f"+{offset:7.2f}s"


class Runner:
    """Replays one scenario: devices up, drill on, steps on time, expectations, drill off."""

    def __init__(self, scenario: Scenario, site: SiteConfig, options: Options,
                 devices: Devices | None = None) -> None:
        self.scenario = scenario
        self.site = site
        self.options = options
        self.drill = scenario.drill or options.drill
        self.store_path = options.store_path or site.store_path
        self.panels: PanelSender | None = None
        self.devices = devices
        if devices is None and options.devices:
            self.devices = SiteDevices(site)
        self.mqtt: MqttOut | None = None
        self.bound_topics = set(site.points_by_topic())
        self.bound_published = 0
        self.t0 = 0.0
        self.tasks: list[asyncio.Task[None]] = []

    def say(self, text: str) -> None:
        self.options.out(text)

    async def run(self) -> Outcome:
        sc, expect = self.scenario, self.scenario.expect
        if self.devices is None and sc.needs_devices:
            steps = ", ".join(f"steps[{s.index}]" for s in sc.steps
                              if isinstance(s, GasStep | ElevatorStep))
            raise ReplayError(f"{steps} drive simulated devices, which run in this process: "
                               "drop --no-devices (or stop 'simulate serve' and let the "
                               "replay run them)")
        checking = not expect.empty
        if checking or self.drill:
            DaemonLock(self.store_path).require_daemon()
        self.say(f"scenario {sc.name} ({sc.file}): {len(sc.steps)} steps over "
                 f"{sc.length / self.options.speed:.1f}s at speed {self.options.speed:g}"
                 + (", drill" if self.drill else ""))
        drill_started = False
        try:
            if self.devices is not None:
                devices_started = time.time()
                await self.devices.start()
                if checking or self.drill:
                    await self._wait_for_polls(devices_started)
            self.mqtt = await asyncio.to_thread(MqttOut, self.site.broker)
            if self.drill:
                minutes = math.ceil((sc.length / self.options.speed + expect.within
                                     + expect.settle + 60) / 60)
                drill_started = True  # stop it at the end even if the start times out
                result = await asyncio.to_thread(
                    gateway_command, self.store_path, "drill_start", _actor(sc),
                    {"minutes": str(minutes), "points": ",".join(self.driven_points())})
                self.say(f"drill started for at most {minutes} min: {result}")
            since = await asyncio.to_thread(self._mark) if checking else Mark(time.time())
            await self._play()
            await self.mqtt.flush()
            self.say(f"{_clock(time.monotonic() - self.t0)}  all steps done; "
                     f"{self.bound_published} messages to bound topics")
            if not checking:
                return Outcome(True, [], self.bound_published, 0, since)
            return await self._check(since)
        finally:
            for task in self.tasks:
                task.cancel()
            if drill_started:
                self._stop_drill()
            if self.mqtt is not None:
                self.mqtt.close()
            if self.panels is not None:
                await asyncio.to_thread(self.panels.close)
            if self.devices is not None:
                await self.devices.stop()

    def driven_points(self) -> list[str]:
        """Every point the scenario makes report: the drill window's scope, so that a real
        alarm elsewhere during the replay stays real."""
        ids: set[str] = {p.id for p in self.driven_modbus_points()}
        by_topic = self.site.points_by_topic()
        for step in self.scenario.steps:
            if isinstance(step, PointStep | GasStep):
                ids.add(step.point.id)
            elif isinstance(step, StormStep):
                ids.update(p.id for _, zone in step.detectors for p in zone)
            elif isinstance(step, ElevatorStep):
                ids.update(p for p in self.site.points if p.startswith(f"{step.actuator.id}-"))
            elif isinstance(step, RawStep):
                ids.update(p.id for p in by_topic.get(step.topic, ()))
        return sorted(ids)

    def driven_modbus_points(self) -> list[PointConfig]:
        """The Modbus points of the units that gas and elevator steps drive."""
        units: set[tuple[str, int]] = set()
        for step in self.scenario.steps:
            if isinstance(step, GasStep) and step.point.modbus is not None:
                units.add((step.point.modbus.connection, step.point.modbus.unit))
            elif isinstance(step, ElevatorStep):
                units.update((c.modbus.connection, c.modbus.unit)
                             for c in step.actuator.commands.values() if c.modbus is not None)
        return [p for p in self.site.points.values()
                if p.modbus is not None and (p.modbus.connection, p.modbus.unit) in units]

    async def _wait_for_polls(self, devices_started: float) -> None:
        """Let the gateway find the devices just started before driving them.

        Its Modbus link probes a missing device every poll interval (a unit that does not
        answer, with a back-off); a ramp played before it is back would be missed. Ready when
        each driven point's stored state changed (from offline, or first seen) after the
        devices started; after the longest wait a unit may take, go on anyway.
        """
        points = self.driven_modbus_points()
        if not points:
            return
        connections = [self.site.modbus[c] for c in {p.modbus.connection for p in points
                                                     if p.modbus is not None}]
        limit = max(c.backoff_max + 2 * max(c.poll.values()) + c.timeout + 2
                    for c in connections)
        ids = sorted(p.id for p in points)
        self.say(f"waiting for the gateway to read the simulated devices ({_ids(ids)})")
        started = time.monotonic()
        with open_records(self.store_path, readonly=True) as records:
            while time.monotonic() - started < limit:
                if records.points_heard_since(ids, devices_started) == len(ids):
                    self.say(f"the gateway reads them ({time.monotonic() - started:.1f}s)")
                    return
                await asyncio.sleep(POLL)
        print(f"warning: after {limit:.0f}s the gateway has not reported reading "
              f"{_ids(ids)} since the devices started; going on", file=sys.stderr)

    def _stop_drill(self) -> None:
        try:
            result = gateway_command(self.store_path, "drill_stop", _actor(self.scenario), {})
        except GatewayError as exc:
            print(f"warning: could not stop the drill ({exc}); it ends by itself",
                  file=sys.stderr)
        else:
            self.say(f"drill stopped: {result}")

    async def _play(self) -> None:
        loop = asyncio.get_running_loop()
        self.t0 = time.monotonic()
        start = loop.time()
        for step in self.scenario.steps:
            delay = start + step.at / self.options.speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._do(step)
        if self.tasks:
            await asyncio.gather(*self.tasks)
            self.tasks.clear()
        rest = start + self.scenario.length / self.options.speed - loop.time()
        if rest > 0:  # a ramp still running
            await asyncio.sleep(rest)

    def _devices(self) -> Devices:
        if self.devices is None:
            raise ReplayError("this step needs the simulated Modbus devices (run without "
                              "--no-devices)")
        return self.devices

    def _publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        if self.mqtt is None:
            raise ReplayError("the replay publishes before it is connected to the broker")
        self.mqtt.publish(topic, payload, retain=retain)
        if topic in self.bound_topics:
            self.bound_published += 1

    def _do(self, step: Step) -> None:
        now = _clock(time.monotonic() - self.t0)
        speed = self.options.speed
        if isinstance(step, PointStep) and over_ip(step.point):
            self.tasks.append(asyncio.get_running_loop().create_task(self._panel(step, now)))
        elif isinstance(step, PointStep):
            topic = mqtt_of(step.point).topic
            payload = encode(step.point, step.state, device=step.device, drill=self.drill,
                             value=step.value)
            self._publish(topic, payload, step.retain)
            self.say(f"{now}  {step.point.id} {step.state}"
                     + (f" ({step.device})" if step.device else "")
                     + f"  {topic} {payload.decode(errors='replace')}")
        elif isinstance(step, RawStep):
            self._publish(step.topic, step.payload, step.retain)
            self.say(f"{now}  raw  {step.topic} {step.payload[:120]!r}")
        elif isinstance(step, GasStep):
            self._devices().ramp_gas(step.point, step.ramp_to, step.over / speed)
            self.say(f"{now}  {step.point.id} ramps to {step.ramp_to:g} %LEL over "
                     f"{step.over / speed:.1f}s")
        elif isinstance(step, ElevatorStep):
            self._devices().set_elevator(step.actuator, step.behaviour)
            self.say(f"{now}  {step.actuator.id} behaves: {step.behaviour}")
        else:
            self.tasks.append(asyncio.get_running_loop().create_task(self._storm(step)))
            self.say(f"{now}  storm: {step.zones} zones per building in "
                     f"{', '.join(b for b, _ in step.detectors)} over {step.over / speed:.1f}s")

    async def _panel(self, step: PointStep, now: str) -> None:
        """A report through a panel over IP, done once the gateway answered it."""
        if self.panels is None:
            self.panels = PanelSender(self.site)
        try:
            said = await asyncio.to_thread(self.panels.send, step.point, step.state,
                                           step.device)
        except (PanelError, OSError) as exc:
            raise ReplayError(f"step at {now}: {exc}") from None
        self.say(f"{now}  {step.point.id} {step.state} (panel over IP: {said})")

    async def _storm(self, step: StormStep) -> None:
        messages = list(storm_messages(step, self.drill))
        span = step.over / self.options.speed
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n, (topic, payload) in enumerate(messages):
            delay = start + span * n / len(messages) - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._publish(topic, payload)

    def _mark(self) -> Mark:
        with open_records(self.store_path, readonly=True) as records:
            return records.mark(time.time())

    async def _check(self, since: Mark) -> Outcome:
        expect = self.scenario.expect
        with open_records(self.store_path, readonly=True) as records:
            device_writes = self.devices.writes if self.devices is not None else None
            deadline = time.monotonic() + expect.within
            while True:
                stored = records.stored_since(since)
                checks = evaluate(records, expect, since,
                                  device_writes() if device_writes else None)
                if stored >= self.bound_published and all(c.ok for c in checks):
                    await asyncio.sleep(expect.settle)
                    stored = records.stored_since(since)
                    checks = evaluate(records, expect, since,
                                      device_writes() if device_writes else None)
                    if all(c.ok for c in checks):
                        break
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(POLL)
        passed = all(c.ok for c in checks)
        waited = time.monotonic() - self.t0
        self.say(f"{_clock(waited)}  expectations:")
        for c in checks:
            self.say(f"  {'PASS' if c.ok else 'FAIL'}  {c.text}")
        if stored < self.bound_published:
            self.say(f"  note  the gateway stored {stored} signals/dead letters for the "
                     f"{self.bound_published} messages published to its topics")
        failed = sum(not c.ok for c in checks)
        self.say(f"result: {'PASS' if passed else 'FAIL'}"
                 + (f" ({failed} of {len(checks)} expectations not met)" if failed else
                    f" ({len(checks)} expectations met)"))
        return Outcome(passed, checks, self.bound_published, stored, since)


def replay(scenario: Scenario, site: SiteConfig, options: Options,
           devices: Devices | None = None) -> Outcome:
    return asyncio.run(Runner(scenario, site, options, devices).run())


def run_cli(*, file: str, site: SiteConfig, speed: float, drill: bool, devices: bool,
            store_path: str | None) -> int:
    """``simulate scenario``: exit 0 pass, 1 fail, 2 bad scenario, else the gateway's codes."""
    if not speed > 0 or not math.isfinite(speed):
        print("error: --speed must be a number above 0", file=sys.stderr)
        return EXIT_BAD_SCENARIO
    try:
        playbooks: dict[str, Playbook] | None = load_playbooks(site.playbook_dir, site)
    except ConfigError:
        playbooks = None  # `alarm-gateway check` reports those; expectations go unchecked
    scenario = load_scenario(file, site, playbooks)
    options = Options(speed=speed, drill=drill, devices=devices,
                      store_path=Path(store_path) if store_path else None)
    try:
        return replay(scenario, site, options).exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (OSError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except ImportError as exc:
        print(f"error: the device simulators are not available ({exc}); "
              "use --no-devices with 'simulate serve' running", file=sys.stderr)
        return 3
