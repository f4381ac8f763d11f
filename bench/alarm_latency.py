"""Alarm latency benchmark: the broker's round trip, the gateway's latency, an alarm storm.

    .venv/bin/python bench/alarm_latency.py            # about 35 s; last line is JSON

Starts its own Mosquitto (the shipped ``config/mosquitto.conf`` settings, on a free loopback
port) and the gateway as a separate process (``python -m gateway run``, ``synchronous: full``:
an alarm is fsynced before it is acknowledged or acted on), then measures in one run:

1. broker round trip: QoS 1 publish → a separate QoS 1 subscriber on the same broker,
   100/s for 10 s;
2. steady load, 100 alarms/s for 10 s. Each building is its own fire incident, so every
   measured alarm completes a trigger condition: an alarm in a quiet building opens an incident
   (measured to the ``incident_opened`` event), and one building in four gets a second device in
   alarm in the same zone 1 s later, which confirms the fire (measured to the elevator-recall
   command). ``gateway_p50/p99`` cover both kinds;
3. a storm: 5,000 alarms from 500 points (50 buildings) written as fast as one connection
   takes them, QoS 1. ``storm_stored`` counts distinct alarms in the store's ``signals`` table;
   ``storm_seconds`` runs from the first publish to the moment the last one was stored.

Times are ``time.perf_counter()`` in this process: when the publish was written to the socket,
and when the subscriber's ``recv`` returned the resulting message. The load generator is the
raw-socket client in ``rawmqtt.py``: packets are encoded before the clock starts, and the storm's
5,000 go out in about a millisecond (paho would spend ~70 µs of CPU on each).
Progress goes to stdout; the last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rawmqtt import Client, MqttError, publish_packet

from gateway.daemon import broker as embedded

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOKS = ROOT / "playbooks"
BENCH_PLAYBOOKS = ("fire.yaml", "device_fault.yaml")
SHIPPED_SITE = ROOT / "config" / "site.yaml"
SHIPPED_BROKER_CONF = ROOT / "config" / "mosquitto.conf"

OUT_PREFIX = "gw-out"  # the gateway's events; outside bench/#, which the gateway subscribes to
INCIDENT_EVENTS = f"{OUT_PREFIX}/incidents/"
RECALL_ROOT = "elev"
RTT_TOPIC = "rtt/probe"
WARM_POINTS = 60
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """The run cannot go on (a process did not start, alarms did not come through)."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ----------------------------------------------------------------------------- the workload


@dataclass(frozen=True, slots=True)
class Plan:
    rate: float
    seconds: float
    confirm_every: int  # one opened building in N also gets the confirming second alarm
    confirm_after: float  # seconds between a building's first and second alarm
    storm_points: int
    storm_per_point: int
    storm_buildings: int
    synchronous: str = "full"

    @property
    def steady_alarms(self) -> int:
        return round(self.rate * self.seconds)

    @property
    def storm_alarms(self) -> int:
        return self.storm_points * self.storm_per_point

    def steady_schedule(self) -> list[tuple[str, int]]:
        """One ``("open" | "confirm", building)`` per slot of 1/rate s.

        Buildings open in order; every ``confirm_every``-th one gets its confirming alarm
        ``confirm_after`` later, sent in place of an opening alarm, so the rate stays exact.
        """
        gap = max(1, round(self.confirm_after * self.rate))
        pending: deque[tuple[int, int]] = deque()
        slots: list[tuple[str, int]] = []
        building = 0
        for slot in range(self.steady_alarms):
            if pending and pending[0][0] <= slot:
                slots.append(("confirm", pending.popleft()[1]))
                continue
            building += 1
            slots.append(("open", building))
            if (building - 1) % self.confirm_every == 0:
                pending.append((slot + gap, building))
        return slots


def steady_point(building: int) -> str:
    return f"P-{building:04d}"


def steady_topic(building: int) -> str:
    return f"bench/steady/{building}"


def storm_point(index: int) -> str:
    return f"S-{index:04d}"


def warm_point(index: int) -> str:
    return f"WARM-{index:03d}"


