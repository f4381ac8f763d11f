"""Fire panels that report through a receiver: GB/T 26875.3 transmission devices (用户信息传输
装置) connecting to the gateway's listener, each with the panels behind it.

A technician names the listener, each panel (the device's address, the panel's system type and
address, where it is), and binds points to the panel's components, by hand or by ``for_each``
ranges in ``points`` (``panel: {id, zone, point}``) or from a CSV table (``components``)::

    receivers:
      gbt26875:
        - {id: fire-center, port: 15030, center_address: 88888, idle_timeout: 90s}
    panels:
      - id: B2-FACP
        receiver: fire-center
        device: 889            # the transmission device's address
        system: 1              # the panel's address behind it (system type 1: fire alarm)
        name: {zh: 2号楼火灾报警控制器, en: Building 2 fire alarm panel}
        location: {building: "2"}
        components: b2-facp.csv

The CSV has a header row ``address,kind,building,floor,zone,unit,name`` with the component's
address as ``zone-point`` (``1-045``); its point is ``<panel>-<zone>-<point>``. Each panel also
gets its own points: ``<panel>`` (the panel's and its device's own status) and the catch-alls
``<panel>-UNMAPPED`` and ``<panel>-UNMAPPED-GAS``, on which a component no one mapped reports
(named by its address and the panel's own description): a fire is never dropped for lack of a
mapping."""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from pathlib import Path

from gateway.config.panel_schema import (
    AccountBindingModel,
    Dc09ReceiverModel,
    PanelBindingModel,
    PanelModel,
    ReceiversModel,
)
from gateway.config.site_values import (
    AccountBinding,
    Dc09Receiver,
    GbtReceiver,
    Panel,
    PanelBinding,
    PointConfig,
)
from gateway.domain.model import Location, PointKind, Text

CSV_COLUMNS = ("address", "kind", "building", "floor", "zone", "unit", "name")


Report = Callable[[tuple[str | int, ...], str], None]


def compile_receivers(model: ReceiversModel, report: Report) -> dict[str, GbtReceiver]:
    out: dict[str, GbtReceiver] = {}
    ports: dict[int, str] = {}
    for index, r in enumerate(model.gbt26875):
        at = ("receivers", "gbt26875", index)
        if r.id in out:
            report((*at, "id"), f"duplicate receiver id {r.id!r}")
        if r.port in ports:
            report((*at, "port"), f"port {r.port} is already receiver {ports[r.port]!r}'s")
        ports[r.port] = r.id
        out[r.id] = GbtReceiver(r.id, r.host, r.port, r.center_address, r.idle_timeout,
                                r.max_connections)
    return out


def compile_panels(panels: list[PanelModel], receivers: Mapping[str, GbtReceiver],
                   site_id: str, report: Report) -> dict[str, Panel]:
    out: dict[str, Panel] = {}
    seen: dict[tuple[str, int, int, int], str] = {}
    for index, p in enumerate(panels):
        at = ("panels", index)
        if p.id in out:
            report((*at, "id"), f"duplicate panel id {p.id!r}")
        if p.receiver not in receivers:
            names = ", ".join(sorted(receivers)) or "none: add receivers.gbt26875"
            report((*at, "receiver"), f"unknown receiver {p.receiver!r} (known: {names})")
        key = (p.receiver, p.device, p.system_type, p.system)
        if key in seen:
            report((*at, "system"), f"device {p.device} system {p.system_type}-{p.system} is "
                   f"already panel {seen[key]!r}")
        seen[key] = p.id
        loc = p.location
        out[p.id] = Panel(p.id, p.receiver, p.device, p.system_type, p.system,
                          p.name.to_text() if p.name else Text(p.id, p.id),
                          Location(loc.site or site_id, loc.building, loc.floor, loc.zone,
                                   loc.unit))
    return out


def binding_of(model: PanelBindingModel, panels: Mapping[str, Panel], at: tuple[str | int, ...],
               report: Report) -> PanelBinding | None:
    panel = panels.get(model.id)
    if panel is None:
        report((*at, "id"), f"unknown panel {model.id!r} (known: "
               f"{', '.join(sorted(panels)) or 'none'})")
        return None
    return _binding(panel, "component", model.zone, model.point)


def _binding(panel: Panel, role: str, zone: int | None = None,
             point: int | None = None) -> PanelBinding:
    return PanelBinding(panel=panel.id, receiver=panel.receiver, device=panel.device,
                        system_type=panel.system_type, system=panel.system, role=role,
                        zone=zone, point=point)


