"""MQTT device simulators: the fire panel, Zigbee sensors and buttons (the elevators that
speak MQTT are in ``simulators.mqtt_elevator``).

Payloads come from the point mappings of the site config (``simulators.devices.encode``), so
they are what the gateway's decoders expect. Publishing is QoS 1 through a
:class:`simulators.devices.Publisher`; these classes are synchronous (threads, not asyncio),
usable from the command line and from test code alike.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.config.site import PointConfig, SiteConfig
from gateway.domain.model import PointKind, PointState
from simulators.devices import Publisher, encode, mqtt_of


@dataclass(frozen=True, slots=True)
class Published:
    topic: str
    payload: bytes

    def __str__(self) -> str:
        return f"{self.topic} {self.payload.decode(errors='replace')}"


class _PointPublisher:
    def __init__(self, site: SiteConfig, publisher: Publisher) -> None:
        self.site = site
        self.publisher = publisher
        self.published: list[Published] = []

    def _point(self, point_id: str, kinds: Iterable[PointKind]) -> PointConfig:
        point = self.site.points.get(point_id)
        if point is None:
            raise KeyError(f"no point {point_id!r} in {self.site.file}")
        allowed = set(kinds)
        if point.kind not in allowed:
            raise ValueError(f"point {point_id} is a {point.kind.value}, not one of "
                             f"{', '.join(sorted(k.value for k in allowed))}")
        if point.mqtt is None:
            raise ValueError(f"point {point_id} is not read over MQTT (Modbus, or a panel over "
                             "IP): nothing to publish")
        return point

    def _publish(self, point: PointConfig, state: PointState, *, device: str = "",
                 drill: bool = False, value: float | None = None) -> Published:
        message = Published(mqtt_of(point).topic,
                            encode(point, state, device=device, drill=drill, value=value))
        self.publisher.publish(message.topic, message.payload)
        self.published.append(message)
        return message


_PANEL_KINDS = (PointKind.SMOKE_DETECTOR, PointKind.HEAT_DETECTOR, PointKind.FLAME_DETECTOR,
                PointKind.MANUAL_CALL_POINT, PointKind.SPRINKLER_FLOW, PointKind.FIRE_PANEL)


class FirePanel(_PointPublisher):
    """The fire alarm panel's uplink: zone and manual call point states, by point id."""

    def alarm(self, point_id: str, device: str = "SD-01", *, drill: bool = False) -> Published:
        return self._publish(self._point(point_id, _PANEL_KINDS), PointState.ALARM,
                             device=device, drill=drill)

    def prealarm(self, point_id: str, device: str = "SD-01", *,
                 drill: bool = False) -> Published:
        return self._publish(self._point(point_id, _PANEL_KINDS), PointState.PREALARM,
                             device=device, drill=drill)

    def fault(self, point_id: str, device: str = "SD-01") -> Published:
        return self._publish(self._point(point_id, _PANEL_KINDS), PointState.TROUBLE,
                             device=device)

    def restore(self, point_id: str, device: str = "SD-01") -> Published:
        return self._publish(self._point(point_id, _PANEL_KINDS), PointState.NORMAL,
                             device=device)

    def zones(self, building: str) -> list[PointConfig]:
        """The detector zone points of a building, in config order."""
        return [p for p in self.site.points.values()
                if p.kind is PointKind.SMOKE_DETECTOR and p.mqtt is not None
                and p.location.building == building]

    def storm(self, n_zones: int, seconds: float, *, building: str = "1",
              device: str = "SD-01", drill: bool = False) -> list[Published]:
        """Alarms from ``n_zones`` distinct zones of one building, spread over ``seconds``."""
        zones = self.zones(building)
        if not 0 < n_zones <= len(zones):
            raise ValueError(f"building {building} has {len(zones)} detector zones; "
                             f"cannot alarm {n_zones}")
        gap = seconds / n_zones if n_zones > 1 else 0.0
        start = time.monotonic()
        sent = []
        for i, point in enumerate(zones[:n_zones]):
            delay = start + i * gap - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent.append(self._publish(point, PointState.ALARM, device=device, drill=drill))
        return sent

    def heartbeat(self, building: str | None = None) -> list[Published]:
        """A 'normal' from every fire_panel point (of ``building``); none if there is none."""
        panels = [p for p in self.site.points.values()
                  if p.kind is PointKind.FIRE_PANEL and p.mqtt is not None
                  and (building is None or p.location.building == building)]
        return [self._publish(p, PointState.NORMAL) for p in panels]


class ZigbeeDevices(_PointPublisher):
    """Zigbee2MQTT water-leak sensors and elevator alarm buttons."""

    def leak(self, point_id: str, wet: bool = True) -> Published:
        point = self._point(point_id, (PointKind.WATER_LEAK,))
        return self._publish(point, PointState.ALARM if wet else PointState.NORMAL)

    def press(self, point_id: str) -> Published:
        point = self._point(point_id, (PointKind.ELEVATOR_ALARM_BUTTON,))
        return self._publish(point, PointState.ALARM)

    def release(self, point_id: str) -> Published:
        point = self._point(point_id, (PointKind.ELEVATOR_ALARM_BUTTON,))
        return self._publish(point, PointState.NORMAL)