def alarm(device: str, **extra: Any) -> bytes:
    return json.dumps({"state": "fire", "device": device, **extra},
                      separators=(",", ":")).encode()


def site_config(plan: Plan, schedule: list[tuple[str, int]], port: int) -> dict[str, Any]:
    """A site of one-point buildings (steady), storm buildings and warm-up buildings."""
    shipped = yaml.safe_load(SHIPPED_SITE.read_text(encoding="utf-8"))

    def smoke(point_id: str, building: str, zone: str, topic: str) -> dict[str, Any]:
        return {
            "id": point_id, "kind": "smoke_detector",
            "location": {"building": building, "floor": "1", "zone": zone},
            "mqtt": {"topic": topic, "decoder": "json", "field": "state",
                     "device_field": "device", "values": {"fire": "alarm", "normal": "normal"}},
        }

    points = [smoke(warm_point(i), f"W{i}", "1", f"bench/warm/{i}")
              for i in range(1, WARM_POINTS + 1)]
    opened = [b for kind, b in schedule if kind == "open"]
    points += [smoke(steady_point(b), str(b), "1", steady_topic(b)) for b in opened]
    per_building = -(-plan.storm_points // plan.storm_buildings)
    points += [smoke(storm_point(i), f"S{i // per_building + 1}", str(i % per_building + 1),
                     f"bench/storm/{i}") for i in range(plan.storm_points)]
    actuators = [
        {"id": f"ELV-{b}-L{car}", "kind": "elevator", "location": {"building": str(b)},
         "commands": {"recall": {"topic": f"{RECALL_ROOT}/b{b}/l{car}/cmd",
                                 "payload": {"cmd": "fire_recall", "floor": 1}}}}
        for kind, b in schedule if kind == "confirm" for car in (1, 2)]
    # the fire playbook's evacuation prompt plays the PA when nobody answers it
    actuators.append({"id": "PA-SITE", "kind": "pa_system", "location": {},
                      "commands": {"fire_evacuation": {
                          "topic": "bench-out/pa/cmd", "payload": {"cmd": "play"}}}})
    return {
        "site": {"id": "bench", "name": {"zh": "基准测试", "en": "Benchmark"},
                 "address": {"zh": "测试路 1 号", "en": "1 Test Road"},
                 "callback_phone": "000"},
        "broker": {"host": "127.0.0.1", "port": port, "client_id": "alarm-gateway-bench",
                   "subscriptions": ["bench/#"]},
        "console": {"enabled": False},
        "store": {"synchronous": plan.synchronous},
        "playbooks": str(PLAYBOOKS),
        "outputs": {"mqtt_prefix": OUT_PREFIX},
        "roles": shipped["roles"],
        "contacts": shipped["contacts"],
        "points": points,
        "actuators": actuators,
    }


# ----------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"broker exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise BenchError(f"broker not listening on port {port} after {timeout:.0f}s")


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: a gateway left behind by a killed benchmark gets SIGTERM
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """utime + stime of a process (all its threads), or of one of its threads."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    stat = Path(path).read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class GatewayProcess:
    config: Path
    store: Path
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "run", "-c", str(self.config), "--broker",
                 f"127.0.0.1:{self.port}", "--store", str(self.store), "--log-json"],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                preexec_fn=_die_with_parent)  # noqa: PLW1509 - no thread of ours runs yet
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"gateway exited with {self.process.returncode}:\n"
                                 f"{self.log_tail()}")
            if '"gateway_ready"' in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.05)
        raise BenchError(f"gateway not ready after {timeout:.0f}s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> int | None:
        process = self.process
        if process is None or process.poll() is not None:
            return None if process is None else process.returncode
        process.terminate()
        try:
            return process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def counters(self) -> dict[str, int]:
        """The counters the gateway logs when it stops."""
        for line in reversed(self.log_path.read_text(errors="replace").splitlines()):
            if '"gateway_stopped"' in line:
                with contextlib.suppress(ValueError):
                    return dict(json.loads(line).get("counters", {}))
        return {}

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


# ----------------------------------------------------------------------------- observing


@dataclass
class Tracker:
    """What the subscriber saw, indexed by the alarm it answers.

    The reader thread only appends ``(topic, payload, received)``; the main thread folds the
    new entries in with ``poll``, so the timestamps are not delayed by JSON parsing.
    """

    inbox: list[tuple[str, bytes, float]] = field(default_factory=list)
    cursor: int = 0
    rtt: dict[int, float] = field(default_factory=dict)
    outputs: dict[tuple[str, str], float] = field(default_factory=dict)  # (point, device)
    recalls: dict[int, float] = field(default_factory=dict)  # building → first command

    def on_message(self, topic: str, payload: bytes, received: float) -> None:
        self.inbox.append((topic, payload, received))

    def poll(self) -> None:
        end = len(self.inbox)
        for topic, payload, received in self.inbox[self.cursor:end]:
            if topic == RTT_TOPIC:
                self.rtt.setdefault(int(payload), received)
            elif topic.startswith(INCIDENT_EVENTS):
                for event in json.loads(payload)["events"]:
                    if event.get("kind") in ("incident_opened", "signal"):
                        device = event.get("data", {}).get("device", "")
                        self.outputs.setdefault((event.get("point_id", ""), device), received)
            elif topic.startswith(f"{RECALL_ROOT}/b"):
                self.recalls.setdefault(int(topic.split("/")[1][1:]), received)
        self.cursor = end

    def wait_outputs(self, keys: list[tuple[str, str]], timeout: float) -> bool:
        """Wait until every ``(point, device)`` alarm has had its answer."""
        return self.wait(lambda: all(k in self.outputs for k in keys), timeout)

    def wait(self, done: Callable[[], bool], timeout: float) -> bool:
        deadline = time.perf_counter() + timeout
        while True:
            self.poll()
            if done():
                return True
            if time.perf_counter() > deadline:
                return False
            time.sleep(0.005)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (p99 of 1,000 samples is the 990th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return round(ordered[int(rank) - 1], 3)


def summary(name: str, values_ms: list[float]) -> dict[str, float | None]:
    return {f"{name}_p50_ms": percentile(values_ms, 50),
            f"{name}_p99_ms": percentile(values_ms, 99),
            f"{name}_max_ms": percentile(values_ms, 100)}


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f} ms"


def paced(count: int, rate: float, send: Callable[[int], None]) -> None:
    """Call ``send(i)`` at ``start + i / rate``; a late call does not shift the later ones."""
    start = time.perf_counter() + 0.005
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        send(i)


class Store:
    """Read-only view of the gateway's SQLite store."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)

    def signals(self, prefix: str, *, distinct: bool = False) -> int:
        what = "DISTINCT point_id || '/' || device" if distinct else "*"
        # point ids of one prefix sort between 'X-' and 'X.'; the range uses signals_point
        (count,) = self.conn.execute(
            f"SELECT COUNT({what}) FROM signals WHERE point_id >= ? AND point_id < ?",
            (f"{prefix}-", f"{prefix}.")).fetchone()
        return int(count)

    def close(self) -> None:
        self.conn.close()


# ----------------------------------------------------------------------------- phases


def warm_up(pub: Client, tracker: Tracker, count: int = 20) -> None:
    """Wait until alarms get through, then a few more to warm the gateway's code paths.

    The gateway says ``gateway_ready`` on CONNACK, before the broker has granted its
    subscription, so the first alarms after it may reach nobody.
    """
    index = 0
    while True:
        index += 1
        if index > WARM_POINTS - count:
            raise BenchError("no warm-up alarm came through the gateway")
        pub.publish(f"bench/warm/{index}", alarm("A"), qos=1)
        if tracker.wait_outputs([(warm_point(index), "A")], 0.25):
            break
    first = index + 1
    last = index + count

    def send(i: int) -> None:
        pub.publish(f"bench/warm/{first + i}", alarm("A"), qos=1)

    paced(count, 50, send)
    keys = [(warm_point(i), "A") for i in range(first, last + 1)]
    if not tracker.wait_outputs(keys, 10):
        raise BenchError("warm-up alarms were not all answered")


def broker_round_trip(pub: Client, tracker: Tracker, plan: Plan) -> dict[str, Any]:
    count = plan.steady_alarms
    sent: dict[int, float] = {}

    def send(i: int) -> None:
        sent[i] = pub.publish(RTT_TOPIC, str(i).encode(), qos=1)

    paced(count, plan.rate, send)
    tracker.wait(lambda: len(tracker.rtt) >= count, 5)
    rtts = [(tracker.rtt[i] - t) * 1000 for i, t in sent.items() if i in tracker.rtt]
    return {**summary("broker_rtt", rtts), "broker_rtt_samples": len(rtts),
            "broker_rtt_lost": count - len(rtts)}


def steady_load(pub: Client, tracker: Tracker, plan: Plan, schedule: list[tuple[str, int]],
                store: Store, gateway: GatewayProcess) -> dict[str, Any]:
    opens: dict[int, float] = {}
    confirms: dict[int, float] = {}
    # encode everything first so the timed loop only writes
    packets: list[bytes] = []
    for kind, building in schedule:
        payload = alarm("A" if kind == "open" else "B")
        packets.append(publish_packet(steady_topic(building), payload, 1,
                                      pub.next_packet_id()))

    def send(i: int) -> None:
        kind, building = schedule[i]
        (opens if kind == "open" else confirms)[building] = pub.send(packets[i])

    cpu_before = cpu_seconds(gateway.pid)
    paced(len(schedule), plan.rate, send)

    def answered() -> bool:
        return (all((steady_point(b), "A") in tracker.outputs for b in opens)
                and all(b in tracker.recalls for b in confirms))

    tracker.wait(answered, 10)
    cpu = cpu_seconds(gateway.pid) - cpu_before
    opened = [(tracker.outputs[steady_point(b), "A"] - t) * 1000 for b, t in opens.items()
              if (steady_point(b), "A") in tracker.outputs]
    recalled = [(tracker.recalls[b] - t) * 1000 for b, t in confirms.items()
                if b in tracker.recalls]
    return {
        **summary("gateway", opened + recalled),
        "gateway_samples": len(opened) + len(recalled),
        "gateway_missing": len(schedule) - len(opened) - len(recalled),
        **summary("opened", opened),
        **summary("confirm_to_recall", recalled),
        "steady_alarms": len(schedule),
        "steady_stored": store.signals("P", distinct=True),
        "steady_gateway_cpu_us_per_alarm": round(cpu / len(schedule) * 1e6, 1),
    }


def storm(pub: Client, tracker: Tracker, plan: Plan, store: Store,
          gateway: GatewayProcess, broker_pid: int) -> dict[str, Any]:
    total = plan.storm_alarms
    packets: list[bytes] = []
    keys: list[tuple[str, str]] = []
    for round_ in range(plan.storm_per_point):
        for i in range(plan.storm_points):
            device = f"D{round_}"
            keys.append((storm_point(i), device))
            packets.append(publish_packet(f"bench/storm/{i}",
                                          alarm(device, seq=len(packets)), 1,
                                          pub.next_packet_id()))
    chunks = [b"".join(packets[i:i + 100]) for i in range(0, total, 100)]
    acked_before = pub.acked
    before_stored = store.signals("S")
    cpu_gateway, cpu_broker = cpu_seconds(gateway.pid), cpu_seconds(broker_pid)
    cpu_loop = cpu_seconds(gateway.pid, gateway.pid)  # the main thread runs the event loop
    cpu_self = resource.getrusage(resource.RUSAGE_SELF)

    started = time.perf_counter()
    for chunk in chunks:
        pub.send(chunk)
    written = time.perf_counter()
    pub.wait_acked(acked_before + total, 60)
    broker_acked = time.perf_counter()
    log(f"  {total} alarms written in {(written - started) * 1000:.0f} ms, "
        f"broker acknowledged all in {(broker_acked - started) * 1000:.0f} ms")

    stored, changed_at = before_stored, started
    while True:
        time.sleep(0.02)
        now = time.perf_counter()
        count = store.signals("S")
        if count != stored:
            stored, changed_at = count, now
        if count - before_stored >= total or now - changed_at > 5 or now - started > 90:
            break
    tracker.wait_outputs(keys, 10)
    cpu_gateway = cpu_seconds(gateway.pid) - cpu_gateway
    cpu_loop = cpu_seconds(gateway.pid, gateway.pid) - cpu_loop
    cpu_broker = cpu_seconds(broker_pid) - cpu_broker
    after_self = resource.getrusage(resource.RUSAGE_SELF)
    cpu_self_s = (after_self.ru_utime + after_self.ru_stime
                  - cpu_self.ru_utime - cpu_self.ru_stime)
    outputs = [tracker.outputs[k] for k in keys if k in tracker.outputs]
    storm_stored = store.signals("S", distinct=True)
    seconds = changed_at - started
    return {
        "storm_alarms": total,
        "storm_points": plan.storm_points,
        "storm_stored": storm_stored,
        "storm_lost": total - storm_stored,
        "storm_seconds": round(seconds, 3),
        "storm_alarms_per_s": round(storm_stored / seconds) if seconds > 0 else 0,
        "storm_publish_seconds": round(written - started, 3),
        "storm_broker_ack_seconds": round(broker_acked - started, 3),
        "storm_outputs_seen": len(outputs),
        "storm_output_seconds": round(max(outputs) - started, 3) if outputs else None,
        "storm_gateway_cpu_us_per_alarm": round(cpu_gateway / total * 1e6, 1),
        "storm_gateway_loop_cpu_us_per_alarm": round(cpu_loop / total * 1e6, 1),
        "storm_broker_cpu_us_per_alarm": round(cpu_broker / total * 1e6, 1),
        "storm_bench_cpu_us_per_alarm": round(cpu_self_s / total * 1e6, 1),
    }


# ----------------------------------------------------------------------------- main


@contextlib.contextmanager
def running_broker(directory: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    conf_path = directory / "mosquitto.conf"
    # render_config keeps the broker on our user when we are root (see gateway/broker.py)
    text = embedded.render_config(SHIPPED_BROKER_CONF, port, directory / "data")
    process = embedded.start_mosquitto(text, conf_path)
    try:
        try:
            wait_port(port, process)
        except BenchError as exc:
            raise BenchError(f"{exc}: {embedded.log_path(conf_path).read_text()}") from None
        yield port, process
    finally:
        embedded.stop(process)


def run(plan: Plan, work: Path) -> dict[str, Any]:
    schedule = plan.steady_schedule()
    with contextlib.ExitStack() as stack:
        port, broker = stack.enter_context(running_broker(work / "broker"))
        log(f"broker: mosquitto pid {broker.pid} on 127.0.0.1:{port} (shipped settings)")

        config = work / "site.yaml"
        # the playbooks this workload exercises; the others need devices this site lacks
        playbooks = work / "playbooks"
        playbooks.mkdir()
        for name in BENCH_PLAYBOOKS:
            shutil.copy(PLAYBOOKS / name, playbooks / name)
        site = site_config(plan, schedule, port)
        site["playbooks"] = str(playbooks)
        config.write_text(yaml.safe_dump(site, allow_unicode=True, sort_keys=False),
                          encoding="utf-8")
        store_path = work / "store" / "bench.sqlite3"
        gateway = GatewayProcess(config, store_path, port, work / "gateway.log")
        stack.callback(gateway.stop)
        started = time.perf_counter()
        gateway.start()
        startup = time.perf_counter() - started
        log(f"gateway: pid {gateway.pid} ready in {startup:.1f}s with "
            f"{len(site['points'])} points, {len(site['actuators'])} actuators "
            f"(synchronous={plan.synchronous})")

        tracker = Tracker()
        sub = stack.enter_context(Client("127.0.0.1", port, "bench-sub",
                                         on_message=tracker.on_message).connect())
        sub.subscribe([f"{OUT_PREFIX}/#", f"{RECALL_ROOT}/#", RTT_TOPIC], qos=1)
        pub = stack.enter_context(Client("127.0.0.1", port, "bench-pub").connect())
        store = Store(store_path)
        stack.callback(store.close)

        warm_up(pub, tracker)
        log("warm-up: alarms get through the gateway")

        log(f"broker round trip: {plan.steady_alarms} QoS 1 messages at {plan.rate:g}/s")
        result: dict[str, Any] = broker_round_trip(pub, tracker, plan)
        log(f"  p50 {ms(result['broker_rtt_p50_ms'])}  p99 {ms(result['broker_rtt_p99_ms'])}  "
            f"lost {result['broker_rtt_lost']}")

        confirms = sum(1 for kind, _ in schedule if kind == "confirm")
        log(f"steady load: {len(schedule)} alarms at {plan.rate:g}/s "
            f"({len(schedule) - confirms} open an incident, {confirms} confirm one)")
        result.update(steady_load(pub, tracker, plan, schedule, store, gateway))
        log(f"  alarm→output p50 {ms(result['gateway_p50_ms'])}  "
            f"p99 {ms(result['gateway_p99_ms'])}  (opened p99 {ms(result['opened_p99_ms'])}, "
            f"confirm→recall p99 {ms(result['confirm_to_recall_p99_ms'])})  "
            f"missing {result['gateway_missing']}  stored {result['steady_stored']}")

        time.sleep(1.0)  # let the action results of the recalls settle
        log(f"storm: {plan.storm_alarms} alarms from {plan.storm_points} points "
            f"in {plan.storm_buildings} buildings, as fast as possible")
        result.update(storm(pub, tracker, plan, store, gateway, broker.pid))
        log(f"  stored {result['storm_stored']}/{result['storm_alarms']} in "
            f"{result['storm_seconds']:.2f} s ({result['storm_alarms_per_s']}/s); "
            f"gateway {result['storm_gateway_cpu_us_per_alarm']} µs CPU/alarm")

        result["gateway_startup_seconds"] = round(startup, 2)
        result["gateway_peak_rss_mb"] = round(peak_rss_mb(gateway.pid), 1)
        result["gateway_exit_code"] = gateway.stop()
        counters = gateway.counters()
        result["gateway_internal_errors"] = counters.get("internal_errors", 0)
        result["gateway_dead_letters"] = sum(v for k, v in counters.items()
                                             if k.startswith("bad_input_"))
        result["gateway_redelivered_duplicates"] = counters.get("mqtt_redelivered_duplicates", 0)
        result["store_synchronous"] = plan.synchronous
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="steady alarms/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="steady duration")
    parser.add_argument("--confirm-every", type=int, default=4,
                        help="one opened building in N gets the confirming alarm")
    parser.add_argument("--storm-points", type=int, default=500)
    parser.add_argument("--storm-per-point", type=int, default=10)
    parser.add_argument("--storm-buildings", type=int, default=50)
    parser.add_argument("--synchronous", choices=["full", "normal"], default="full",
                        help="the store's durability: full fsyncs every committed batch "
                             "(survives power loss); normal survives a killed process")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work folder (config, store, logs) and print its path")
    args = parser.parse_args(argv)
    if min(args.rate, args.seconds, args.confirm_every, args.storm_points, args.storm_per_point,
           args.storm_buildings) <= 0:
        parser.error("every figure must be positive")
    if args.storm_points * args.storm_per_point > 60_000:
        parser.error("the storm must fit in the 65,535 MQTT packet ids of one connection")
    plan = Plan(rate=args.rate, seconds=args.seconds, confirm_every=args.confirm_every,
                confirm_after=1.0, storm_points=args.storm_points,
                storm_per_point=args.storm_per_point, storm_buildings=args.storm_buildings,
                synchronous=args.synchronous)

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    # the reader threads must get the GIL back promptly to timestamp what they receive
    sys.setswitchinterval(0.0005)
    work = Path(tempfile.mkdtemp(prefix="alarm-bench-"))
    try:
        result = run(plan, work)
    except (BenchError, MqttError, OSError) as exc:
        log(f"FAILED: {exc}")
        tail = work / "gateway.log"
        if tail.exists():
            print("\n".join(tail.read_text(errors="replace").splitlines()[-20:]), flush=True)
        return 1
    finally:
        if args.keep:
            log(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
