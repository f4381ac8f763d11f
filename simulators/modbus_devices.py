"""Modbus device simulators: real pymodbus servers with devices that behave.

A :class:`ModbusDeviceServer` serves several units on one endpoint (Modbus TCP on a host and
port, or RTU on a serial line), like a gas alarm controller or an RS-485 interface box. Each
unit is a simulated device — :class:`GasDetector`, :class:`ElevatorCar`, :class:`ShutOffValve` —
whose registers live in a pymodbus datastore and whose behaviour runs in an asyncio task: a
concentration ramps, a car travels floor by floor, a valve takes its travel time.

Addresses are 0-based protocol addresses, as on the wire and in the site config (holding
register 40001 is address 0). Every write a device receives is recorded (``device.writes``),
accepted or not, so a test can assert that no actuator was written to.

pymodbus 3.16 notes (checked in its source, not guessed):

* The datastore is ``SimDevice``/``SimData`` (``ModbusDeviceContext`` and the data blocks are
  deprecated wrappers that build a ``SimDevice``; ``ModbusSequentialDataBlock(address, ...)``
  becomes ``SimData(address - 1)``, so the old "+1" offset survives only in those wrappers).
  ``SimData`` addresses are the request addresses, 0-based.
* ``SimDevice(action=...)`` is called on every access, *before* a write lands in the
  registers, with the values being written: that is where writes are recorded and turned into
  behaviour (an ``ExcCodes`` return value rejects the request).
* The server's ``SimCore`` raises ``KeyError`` for an unknown unit, which the request handler
  answers with an exception response (device failure) even with
  ``ignore_missing_devices=True``. A silent unit needs ``NoSuchIdException`` instead, hence the
  small ``SimCore`` subclass used here (:class:`_Units`).
* With ``ignore_missing_devices=False`` the request handler answers ``NoSuchIdException`` with
  exception 0B (gateway target device failed to respond), as a Modbus TCP gateway does for a
  unit id with nothing behind it: the server's ``gateway`` mode."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator.simcore import SimCore
from pymodbus.simulator.simruntime import SimRuntime

from gateway.config.modbus import ModbusConnection
from gateway.config.site import SiteConfig
from gateway.domain.model import ActuatorKind, PointKind
from simulators.modbus_base import SimulatedDevice, WriteListener, WriteRecord
from simulators.modbus_elevator import ElevatorCar
from simulators.modbus_gas import GasDetector
from simulators.modbus_valve import ShutOffValve


class _Units(SimCore):
    """The server's datastore: our devices' runtimes; muted and unknown units stay silent."""

    def __init__(self, runtimes: dict[int, SimRuntime]) -> None:  # no super(): no SimDevices
        self.devices = runtimes
        self.muted: set[int] = set()

    def _runtime(self, device_id: int) -> SimRuntime:
        if device_id in self.muted or device_id not in self.devices:
            raise NoSuchIdException(f"unit {device_id} does not answer")
        return self.devices[device_id]

    async def async_getValues(self, device_id: int, func_code: int, address: int,
                              count: int = 1) -> list[int] | list[bool] | ExcCodes:
        return await self._runtime(device_id).async_getValues(func_code, address, count)

    async def async_setValues(self, device_id: int, func_code: int, address: int,
                              values: list[int] | list[bool]) -> ExcCodes | None:
        return await self._runtime(device_id).async_setValues(func_code, address, values)


D = TypeVar("D", bound=SimulatedDevice)


class ModbusDeviceServer:
    """Several simulated units on one Modbus endpoint (TCP or RTU), served by pymodbus.

    ``port=0`` listens on a free port (read :attr:`port` after :meth:`start`). A unit that is
    :meth:`set_unresponsive`, or not configured at all, does not answer: the client times out;
    with ``gateway=True`` the server answers for it with exception 0B instead, as a Modbus TCP
    gateway does for a unit id that nothing behind it answers to.
    """

    def __init__(self, name: str, devices: Iterable[SimulatedDevice], *,
                 transport: Literal["tcp", "rtu"] = "tcp", host: str = "127.0.0.1",
                 port: int = 502, serial_port: str | None = None, baudrate: int = 9600,
                 parity: str = "N", stopbits: int = 1, bytesize: int = 8,
                 gateway: bool = False) -> None:
        self.name = name
        self.gateway = gateway
        self.devices: dict[int, SimulatedDevice] = {}
        for device in devices:
            if device.unit in self.devices:
                raise ValueError(f"{name}: unit {device.unit} is configured twice")
            self.devices[device.unit] = device
        if transport == "rtu" and not serial_port:
            raise ValueError(f"{name}: an rtu server needs a serial port path")
        self.transport = transport
        self.host = host
        self.port = port
        self.serial_port = serial_port
        self.baudrate, self.parity, self.stopbits, self.bytesize = (baudrate, parity, stopbits,
                                                                    bytesize)
        self._units = _Units({unit: d.runtime for unit, d in self.devices.items()})
        self._server: ModbusTcpServer | ModbusSerialServer | None = None

    @classmethod
    def for_connection(cls, connection: ModbusConnection,
                       devices: Iterable[SimulatedDevice]) -> ModbusDeviceServer:
        """The far end of a site config connection: same host/port, or same serial line."""
        if connection.transport == "rtu":
            if connection.device is None:
                raise ValueError(f"connection {connection.id}: RTU needs its serial device")
            return cls(connection.id, devices, transport="rtu", serial_port=connection.device,
                       baudrate=connection.baudrate, parity=connection.parity,
                       stopbits=connection.stopbits, bytesize=connection.bytesize)
        return cls(connection.id, devices, host=connection.host, port=connection.port)

    # -- devices

    def __getitem__(self, unit: int) -> SimulatedDevice:
        return self.devices[unit]

    def device(self, unit: int, kind: type[D]) -> D:
        """The device of ``unit``, checked to be a ``kind`` (for typed test code)."""
        device = self.devices[unit]
        if not isinstance(device, kind):
            raise TypeError(f"{self.name} unit {unit} is a {device.kind}, not a {kind.__name__}")
        return device

    def gas_detector(self, unit: int) -> GasDetector:
        return self.device(unit, GasDetector)

    def elevator(self, unit: int) -> ElevatorCar:
        return self.device(unit, ElevatorCar)

    def valve(self, unit: int) -> ShutOffValve:
        return self.device(unit, ShutOffValve)

    @property
    def writes(self) -> list[WriteRecord]:
        """Every write received by any unit, in time order."""
        return sorted((w for d in self.devices.values() for w in d.writes), key=lambda w: w.at)

    def add_write_listener(self, listener: WriteListener) -> None:
        for device in self.devices.values():
            device.add_write_listener(listener)

    def set_unresponsive(self, unit: int, unresponsive: bool = True) -> None:
        """The unit stops answering at all: the client times out (from a ``gateway`` server,
        exception 0B, as a gateway answers for a device behind it that went silent)."""
        if unit not in self.devices:
            raise KeyError(f"{self.name} has no unit {unit}")
        if unresponsive:
            self._units.muted.add(unit)
        else:
            self._units.muted.discard(unit)

    def is_unresponsive(self, unit: int) -> bool:
        return unit in self._units.muted

    def endpoint(self) -> str:
        if self.transport == "rtu":
            return f"rtu:{self.serial_port}@{self.baudrate}{self.parity}{self.stopbits}"
        return f"tcp:{self.host}:{self.port}"

    # -- lifecycle

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        if self._server is not None:
            return
        simdevices = [d.simdevice for d in self.devices.values()]
        server: ModbusTcpServer | ModbusSerialServer
        if self.transport == "rtu":
            if self.serial_port is None:
                raise ValueError(f"{self.name}: an RTU server needs its serial port")
            server = ModbusSerialServer(
                simdevices, framer=FramerType.RTU, port=self.serial_port,
                baudrate=self.baudrate, parity=self.parity, stopbits=self.stopbits,
                bytesize=self.bytesize, ignore_missing_devices=not self.gateway)
        else:
            server = ModbusTcpServer(simdevices, address=(self.host, self.port),
                                     ignore_missing_devices=not self.gateway)
        server.context = self._units  # our runtimes, so muting works (see module notes)
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:
            await server.shutdown()  # type: ignore[no-untyped-call]  # untyped in pymodbus
            raise OSError(f"{self.name}: cannot listen on {self.endpoint()}: {exc}") from None
        listener = server.transport
        if isinstance(listener, asyncio.Server) and listener.sockets:
            self.port = int(listener.sockets[0].getsockname()[1])
        self._server = server
        for device in self.devices.values():
            device.start()

    async def stop(self) -> None:
        server, self._server = self._server, None
        for device in self.devices.values():
            await device.stop()
        if server is not None:
            await server.shutdown()  # type: ignore[no-untyped-call]  # untyped in pymodbus
            await asyncio.sleep(0)  # let the closed transports finish

    async def __aenter__(self) -> ModbusDeviceServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


Endpoint = tuple[str, int] | str


@dataclass(frozen=True, slots=True)
class DeviceTiming:
    seconds_per_floor: float = 1.5
    door_seconds: float = 2.0
    valve_travel_seconds: float = 3.0


def build_site_simulators(site: SiteConfig, *, only: Iterable[str] | None = None,
                          endpoints: Mapping[str, Endpoint] | None = None,
                          seconds_per_floor: float = 1.5, door_seconds: float = 2.0,
                          valve_travel_seconds: float = 3.0,
                          ) -> dict[str, ModbusDeviceServer]:
    """A server per Modbus connection of the site, with the device each unit is.

    A unit with ``gas_detector`` points is a gas detector; a unit targeted by an ``elevator``
    actuator's Modbus command or holding ``elevator_status`` points is an elevator car; a unit
    targeted by a ``gas_valve``/``water_valve`` command is a valve of that kind. Units of other
    kinds are left out (they do not answer). ``endpoints`` overrides where a connection
    listens: ``(host, port)`` for TCP (port 0: any free port), a path for RTU.
    """
    wanted = set(site.modbus) if only is None else set(only)
    unknown = wanted - set(site.modbus)
    if unknown:
        raise KeyError(f"no Modbus connection {', '.join(sorted(unknown))} in {site.file} "
                       f"(it has: {', '.join(sorted(site.modbus)) or 'none'})")
    timing = DeviceTiming(seconds_per_floor, door_seconds, valve_travel_seconds)
    roles, names = _unit_roles(site), _unit_names(site)
    servers: dict[str, ModbusDeviceServer] = {}
    for conn_id, connection in site.modbus.items():
        if conn_id not in wanted:
            continue
        devices = [_device(conn_id, unit, claims, names, timing)
                   for (c, unit), claims in sorted(roles.items()) if c == conn_id]
        server = ModbusDeviceServer.for_connection(connection, devices)
        _listen_at(server, conn_id, (endpoints or {}).get(conn_id))
        servers[conn_id] = server
    return servers


def _unit_roles(site: SiteConfig) -> dict[tuple[str, int], dict[str, str]]:
    """(connection, unit) -> the device it is taken for -> why."""
    roles: dict[tuple[str, int], dict[str, str]] = {}

    def claim(connection: str, unit: int, role: str, why: str) -> None:
        roles.setdefault((connection, unit), {}).setdefault(role, why)

    for point in site.points.values():
        m = point.modbus
        if m is not None and point.kind == PointKind.GAS_DETECTOR:
            claim(m.connection, m.unit, "gas_detector", f"point {point.id}")
        elif m is not None and point.kind == PointKind.ELEVATOR_STATUS:
            claim(m.connection, m.unit, "elevator", f"point {point.id}")
    for actuator in site.actuators.values():
        role = {ActuatorKind.ELEVATOR: "elevator", ActuatorKind.GAS_VALVE: "gas_valve",
                ActuatorKind.WATER_VALVE: "water_valve"}.get(actuator.kind)
        for command in actuator.commands.values():
            if role is not None and command.modbus is not None:
                claim(command.modbus.connection, command.modbus.unit, role,
                      f"actuator {actuator.id}")
    return roles


def _unit_names(site: SiteConfig) -> dict[tuple[str, int], str]:
    names: dict[tuple[str, int], str] = {}
    for actuator in site.actuators.values():
        for command in actuator.commands.values():
            if command.modbus is not None:
                names.setdefault((command.modbus.connection, command.modbus.unit), actuator.id)
    for point in site.points.values():
        if point.modbus is not None and point.kind == PointKind.GAS_DETECTOR:
            names.setdefault((point.modbus.connection, point.modbus.unit), point.id)
    return names


def _device(conn_id: str, unit: int, claims: dict[str, str],
            names: dict[tuple[str, int], str], timing: DeviceTiming) -> SimulatedDevice:
    if len(claims) > 1:
        detail = "; ".join(f"{role} ({why})" for role, why in claims.items())
        raise ValueError(f"Modbus connection {conn_id} unit {unit} is claimed as "
                         f"different devices: {detail}")
    role = next(iter(claims))
    name = names.get((conn_id, unit), f"{conn_id}-{unit}")
    if role == "gas_detector":
        return GasDetector(unit, name)
    if role == "elevator":
        return ElevatorCar(unit, name, start_floor=min(4 + 3 * unit, 18),
                           seconds_per_floor=timing.seconds_per_floor,
                           door_seconds=timing.door_seconds)
    return ShutOffValve(unit, name, valve="gas" if role == "gas_valve" else "water",
                        travel_seconds=timing.valve_travel_seconds)


def _listen_at(server: ModbusDeviceServer, conn_id: str, override: Endpoint | None) -> None:
    if isinstance(override, tuple):
        if server.transport != "tcp":
            raise ValueError(f"{conn_id} is an rtu connection: give a serial port path")
        server.host, server.port = override
    elif isinstance(override, str):
        if server.transport != "rtu":
            raise ValueError(f"{conn_id} is a tcp connection: give (host, port)")
        server.serial_port = override


async def start_all(servers: Iterable[ModbusDeviceServer]) -> None:
    """Start servers; if one cannot listen, stop those already started and raise."""
    started: list[ModbusDeviceServer] = []
    try:
        for server in servers:
            await server.start()
            started.append(server)
    except BaseException:
        for server in started:
            await server.stop()
        raise


async def stop_all(servers: Iterable[ModbusDeviceServer]) -> None:
    for server in servers:
        await server.stop()
