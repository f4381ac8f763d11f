"""The site's panels over IP, simulated for the demo and drills (``run --simulate-devices``):
a GB/T 26875.3 transmission device for each panel's device address, connected to its
listener and sending its heartbeat, and, for each DC-09 account watched by link tests, a panel
sending them. Alarms are sent with ``alarm-gateway simulate panel`` / ``simulate dc09``."""

from __future__ import annotations

import contextlib
import socket
import threading
from datetime import UTC, datetime

import structlog

from adapters.dc09.message import message
from gateway.config.site import SiteConfig
from simulators.gbt26875_device import TransmissionDevice
from simulators.panel_send import connect_host

log = structlog.get_logger("simulators")


class PanelSimulators:
    def __init__(self, site: SiteConfig, heartbeat: float = 30.0) -> None:
        self.devices: list[TransmissionDevice] = []
        seen: set[tuple[str, int]] = set()
        for panel in site.panels.values():
            if (panel.receiver, panel.device) in seen:
                continue
            seen.add((panel.receiver, panel.device))
            r = site.receivers[panel.receiver]
            self.devices.append(TransmissionDevice(connect_host(r.host), r.port, panel.device,
                                                   r.center_address, heartbeat=heartbeat))
        self.link_tests = [(connect_host(r.host), r.port, account, r.keys[account], every)
                           for r in site.dc09_receivers.values() if r.tcp
                           for account, every in r.link_test.items()]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for device in self.devices:
            self._spawn(self._connect, device)
        for test in self.link_tests:
            self._spawn(self._link_test, *test)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _connect(self, device: TransmissionDevice) -> None:
        while not self._stop.is_set():
            try:
                device.open(timeout=5)
            except ConnectionError:
                continue  # the gateway's listener is not up yet
            log.info("simulated_transmission_device", device=device.device,
                     center=f"{device.host}:{device.port}")
            return

    def _link_test(self, host: str, port: int, account: str, key: bytes | None,
                   every: float) -> None:
        seq = 0
        while not self._stop.wait(1.0 if seq == 0 else every / 2):
            seq = seq % 9999 + 1
            with contextlib.suppress(OSError), socket.create_connection((host, port), 5) as s:
                s.sendall(message("NULL", seq, account, "", key=key, now=datetime.now(UTC)))
                s.recv(1024)

    def stop(self) -> None:
        self._stop.set()
        for device in self.devices:
            device.close()
        for thread in self._threads:
            thread.join(5)
