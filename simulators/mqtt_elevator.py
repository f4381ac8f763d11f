"""An elevator simulated over MQTT: it takes its fire-recall command, travels, and reports
its status on the topic of its feedback point (see :class:`MqttElevator`)."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config.site import ActuatorConfig, SiteConfig
from gateway.domain.model import ActuatorKind

ElevatorBehaviour = Literal["normal", "ignore_recall", "stuck"]


@dataclass(frozen=True, slots=True)
class ReceivedCommand:
    """A command message the elevator received."""

    at: float  # wall clock
    topic: str
    payload: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.topic} {json.dumps(self.payload, ensure_ascii=False)}"


class MqttElevator:
    """An elevator that takes its fire-recall command and reports its status over MQTT.

    Listens on the topic of the actuator's ``recall`` command; on ``{"cmd": "fire_recall"}``
    (optionally ``"floor"``, default 1) it closes its doors, travels floor by floor to the
    recall floor, opens its doors and publishes ``{"floor": 1, "doors": "open", "mode":
    "fire_recall", "recalled": true}`` on the topic of the command's feedback point (the field
    name comes from that point's binding). Its position is published at every floor on the
    way with ``recalled`` false. ``{"cmd": "reset"}`` returns it to normal service.

    Behaviours (:meth:`set_behaviour`): ``normal``; ``ignore_recall`` (the command is received,
    and kept in :attr:`writes`, but does nothing); ``stuck`` (the car does not move). Start and
    stop with ``await start()``/``await stop()`` or, without an event loop, ``open()``/``close()``
    (also ``with`` / ``async with``).
    """

    def __init__(self, site: SiteConfig, actuator_id: str, *, host: str | None = None,
                 port: int | None = None, username: str | None = None,
                 password: str | None = None, command: str = "recall", start_floor: int = 8,
                 floors: tuple[int, int] = (-1, 18), seconds_per_floor: float = 1.5,
                 door_seconds: float = 2.0, ignore_recall: bool = False,
                 retain_status: bool = False) -> None:
        actuator = site.actuators.get(actuator_id)
        if actuator is None:
            raise KeyError(f"no actuator {actuator_id!r} in {site.file}")
        cmd = actuator.commands.get(command)
        if cmd is None or not cmd.topic:
            raise ValueError(f"actuator {actuator_id} has no MQTT command {command!r}")
        if cmd.feedback is None:
            raise ValueError(f"actuator {actuator_id} command {command!r} has no feedback "
                             "point to report on")
        point = site.points[cmd.feedback.point]
        if point.mqtt is None or not point.mqtt.field:
            raise ValueError(f"feedback point {point.id} is not a JSON MQTT point with a field")
        self.actuator = actuator
        self.command_topic = cmd.topic
        self.status_topic = point.mqtt.topic
        self.recalled_field = point.mqtt.field
        self.floors = [f for f in range(floors[0], floors[1] + 1) if f != 0]
        if start_floor not in self.floors:
            raise ValueError(f"start floor {start_floor} is not served")
        self.seconds_per_floor = seconds_per_floor
        self.door_seconds = door_seconds
        self.behaviour: ElevatorBehaviour = "ignore_recall" if ignore_recall else "normal"
        self.retain_status = retain_status
        self.floor = start_floor
        self.doors = "closed"
        self.mode = "normal"
        self.recalled = False
        self.writes: list[ReceivedCommand] = []
        self.statuses: list[dict[str, Any]] = []
        self._listeners: list[Callable[[str], None]] = []
        broker = site.broker
        self._host = host or broker.host
        self._port = port or broker.port
        if host is None and username is None:
            username, password = broker.username, broker.password
        self._credentials = (username, password)
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._worker = threading.Thread(target=self._work, name=f"elevator {actuator_id}",
                                        daemon=True)
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                   client_id=f"sim-{actuator_id}-{uuid.uuid4().hex[:6]}")
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._opened = False

    @property
    def id(self) -> str:
        return self.actuator.id

    @property
    def commands(self) -> list[dict[str, Any]]:
        return [w.payload for w in self.writes]

    @property
    def ignore_recall(self) -> bool:
        return self.behaviour == "ignore_recall"

    def set_behaviour(self, behaviour: str) -> None:
        if behaviour not in ("normal", "ignore_recall", "stuck"):
            raise ValueError(f"behaviour is normal, ignore_recall or stuck, not {behaviour!r}")
        self.behaviour = cast(ElevatorBehaviour, behaviour)

    def add_listener(self, listener: Callable[[str], None]) -> None:
        """``listener(line)`` for each command received and each status published."""
        self._listeners.append(listener)

    def describe(self) -> str:
        return (f"elevator {self.actuator.id} (MQTT, floor {self.floor}): commands on "
                f"{self.command_topic}, status on {self.status_topic}")

    # -- lifecycle

    def open(self, timeout: float = 10.0) -> None:
        """Connect, subscribe (waits for the SUBACK) and start the car."""
        if self._opened:
            return
        username, password = self._credentials
        if username:
            self._client.username_pw_set(username, password)
        self._client.connect(self._host, self._port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(timeout):
            self._client.disconnect()
            self._client.loop_stop()
            self._client.reinitialise()
            raise TimeoutError(f"elevator {self.actuator.id}: no subscription to "
                               f"{self.command_topic} within {timeout} s")
        self._worker.start()
        self._opened = True

    def close(self) -> None:
        if not self._opened:
            return
        self._opened = False
        self._stop.set()
        self._worker.join(10)
        self._client.disconnect()
        self._client.loop_stop()
        # paho closes its wake-up socket pair only in Client.__del__, which a garbage-collected
        # cycle (our callbacks) may run after the sockets' own finalizers: release them now.
        self._client.reinitialise()

    async def start(self) -> None:
        await asyncio.to_thread(self.open)

    async def stop(self) -> None:
        await asyncio.to_thread(self.close)

    def __enter__(self) -> MqttElevator:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> MqttElevator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- MQTT callbacks (paho's network thread)

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object,
                    reason_code: Any, properties: object) -> None:
        if not reason_code.is_failure:
            client.subscribe(self.command_topic, qos=1)

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int,
                      reason_codes: list[Any], properties: object) -> None:
        if reason_codes and not reason_codes[0].is_failure:
            self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object,
                    message: mqtt.MQTTMessage) -> None:
        try:
            doc = json.loads(message.payload)
        except ValueError:
            return
        if isinstance(doc, dict):
            record = ReceivedCommand(time.time(), message.topic, doc)
            self.writes.append(record)
            self._tell(f"elevator {self.actuator.id} received {record}")
            self._queue.put(doc)

    def _tell(self, line: str) -> None:
        for listener in self._listeners:
            listener(line)

    # -- the car (worker thread)

    def status(self) -> dict[str, Any]:
        return {"floor": self.floor, "doors": self.doors, "mode": self.mode,
                self.recalled_field: self.recalled}

    def _publish_status(self) -> None:
        doc = self.status()
        self.statuses.append(doc)
        payload = json.dumps(doc, separators=(",", ":"))
        self._client.publish(self.status_topic, payload, qos=1, retain=self.retain_status)
        self._tell(f"elevator {self.actuator.id} published {self.status_topic} {payload}")

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                doc = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            cmd = doc.get("cmd")
            if cmd == "fire_recall" and self.behaviour != "ignore_recall":
                target = doc.get("floor", 1)
                if isinstance(target, int) and target in self.floors:
                    self._recall(target)
            elif cmd in ("reset", "normal") and self.mode == "fire_recall":
                self.mode, self.recalled = "normal", False
                self._publish_status()

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` (longer while stuck); True when stopping."""
        if self._stop.wait(seconds):
            return True
        while self.behaviour == "stuck":
            if self._stop.wait(0.05):
                return True
        return False

    def _recall(self, target: int) -> None:
        if self.mode == "fire_recall" and self.recalled and self.floor == target:
            self._publish_status()  # already there: say so again
            return
        self.mode, self.recalled = "fire_recall", False
        if self.doors != "closed":
            self.doors = "closing"
            self._publish_status()
            if self._wait(self.door_seconds):
                return
            self.doors = "closed"
        self._publish_status()
        index, goal = self.floors.index(self.floor), self.floors.index(target)
        while index != goal:
            if self._wait(self.seconds_per_floor):
                return
            index += 1 if goal > index else -1
            self.floor = self.floors[index]
            self._publish_status()
        self.doors = "opening"
        if self._wait(self.door_seconds):
            return
        self.doors, self.recalled = "open", True
        self._publish_status()


