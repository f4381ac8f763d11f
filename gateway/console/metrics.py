"""Prometheus metrics of a running gateway, read at scrape time (no global registry)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from gateway.console.stream import Hub
    from gateway.daemon.gateway import Gateway


class GatewayCollector(Collector):
    def __init__(self, gateway: Gateway, hub: Hub) -> None:
        self.gateway = gateway
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        g = self.gateway
        health = g.health()
        counters = CounterMetricFamily(
            "alarm_gateway_events", "Things the gateway counted since it started, by name "
            "(signals, bad input by reason, outbox results, store write failures...)",
            labels=["name"])
        for name, value in sorted(g.counters.items()):
            counters.add_metric([name], value)
        yield counters
        yield GaugeMetricFamily("alarm_gateway_broker_connected",
                                "1 while the MQTT broker connection is up",
                                value=1 if health["broker_connected"] else 0)
        yield GaugeMetricFamily("alarm_gateway_store_writable",
                                "1 while the store thread runs and its last write committed",
                                value=1 if health["store_writable"] else 0)
        yield GaugeMetricFamily("alarm_gateway_healthy",
                                "1 while /healthz lists no problem (ok or degraded)",
                                value=0 if health["status"] == "unhealthy" else 1)
        yield GaugeMetricFamily("alarm_gateway_degraded",
                                "1 while something works only in part (a Modbus unit not "
                                "answering, bad input arriving)",
                                value=1 if health["status"] == "degraded" else 0)
        yield GaugeMetricFamily("alarm_gateway_unacknowledged",
                                "Messages received and not yet stored and acknowledged",
                                value=health["unacknowledged"])
        oldest = health["oldest_unacknowledged_age"]
        yield GaugeMetricFamily("alarm_gateway_oldest_unacknowledged_seconds",
                                "Age of the oldest message received and not yet acknowledged",
                                value=oldest if oldest is not None else 0.0)
        age = health["store_last_commit_age"]
        yield GaugeMetricFamily("alarm_gateway_store_last_commit_age_seconds",
                                "Seconds since the last committed batch",
                                value=age if age is not None else float("nan"))
        link = GaugeMetricFamily("alarm_gateway_modbus_connected",
                                 "1 while the Modbus connection is up", labels=["connection"])
        offline = GaugeMetricFamily("alarm_gateway_modbus_units_offline",
                                    "Modbus units not answering", labels=["connection"])
        for name, state in sorted(health["modbus"].items()):
            link.add_metric([name], 1 if state["connected"] else 0)
            offline.add_metric([name], len(state["units_offline"]))
        yield link
        yield offline
        incidents = GaugeMetricFamily("alarm_gateway_incidents_live",
                                      "Open, acknowledged and resolved incidents",
                                      labels=["type", "status", "drill"])
        by: Counter[tuple[str, str, str]] = Counter(
            (i.type, i.status.value, "true" if i.drill else "false")
            for i in g.state.incidents.values())
        for labels, count in sorted(by.items()):
            incidents.add_metric(list(labels), count)
        yield incidents
        points = GaugeMetricFamily("alarm_gateway_points", "Points by current state",
                                   labels=["state"])
        states = Counter(p.state.value for p in g.points.values())
        states["unknown"] = len(g.site.points) - sum(states.values())
        for state, count in sorted(states.items()):
            points.add_metric([state], count)
        yield points
        yield GaugeMetricFamily("alarm_gateway_inputs_queued",
                                "Inputs waiting for the pipeline", value=g.pipeline.inputs.qsize())
        yield GaugeMetricFamily("alarm_gateway_outbox_queued",
                                "Effects waiting to be sent", value=g.pipeline.outq.qsize())
        yield GaugeMetricFamily("alarm_gateway_console_streams",
                                "Browsers on the live stream", value=len(self.hub.clients))
        yield CounterMetricFamily("alarm_gateway_console_streams_dropped",
                                  "Live streams ended because the browser fell behind",
                                  value=self.hub.dropped)


def render_metrics(gateway: Gateway, hub: Hub) -> tuple[bytes, str]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(gateway, hub))
    return generate_latest(registry), CONTENT_TYPE_LATEST