def panel_points(models: list[PanelModel], panels: Mapping[str, Panel], base: Path,
                 report: Report) -> list[PointConfig]:
    """Each panel's own points, and the points of its CSV table."""
    out: list[PointConfig] = []
    for index, model in enumerate(models):
        panel = panels.get(model.id)
        if panel is None:
            continue
        name = panel.name
        out += [
            PointConfig(panel.id, PointKind.FIRE_PANEL, name, panel.location, None, None,
                        panel=_binding(panel, "panel"), group=panel.id),
            PointConfig(f"{panel.id}-UNMAPPED", PointKind.FIRE_PANEL,
                        Text(f"{name.zh}（未映射部件）", f"{name.en} (unmapped components)"),
                        panel.location, None, None, panel=_binding(panel, "unmapped"),
                        group=panel.id),
            PointConfig(f"{panel.id}-UNMAPPED-GAS", PointKind.GAS_DETECTOR,
                        Text(f"{name.zh}（未映射燃气探测器）",
                             f"{name.en} (unmapped gas detectors)"),
                        panel.location, None, None, panel=_binding(panel, "unmapped_gas"),
                        group=panel.id),
        ]
        if model.components:
            out += _table(panel, base / model.components, ("panels", index, "components"),
                          report)
    return out


def _table(panel: Panel, path: Path, at: tuple[str | int, ...],
           report: Report) -> list[PointConfig]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        report(at, f"cannot read the component table {path}: {exc.strerror or exc}")
        return []
    rows = list(csv.DictReader(text.splitlines()))
    missing = [c for c in CSV_COLUMNS[:2] if rows and c not in rows[0]]
    if missing:
        report(at, f"{path.name}: the header row needs {', '.join(CSV_COLUMNS)} (missing "
               f"{', '.join(missing)})")
        return []
    out = []
    for line, row in enumerate(rows, start=2):
        point = _row(panel, row, f"{path.name} line {line}", at, report)
        if point is not None:
            out.append(point)
    return out


def _row(panel: Panel, row: Mapping[str, str | None], where: str,
         at: tuple[str | int, ...], report: Report) -> PointConfig | None:
    raw = (row.get("address") or "").strip()
    zone_text, _, point_text = raw.partition("-")
    if not (zone_text.isdigit() and point_text.isdigit()) or int(zone_text) > 65535 \
            or int(point_text) > 65535:
        report(at, f"{where}: address {raw!r} is not zone-point (like 1-045)")
        return None
    kind_text = (row.get("kind") or "").strip()
    try:
        kind = PointKind(kind_text)
    except ValueError:
        report(at, f"{where}: kind {kind_text!r} is not one of "
               f"{', '.join(k.value for k in PointKind)}")
        return None
    zone, point = int(zone_text), int(point_text)
    pid = f"{panel.id}-{zone}-{point:03d}"
    name = (row.get("name") or "").strip() or f"{panel.name.zh} {zone}-{point:03d}"
    loc = panel.location
    location = Location(loc.site, _cell(row, "building") or loc.building,
                        _cell(row, "floor") or loc.floor, _cell(row, "zone") or loc.zone,
                        _cell(row, "unit") or loc.unit)
    return PointConfig(pid, kind, Text(name, name), location, None, None,
                       panel=_binding(panel, "component", zone, point), group=panel.id)


def _cell(row: Mapping[str, str | None], column: str) -> str:
    return (row.get(column) or "").strip()


def check_contact_id(points: Mapping[str, PointConfig], report: Report) -> None:
    """A topic of Contact ID reports fans out to its zones' points: it needs its panel's own
    point (no zone: zone 000, the zones no one mapped, unknown codes) so that no report is
    dropped, one point a zone, and no point of another decoder."""
    topics: dict[str, list[PointConfig]] = {}
    for point in points.values():
        if point.mqtt is not None:
            topics.setdefault(point.mqtt.topic, []).append(point)
    for topic, bound in topics.items():
        cid = [p for p in bound if p.mqtt is not None and p.mqtt.decoder == "contact_id"]
        if not cid:
            continue
        if len(cid) != len(bound):
            report(("points",), f"topic {topic!r} carries Contact ID reports (points "
                   f"{cid[0].id}, ...): bind no point of another decoder to it")
        seen: dict[tuple[str | None, int | None], str] = {}
        for p in cid:
            b = p.mqtt
            key = (b.account, b.zone) if b is not None else (None, None)
            if key in seen:
                report(("points",), f"points {seen[key]} and {p.id} are both zone {key[1]} of "
                       f"account {key[0] or 'any'} on topic {topic!r}")
            seen[key] = p.id
        accounts = {account for account, _ in seen}
        for account in accounts:
            if (account, None) not in seen and (None, None) not in seen:
                report(("points",), f"topic {topic!r}: account {account or 'any'} has no "
                       "panel point (a contact_id point without 'zone'); its zone 000, "
                       "unmapped zones and unknown events would have nowhere to go")


