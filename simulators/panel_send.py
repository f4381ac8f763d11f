"""A scenario's reports from points behind panels over IP: a GB/T 26875.3 component's status
through a transmission device with its address, a DC-09 zone's Contact ID event as its
account. Each report waits for the gateway's answer (given after its commit), so a step is
done when what it reported is stored."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

from adapters.dc09.message import check_frame, message
from gateway.config.site import PointConfig, SiteConfig
from gateway.config.site_values import Dc09Receiver
from gateway.domain.model import PointKind, PointState
from simulators.gbt26875_device import FAULT, FIRE, TransmissionDevice

# a zone's alarm, by the kind of point, as the Contact ID event a panel sends
ALARM_CODES = {PointKind.SMOKE_DETECTOR: 111, PointKind.HEAT_DETECTOR: 114,
               PointKind.MANUAL_CALL_POINT: 115, PointKind.SPRINKLER_FLOW: 113,
               PointKind.GAS_DETECTOR: 151, PointKind.WATER_LEAK: 154}
STATES = (PointState.ALARM, PointState.NORMAL, PointState.TROUBLE, PointState.TEST)
WAIT = 15.0


class PanelError(RuntimeError):
    pass


def connect_host(host: str) -> str:
    """Where to reach a listener of this machine's config ("any address": this machine)."""
    return "127.0.0.1" if host in ("0.0.0.0", "") else host


def send_dc09(receiver: Dc09Receiver, account: str, data: str, seq: int) -> str:
    """An ADM-CID message of ``account`` (encrypted when the account has a key) to the
    receiver over TCP; the body of its answer ("" for none)."""
    raw = message("ADM-CID", seq, account, data, key=receiver.keys[account],
                  now=datetime.now(UTC))
    with socket.create_connection((connect_host(receiver.host), receiver.port), WAIT) as s:
        s.sendall(raw)
        reply = s.recv(1024)
    return check_frame(reply) if reply else ""


def over_ip(point: PointConfig) -> bool:
    return point.panel is not None or point.dc09 is not None


class PanelSender:
    def __init__(self, site: SiteConfig) -> None:
        self.site = site
        self._devices: dict[tuple[str, int], TransmissionDevice] = {}
        self._seq = 0

    def send(self, point: PointConfig, state: PointState, description: str = "") -> str:
        """Report ``state`` of ``point``; what the gateway answered, in a few words."""
        if point.panel is not None and point.panel.zone is not None:
            return self._gbt(point, state, description)
        if point.dc09 is not None and point.dc09.zone is not None:
            return self._dc09(point, state)
        raise PanelError(f"{point.id} is a panel's own point: report one of its components")

    def _gbt(self, point: PointConfig, state: PointState, description: str) -> str:
        b = point.panel
        if b is None or b.zone is None or b.point is None:
            raise PanelError(f"{point.id} is not a component of a GB/T 26875.3 panel")
        receiver = self.site.receivers[b.receiver]
        device = self._devices.get((b.receiver, b.device))
        if device is None:
            device = TransmissionDevice(connect_host(receiver.host), receiver.port, b.device,
                                        receiver.center_address, retry_after=3.0).open()
            self._devices[(b.receiver, b.device)] = device
        bits = {PointState.ALARM: (FIRE,), PointState.TROUBLE: (FAULT,)}.get(state, ())
        frame = device.component(b.zone, b.point, *bits, test=state is PointState.TEST,
                                 system=b.system, description=description)
        answer = device.answer_to(frame, WAIT)
        if answer is None:
            raise PanelError(f"{point.id}: no confirm from the center within {WAIT:g} s")
        if answer == "denied":
            raise PanelError(f"{point.id}: the center denied the frame")
        return f"device {b.device} {b.zone}-{b.point:03d} confirmed"

    def _dc09(self, point: PointConfig, state: PointState) -> str:
        b = point.dc09
        if b is None or b.zone is None:
            raise PanelError(f"{point.id} is not a zone of a DC-09 panel account")
        receiver = self.site.dc09_receivers[b.receiver]
        alarm = ALARM_CODES.get(point.kind, 110)
        code, qualifier = {PointState.ALARM: (alarm, 1), PointState.NORMAL: (alarm, 3),
                           PointState.TROUBLE: (373, 1), PointState.TEST: (601, 1)}[state]
        self._seq = self._seq % 9999 + 1
        data = f"#{b.account}|{qualifier}{code:03d} 01 {b.zone:03d}"
        body = send_dc09(receiver, b.account, data, self._seq)
        if not body.lstrip('"*').startswith("ACK"):
            raise PanelError(f"{point.id}: the receiver answered {body[:30] or 'nothing'}")
        return f"account {b.account} zone {b.zone} event {code:03d} ACKed"

    def close(self) -> None:
        for device in self._devices.values():
            device.close()
        self._devices.clear()
