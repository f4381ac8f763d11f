"""Record live MQTT traffic from the site's broker into a scenario file, ready to replay.

    alarm-gateway simulate record -c config/site.yaml --out var/recorded.yaml [--seconds 60]

Subscribes to every topic bound to a point and decodes each message with the site's own
decoder. A message that decodes, and that the simulators re-encode to the same state (and
detector address), becomes a ``point`` step: ``{at, point, state[, device][, value]}``. Numeric
points get their state from the point's thresholds (with its dead-band, as the gateway does).
Anything else (a payload that does not decode, a topic bound to several points, a state the
simulators cannot write) becomes a raw step, ``{at, topic, payload}`` (``payload_hex`` when the
payload is not readable UTF-8 text), which the replay publishes as is. ``at`` counts from the
first message. Retained messages replayed at subscription are the broker's memory, not traffic:
they are skipped. A drill flag in a payload is not kept: replay with --drill.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import paho.mqtt.client as mqtt
import yaml

from gateway.config.site import PointConfig, SiteConfig
from gateway.domain.model import PointState, Text
from gateway.errors import DecodeError
from gateway.points.decode import decode, threshold_state
from simulators.devices import EncodeError, encode, mqtt_of
from simulators.scenario_devices import mqtt_client


@dataclass
class Recorded:
    at: float
    step: dict[str, Any]

    @property
    def raw(self) -> bool:
        return "topic" in self.step


@dataclass
class Recorder:
    """Subscribes to the site's bound topics and turns each message into a scenario step."""

    site: SiteConfig
    steps: list[Recorded] = field(default_factory=list)
    retained_skipped: int = 0
    _t0: float | None = None
    _states: dict[str, PointState] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _client: mqtt.Client | None = None

    def start(self, timeout: float = 10.0) -> None:
        topics = sorted(self.site.points_by_topic())
        subscribed = threading.Event()
        client = mqtt_client(self.site.broker, "recorder")
        client.on_message = self._on_message
        client.on_subscribe = lambda *args: subscribed.set()
        # one SUBSCRIBE for all of them; the SUBACK says they are all in place
        result, _ = client.subscribe([(t, 1) for t in topics])
        if result != mqtt.MQTT_ERR_SUCCESS or not subscribed.wait(timeout):
            client.disconnect()
            client.loop_stop()
            raise OSError(f"the broker at {self.site.broker.describe()} did not take the "
                          "subscriptions")
        self._client = client

    def recorded(self) -> list[Recorded]:
        with self._lock:
            return list(self.steps)

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def _on_message(self, client: mqtt.Client, userdata: object,
                    msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        with self._lock:
            if msg.retain:
                self.retained_skipped += 1
                return
            if self._t0 is None:
                self._t0 = now
            at = now - self._t0
            self.steps.append(Recorded(at, self.step_for(msg.topic, bytes(msg.payload), at)))

    def step_for(self, topic: str, payload: bytes, at: float) -> dict[str, Any]:
        """The scenario step that replays this message."""
        points = self.site.points_by_topic().get(topic, ())
        step = self._point_step(points[0], payload) if len(points) == 1 else None
        if step is None:
            step = raw_step(topic, payload)
        return {"at": f"{at:.3f}s", **step}

    def _point_step(self, point: PointConfig, payload: bytes) -> dict[str, Any] | None:
        try:
            reading = decode(mqtt_of(point), payload)
        except DecodeError:
            return None
        if reading is None:
            return None  # no reading in it: replayed as the bytes it was
        previous = self._states.get(point.id)
        value = reading.value if isinstance(reading.value, int | float) \
            and not isinstance(reading.value, bool) else None
        state = reading.state
        if state is None:
            if value is None:
                return None
            thresholds, deadband = point.thresholds
            state = threshold_state(thresholds, deadband, float(value), previous)
        b = mqtt_of(point)
        keep_value = value if (b.thresholds or b.value_property) else None
        try:
            again = decode(b, encode(point, state, device=reading.device, value=keep_value))
        except (EncodeError, DecodeError):
            return None
        if again is None or (again.state is not None and again.state is not state) \
                or again.device != reading.device:
            return None  # the simulator would not say the same thing: keep the bytes
        self._states[point.id] = state
        step: dict[str, Any] = {"point": point.id, "state": state.value}
        if reading.device:
            step["device"] = reading.device
        if keep_value is not None:
            step["value"] = keep_value
        return step


def raw_step(topic: str, payload: bytes) -> dict[str, Any]:
    """As text when it is readable text, else as hex."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return {"topic": topic, "payload_hex": payload.hex()}
    if any((ch < " " and ch not in "\t\n\r") or ch == "\x7f" for ch in text):
        return {"topic": topic, "payload_hex": payload.hex()}
    return {"topic": topic, "payload": text}


def scenario_text(name: str, description: Text, steps: list[Recorded]) -> str:
    """The scenario file: one flow-style line per step, in time order."""
    head = {"name": name, "description": {"zh": description.zh, "en": description.en},
            "drill": False}
    lines = [yaml.safe_dump(head, allow_unicode=True, sort_keys=False, width=100).rstrip(),
             "steps:"]
    for rec in sorted(steps, key=lambda r: r.at):
        line = yaml.safe_dump(rec.step, allow_unicode=True, sort_keys=False,
                              default_flow_style=True, width=1_000_000).strip()
        lines.append(f"  - {line}")
    if not steps:
        lines[-1] = "steps: []"
    return "\n".join(lines) + "\n"


def record(site: SiteConfig, out: Path, *, seconds: float | None = None, name: str = "",
           say: Callable[[str], None] = print) -> int:
    """Record until ``seconds`` pass, or Ctrl-C / SIGTERM; then write the scenario file."""
    stop = threading.Event()
    recorder = Recorder(site)
    previous_term: Any = None
    in_main = threading.current_thread() is threading.main_thread()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if in_main:
        previous_term = signal.signal(signal.SIGTERM, on_term)
    started = datetime.now().astimezone()
    try:
        recorder.start()
        topics = len(site.points_by_topic())
        say(f"recording {topics} topics from {site.broker.describe()}"
            + (f" for {seconds:g}s" if seconds else "") + " (Ctrl-C to stop)")
        sys.stdout.flush()
        deadline = None if seconds is None else time.monotonic() + seconds
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                stop.wait(0.1)
    finally:
        recorder.stop()
        if in_main:
            signal.signal(signal.SIGTERM, previous_term)
    steps = recorder.recorded()
    name = name or f"recorded-{started:%Y%m%d-%H%M%S}"
    span = max((r.at for r in steps), default=0.0)
    when = f"{started:%Y-%m-%d %H:%M:%S %z}"
    description = Text(
        f"录制自 {site.broker.describe()}，{when}：{len(steps)} 条消息，历时 {span:.1f} 秒",
        f"Recorded from {site.broker.describe()} at {when}: {len(steps)} messages over "
        f"{span:.1f}s")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(scenario_text(name, description, steps), encoding="utf-8")
    raw = sum(r.raw for r in steps)
    say(f"wrote {out}: {len(steps)} steps ({raw} raw)"
        + (f"; {recorder.retained_skipped} retained messages skipped"
           if recorder.retained_skipped else "")
        + ("" if steps else "; nothing arrived, so it has no step to replay"))
    return 0
