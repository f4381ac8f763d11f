"""Why the broker cannot be had, said once per reason until a connection works again (not
once per try): unreachable, or reachable and refusing us, with what to check."""

from __future__ import annotations

import ssl

import structlog

from adapters.mqtt_tls import CHECK_TLS, wants_tls
from adapters.mqtt_values import MqttSettings

log = structlog.get_logger("adapters.mqtt")


class LinkReports:
    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        self._said_unreachable = False
        self._said_refused: str | None = None
        self.refused_this_try = False

    def new_try(self) -> None:
        self.refused_this_try = False

    def connected(self) -> None:
        self._said_unreachable = False
        self._said_refused = None

    def unreachable(self, exc: BaseException) -> None:
        if not self._said_unreachable:
            s = self.settings
            log.warning("broker_unreachable", broker=f"{s.host}:{s.port}",
                        error=str(exc) or type(exc).__name__,
                        retry=f"forever, with jittered backoff up to {s.backoff_max:.0f}s")
            self._said_unreachable = True

    def refused(self, reason: str, *, check: str, event: str = "broker_refused",
                kind: str | None = None) -> None:
        """The broker is there but would not have us. Said once per reason (``kind``: what
        makes two differently worded reasons the same one)."""
        self.refused_this_try = True
        key = kind or reason
        if key == self._said_refused:
            return
        self._said_refused = key
        s = self.settings
        log.error(event, broker=f"{s.host}:{s.port}", reason=reason, check=check,
                  retry=f"forever, with jittered backoff up to {s.backoff_max:.0f}s")

    def tls_unusable(self, exc: BaseException) -> None:
        self.refused(str(exc), check="the files named in broker.tls: readable by the gateway, "
                     "PEM, the key not passphrase-protected", event="broker_tls_unusable")

    def tls_handshake_failed(self, exc: ssl.SSLError) -> None:
        """Reachable, but the TLS handshake failed: e.g. a broker certificate that
        broker.tls.ca_file does not trust. Never retried insecurely."""
        self.refused(f"TLS handshake failed: {exc}",
                     check="broker.tls.ca_file must hold the CA that signed the broker's "
                     "certificate, issued for this host name"
                     if isinstance(exc, ssl.SSLCertVerificationError) else CHECK_TLS)

    def closed_before_connack(self, why: str) -> None:
        """The connection closed before any CONNACK: with TLS, typically the broker rejecting
        our client certificate (TLS 1.3 sends that alert after the client's side of the
        handshake), an alert that may be lost with the connection (its reset can come first)."""
        tls = wants_tls(self.settings)
        if tls and "alert" not in why.lower():
            why = (f"{why} (the broker ended the TLS session without a reason coming "
                   "through; most often it does not trust the client certificate)")
        # with TLS the alert naming the cause comes through on some tries and not on others:
        # one reason all the same
        self.refused(f"connection closed before the broker accepted it: {why}",
                     check=CHECK_TLS if tls else
                     "the broker's log: it closed the connection without a CONNACK",
                     kind="closed before CONNACK (TLS)" if tls else None)

    def check_account(self) -> str:
        if self.settings.username:
            return (f"the broker's account {self.settings.username!r} and its password "
                    "(broker.username/password, or the user:password@ in the "
                    "ALARM_GATEWAY_BROKER / --broker URL)")
        return ("no broker.username is configured: the broker wants one, or a client "
                "certificate (broker.tls.cert_file/key_file)")
