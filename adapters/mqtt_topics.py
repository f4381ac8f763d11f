"""MQTT topic filters as the broker applies them (paho's matcher): which filter of a
subscription list brings a topic in."""

from __future__ import annotations

from collections.abc import Iterable

from paho.mqtt.client import topic_matches_sub


def covering(filters: Iterable[str], topic: str) -> str | None:
    """The first filter that brings ``topic`` in, or None when none does."""
    return next((f for f in filters if topic_matches_sub(f, topic)), None)
