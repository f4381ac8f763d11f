"""The kinds of adapter the daemon knows: how each is built from the site's config and how
its items become readings (its intake).

A new source (a panel receiver, say) is an adapter in ``adapters/`` implementing
``adapters.interface.Adapter``, an intake beside ``intake_mqtt``/``intake_modbus``, and one
``AdapterKind`` here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from adapters.dc09.receiver import Dc09ReceiverAdapter, Dc09Settings
from adapters.gbt26875.receiver import GbtReceiverAdapter, ReceiverSettings
from adapters.interface import Adapter, Deliver
from adapters.modbus import ModbusLink
from adapters.modbus_values import LinkSettings
from adapters.mqtt import MqttAdapter
from adapters.mqtt_values import MqttSettings
from gateway.config.site import SiteConfig
from gateway.daemon.decisions import Intake
from gateway.daemon.intake_dc09 import Dc09Intake
from gateway.daemon.intake_gbt26875 import GbtIntake
from gateway.daemon.intake_modbus import ModbusIntake
from gateway.daemon.intake_mqtt import MqttIntake

# the adapters of a site: (site, the daemon's entry for inputs, each adapter's stored ledger)
Build = Callable[[SiteConfig, Deliver, Mapping[str, tuple[int, ...]]], list[Adapter]]


@dataclass(frozen=True, slots=True)
class AdapterKind:
    build: Build
    intake: Callable[[SiteConfig], Intake]
    # what of the config it is built from: a reload that changes it rebuilds the adapters
    settings: Callable[[SiteConfig], object]
    # what a reload changes under running adapters of the kind, if anything
    refresh: Callable[[Sequence[Adapter], SiteConfig], None] | None = None


def _mqtt(site: SiteConfig, deliver: Deliver,
          ledgers: Mapping[str, tuple[int, ...]]) -> list[Adapter]:
    b = site.broker
    tls = b.tls
    return [MqttAdapter(MqttSettings(
        host=b.host, port=b.port, client_id=b.client_id, subscriptions=b.subscriptions,
        username=b.username, password=b.password,
        ca_file=tls.ca_file if tls else None, cert_file=tls.cert_file if tls else None,
        key_file=tls.key_file if tls else None, tls=tls is not None,
        tls_insecure=tls.insecure if tls else False, keepalive=int(b.keepalive),
        probe_topic=f"{site.mqtt_prefix}/gateway/probe/{b.client_id}",
        notify_prefix=f"{site.mqtt_prefix}/notify"),
        deliver, stored_inflight=ledgers.get(MqttAdapter.name, ()))]


def _modbus(site: SiteConfig, deliver: Deliver,
            ledgers: Mapping[str, tuple[int, ...]]) -> list[Adapter]:
    plans = ModbusIntake(site).plans
    links: list[Adapter] = []
    for c in site.modbus.values():
        connection_plan = plans.get(c.id)
        links.append(ModbusLink(
            LinkSettings(c.id, c.transport, c.host, c.port, c.device, c.baudrate, c.parity,
                         c.stopbits, c.bytesize, c.timeout, c.backoff_max),
            list(connection_plan.blocks) if connection_plan else [], dict(c.poll), deliver))
    return links


def _modbus_settings(site: SiteConfig) -> object:
    return (site.modbus, ModbusIntake(site).plans)


def _mqtt_settings(site: SiteConfig) -> object:
    # only the subscriptions change under a running adapter (``_mqtt_refresh``); the rest
    # of the broker's settings needs a restart, which the reload says
    return None


def _mqtt_refresh(adapters: Sequence[Adapter], site: SiteConfig) -> None:
    for adapter in adapters:
        if isinstance(adapter, MqttAdapter):
            adapter.update_subscriptions(list(site.broker.subscriptions))


def _gbt26875(site: SiteConfig, deliver: Deliver,
              ledgers: Mapping[str, tuple[int, ...]]) -> list[Adapter]:
    return [GbtReceiverAdapter(ReceiverSettings(
        r.id, r.host, r.port, r.center_address, r.idle_timeout, r.max_connections,
        devices=tuple(sorted({p.device for p in site.panels.values() if p.receiver == r.id}))),
        deliver, stored=ledgers.get(r.id, ())) for r in site.receivers.values()]


def _gbt26875_settings(site: SiteConfig) -> object:
    return (site.receivers, site.panels)


def _dc09(site: SiteConfig, deliver: Deliver,
          ledgers: Mapping[str, tuple[int, ...]]) -> list[Adapter]:
    return [Dc09ReceiverAdapter(Dc09Settings(
        r.id, r.host, r.port, r.keys, tcp=r.tcp, udp=r.udp, window=r.window,
        link_test=r.link_test, idle_timeout=r.idle_timeout, max_connections=r.max_connections),
        deliver, stored=ledgers.get(r.id, ())) for r in site.dc09_receivers.values()]


def _dc09_settings(site: SiteConfig) -> object:
    return site.dc09_receivers


KINDS: dict[str, AdapterKind] = {
    "mqtt": AdapterKind(_mqtt, MqttIntake, _mqtt_settings, _mqtt_refresh),
    "modbus": AdapterKind(_modbus, ModbusIntake, _modbus_settings),
    "gbt26875": AdapterKind(_gbt26875, GbtIntake, _gbt26875_settings),
    "dc09": AdapterKind(_dc09, Dc09Intake, _dc09_settings),
}


def intakes(site: SiteConfig, kinds: Mapping[str, AdapterKind] = KINDS) -> dict[str, Intake]:
    return {name: kind.intake(site) for name, kind in kinds.items()}


def build(site: SiteConfig, deliver: Deliver, ledgers: Mapping[str, tuple[int, ...]],
          kinds: Mapping[str, AdapterKind] = KINDS) -> list[Adapter]:
    return [adapter for kind in kinds.values() for adapter in kind.build(site, deliver, ledgers)]
