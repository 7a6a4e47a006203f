"""The trade-update feed of one stream client: every account sequence once, in order, with no
gap, across a resume, redeliveries, updates out of order and a backlog read in pages; a
snapshot when the missed updates are no longer kept."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from tradewind.gateway.domain.stream_resume import TradeUpdateFeed


def frame(sequence: int) -> str:
    return f"u{sequence}"


def kept(first: int, last: int) -> list[tuple[int, str]]:
    return [(n, frame(n)) for n in range(first, last + 1)]


def test_without_resume_live_updates_start_where_the_client_joins() -> None:
    feed = TradeUpdateFeed()
    feed.start(None)
    assert feed.offer(7, frame(7)).deliver == ("u7",)
    assert feed.offer(8, frame(8)).deliver == ("u8",)
    assert feed.take_read() is None


def test_a_redelivered_update_is_dropped() -> None:
    feed = TradeUpdateFeed()
    feed.start(None)
    feed.offer(1, frame(1))
    feed.offer(2, frame(2))
    assert feed.offer(2, frame(2)).deliver == ()
    assert feed.offer(1, frame(1)).deliver == ()


def test_an_update_without_a_number_passes_through_even_while_catching_up() -> None:
    feed = TradeUpdateFeed()
    feed.start(3)
    assert feed.offer(None, "pending").deliver == ("pending",)


def test_a_resume_reads_after_the_clients_number_and_holds_live_updates_meanwhile() -> None:
    feed = TradeUpdateFeed()
    feed.start(5)
    assert feed.take_read() == 5
    assert feed.take_read() is None  # one read at a time
    assert feed.offer(9, frame(9)).deliver == ()
    assert feed.offer(8, frame(8)).deliver == ()
    step = feed.backlog(kept(6, 8), has_more=False)
    # The seam: 8 came live and in the backlog; it is delivered once, then the held 9.
    assert step.deliver == ("u6", "u7", "u8", "u9")
    assert not feed.catching_up
    assert feed.offer(10, frame(10)).deliver == ("u10",)


def test_a_backlog_in_pages_is_read_until_the_last() -> None:
    feed = TradeUpdateFeed()
    feed.start(0)
    feed.take_read()
    feed.offer(6, frame(6))
    assert feed.backlog(kept(1, 2), has_more=True).deliver == ("u1", "u2")
    assert feed.take_read() == 2
    assert feed.backlog(kept(3, 5), has_more=False).deliver == ("u3", "u4", "u5", "u6")
    assert feed.take_read() is None


def test_a_gap_left_after_the_backlog_is_read_again() -> None:
    """An update committed after the read, still on its way, while a later one has arrived."""
    feed = TradeUpdateFeed()
    feed.start(2)
    feed.take_read()
    feed.offer(5, frame(5))
    assert feed.backlog(kept(3, 3), has_more=False).deliver == ("u3",)
    assert feed.catching_up
    assert feed.take_read() == 3
    assert feed.backlog(kept(4, 5), has_more=False).deliver == ("u4", "u5")
    assert not feed.catching_up


def test_a_live_gap_holds_what_follows_and_asks_for_the_missing() -> None:
    feed = TradeUpdateFeed()
    feed.start(None)
    feed.offer(1, frame(1))
    assert feed.offer(3, frame(3)).deliver == ()
    assert feed.take_read() == 1
    assert feed.offer(2, frame(2)).deliver == ()  # arrives late, while the read runs
    assert feed.backlog(kept(2, 3), has_more=False).deliver == ("u2", "u3")


def test_too_far_behind_the_client_gets_a_snapshot_then_the_updates_after_it() -> None:
    feed = TradeUpdateFeed()
    feed.start(1)
    feed.take_read()
    feed.offer(41, frame(41))
    feed.offer(40, frame(40))
    step = feed.snapshot(40, "snapshot@40")
    assert step.deliver == ("snapshot@40", "u41")
    assert feed.offer(42, frame(42)).deliver == ("u42",)


def test_a_read_for_an_earlier_subscription_changes_nothing() -> None:
    feed = TradeUpdateFeed()
    feed.start(1)
    feed.take_read()
    feed.stop()
    assert feed.backlog(kept(2, 3), has_more=False).deliver == ()
    assert feed.snapshot(3, "snapshot").deliver == ()


def test_held_updates_beyond_the_bound_are_dropped_and_read_again() -> None:
    feed = TradeUpdateFeed(max_held=2)
    feed.start(0)
    feed.take_read()
    for n in (3, 4, 5):
        feed.offer(n, frame(n))
    # 5 was held, 3 and 4 dropped: 5 waits for them, read again.
    assert feed.backlog(kept(1, 2), has_more=False).deliver == ("u1", "u2")
    assert feed.take_read() == 2
    assert feed.backlog(kept(3, 5), has_more=False).deliver == ("u3", "u4", "u5")
    assert not feed.catching_up


@settings(max_examples=200, deadline=None)
@given(
    resume_after=st.integers(0, 10),
    total=st.integers(0, 40),
    seed=st.integers(0, 2**32),
    page=st.integers(1, 7),
)
def test_whatever_the_interleaving_each_number_after_the_resume_arrives_once_in_order(
    resume_after: int, total: int, seed: int, page: int
) -> None:
    """Updates 1..total are committed over time; live deliveries come late, twice or out of
    order, reads see what was committed when they ran. The client gets resume_after+1..total."""
    rng = random.Random(seed)
    total = max(total, resume_after)
    feed = TradeUpdateFeed(max_held=5)
    feed.start(resume_after)
    committed = 0
    in_flight: list[int] = []
    received: list[str] = []
    while committed < total or in_flight or feed.catching_up:
        action = rng.random()
        if committed < total and action < 0.4:
            committed += 1
            in_flight.append(committed)
            if rng.random() < 0.2:
                in_flight.append(committed)  # redelivered
        elif in_flight and action < 0.8:
            sequence = in_flight.pop(rng.randrange(len(in_flight)))
            received += feed.offer(sequence, frame(sequence)).deliver
        elif (after := feed.take_read()) is not None:
            updates = kept(after + 1, min(committed, after + page))
            has_more = after + page < committed
            received += feed.backlog(updates, has_more=has_more).deliver
        elif committed >= total and not in_flight and not feed.catching_up:
            break
    assert received == [frame(n) for n in range(resume_after + 1, total + 1)]
