"""Redeliveries told apart by the protocol's in-flight state, never by content."""

from __future__ import annotations

from adapters.mqtt_inflight import Arrival, Inflight


def test_a_new_message_is_handed_on_with_a_token() -> None:
    inflight = Inflight()
    arrival, token = inflight.arrive(7, dup=False, at=1.0)
    assert arrival is Arrival.NEW
    assert inflight.holds(7, token)
    assert (inflight.unacknowledged(), inflight.oldest_unacknowledged()) == (1, 1.0)


def test_a_redelivery_of_a_message_being_committed_is_dropped_and_acked_once_committed() -> None:
    inflight = Inflight()
    _, token = inflight.arrive(7, dup=False, at=1.0)
    assert inflight.arrive(7, dup=True, at=2.0)[0] is Arrival.REDELIVERED_PENDING
    assert inflight.committed(7, token)
    inflight.acked(7)
    assert inflight.unacknowledged() == 0
    assert inflight.redelivered == 1


def test_a_redelivery_of_a_committed_message_is_acknowledged_again_not_processed() -> None:
    inflight = Inflight()
    _, token = inflight.arrive(7, dup=False, at=1.0)
    inflight.committed(7, token)  # the PUBACK was due while disconnected
    inflight.connected(session_present=True)
    assert inflight.arrive(7, dup=True, at=3.0)[0] is Arrival.REDELIVERED_COMMITTED


def test_a_redelivery_whose_puback_went_out_on_a_dropped_connection_is_a_redelivery() -> None:
    inflight = Inflight()
    inflight.connected(session_present=False)
    _, token = inflight.arrive(7, dup=False, at=1.0)
    inflight.committed(7, token)
    inflight.acked(7)  # sent, but the connection dropped before the broker read it
    inflight.connected(session_present=True)
    assert inflight.arrive(7, dup=True, at=3.0)[0] is Arrival.REDELIVERED_COMMITTED


def test_a_dup_message_with_an_id_no_longer_in_flight_is_new() -> None:
    """The packet id was acknowledged and confirmed; the broker reused it for a message the
    gateway first saw only as a redelivery (it was frozen or killed): a real alarm."""
    inflight = Inflight()
    inflight.connected(session_present=False)
    _, token = inflight.arrive(1, dup=False, at=1.0)
    inflight.committed(1, token)
    inflight.acked(1)
    inflight.barrier_answered(inflight.barrier_mark())
    assert inflight.arrive(1, dup=True, at=9.0)[0] is Arrival.NEW


def test_a_barrier_covers_only_the_pubacks_sent_before_it() -> None:
    inflight = Inflight()
    inflight.connected(session_present=False)
    tokens = {mid: inflight.arrive(mid, dup=False, at=1.0)[1] for mid in (1, 2)}
    inflight.committed(1, tokens[1])
    inflight.acked(1)
    mark = inflight.barrier_mark()
    inflight.committed(2, tokens[2])
    inflight.acked(2)
    inflight.barrier_answered(mark)
    assert inflight.arrive(1, dup=True, at=2.0)[0] is Arrival.NEW
    assert inflight.arrive(2, dup=True, at=2.0)[0] is Arrival.REDELIVERED_COMMITTED
    assert inflight.acks_unconfirmed()


def test_the_first_barrier_after_a_reconnect_forgets_what_was_not_redelivered() -> None:
    inflight = Inflight()
    inflight.connected(session_present=False)
    _, token = inflight.arrive(5, dup=False, at=1.0)
    inflight.committed(5, token)
    inflight.acked(5)
    inflight.connected(session_present=True)
    inflight.barrier_answered(inflight.barrier_mark())
    assert len(inflight) == 0
    assert inflight.changes_for_store([]) == ([], [5])


def test_a_dup_zero_message_replaces_an_entry_and_voids_its_acknowledgement() -> None:
    inflight = Inflight()
    _, old = inflight.arrive(3, dup=False, at=1.0)
    arrival, new = inflight.arrive(3, dup=False, at=2.0)
    assert arrival is Arrival.NEW
    assert not inflight.committed(3, old)
    assert inflight.committed(3, new)


def test_a_session_the_broker_lost_voids_every_id() -> None:
    inflight = Inflight(stored=[9])
    _, token = inflight.arrive(4, dup=False, at=1.0)
    inflight.connected(session_present=False)
    assert not inflight.committed(4, token)  # never acknowledged on the new session
    assert inflight.arrive(9, dup=True, at=2.0)[0] is Arrival.NEW
    add, forgotten = inflight.changes_for_store([(4, token)])
    assert add == []
    assert sorted(forgotten) == [4, 9]


def test_ids_committed_before_a_restart_are_redeliveries_until_the_first_barrier() -> None:
    inflight = Inflight(stored=[11, 12])
    inflight.connected(session_present=True)
    assert inflight.arrive(11, dup=True, at=1.0)[0] is Arrival.REDELIVERED_COMMITTED
    inflight.acked(11)
    inflight.barrier_answered(0)  # sent before the redelivered PUBACK
    assert inflight.arrive(12, dup=True, at=2.0)[0] is Arrival.NEW
    assert inflight.arrive(11, dup=True, at=2.0)[0] is Arrival.REDELIVERED_COMMITTED


def test_the_store_copy_adds_the_batch_and_deletes_the_forgotten() -> None:
    inflight = Inflight()
    inflight.connected(session_present=False)
    _, a = inflight.arrive(1, dup=False, at=1.0)
    _, b = inflight.arrive(2, dup=False, at=1.0)
    assert inflight.changes_for_store([(1, a), (2, b)]) == ([1, 2], [])
    for mid, token in ((1, a), (2, b)):
        inflight.committed(mid, token)
        inflight.acked(mid)
    inflight.barrier_answered(inflight.barrier_mark())
    assert inflight.has_forgotten
    assert inflight.changes_for_store([]) == ([], [1, 2])
    assert not inflight.has_forgotten
