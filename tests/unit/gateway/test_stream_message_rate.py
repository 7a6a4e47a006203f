"""A stream client's message rate: bursts up to a bound, then served at the average rate."""

from __future__ import annotations

import pytest

from tradewind.gateway.domain.message_rate import MessageRate


def test_a_burst_is_served_at_once_then_one_message_per_interval() -> None:
    rate = MessageRate(per_second=4, burst=3, now=100.0)
    assert [rate.delay(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert rate.delay(100.0) == 0.25
    # Read again once served (the loop reads one message at a time): one per interval.
    assert rate.delay(100.25) == 0.25
    assert rate.delay(100.5) == 0.25


def test_a_client_that_does_not_wait_waits_longer() -> None:
    rate = MessageRate(per_second=4, burst=1, now=0.0)
    assert rate.delay(0.0) == 0.0
    assert [rate.delay(0.0) for _ in range(3)] == [0.25, 0.5, 0.75]


def test_a_quiet_client_earns_back_no_more_than_its_burst() -> None:
    rate = MessageRate(per_second=4, burst=3, now=0.0)
    for _ in range(3):
        rate.delay(0.0)
    assert [rate.delay(3_600.0) for _ in range(4)] == [0.0, 0.0, 0.0, 0.25]


def test_a_clock_that_steps_back_earns_nothing() -> None:
    rate = MessageRate(per_second=1, burst=1, now=10.0)
    assert rate.delay(10.0) == 0.0
    assert rate.delay(5.0) == 1.0


@pytest.mark.parametrize(("per_second", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_a_rate_that_allows_nothing_is_refused(per_second: float, burst: int) -> None:
    with pytest.raises(ValueError, match="message rate needs"):
        MessageRate(per_second, burst, now=0.0)
