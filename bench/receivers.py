"""Benchmark: many GB/T 26875.3 transmission devices reporting to the gateway at once.

    .venv/bin/python bench/receivers.py [--devices 200] [--frames 10] [--keep]

Starts a Mosquitto (the gateway needs its broker) and the gateway as its own process, on a
generated site: the demo over MQTT with ``--devices`` fire panels, each behind its own
transmission device and in a building of its own, listening on a free port (``synchronous:
full``: every batch is fsynced before its frames are confirmed). Then every device connects at
once and sends ``--frames`` fire frames, one at a time as a real device does (each waits for the
center's confirm), each a different component of its panel (no one mapped: the panel's
catch-all point takes them).

Measured: frames/s over the burst, receipt → confirm per frame (p50, p99, max: from the frame
written to the socket to its confirm read; the confirm comes after the commit), frames lost
(never stored) and doubled (stored twice), and the gateway's CPU and peak RSS. Progress goes to
stdout; the last line is one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from adapters.gbt26875.frame import Command, Frame, FrameReader
from gateway.daemon import broker as embedded
from simulators.gbt26875_device import FIRE, component_adu, stamp, status_word
from simulators.sites import PANEL_CENTER, mqtt_only_demo

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_BROKER_CONF = ROOT / "config" / "mosquitto.conf"

FIRST_DEVICE = 10_000


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def site(folder: Path, port: int, broker_port: int, devices: int) -> Path:
    config = mqtt_only_demo(folder, port=broker_port)
    data = yaml.safe_load(config.read_text())
    data["store"] = {"path": str(folder / "store.sqlite3"), "synchronous": "full"}
    data["receivers"] = {"gbt26875": [{"id": "fire-center", "host": "127.0.0.1", "port": port,
                                       "center_address": PANEL_CENTER, "idle_timeout": "10m",
                                       "max_connections": devices + 10}]}
    data["panels"] = [{"id": f"P{n:03d}", "receiver": "fire-center", "device": FIRST_DEVICE + n,
                       "location": {"building": f"P{n:03d}"}} for n in range(devices)]
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    return config


async def device(n: int, port: int, frames: int, start: asyncio.Event,
                 times: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    cutter = FrameReader()
    await start.wait()
    for k in range(frames):
        adu = component_adu(9, k + 1, status_word(FIRE), description=f"bench {n}-{k}")
        frame = Frame(k + 1, (1, 0), stamp(), FIRST_DEVICE + n, PANEL_CENTER, Command.SEND, adu)
        sent = time.perf_counter()
        writer.write(frame.encode())
        await writer.drain()
        confirmed = False
        while not confirmed:
            data = await asyncio.wait_for(reader.read(4096), 60)
            if not data:
                raise RuntimeError(f"device {n}: the center closed the connection")
            for item in cutter.feed(data):
                if isinstance(item, Frame) and item.serial == frame.serial \
                        and item.command == Command.CONFIRM:
                    confirmed = True
        times.append(time.perf_counter() - sent)
    writer.close()


async def burst(port: int, devices: int, frames: int) -> tuple[list[float], float]:
    start = asyncio.Event()
    times: list[float] = []
    tasks = [asyncio.create_task(device(n, port, frames, start, times)) for n in range(devices)]
    await asyncio.sleep(1.0)  # every device connected first
    began = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    return times, time.perf_counter() - began


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(work: Path, devices: int, frames: int) -> dict[str, Any]:
    broker_port, port = free_port(), free_port()
    conf = work / "broker" / "mosquitto.conf"
    broker = embedded.start_mosquitto(
        embedded.render_config(SHIPPED_BROKER_CONF, broker_port, work / "broker" / "data"), conf)
    config = site(work, port, broker_port, devices)
    store = work / "store.sqlite3"
    log_path = work / "gateway.log"
    with log_path.open("ab") as out:
        gateway = subprocess.Popen(
            [sys.executable, "-m", "gateway", "run", "-c", str(config), "--log-json",
             "--console", "off"], stdout=out, stderr=out, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_until(lambda: '"gateway_ready"' in log_path.read_text(errors="replace"),
                   timeout=60, what="the gateway ready")
        log(f"gateway ready: {devices} devices x {frames} fire frames")
        cpu_before = cpu_seconds(gateway.pid)
        times, seconds = asyncio.run(burst(port, devices, frames))
        cpu = cpu_seconds(gateway.pid) - cpu_before
        total = devices * frames
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
        rows = conn.execute("SELECT point_id, device FROM signals WHERE point_id LIKE "
                            "'P%-UNMAPPED'").fetchall()
        conn.close()
        counts = Counter(rows)
        expected = {(f"P{n:03d}-UNMAPPED", f"9-{k + 1:03d} bench {n}-{k}")
                    for n in range(devices) for k in range(frames)}
        figures = {
            "devices": devices, "frames": total, "seconds": round(seconds, 3),
            "frames_per_s": round(total / seconds),
            "confirm_p50_ms": round(percentile(times, 0.50) * 1000, 2),
            "confirm_p99_ms": round(percentile(times, 0.99) * 1000, 2),
            "confirm_max_ms": round(max(times) * 1000, 2),
            "lost": len(expected - set(counts)),
            "doubled": sum(c - 1 for c in counts.values() if c > 1),
            "gateway_cpu_us_per_frame": round(cpu / total * 1e6),
            "gateway_peak_rss_mb": round(peak_rss_mb(gateway.pid), 1),
            "store_synchronous": "full",
        }
        log(f"{total} frames in {seconds:.2f} s ({figures['frames_per_s']}/s), confirm p50 "
            f"{figures['confirm_p50_ms']} ms p99 {figures['confirm_p99_ms']} ms; lost "
            f"{figures['lost']}, doubled {figures['doubled']}")
        return figures
    finally:
        gateway.terminate()
        gateway.wait(30)
        embedded.stop(broker)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-receivers-"))
    try:
        figures = run(work, args.devices, args.frames)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures))
    return 0 if figures["lost"] == 0 and figures["doubled"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
