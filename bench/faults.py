"""Fault benchmark: the no-loss promise under the faults a monitoring center meets.

    .venv/bin/python bench/faults.py              # ~17 min: a table, then one JSON line
    .venv/bin/python bench/faults.py --quick      # ~5 min: shorter outages and soak
    .venv/bin/python bench/faults.py --only sigkill,fuzz --keep

Each case starts its own Mosquitto (the shipped ``config/mosquitto.conf`` on a free loopback
port) and the gateway as its own process (``python -m gateway run``, the demo site over MQTT,
``synchronous: full``), sends numbered fire alarms (each from a device of its own, so each is
a change the gateway stores), injects the fault, and counts in the store which alarms arrived:
lost (never stored), duplicated (stored twice), the time from the end of the fault until every
alarm is stored, and the gateway's resident memory at the start and the end.

| case | fault |
| --- | --- |
| sigkill x5 | 5 storms of 5,000; the gateway SIGKILLed in each, at 20-80 % stored |
| broker restart x3 | 5,000, then 0.3 s after the broker acknowledged them all a SIGTERM, 2 s down |
| broker down | the broker stopped 60 s (15 s quick) mid-storm, then 300 more |
| sigstop | the gateway frozen 60 s (15 s quick) while 50 alarms/s keep coming |
| disk full | the store's filesystem (a 64 MiB tmpfs) full for 20 s mid-storm (needs root) |
| held lock | another process holds the store's write lock for 30 s, 500 alarms meanwhile |
| fuzz | 10,000 hostile payloads with 500 alarms among them |
| soak | 10 min (2 min quick) at 200 messages/s: heartbeats of 500 points, 2 alarms/s |
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gateway.daemon import broker as embedded
from simulators.load import alarms, bulk_publish, fuzz_payloads, paced_publish, publish_in_thread
from simulators.sites import mqtt_only_demo

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_BROKER_CONF = ROOT / "config" / "mosquitto.conf"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listening on port {port}")


def wait(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.05)
    return done()


# ----------------------------------------------------------------------------- the parts


class Broker:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.conf = folder / "broker" / "mosquitto.conf"
        text = embedded.render_config(SHIPPED_BROKER_CONF, self.port, folder / "broker" / "data")
        self.process = embedded.start_mosquitto(text, self.conf)
        wait_port(self.port)

    def start(self) -> None:
        with embedded.log_path(self.conf).open("ab") as log_file:
            self.process = subprocess.Popen([embedded.mosquitto_binary(), "-c", str(self.conf)],
                                            stdout=subprocess.DEVNULL, stderr=log_file)
        wait_port(self.port)

    def stop(self) -> None:
        embedded.stop(self.process)

    def publish(self, messages: list[tuple[str, bytes]]) -> int:
        return bulk_publish("127.0.0.1", self.port, messages)

    def publish_in_thread(self, messages: list[tuple[str, bytes]]) -> threading.Thread:
        return publish_in_thread("127.0.0.1", self.port, messages)


class Gateway:
    def __init__(self, folder: Path, broker: Broker, store: Path | None = None) -> None:
        self.folder = folder
        self.config = mqtt_only_demo(folder, max_payload_bytes=65536)
        self.store = store or folder / "store.sqlite3"
        self.broker = broker
        self.console = free_port()
        self.log_path = folder / "gateway.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        before = self.log().count('"gateway_ready"')
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "run", "-c", str(self.config), "--broker",
                 f"127.0.0.1:{self.broker.port}", "--store", str(self.store), "--log-json",
                 "--console", f"127.0.0.1:{self.console}"], stdout=out, stderr=out,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if not wait(lambda: self.log().count('"gateway_ready"') > before, timeout):
            raise RuntimeError(f"the gateway did not start: {self.log()[-2000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def rss_mb(self) -> float:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def health(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.console}/healthz",
                                        timeout=5) as response:
                body: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read())
        except OSError:
            body = {"status": "unreachable", "problems": []}
        return body

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"file:{self.store}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def seqs(self) -> Counter[int]:
        found: Counter[int] = Counter()
        for (payload,) in self.query("SELECT payload FROM signals WHERE CAST(payload AS TEXT)"
                                     " LIKE '%\"seq\"%'"):
            with contextlib.suppress(ValueError, KeyError):
                found[json.loads(payload)["seq"]] += 1
        return found

    def size_mb(self) -> float:
        """The store's data, WAL included (its pages in use; not the WAL file's length)."""
        (pages, free, size), = self.query("SELECT * FROM pragma_page_count, "
                                          "pragma_freelist_count, pragma_page_size")
        return float((pages - free) * size / 1e6)

    def stored(self) -> int:
        return int(self.query("SELECT count(*) FROM signals WHERE CAST(payload AS TEXT)"
                              " LIKE '%\"seq\"%'")[0][0])


@dataclass
class Row:
    case: str
    sent: int
    stored: int
    lost: int
    duplicated: int
    recover_s: float | None
    rss_start_mb: float
    rss_end_mb: float
    note: str = ""


def tally(case: str, gateway: Gateway, sent: int, recover: float | None, rss_start: float,
          note: str = "") -> Row:
    seqs = gateway.seqs()
    lost = sum(1 for s in range(sent) if s not in seqs)
    doubled = sum(1 for n in seqs.values() if n > 1)
    return Row(case, sent, len(seqs), lost, doubled, None if recover is None else round(recover, 1),
               round(rss_start, 1), round(gateway.rss_mb(), 1), note)


@contextlib.contextmanager
def parts(work: Path, name: str, store: Path | None = None) -> Iterator[tuple[Broker, Gateway]]:
    folder = work / name
    folder.mkdir(parents=True)
    broker = Broker(folder)
    gateway = Gateway(folder, broker, store)
    try:
        gateway.start()
        yield broker, gateway
    finally:
        gateway.kill()
        broker.stop()


def until_stored(gateway: Gateway, total: int, timeout: float) -> float:
    """Seconds until ``total`` numbered alarms are stored (raises past the timeout)."""
    started = time.monotonic()
    if not wait(lambda: gateway.stored() >= total, timeout):
        raise RuntimeError(f"only {gateway.stored()} of {total} stored after {timeout:.0f}s")
    return time.monotonic() - started


# ----------------------------------------------------------------------------- the cases


def case_sigkill(work: Path, quick: bool) -> Row:
    rng = random.Random(5)
    with parts(work, "sigkill") as (broker, gateway):
        rss = gateway.rss_mb()
        recover = 0.0
        at_kill = []
        for round_no in range(5):
            first = round_no * 5000
            publisher = broker.publish_in_thread(alarms(first, 5000))
            time.sleep(rng.uniform(0.2, 1.2))  # mid-storm: the gateway takes ~1-2 s for it
            gateway.kill()
            at_kill.append(gateway.stored() - first)
            publisher.join(120)
            gateway.start()
            recover = max(recover, until_stored(gateway, first + 5000, 120))
        time.sleep(1.0)
        return tally("gateway SIGKILL x5", gateway, 25_000, recover, rss,
                     "killed with " + "/".join(str(n) for n in at_kill) + " of 5000 stored")


def case_broker_restart(work: Path, quick: bool) -> Row:
    with parts(work, "broker-restart") as (broker, gateway):
        rss = gateway.rss_mb()
        recover = 0.0
        for round_no in range(3):
            first = round_no * 5300
            broker.publish(alarms(first, 5000))
            time.sleep(0.3)
            broker.stop()
            time.sleep(2.0)
            broker.start()
            restarted = time.monotonic()
            broker.publish(alarms(first + 5000, 300))
            until_stored(gateway, first + 5300, 120)
            recover = max(recover, time.monotonic() - restarted)
        time.sleep(1.0)
        return tally("broker restart x3", gateway, 3 * 5300, recover, rss)


def case_broker_down(work: Path, quick: bool) -> Row:
    down = 15.0 if quick else 60.0
    with parts(work, "broker-down") as (broker, gateway):
        rss = gateway.rss_mb()
        broker.publish(alarms(0, 3000))
        broker.stop()
        time.sleep(down)
        broker.start()
        back = time.monotonic()
        broker.publish(alarms(3000, 300))
        until_stored(gateway, 3300, 120)
        recover = time.monotonic() - back
        time.sleep(1.0)
        incident = bool(gateway.query("SELECT 1 FROM events WHERE kind = 'incident_opened'"
                                      " AND point_id = 'SYS-BROKER'"))
        return tally(f"broker down {down:.0f}s", gateway, 3300, recover, rss,
                     "SYS-BROKER incident" if incident else "")


def case_sigstop(work: Path, quick: bool) -> Row:
    frozen = 15.0 if quick else 60.0
    total = int(50 * (frozen + 10))  # sent until the gateway thaws
    with parts(work, "sigstop") as (broker, gateway):
        rss = gateway.rss_mb()
        publisher = threading.Thread(target=paced_publish, args=(
            "127.0.0.1", broker.port, alarms(0, total), 50.0), daemon=True)
        publisher.start()
        time.sleep(10)
        gateway.signal(signal.SIGSTOP)
        publisher.join(frozen + 30)
        gateway.signal(signal.SIGCONT)
        recover = until_stored(gateway, total, 120)
        time.sleep(1.0)
        return tally(f"SIGSTOP {frozen:.0f}s at 50/s", gateway, total, recover, rss)


def can_mount(folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)],
                            check=False, capture_output=True)
    return result.returncode == 0


def fill(folder: Path) -> Path:
    ballast = folder / "ballast"
    with ballast.open("wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * chunk)
    return ballast


def case_disk_full(work: Path, quick: bool) -> Row:
    disk = work / "disk-full-fs"
    if not can_mount(disk):
        return Row("disk full 20s", 0, 0, 0, 0, None, 0.0, 0.0,
                   "skipped: this machine does not let the benchmark mount a tmpfs")
    try:
        with parts(work, "disk-full", store=disk / "store.sqlite3") as (broker, gateway):
            rss = gateway.rss_mb()
            broker.publish(alarms(0, 200))
            until_stored(gateway, 200, 30)
            ballast = fill(disk)
            publisher = broker.publish_in_thread(alarms(200, 1800))
            seen = wait(lambda: gateway.health().get("store_writable") is False, 30)
            time.sleep(20)
            ballast.unlink()
            return after_store_fault("disk full 20s", gateway, publisher, 2000, rss,
                                     "/healthz 503 while full" if seen
                                     else "/healthz never said so")
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False, capture_output=True)


def case_held_lock(work: Path, quick: bool) -> Row:
    with parts(work, "held-lock") as (broker, gateway):
        rss = gateway.rss_mb()
        holder = sqlite3.connect(gateway.store, isolation_level=None, timeout=30)
        holder.execute("BEGIN IMMEDIATE")
        held_at = time.monotonic()
        publisher = broker.publish_in_thread(alarms(0, 500))
        seen = wait(lambda: gateway.health().get("store_writable") is False, 25)
        time.sleep(max(0.0, 30 - (time.monotonic() - held_at)))
        holder.execute("ROLLBACK")
        holder.close()
        return after_store_fault("write lock held 30s", gateway, publisher, 500, rss,
                                 "/healthz 503 while held" if seen else "/healthz never said so")


def after_store_fault(case: str, gateway: Gateway, publisher: threading.Thread, total: int,
                      rss: float, note: str) -> Row:
    """The store can be written again: the time until every alarm is stored, and the tally."""
    released = time.monotonic()
    publisher.join(60)
    until_stored(gateway, total, 120)
    recover = time.monotonic() - released
    time.sleep(1.0)
    return tally(case, gateway, total, recover, rss, note)


def case_fuzz(work: Path, quick: bool) -> Row:
    topics = [f"demo/fire/b{b}/f{f}/z{z}" for b in (1, 2) for f in range(1, 19)
              for z in range(1, 5)] + ["zigbee2mqtt/b1/pump_room/leak_1"]
    with parts(work, "fuzz") as (broker, gateway):
        rss = gateway.rss_mb()
        messages = fuzz_payloads(1, 10_000, topics)
        real = alarms(0, 500)
        for i, message in enumerate(real):
            messages.insert(i * 20, message)
        broker.publish(messages)
        recover = until_stored(gateway, 500, 120)
        wait(lambda: gateway.health().get("unacknowledged") == 0, 60)
        time.sleep(1.0)
        tracebacks = gateway.log().count("Traceback")
        return tally("10,000 fuzzed payloads", gateway, 500, recover, rss,
                     f"{tracebacks} tracebacks, "
                     f"{gateway.query('SELECT count(*) FROM dead_letters')[0][0]} dead letters")


def case_soak(work: Path, quick: bool) -> Row:
    minutes = 2.0 if quick else 10.0
    rate = 200.0
    total = int(rate * 60 * minutes)
    alarm_every = 100  # 2 alarms/s among 200 messages/s
    heartbeat_points = [f"demo/fire/b{b}/f{f}/z{z}" for b in (1, 2) for f in range(1, 19)
                        for z in range(1, 5)]
    messages: list[tuple[str, bytes]] = []
    numbered = 0
    for i in range(total):
        if i % alarm_every == 0:
            messages += alarms(numbered, 1)
            numbered += 1
        else:
            device = i % 500  # each device always on its own zone, as a panel reports it
            topic = heartbeat_points[device % len(heartbeat_points)]
            messages.append((topic, json.dumps({"state": "normal",
                                                "device": f"HB-{device:03d}"}).encode()))
    with parts(work, "soak") as (broker, gateway):
        rss = gateway.rss_mb()
        size_at = gateway.size_mb()
        paced_publish("127.0.0.1", broker.port, messages, rate)
        until_stored(gateway, numbered, 60)
        time.sleep(1.0)
        grown = gateway.size_mb() - size_at
        return tally(f"soak {minutes:.0f} min at {rate:.0f}/s", gateway, numbered, None, rss,
                     f"store +{grown / minutes:.2f} MB/min")


CASES = {"sigkill": case_sigkill, "broker-restart": case_broker_restart,
         "broker-down": case_broker_down, "sigstop": case_sigstop, "disk-full": case_disk_full,
         "held-lock": case_held_lock, "fuzz": case_fuzz, "soak": case_soak}


def table(rows: list[Row]) -> str:
    head = ("case", "sent", "stored", "lost", "dup", "recover s", "RSS start-end MB", "note")
    body = [(r.case, str(r.sent), str(r.stored), str(r.lost), str(r.duplicated),
             "" if r.recover_s is None else f"{r.recover_s:.1f}",
             f"{r.rss_start_mb:.0f}-{r.rss_end_mb:.0f}", r.note) for r in rows]
    widths = [max(len(line[i]) for line in (head, *body)) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
                     for line in (head, *body))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter outages and soak")
    parser.add_argument("--only", help=f"comma-separated cases of: {', '.join(CASES)}")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case {unknown[0]!r} (known: {', '.join(CASES)})")
    work = Path(tempfile.mkdtemp(prefix="gw-faults-"))
    rows = []
    try:
        for name in names:
            log(f"case {name} ...")
            started = time.monotonic()
            try:
                row = CASES[name](work, args.quick)
            except Exception as exc:  # noqa: BLE001 - a failed case is a row, the rest go on
                row = Row(name, 0, 0, 0, 0, None, 0.0, 0.0, f"FAILED: {exc}")
            rows.append(row)
            log(f"  {row.case}: sent {row.sent}, lost {row.lost}, duplicated {row.duplicated}"
                f" ({time.monotonic() - started:.0f}s) {row.note}")
    finally:
        if args.keep:
            log(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(table(rows))
    print(json.dumps({"rows": [asdict(r) for r in rows]}, ensure_ascii=False))
    return 0 if all(r.lost == 0 and r.duplicated == 0 and not r.note.startswith("FAILED")
                    for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
