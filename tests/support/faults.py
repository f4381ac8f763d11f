"""Helpers of the fault tests: fast publishing, counting what was stored, hostile payloads,
small filesystems, the daemon's memory and health."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import subprocess
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from simulators import load
from tests.support.processes import Broker, Daemon, query


def bulk_publish(broker: Broker, messages: Iterable[tuple[str, bytes]], *,
                 window: int = 500, timeout: float = 120.0) -> int:
    return load.bulk_publish(broker.host, broker.port, messages, window=window,
                             timeout=timeout)


def publish_in_thread(broker: Broker, messages: list[tuple[str, bytes]]) -> threading.Thread:
    return load.publish_in_thread(broker.host, broker.port, messages)


WITH_SEQ = "CAST(payload AS TEXT) LIKE '%\"seq\"%'"  # the alarms numbered by ``alarms``


def stored_seqs(store: Path) -> Counter[int]:
    """How often each alarm ``seq`` is among the stored signals."""
    found: Counter[int] = Counter()
    for (payload,) in query(store, f"SELECT payload FROM signals WHERE {WITH_SEQ}"):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            found[json.loads(payload)["seq"]] += 1
    return found


def count_stored(store: Path) -> int:
    return int(query(store, f"SELECT count(*) FROM signals WHERE {WITH_SEQ}")[0][0])


def assert_each_once(store: Path, total: int) -> None:
    seqs = stored_seqs(store)
    missing = sorted(set(range(total)) - set(seqs))
    doubled = sorted(s for s, n in seqs.items() if n > 1)
    assert not missing, f"{len(missing)} lost (first {missing[:10]})"
    assert not doubled, f"{len(doubled)} doubled (first {doubled[:10]})"


def health(daemon: Daemon) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{daemon.console_url}/healthz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# ----------------------------------------------------------------------------- filesystems


def damage(store: Path) -> None:
    """Overwrite eight pages of raw signals (not read at start-up) with garbage."""
    conn = sqlite3.connect(store)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = [n for (n,) in conn.execute("SELECT pageno FROM dbstat WHERE name = 'signals'"
                                        " AND pagetype = 'leaf' ORDER BY pageno")]
    conn.close()
    assert len(pages) > 20
    with store.open("r+b") as f:
        for n in pages[len(pages) // 2:len(pages) // 2 + 8]:
            f.seek((n - 1) * page)
            f.write(os.urandom(page))



@contextlib.contextmanager
def small_filesystem(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``path`` (needs the right to mount: root in CI)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                   check=True, capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def can_mount(tmp_path: Path) -> bool:
    probe = tmp_path / "mount-probe"
    probe.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)],
                            check=False, capture_output=True)
    if result.returncode == 0:
        subprocess.run(["umount", str(probe)], check=False, capture_output=True)
        return True
    return False


def fill(directory: Path) -> Path:
    """A ballast file that takes every free byte of the filesystem."""
    ballast = directory / "ballast"
    with ballast.open("wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return ballast
