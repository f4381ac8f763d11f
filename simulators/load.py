"""Load and hostile input for testers: numbered alarm storms, fast QoS 1 publishing, and
payloads of every bad shape a gateway must survive. Used by the fault tests and by
``bench/faults.py``; never pointed at a site's real broker by the gateway itself."""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def fire_topic(i: int) -> str:
    """The demo site's detector zones, both buildings, in turn."""
    building, floor, zone = 1 + i % 2, 1 + (i // 2) % 18, 1 + (i // 36) % 4
    return f"demo/fire/b{building}/f{floor}/z{zone}"


def alarms(first: int, count: int) -> list[tuple[str, bytes]]:
    """Fire alarms numbered by ``seq``, each from a device of its own (so each is a change
    the gateway stores, and a lost or doubled one can be named)."""
    return [(fire_topic(i), json.dumps({"state": "fire", "device": f"SD-{i:05d}",
                                        "seq": i}).encode()) for i in range(first, first + count)]


def bulk_publish(host: str, port: int, messages: Iterable[tuple[str, bytes]], *,
                 window: int = 500, timeout: float = 120.0) -> int:
    """Publish at QoS 1 with up to ``window`` unacknowledged; returns once the broker has
    acknowledged every one (their number)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bulk-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(window)
    client.max_queued_messages_set(0)
    client.connect(host, port, keepalive=60)
    client.loop_start()
    try:
        infos = []
        deadline = time.monotonic() + timeout
        for topic, payload in messages:
            infos.append(client.publish(topic, payload, qos=1))
            if len(infos) % window == 0:
                infos[-window].wait_for_publish(max(0.1, deadline - time.monotonic()))
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            if not info.is_published():
                raise TimeoutError("the broker did not acknowledge every message")
        return len(infos)
    finally:
        client.disconnect()
        client.loop_stop()


def publish_in_thread(host: str, port: int,
                      messages: list[tuple[str, bytes]]) -> threading.Thread:
    thread = threading.Thread(target=bulk_publish, args=(host, port, messages), daemon=True)
    thread.start()
    return thread


def paced_publish(host: str, port: int, messages: list[tuple[str, bytes]], rate: float,
                  stop: threading.Event | None = None) -> int:
    """Publish at ``rate`` a second (QoS 1, each acknowledged); returns how many went out."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"paced-{uuid.uuid4().hex[:8]}")
    client.connect(host, port, keepalive=60)
    client.loop_start()
    sent = 0
    started = time.monotonic()
    try:
        for sent, (topic, payload) in enumerate(messages, 1):
            if stop is not None and stop.is_set():
                return sent - 1
            client.publish(topic, payload, qos=1).wait_for_publish(30)
            pause = started + sent / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        return sent
    finally:
        client.disconnect()
        client.loop_stop()


HOSTILE = {
    "lone_surrogate": b'{"state":"fire","device":"\\ud800"}',
    "deep_nesting": b'{"state":' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    "int_400_digits": b'{"state":' + b"9" * 400 + b"}",
    "int_5000_digits": b'{"state":' + b"7" * 5000 + b"}",
}


def fuzz_payloads(seed: int, count: int, topics: list[str]) -> list[tuple[str, bytes]]:
    """Bad input of many shapes: 70 % on the bound ``topics``, the rest on topics never seen
    before (each a new source to remember)."""
    rng = random.Random(seed)
    shapes: list[Callable[[], bytes]] = [
        lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60))),
        lambda: b'{"state": "fire", "device": "' + os.urandom(4).hex().encode(),
        lambda: b"[" * rng.randrange(40, 3000) + b"]" * rng.randrange(0, 40),
        lambda: b'{"state": ' + str(rng.randrange(10**300, 10**301)).encode() + b"}",
        lambda: b'{"state": "\\ud' + rng.choice([b"800", b"bff", b"c00", b"fff"]) + b'"}',
        lambda: b'{"state": "fire", "device": "\\ud' + rng.choice([b"800", b"fff"]) + b'"}',
        lambda: json.dumps({"state": rng.choice([["fire"], {"x": 1}, None, 3.5, "smoke?"])})
        .encode(),
        lambda: json.dumps({"water_leak": rng.choice(["wet", 7, [True]])}).encode(),
        lambda: b"",
    ]
    out = []
    for _ in range(count):
        topic = rng.choice(topics) if rng.random() < 0.7 else f"demo/fuzz/{rng.getrandbits(40):x}"
        out.append((topic, rng.choice(shapes)()))
    return out