def build_site_elevators(site: SiteConfig, *, host: str | None = None, port: int | None = None,
                         start_floor: int | None = None,
                         **options: Any) -> dict[str, MqttElevator]:
    """An :class:`MqttElevator` (not started) for every elevator recalled over MQTT with
    feedback on an MQTT point, by actuator id. Broker: the site's unless ``host``/``port``.
    Cars start on floors 4, 7, 10... unless ``start_floor`` is given."""
    cars: dict[str, MqttElevator] = {}
    for actuator in site.actuators.values():
        if speaks_mqtt(site, actuator):
            floor = start_floor if start_floor is not None else 4 + 3 * len(cars)
            cars[actuator.id] = MqttElevator(site, actuator.id, host=host, port=port,
                                             start_floor=floor, **options)
    return cars


def speaks_mqtt(site: SiteConfig, actuator: ActuatorConfig) -> bool:
    """An elevator recalled over MQTT that confirms on an MQTT JSON point."""
    cmd = actuator.commands.get("recall")
    if actuator.kind is not ActuatorKind.ELEVATOR or cmd is None or not cmd.topic:
        return False
    if cmd.feedback is None:
        return False
    point = site.points.get(cmd.feedback.point)
    return point is not None and point.mqtt is not None and bool(point.mqtt.field)
