"""The store and the committer under faults, in-process: ordered writes through failures,
what counts as the store failing, damaged files, batches the store refuses for their content."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from adapters.fake import FakeAdapter
from adapters.mqtt_values import InboundMessage
from gateway.daemon.commits import Commit, Committer, storable, storable_text, write
from gateway.daemon.inputs import Delivery
from gateway.daemon.intake_mqtt import letter
from gateway.daemon.reporting import Reports
from gateway.domain.commands import Answer
from gateway.errors import StoreError
from gateway.store.sqlite.records import SqliteRecords
from gateway.store.sqlite.schema import check_store_file, connect
from gateway.store.sqlite.thread import Store
from gateway.store.values import DeadLetter, StoreBehind, WriteSet
from tests.support.faults import damage

T0 = 1_800_000_000.0


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def put(key: str) -> Callable[[SqliteRecords], None]:
    def job(records: SqliteRecords) -> None:
        records.conn.execute("INSERT INTO meta VALUES (?, 'x')", (key,))
    return job


def failing_once(key: str, error: Exception) -> Callable[[SqliteRecords], None]:
    calls = []

    def job(records: SqliteRecords) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise error
        put(key)(records)
    return job


def keys(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [k for (k,) in conn.execute("SELECT key FROM meta WHERE key LIKE 'k%'"
                                           " ORDER BY rowid")]
    finally:
        conn.close()


def test_a_failed_write_holds_back_the_later_ones_until_it_is_written_again(
        tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"

    async def main() -> None:
        st = Store(path)
        await st.open()
        first = st.submit(failing_once("k1", sqlite3.OperationalError("database or disk is "
                                                                      "full")), seq=1)
        second = st.submit(put("k2"), seq=2)
        with pytest.raises(StoreError, match="disk is full"):
            await first
        with pytest.raises(StoreBehind):
            await second
        assert not st.writable
        with pytest.raises(StoreBehind):  # still behind: 1 has not been written
            await st.submit(put("k2"), seq=2)
        await st.submit(put("k1"), seq=1)
        await st.submit(put("k2"), seq=2)
        assert st.writable
        await st.close()

    run(main())
    assert keys(path) == ["k1", "k2"]


def test_reads_do_not_clear_a_failing_store_and_a_committed_write_does(tmp_path: Path) -> None:
    async def main() -> None:
        st = Store(tmp_path / "store.sqlite3")
        await st.open()
        assert st.writable
        with pytest.raises(StoreError):
            await st.call(failing_once("k1", sqlite3.OperationalError("database is locked")))
        assert st.failing_since is not None
        assert st.last_error == "database is locked"
        await st.call(lambda r: r.conn.execute("SELECT count(*) FROM meta").fetchone())
        assert not st.writable
        await st.call(put("k9"))
        assert st.writable
        await st.close()

    run(main())


def test_a_content_error_fails_its_job_alone_and_the_store_stays_writable(
        tmp_path: Path) -> None:
    async def main() -> None:
        st = Store(tmp_path / "store.sqlite3")
        await st.open()
        await st.call(put("k1"))
        with pytest.raises(sqlite3.IntegrityError):
            await st.call(put("k1"))
        assert st.writable
        await st.close()

    run(main())


def test_a_damaged_store_is_refused_at_open_and_opens_when_allowed(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    conn = connect(path)
    conn.executemany("INSERT INTO signals (at, point_id, device, state, value, changed,"
                     " replayed, drill, source, incidents, payload) VALUES"
                     " (?, 'P', '', 'alarm', NULL, 1, 0, 0, 't', '', ?)",
                     [(T0 + i, b"x" * 400) for i in range(2000)])
    conn.close()
    damage(path)

    async def main() -> str | None:
        with pytest.raises(StoreError, match=r"is damaged \(quick_check: .*--allow-damaged"):
            await Store(path).open()
        st = Store(path, allow_damaged=True)
        await st.open()
        await st.call(put("k1"))  # what is not damaged is still written
        await st.close()
        return st.damage

    assert run(main())
    assert check_store_file(path)


def message(n: int) -> InboundMessage:
    return InboundMessage(topic=f"demo/fire/b1/f1/z{n}", payload=b'{"state": "fire"}', qos=1,
                          mid=n, retained=False, duplicate=False, received_at=T0)


BROKER = FakeAdapter("mqtt", lambda adapter, item: None)


def commit_of(st: Store, ws: WriteSet, seq: int = 1) -> Commit:
    return Commit(seq, st.submit(partial(write, ws=ws, now=T0), seq=seq), ws, T0,
                  [Delivery(BROKER, message(1)), Delivery(BROKER, message(2))])


def committer(st: Store, counters: Counter[str]) -> Committer:
    return Committer(st, counters, lambda inputs, detail: [
        letter(d.item, "unstorable", detail) for d in inputs])


def test_a_batch_with_text_sqlite_cannot_hold_is_stored_with_that_text_escaped(
        tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    bad = DeadLetter(T0, "mqtt", "demo/x", "bad_json", "device \ud800 unknown", b"\xff", 1)

    async def main() -> Counter[str]:
        st = Store(path)
        await st.open()
        counters: Counter[str] = Counter()
        await committer(st, counters).stored(commit_of(st, WriteSet(dead_letters=[bad])))
        await st.close()
        return counters

    counters = run(main())
    assert counters["store_batches_unstorable"] == 1
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT detail FROM dead_letters").fetchall() == [
        ("device \\ud800 unknown",)]
    conn.close()


def test_a_batch_the_store_will_not_take_at_all_keeps_its_inputs_as_dead_letters(
        tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    ws = WriteSet(meta={"k1": object()},  # type: ignore[dict-item]
                  command_results=[Answer(5, "done")], ledgers={"mqtt": ([1, 2], [])})

    async def main() -> None:
        st = Store(path)
        await st.open()
        await committer(st, Counter()).stored(commit_of(st, ws))
        await st.call(put("k2"))  # and the store goes on
        await st.close()

    run(main())
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT topic, reason FROM dead_letters ORDER BY id").fetchall() == [
        ("demo/fire/b1/f1/z1", "unstorable"), ("demo/fire/b1/f1/z2", "unstorable")]
    assert conn.execute("SELECT adapter, id FROM ledgers ORDER BY id").fetchall() == [
        ("mqtt", 1), ("mqtt", 2)]
    conn.close()


def test_storable_escapes_surrogates_and_keeps_everything_else() -> None:
    assert storable_text("火警 \ud800") == "火警 \\ud800"
    assert storable_text("火警") == "火警"
    assert storable({"a": ["\udfff", 2**70, 3, None]}) == {"a": ["\\udfff", str(2**70), 3, None]}
    ws = storable(WriteSet(dead_letters=[DeadLetter(T0, "m", "t\ud800", "r", "d", b"", 0)]))
    assert ws.dead_letters[0].topic == "t\\ud800"


def test_bad_input_is_logged_once_per_source_and_at_most_so_many_a_minute() -> None:
    reports = Reports(keep=100, per_minute=3)
    assert reports.first("a", "bad_json", T0)
    assert not reports.first("a", "bad_json", T0 + 1)
    assert [reports.first(f"t{i}", "unknown_topic", T0 + 2) for i in range(5)] == [
        True, True, True, False, False]
    assert reports.held(T0 + 30) == {}
    assert reports.held(T0 + 61) == {"unknown_topic": 2}
    assert reports.held(T0 + 62) == {}
    assert reports.first("t9", "unknown_topic", T0 + 70)  # a new minute


def test_the_sources_remembered_are_bounded() -> None:
    reports = Reports(keep=10, per_minute=1000)
    for i in range(50):
        reports.first(f"t{i}", "bad_json", T0)
    assert reports.first("t0", "bad_json", T0)  # forgotten long ago: logged again
    assert not reports.first("t49", "bad_json", T0)
