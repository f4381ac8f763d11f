"""SIA DC-09 messages into readings: each event (Contact ID in ADM-CID, SIA codes in SIA-DCS)
goes to the point of its panel account and zone, or to the account's own point (zone 000, a
zone no one mapped, an unknown code), as Contact ID over MQTT does (``intake_contact_id``).
Messages that cannot be read are dead letters; a silent account takes its points offline."""

from __future__ import annotations

import structlog

from adapters.dc09.receiver import AccountLink, BadMessage, Item, ReceivedMessage
from adapters.interface import Adapter
from gateway.config.site import PointConfig, SiteConfig
from gateway.daemon.decisions import Decisions
from gateway.daemon.intake_contact_id import Source, route
from gateway.daemon.intake_links import link
from gateway.points.sia_codes import adm_cid_event, sia_events
from gateway.store.values import DEAD_LETTER_KEEP, DeadLetter, WriteSet

log = structlog.get_logger("gateway")


def _zone(point: PointConfig) -> int | None:
    return point.dc09.zone if point.dc09 is not None else None


class Dc09Intake:
    def __init__(self, site: SiteConfig) -> None:
        self.codes = {(r.id, account): codes for r in site.dc09_receivers.values()
                      for account, codes in r.codes.items()}
        self.accounts: dict[tuple[str, str], list[PointConfig]] = {}
        for point in site.points.values():
            if point.dc09 is not None:
                self.accounts.setdefault((point.dc09.receiver, point.dc09.account),
                                         []).append(point)

    def source(self, item: Item) -> str:
        if isinstance(item, ReceivedMessage):
            return f"dc09:{item.receiver}/{item.message.account}"
        if isinstance(item, AccountLink):
            return f"dc09:{item.receiver}/{item.account}"
        return f"dc09:{item.receiver}/{item.account or item.peer}"

    def heard(self, item: Item) -> bool:
        return isinstance(item, ReceivedMessage)

    def keep(self, item: Item, reason: str, detail: str) -> DeadLetter | None:
        if isinstance(item, AccountLink):
            return None
        at = item.received_at
        return DeadLetter(at=at, source="dc09", topic=self.source(item), reason=reason,
                          detail=detail, payload=item.raw[:DEAD_LETTER_KEEP], size=len(item.raw))

    def take(self, d: Decisions, adapter: Adapter, item: Item, ws: WriteSet,
             now: float) -> None:
        if isinstance(item, BadMessage):
            d.dead_letter(ws, "dc09", self.source(item), item.reason,
                          f"from {item.peer}: {item.detail}", item.raw, item.received_at)
        elif isinstance(item, AccountLink):
            self._link(d, item, ws, now)
        else:
            self._message(d, item, ws, now)

    def _message(self, d: Decisions, item: ReceivedMessage, ws: WriteSet, now: float) -> None:
        message = item.message
        points = self.accounts.get((item.receiver, message.account))
        source = self.source(item)
        if not points:
            d.dead_letter(ws, "dc09", source, "unmapped_account",
                          f"account {message.account} has no points (points: dc09: {{receiver: "
                          f"{item.receiver}, account: {message.account}}})", item.raw,
                          item.received_at)
            return
        try:
            events = ([adm_cid_event(message.account, message.data)]
                      if message.header.id == "ADM-CID"
                      else sia_events(message.account, message.data))
        except ValueError as exc:
            d.dead_letter(ws, "dc09", source, "bad_event", f"from {item.peer}: {exc}", item.raw,
                          item.received_at)
            return
        codes = self.codes.get((item.receiver, message.account))
        for event in events:
            route(d, points, _zone, event, Source(source, item.received_at, item.raw), ws, now,
                  codes)

    def _link(self, d: Decisions, item: AccountLink, ws: WriteSet, now: float) -> None:
        points = self.accounts.get((item.receiver, item.account), [])
        link(d, points, online=item.online, at=item.at, source=self.source(item), ws=ws,
             now=now, why=f"panel account {item.account} silent for {item.silent_for:.0f} s "
             "(no link test)")
        (log.info if item.online else log.warning)(
            "panel_account_link", receiver=item.receiver, account=item.account,
            state="online" if item.online else "offline", points=len(points))
