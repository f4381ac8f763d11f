"""GB/T 26875.3 frames into readings: each object of a frame's ADU finds its point by the
transmission device, the panel (system type and address) and the component (zone and point);
a component no one mapped reports on its panel's catch-all point, named by its address and the
panel's own description, so that no fire is dropped for lack of a mapping.

- Component status: fire → alarm; bit 0 clear → test; fault, disabled (屏蔽), supervisory and
  power fault → trouble conditions, each raised and cleared; started / feedback → the point's
  value (``feedback`` true), which an actuator's feedback can wait for.
- The panel's own status (and the transmission device's) on the panel's point: fire → alarm;
  the power, bus and link faults → conditions. A **reset** of the panel (its status bit or its
  operation) restores every component of the panel still in alarm, as the panel says.
- A device silent past the listener's ``idle_timeout`` takes all its panels' points offline
  (one incident for the link, not one a zone), and its next frame brings them back."""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from adapters.gbt26875.adu import (
    AduError,
    ComponentStatus,
    DeviceOperation,
    DeviceStatus,
    SystemOperation,
    SystemStatus,
    parse_adu,
)
from adapters.gbt26875.codes import GAS_COMPONENTS
from adapters.gbt26875.receiver import BadFrame, DeviceLink, Item, ReceivedFrame
from adapters.interface import Adapter
from gateway.config.site import PointConfig, SiteConfig
from gateway.daemon.decisions import Decisions
from gateway.daemon.intake_links import link
from gateway.domain.events import EventKind
from gateway.domain.model import PointState
from gateway.points.conditioning import condition
from gateway.points.decode import Reading
from gateway.store.values import DEAD_LETTER_KEEP, DeadLetter, WriteSet

log = structlog.get_logger("gateway")

PanelKey = tuple[str, int, int, int]  # receiver, device, system type, system address
COMPONENT_CONDITIONS = ("fault", "disabled", "supervisory", "power_fault")
SYSTEM_CONDITIONS = ("fault", "disabled", "supervisory", "main_power_fault",
                     "backup_power_fault", "bus_fault")
DEVICE_CONDITIONS = ("fault", "main_power_fault", "backup_power_fault", "center_link_fault",
                     "panel_link_fault")


def _state(flags: frozenset[str]) -> PointState:
    """A panel's or a component's main state by its status bits: fire, else normal (bit 0),
    else test."""
    if "fire" in flags:
        return PointState.ALARM
    return PointState.NORMAL if "normal" in flags else PointState.TEST


