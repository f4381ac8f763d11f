"""What a replay drives: the site's simulated Modbus devices, and a publisher on the site's
broker."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config.site import ActuatorConfig, BrokerConfig, PointConfig, SiteConfig
from simulators.scenario_model import ReplayError

FLUSH_TIMEOUT = 30.0


class Devices(Protocol):
    """The site's simulated devices, as the runner drives them."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def ramp_gas(self, point: PointConfig, to: float, over: float) -> None: ...

    def set_elevator(self, actuator: ActuatorConfig, behaviour: str) -> None: ...

    def writes(self) -> list[str]:
        """Actuator writes the simulated devices received, one line each."""
        ...


class SiteDevices:
    """The site's Modbus device servers and MQTT elevators, run in this process."""

    def __init__(self, site: SiteConfig) -> None:
        self.site = site
        self.servers: dict[str, Any] = {}
        self.elevators: dict[str, Any] = {}
        self._started: list[Any] = []

    async def start(self) -> None:
        from simulators import modbus_devices

        self.servers = dict(modbus_devices.build_site_simulators(self.site))
        self.elevators = _mqtt_elevators(self.site)
        try:
            for device in (*self.servers.values(), *self.elevators.values()):
                await device.start()
                self._started.append(device)
        except OSError as exc:
            await self.stop()
            raise OSError(f"{exc} (if 'simulate serve' runs the devices, add --no-devices)") \
                from None
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        while self._started:
            device = self._started.pop()
            with contextlib.suppress(Exception):
                await device.stop()

    def _server(self, connection: str) -> Any:
        server = self.servers.get(connection)
        if server is None:
            raise ReplayError(f"no simulated Modbus devices on connection {connection!r}")
        return server

    def ramp_gas(self, point: PointConfig, to: float, over: float) -> None:
        if point.modbus is None:
            raise ReplayError(f"{point.id} is not a Modbus gas detector")
        self._server(point.modbus.connection).gas_detector(point.modbus.unit).ramp(to, over)

    def set_elevator(self, actuator: ActuatorConfig, behaviour: str) -> None:
        mqtt_elevator = self.elevators.get(actuator.id)
        if mqtt_elevator is not None:
            mqtt_elevator.set_behaviour(behaviour)
            return
        write = next((c.modbus for c in actuator.commands.values() if c.modbus is not None),
                     None)
        if write is None:
            raise ReplayError(f"no simulated elevator for {actuator.id}")
        self._server(write.connection).elevator(write.unit).set_behaviour(behaviour)

    def writes(self) -> list[str]:
        out = [f"{name} {w.describe()}" for name, server in self.servers.items()
               for w in server.writes]
        out += [f"{name} {w}" for name, elevator in self.elevators.items()
                for w in elevator.writes]
        return out


def _mqtt_elevators(site: SiteConfig) -> dict[str, Any]:
    from simulators import mqtt_elevator

    return dict(mqtt_elevator.build_site_elevators(site))


def mqtt_client(broker: BrokerConfig, role: str) -> mqtt.Client:
    """A connected paho client (network loop on its own thread) for the site's broker."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2,
                         client_id=f"{role}-{uuid.uuid4().hex[:8]}")
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls is not None:
        client.tls_set(ca_certs=broker.tls.ca_file, certfile=broker.tls.cert_file,
                       keyfile=broker.tls.key_file)
        client.tls_insecure_set(broker.tls.insecure)
    connected = threading.Event()
    refused: list[str] = []

    def on_connect(client: mqtt.Client, userdata: object, flags: object, reason: Any,
                   properties: object) -> None:
        if reason.is_failure:
            refused.append(str(reason))
        connected.set()

    client.on_connect = on_connect
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    if not connected.wait(10) or refused:
        with contextlib.suppress(Exception):
            client.disconnect()
        client.loop_stop()
        why = refused[0] if refused else "no answer within 10 s"
        raise OSError(f"cannot connect to the broker at {broker.describe()}: {why}")
    return client


class MqttOut:
    """QoS 1 publishes that do not wait one by one; ``flush`` waits for every PUBACK."""

    def __init__(self, broker: BrokerConfig) -> None:
        self.broker = broker
        self.client = mqtt_client(broker, "scenario")
        self.pending: list[tuple[str, mqtt.MQTTMessageInfo]] = []

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise OSError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        self.pending.append((topic, info))

    async def flush(self) -> None:
        await asyncio.to_thread(self.wait_published)

    def wait_published(self) -> None:
        deadline = time.monotonic() + FLUSH_TIMEOUT
        for topic, info in self.pending:
            info.wait_for_publish(max(0.01, deadline - time.monotonic()))
            if not info.is_published():
                raise TimeoutError(f"the broker did not acknowledge the publish to {topic} "
                                   f"within {FLUSH_TIMEOUT:.0f}s")
        self.pending.clear()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