def compile_dc09(models: list[Dc09ReceiverModel], taken: Mapping[str, GbtReceiver],
                 report: Report) -> dict[str, Dc09Receiver]:
    out: dict[str, Dc09Receiver] = {}
    for index, r in enumerate(models):
        at = ("receivers", "dc09", index)
        if r.id in out or r.id in taken:
            report((*at, "id"), f"duplicate receiver id {r.id!r}")
        if r.tcp and any(g.port == r.port for g in taken.values()):
            report((*at, "port"), f"TCP port {r.port} is already a GB/T 26875.3 listener's")
        if not (r.tcp or r.udp):
            report(at, "a receiver listens on TCP, UDP or both")
        keys: dict[str, bytes | None] = {}
        for n, a in enumerate(r.accounts):
            account = a.account.upper()
            if account in keys:
                report((*at, "accounts", n, "account"), f"account {account} is listed twice")
            keys[account] = _key(a.key, a.key_format, (*at, "accounts", n, "key"), report)
        out[r.id] = Dc09Receiver(
            r.id, r.host, r.port, r.tcp, r.udp, (r.window_past, r.window_future),
            r.idle_timeout, r.max_connections, keys,
            {a.account.upper(): a.link_test for a in r.accounts if a.link_test > 0},
            {a.account.upper(): {code: _meaning(what) for code, what in a.codes.items()}
             for a in r.accounts if a.codes})
    return out


def _meaning(what: str) -> tuple[str, str]:
    category, _, condition = what.partition(":")
    default = {"supervisory": "supervisory", "trouble": "fault", "bypass": "disabled"}
    return category, condition or default.get(category, "")


def _key(text: str | None, form: str, at: tuple[str | int, ...], report: Report) -> bytes | None:
    if text is None:
        return None
    if form == "text":
        key = text.encode("ascii", "replace")
    else:
        try:
            key = bytes.fromhex(text)
        except ValueError:
            report(at, "the key is not hex digits (key_format: text takes the characters)")
            return None
    if len(key) not in (16, 24, 32):
        report(at, f"an AES key is 16, 24 or 32 bytes; this one is {len(key)}")
        return None
    return key


def account_binding(model: AccountBindingModel, receivers: Mapping[str, Dc09Receiver],
                    at: tuple[str | int, ...], report: Report) -> AccountBinding | None:
    receiver = receivers.get(model.receiver)
    account = model.account.upper()
    if receiver is None:
        report((*at, "receiver"), f"unknown DC-09 receiver {model.receiver!r} (known: "
               f"{', '.join(sorted(receivers)) or 'none: add receivers.dc09'})")
        return None
    if account not in receiver.keys:
        report((*at, "account"), f"account {account} is not among receiver "
               f"{receiver.id!r}'s accounts ({', '.join(sorted(receiver.keys))})")
        return None
    return AccountBinding(receiver.id, account, model.zone)


def check_dc09(points: Mapping[str, PointConfig], report: Report) -> None:
    """Each panel account with points needs its own point (no zone), and one point a zone."""
    accounts: dict[tuple[str, str], dict[int | None, str]] = {}
    for point in points.values():
        b = point.dc09
        if b is None:
            continue
        zones = accounts.setdefault((b.receiver, b.account), {})
        if b.zone in zones:
            report(("points",), f"points {zones[b.zone]} and {point.id} are both "
                   f"{'zone ' + str(b.zone) if b.zone is not None else 'the panel point'} of "
                   f"account {b.account} on receiver {b.receiver!r}")
        zones[b.zone] = point.id
    for (receiver, account), zones in accounts.items():
        if None not in zones:
            report(("points",), f"account {account} on receiver {receiver!r} has no panel "
                   "point (a dc09 point without 'zone'): its zone 000, unmapped zones and "
                   "unknown events would have nowhere to go")
