"""When a batch waits for more messages before it is handled (group commit's linger)."""

from __future__ import annotations

import pytest

from tradewind.common.broker.batches import company_to_wait_for


def wanted(waiting: int, last_batch: int, *, max_batch: int = 10, max_wait_s: float = 0.005) -> int:
    return company_to_wait_for(
        waiting=waiting, last_batch=last_batch, max_batch=max_batch, max_wait_s=max_wait_s
    )


@pytest.mark.parametrize(
    ("waiting", "last_batch"),
    [
        (1, 0),  # the first message after start: alone, handled at once
        (1, 1),  # sparse traffic: the consumer keeps up message by message
    ],
)
def test_a_message_that_comes_alone_is_handled_at_once(waiting: int, last_batch: int) -> None:
    assert wanted(waiting, last_batch) == 0


@pytest.mark.parametrize(
    ("waiting", "last_batch", "expected"),
    [
        (1, 2, 2),  # the previous batch had company: wait for as much
        (1, 6, 6),
        (3, 6, 6),
        (2, 0, 0),  # two waiting after a start: that is the company
        (2, 1, 0),
        (2, 2, 0),  # as large as the previous batch already
        (7, 6, 0),
    ],
)
def test_a_batch_waits_until_it_is_as_large_as_the_previous_one(
    waiting: int, last_batch: int, expected: int
) -> None:
    assert wanted(waiting, last_batch) == expected


def test_a_wait_is_for_a_full_batch_at_most_and_never_without_a_wait_setting() -> None:
    assert wanted(3, 50, max_batch=10) == 10
    assert wanted(10, 10, max_batch=10) == 0
    assert wanted(3, 5, max_wait_s=0) == 0