class GbtIntake:
    def __init__(self, site: SiteConfig) -> None:
        self.components: dict[tuple[PanelKey, int, int], PointConfig] = {}
        self.panels: dict[PanelKey, dict[str, PointConfig]] = {}
        self.devices: dict[tuple[str, int], list[PointConfig]] = {}
        for point in site.points.values():
            b = point.panel
            if b is None:
                continue
            key = (b.receiver, b.device, b.system_type, b.system)
            if b.role == "component" and b.zone is not None and b.point is not None:
                self.components[(key, b.zone, b.point)] = point
            else:
                self.panels.setdefault(key, {})[b.role] = point
            self.devices.setdefault((b.receiver, b.device), []).append(point)

    def source(self, item: Item) -> str:
        if isinstance(item, ReceivedFrame):
            return f"gbt26875:{item.receiver}/{item.frame.source}"
        if isinstance(item, DeviceLink):
            return f"gbt26875:{item.receiver}/{item.device}"
        return f"gbt26875:{item.receiver}/{item.device if item.device is not None else item.peer}"

    def heard(self, item: Item) -> bool:
        return isinstance(item, ReceivedFrame)

    def keep(self, item: Item, reason: str, detail: str) -> DeadLetter | None:
        if isinstance(item, DeviceLink):
            return None
        raw = item.frame.encode() if isinstance(item, ReceivedFrame) else item.raw
        return DeadLetter(at=item.received_at, source="gbt26875", topic=self.source(item),
                          reason=reason, detail=detail, payload=raw[:DEAD_LETTER_KEEP],
                          size=len(raw))

    def take(self, d: Decisions, adapter: Adapter, item: Item, ws: WriteSet,
             now: float) -> None:
        if isinstance(item, BadFrame):
            d.dead_letter(ws, "gbt26875", self.source(item), "bad_frame",
                          f"from {item.peer}: {item.reason}", item.raw, item.received_at)
        elif isinstance(item, DeviceLink):
            self._link(d, item, ws, now)
        else:
            self._frame(d, item, ws, now)

    # ------------------------------------------------------------------ frames

    def _frame(self, d: Decisions, item: ReceivedFrame, ws: WriteSet, now: float) -> None:
        frame = item.frame
        try:
            adu = parse_adu(frame.adu)
        except AduError as exc:
            d.dead_letter(ws, "gbt26875", self.source(item), "bad_adu",
                          f"from {item.peer}, device {frame.source}: {exc}", frame.encode(),
                          item.received_at)
            return
        if adu is None:
            return
        source = self.source(item)
        for obj in adu.objects:
            if isinstance(obj, ComponentStatus):
                self._component(d, item, obj, ws, now, source)
            elif isinstance(obj, SystemStatus):
                self._system(d, item, obj, ws, now, source)
            elif isinstance(obj, DeviceStatus):
                self._device(d, item, obj, ws, now, source)
            elif isinstance(obj, SystemOperation | DeviceOperation):
                self._operation(d, item, obj, ws, now, source)

    def _component(self, d: Decisions, item: ReceivedFrame, c: ComponentStatus, ws: WriteSet,
                   now: float, source: str) -> None:
        key = (item.receiver, item.frame.source, c.system_type, c.system_address)
        point = self.components.get((key, c.zone, c.point))
        device = ""
        if point is None:
            role = "unmapped_gas" if c.component_type in GAS_COMPONENTS else "unmapped"
            point = self.panels.get(key, {}).get(role)
            device = f"{c.zone}-{c.point:03d} {c.description}".strip()
            if point is None:
                d.dead_letter(ws, "gbt26875", source, "unknown_panel",
                              f"device {item.frame.source} panel {c.system_type}-"
                              f"{c.system_address} is in no panels: entry (component {device})",
                              item.frame.encode(), item.received_at)
                return
        flags = c.flags
        reading = Reading(_state(flags), "feedback" in flags, device=device,
                          conditions=tuple((n, n in flags) for n in COMPONENT_CONDITIONS))
        self._apply(d, point, reading, item, ws, now, source)

    def _system(self, d: Decisions, item: ReceivedFrame, s: SystemStatus, ws: WriteSet,
                now: float, source: str) -> None:
        key = (item.receiver, item.frame.source, s.system_type, s.system_address)
        point = self.panels.get(key, {}).get("panel")
        if point is None:
            d.dead_letter(ws, "gbt26875", source, "unknown_panel",
                          f"device {item.frame.source} panel {s.system_type}-{s.system_address} "
                          "is in no panels: entry", item.frame.encode(), item.received_at)
            return
        flags = s.flags
        self._apply(d, point, Reading(_state(flags), None, device="system", conditions=tuple(
            (n, n in flags) for n in SYSTEM_CONDITIONS)), item, ws, now, source)
        if "reset" in flags:
            self._reset(d, key, item, ws, now, source)

    def _device(self, d: Decisions, item: ReceivedFrame, s: DeviceStatus, ws: WriteSet,
                now: float, source: str) -> None:
        flags = s.flags
        for point in self._own_points(item.receiver, item.frame.source):
            self._apply(d, point, Reading(
                PointState.NORMAL if "normal" in flags else PointState.TEST, None,
                device="transmission device",
                conditions=tuple((n, n in flags) for n in DEVICE_CONDITIONS)),
                item, ws, now, source)

    def _operation(self, d: Decisions, item: ReceivedFrame, op: SystemOperation | DeviceOperation,
                   ws: WriteSet, now: float, source: str) -> None:
        """An operation at the panel (or at its transmission device), on record; a reset of
        the panel restores its components."""
        at_device = isinstance(op, DeviceOperation)
        if isinstance(op, SystemOperation):
            keys = [(item.receiver, item.frame.source, op.system_type, op.system_address)]
        else:
            keys = [k for k in self.panels if k[:2] == (item.receiver, item.frame.source)]
        for key in keys:
            panel = self.panels.get(key, {}).get("panel")
            d.site_event(ws, EventKind.PANEL_OPERATION, item.received_at,
                         panel.id if panel else source, "", operations=sorted(op.flags),
                         operator=str(op.operator), at="device" if at_device else "panel")
            if "reset" in op.flags and not at_device:
                self._reset(d, key, item, ws, now, source)
        log.info("panel_operation", device=item.frame.source, operations=sorted(op.flags),
                 operator=op.operator, at="device" if at_device else "panel")

    def _reset(self, d: Decisions, key: PanelKey, item: ReceivedFrame, ws: WriteSet,
               now: float, source: str) -> None:
        """The panel was reset: each of its components still in alarm is restored."""
        points = [p for (k, _, _), p in self.components.items() if k == key]
        points += [p for role, p in self.panels.get(key, {}).items() if role != "panel"]
        restored = 0
        for point in points:
            previous = d.points.get(point.id)
            for device, state in previous.sources if previous else ():
                if state is PointState.ALARM:
                    restored += 1
                    self._apply(d, point, Reading(PointState.NORMAL, "panel reset",
                                                  device=device), item, ws, now, source)
        log.info("panel_reset", device=key[1], panel=f"{key[2]}-{key[3]}", restored=restored)

    def _own_points(self, receiver: str, device: int) -> Iterable[PointConfig]:
        return [p for p in self.devices.get((receiver, device), ())
                if p.panel is not None and p.panel.role == "panel"]

    def _apply(self, d: Decisions, point: PointConfig, reading: Reading, item: ReceivedFrame,
               ws: WriteSet, now: float, source: str) -> None:
        previous = d.points.get(point.id)
        status, signals = condition(point, previous, reading, item.received_at, source=source)
        d.set_point(point.id, status, ws)
        for sig in signals:
            if sig.changed or previous is None:
                d.signal(d.in_drill(sig), ws, now, item.frame.encode())

    # ------------------------------------------------------------------ the link

    def _link(self, d: Decisions, item: DeviceLink, ws: WriteSet, now: float) -> None:
        points = self.devices.get((item.receiver, item.device), [])
        link(d, points, online=item.online, at=item.at, source=self.source(item), ws=ws,
             now=now, why=f"transmission device {item.device} silent for "
             f"{item.silent_for:.0f} s")
        (log.info if item.online else log.warning)(
            "transmission_device_link", receiver=item.receiver, device=item.device,
            state="online" if item.online else "offline", points=len(points))
